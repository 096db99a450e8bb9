import { GfError, type ConflictPolicy, type Quantity, type TimeSeriesStore } from '../../core/index.js';
import { MeterDataErrors } from './errors.js';
import { REFUSING, type Issue, type ParseResult } from './parse.js';
import { resampleSeries } from './resample.js';

export interface ImportReport {
  rows: number;
  refusedRows: number;
  quantity: Quantity;
  unit: string;
  resolutionS: number;
  written: number;
  duplicates: number;
  series: { meterId: string; points: number; from: string; to: string }[];
  resampled: { resolutionS: number; written: number }[];
  issues: Issue[];
}

export interface WriteOptions {
  /** Also write the series at these resolutions (seconds). */
  resample: number[];
  onConflict: ConflictPolicy;
  /** Write the valid rows even when some rows are refused (they stay listed in `issues`). */
  skipInvalid: boolean;
  partyId?: string;
}

const ENERGY = new Set<Quantity>(['energyImport', 'energyExport', 'energyNet']);

/** The refusal of a file with unreadable rows (unless `skipInvalid`), naming the first of them. */
export function refusal(r: ParseResult, o: Pick<WriteOptions, 'skipInvalid'>): GfError | undefined {
  if (r.refusedRows > 0 && !o.skipInvalid) {
    const refusing = r.issues.filter((i) => REFUSING.has(i.kind));
    return new GfError(
      MeterDataErrors.GF_IMPORT_INVALID,
      `${r.refusedRows} row(s) refused, nothing written: ${refusing.slice(0, 3).map((i) => `line ${i.fromRow}${i.toRow > i.fromRow ? `-${i.toRow}` : ''}${i.meterId ? ` (${i.meterId})` : ''}: ${i.detail}`).join('; ')}${refusing.length > 3 ? '; …' : ''} (--skip-invalid writes the rest)`,
      { data: { refusedRows: r.refusedRows, issues: refusing.slice(0, 100) } },
    );
  }
  return undefined;
}

/** Refuses the whole file when a row is invalid (unless `skipInvalid`), else writes every series. */
export async function writeParsed(store: TimeSeriesStore, r: ParseResult, o: WriteOptions): Promise<ImportReport> {
  const refused = refusal(r, o);
  if (refused) throw refused;
  let written = 0;
  let duplicates = 0;
  const resampled = new Map<number, number>();
  for (const s of r.series) {
    const key = { meterId: s.meterId, quantity: r.quantity, resolutionS: r.resolutionS, unit: r.unit, ...(o.partyId ? { partyId: o.partyId } : {}) };
    const quality = s.estimated.map((e) => (e ? 1 : 0));
    const w = await store.writeSeries(key, s.ts, s.values, { onConflict: o.onConflict, quality });
    written += w.written;
    duplicates += w.duplicates;
    for (const res of o.resample) {
      if (res === r.resolutionS) continue;
      const rs = resampleSeries(s.ts, s.values, r.resolutionS, res, ENERGY.has(r.quantity) ? 'sum' : 'mean');
      if (rs.ts.length === 0) continue;
      const q = rs.ts.map(() => (rs.interpolated ? 2 : 0));
      const wr = await store.writeSeries({ ...key, resolutionS: res }, rs.ts, rs.values, { onConflict: o.onConflict, quality: q });
      resampled.set(res, (resampled.get(res) ?? 0) + wr.written);
    }
  }
  return {
    rows: r.rows,
    refusedRows: r.refusedRows,
    quantity: r.quantity,
    unit: r.unit,
    resolutionS: r.resolutionS,
    written,
    duplicates,
    series: r.series.map((s) => ({ meterId: s.meterId, points: s.ts.length, from: new Date(s.ts[0]!).toISOString(), to: new Date(s.ts[s.ts.length - 1]!).toISOString() })),
    resampled: [...resampled].map(([resolutionS, n]) => ({ resolutionS, written: n })),
    issues: r.issues,
  };
}
