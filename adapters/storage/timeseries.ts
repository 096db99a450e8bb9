import {
  GfError,
  KernelErrors,
  QUALITIES,
  QUANTITIES,
  isQuantity,
  qualityCode,
  type ConflictPolicy,
  type Quantity,
  type RangeQuery,
  type ReadingInput,
  type SeriesInfo,
  type SeriesKey,
  type SeriesValues,
  type TimeSeriesStore,
  type WriteResult,
} from '../../core/index.js';
import { OBJECT_ID_PATTERN } from '../../standards/common/ids.js';
import type { SqlDriver } from './driver.js';

const COLUMNS = ['series_id', 'ts_ms', 'value', 'quality'] as const;
const MAX_RESOLUTION_S = 31 * 86_400;
const MAX_REPORTED_ERRORS = 20;

interface RowError {
  index: number;
  field: string;
  message: string;
}

/**
 * The time-series store on SQL. Writes are one COPY straight into the table on the fast path (new
 * readings, the common case); a batch that meets stored readings falls back to a staging table and
 * one INSERT … ON CONFLICT, so the outcome is the same whichever path ran.
 */
export class SqlTimeSeriesStore implements TimeSeriesStore {
  private readonly seriesIds = new Map<string, number>();

  constructor(private readonly driver: SqlDriver) {}

  async write(readings: readonly ReadingInput[], opts: { onConflict?: ConflictPolicy } = {}): Promise<WriteResult> {
    if (readings.length === 0) return { written: 0, duplicates: 0 };
    const errors: RowError[] = [];
    let unitErrors = 0;
    for (let i = 0; i < readings.length && errors.length < MAX_REPORTED_ERRORS; i++) {
      const e = readingError(readings[i]!);
      if (e) {
        errors.push({ index: i, ...e });
        if (e.field === 'unit') unitErrors++;
      }
    }
    if (errors.length > 0) {
      const code = unitErrors === errors.length ? KernelErrors.GF_TS_UNIT_MISMATCH : KernelErrors.GF_TS_INVALID_READING;
      const first = errors[0]!;
      throw new GfError(code, `reading ${first.index}: ${first.field} ${first.message}${errors.length > 1 ? ` (and ${errors.length - 1} more shown in errors)` : ''}`, {
        data: { errors },
      });
    }
    const ids = await this.resolveSeries(readings);
    let csv = '';
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i]!;
      const ts = typeof r.ts === 'number' ? r.ts : r.ts.getTime();
      csv += `${ids[i]},${ts},${r.value},${r.quality === undefined ? 0 : qualityCode(r.quality)}\n`;
    }
    return this.copyRows(csv, readings.length, opts.onConflict ?? 'replace');
  }

  async writeSeries(
    key: SeriesKey & { unit: string; partyId?: string; assetId?: string },
    ts: ArrayLike<number>,
    values: ArrayLike<number>,
    opts: { onConflict?: ConflictPolicy; quality?: ArrayLike<number> } = {},
  ): Promise<WriteResult> {
    if (ts.length !== values.length || (opts.quality && opts.quality.length !== ts.length)) {
      throw new GfError(KernelErrors.GF_TS_INVALID_READING, `ts (${ts.length}), values (${values.length}) and quality arrays must have one length`);
    }
    if (ts.length === 0) return { written: 0, duplicates: 0 };
    const head = readingError({ ...key, ts: ts[0]!, value: values[0]! } as ReadingInput);
    if (head && head.field !== 'ts' && head.field !== 'value') {
      throw new GfError(head.field === 'unit' ? KernelErrors.GF_TS_UNIT_MISMATCH : KernelErrors.GF_TS_INVALID_READING, `series: ${head.field} ${head.message}`, {
        data: { errors: [{ index: -1, ...head }] },
      });
    }
    const errors: RowError[] = [];
    for (let i = 0; i < ts.length && errors.length < MAX_REPORTED_ERRORS; i++) {
      const t = ts[i]!;
      const v = values[i]!;
      if (!Number.isSafeInteger(t)) errors.push({ index: i, field: 'ts', message: 'must be an integer number of milliseconds since the epoch' });
      else if (!Number.isFinite(v)) errors.push({ index: i, field: 'value', message: 'must be a finite number' });
      else if (opts.quality && !(opts.quality[i]! >= 0 && opts.quality[i]! < QUALITIES.length && Number.isInteger(opts.quality[i]))) {
        errors.push({ index: i, field: 'quality', message: `must be a code 0..${QUALITIES.length - 1}` });
      }
    }
    if (errors.length > 0) {
      throw new GfError(KernelErrors.GF_TS_INVALID_READING, `reading ${errors[0]!.index}: ${errors[0]!.field} ${errors[0]!.message}`, { data: { errors } });
    }
    const [id] = await this.resolveSeries([{ ...key, ts: 0, value: 0 } as ReadingInput]);
    const parts: string[] = new Array(ts.length);
    const q = opts.quality;
    for (let i = 0; i < ts.length; i++) parts[i] = `${id},${ts[i]},${values[i]},${q ? q[i] : 0}\n`;
    return this.copyRows(parts.join(''), ts.length, opts.onConflict ?? 'replace');
  }

  private async copyRows(csv: string, n: number, policy: ConflictPolicy): Promise<WriteResult> {
    try {
      await this.driver.copyCsv('gf_readings', COLUMNS, csv);
      return { written: n, duplicates: 0 };
    } catch (e) {
      if ((e as { code?: string }).code !== '23505') throw e;
    }
    if (policy === 'error') {
      throw new GfError(KernelErrors.GF_TS_DUPLICATE, 'the batch holds readings that are already stored (or twice in the batch); nothing was written', {
        data: { onConflict: policy },
      });
    }
    // Slow path: stage, then one INSERT … ON CONFLICT; a twin inside the batch resolves to its last copy.
    let seq = 0;
    const staged = csv.replace(/^(?=.)/gm, () => `${seq++},`);
    return this.driver.transaction(async (tx) => {
      await tx.exec(
        'CREATE TEMP TABLE IF NOT EXISTS gf_stage (seq bigint, series_id integer, ts_ms bigint, value double precision, quality smallint) ON COMMIT DELETE ROWS',
      );
      await tx.copyCsv('gf_stage', ['seq', ...COLUMNS], staged);
      const action = policy === 'replace' ? 'DO UPDATE SET value = excluded.value, quality = excluded.quality' : 'DO NOTHING';
      const r = await tx.query<{ fresh: number; total: number }>(
        `WITH ins AS (
           INSERT INTO gf_readings (series_id, ts_ms, value, quality)
           SELECT DISTINCT ON (series_id, ts_ms) series_id, ts_ms, value, quality FROM gf_stage ORDER BY series_id, ts_ms, seq DESC
           ON CONFLICT (series_id, ts_ms) ${action}
           RETURNING (xmax = 0) AS fresh)
         SELECT count(*) FILTER (WHERE fresh)::int AS fresh, count(*)::int AS total FROM ins`,
      );
      const fresh = r.rows[0]!.fresh;
      const total = r.rows[0]!.total;
      return policy === 'replace' ? { written: total, duplicates: n - fresh } : { written: fresh, duplicates: n - fresh };
    });
  }

  /** Series ids for each reading, creating series on first sight (cached per process). */
  private async resolveSeries(readings: readonly ReadingInput[]): Promise<number[]> {
    const out = new Array<number>(readings.length);
    const missing = new Map<string, ReadingInput>();
    for (let i = 0; i < readings.length; i++) {
      const r = readings[i]!;
      const k = seriesKey(r.meterId, r.quantity, r.resolutionS);
      const id = this.seriesIds.get(k);
      if (id === undefined) missing.set(k, r);
      else out[i] = id;
    }
    if (missing.size > 0) {
      const list = [...missing.values()];
      const meters = list.map((r) => r.meterId);
      const quantities = list.map((r) => r.quantity);
      const resolutions = list.map((r) => r.resolutionS);
      await this.driver.query(
        `INSERT INTO gf_series (meter_id, quantity, resolution_s, unit, party_id, asset_id)
         SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[])
         ON CONFLICT (meter_id, quantity, resolution_s) DO NOTHING`,
        [meters, quantities, resolutions, list.map((r) => r.unit), list.map((r) => r.partyId ?? null), list.map((r) => r.assetId ?? null)],
      );
      const found = await this.driver.query<{ series_id: number; meter_id: string; quantity: string; resolution_s: number }>(
        `SELECT s.series_id, s.meter_id, s.quantity, s.resolution_s FROM gf_series s
         JOIN unnest($1::text[], $2::text[], $3::int[]) AS k(meter_id, quantity, resolution_s)
           USING (meter_id, quantity, resolution_s)`,
        [meters, quantities, resolutions],
      );
      for (const row of found.rows) this.seriesIds.set(seriesKey(row.meter_id, row.quantity, row.resolution_s), row.series_id);
      for (let i = 0; i < readings.length; i++) {
        if (out[i] === undefined) {
          const r = readings[i]!;
          out[i] = this.seriesIds.get(seriesKey(r.meterId, r.quantity, r.resolutionS))!;
        }
      }
    }
    return out;
  }

  async read(q: RangeQuery): Promise<SeriesValues[]> {
    const series = await this.seriesFor(q);
    if (series.length === 0) return [];
    const from = toMs(q.from);
    const to = toMs(q.to);
    const rows = await this.driver.queryArrays(
      `SELECT series_id, array_agg(ts_ms::float8 ORDER BY ts_ms), array_agg(value ORDER BY ts_ms), array_agg(quality ORDER BY ts_ms)
       FROM gf_readings WHERE series_id = ANY($1::int[]) AND ts_ms >= $2 AND ts_ms < $3 GROUP BY series_id`,
      [series.map((s) => s.seriesId), from, to],
    );
    const byId = new Map<number, unknown[]>(rows.map((r) => [Number(r[0]), r]));
    return series.map((s) => {
      const r = byId.get(s.seriesId);
      return {
        ...s,
        ts: Float64Array.from((r?.[1] as number[] | undefined) ?? []),
        values: Float64Array.from((r?.[2] as number[] | undefined) ?? []),
        quality: Uint8Array.from((r?.[3] as number[] | undefined) ?? []),
      };
    });
  }

  private async seriesFor(q: RangeQuery): Promise<SeriesInfo[]> {
    if (!isQuantity(q.quantity)) throw new GfError(KernelErrors.GF_TS_INVALID_READING, `unknown quantity '${String(q.quantity)}'`);
    const from = toMs(q.from);
    const to = toMs(q.to);
    if (!Number.isFinite(from) || !Number.isFinite(to) || from > to) {
      throw new GfError(KernelErrors.GF_TS_INVALID_READING, 'range must have finite from <= to');
    }
    const params: unknown[] = [[...q.meterIds], q.quantity];
    let sql = `SELECT series_id, meter_id, quantity, resolution_s, unit, party_id, asset_id FROM gf_series WHERE meter_id = ANY($1::text[]) AND quantity = $2`;
    if (q.resolutionS !== undefined) {
      params.push(q.resolutionS);
      sql += ' AND resolution_s = $3';
    }
    const r = await this.driver.query<SeriesRow>(sql, params);
    const order = new Map(q.meterIds.map((m, i) => [m, i]));
    return r.rows
      .map(toSeriesInfo)
      .sort((a, b) => order.get(a.meterId)! - order.get(b.meterId)! || a.resolutionS - b.resolutionS);
  }

  async listSeries(filter: { meterId?: string; quantity?: Quantity } = {}): Promise<SeriesInfo[]> {
    const r = await this.driver.query<SeriesRow>(
      `SELECT series_id, meter_id, quantity, resolution_s, unit, party_id, asset_id FROM gf_series
       WHERE ($1::text IS NULL OR meter_id = $1) AND ($2::text IS NULL OR quantity = $2) ORDER BY meter_id, quantity, resolution_s`,
      [filter.meterId ?? null, filter.quantity ?? null],
    );
    return r.rows.map(toSeriesInfo);
  }

  async deleteRange(q: RangeQuery): Promise<number> {
    const series = await this.seriesFor(q);
    if (series.length === 0) return 0;
    const r = await this.driver.query('DELETE FROM gf_readings WHERE series_id = ANY($1::int[]) AND ts_ms >= $2 AND ts_ms < $3', [
      series.map((s) => s.seriesId),
      toMs(q.from),
      toMs(q.to),
    ]);
    return r.rowCount;
  }

  async count(filter: { meterId?: string } = {}): Promise<number> {
    const r = await this.driver.query<{ n: number }>(
      `SELECT count(*)::float8 AS n FROM gf_readings r WHERE $1::text IS NULL OR r.series_id IN (SELECT series_id FROM gf_series WHERE meter_id = $1)`,
      [filter.meterId ?? null],
    );
    return Number(r.rows[0]!.n);
  }
}

type SeriesRow = { series_id: number; meter_id: string; quantity: Quantity; resolution_s: number; unit: string; party_id: string | null; asset_id: string | null };

function toSeriesInfo(row: SeriesRow): SeriesInfo {
  return {
    seriesId: row.series_id,
    meterId: row.meter_id,
    quantity: row.quantity,
    resolutionS: row.resolution_s,
    unit: row.unit,
    partyId: row.party_id,
    assetId: row.asset_id,
  };
}

function seriesKey(meterId: string, quantity: string, resolutionS: number): string {
  return `${meterId}\u0000${quantity}\u0000${resolutionS}`;
}

function toMs(t: number | Date): number {
  return typeof t === 'number' ? t : t.getTime();
}

/** The first thing wrong with a reading, or undefined. */
function readingError(r: ReadingInput): { field: string; message: string } | undefined {
  if (r === null || typeof r !== 'object') return { field: '(reading)', message: 'must be an object' };
  if (typeof r.meterId !== 'string' || !OBJECT_ID_PATTERN.test(r.meterId)) return { field: 'meterId', message: 'must match ^[a-zA-Z0-9_-]{1,128}$' };
  if (!isQuantity(r.quantity)) return { field: 'quantity', message: `must be one of ${Object.keys(QUANTITIES).join(', ')}` };
  if (r.unit !== QUANTITIES[r.quantity]) return { field: 'unit', message: `must be '${QUANTITIES[r.quantity]}' for ${r.quantity}, got '${String(r.unit)}'` };
  const ts = typeof r.ts === 'number' ? r.ts : r.ts instanceof Date ? r.ts.getTime() : NaN;
  if (!Number.isSafeInteger(ts)) return { field: 'ts', message: 'must be a valid instant (integer ms since the epoch, or a Date)' };
  if (typeof r.value !== 'number' || !Number.isFinite(r.value)) return { field: 'value', message: 'must be a finite number' };
  if (!Number.isInteger(r.resolutionS) || r.resolutionS < 0 || r.resolutionS > MAX_RESOLUTION_S) {
    return { field: 'resolutionS', message: `must be an integer number of seconds in 0..${MAX_RESOLUTION_S}` };
  }
  if (r.quality !== undefined && !QUALITIES.includes(r.quality)) return { field: 'quality', message: `must be one of ${QUALITIES.join(', ')}` };
  if (r.partyId !== undefined && (typeof r.partyId !== 'string' || !OBJECT_ID_PATTERN.test(r.partyId))) return { field: 'partyId', message: 'must match ^[a-zA-Z0-9_-]{1,128}$' };
  if (r.assetId !== undefined && (typeof r.assetId !== 'string' || !OBJECT_ID_PATTERN.test(r.assetId))) return { field: 'assetId', message: 'must match ^[a-zA-Z0-9_-]{1,128}$' };
  return undefined;
}
