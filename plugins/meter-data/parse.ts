import { GfError, isQuantity, type Quantity } from '../../core/index.js';
import { MeterDataErrors } from './errors.js';
import { isTimeZone, resolveLocal } from './local-time.js';

/**
 * Reading files (wide or long CSV, JSON) into per-meter series, with every irregularity reported by row range
 * and nothing dropped silently: invalid rows are refused (and named), gaps, duplicates, daylight-saving
 * shifts, counter resets and suspicious units are reported alongside the data.
 */
export type IssueKind =
  | 'invalid-timestamp'
  | 'invalid-value'
  | 'missing-value'
  | 'unit-mismatch'
  | 'unit-suspect'
  | 'duplicate'
  | 'conflict'
  | 'gap'
  | 'dst-repeated'
  | 'dst-skipped'
  | 'counter-reset'
  | 'irregular-step';

/** Issues that refuse the rows they name; the others are warnings about data that is imported. */
export const REFUSING: ReadonlySet<IssueKind> = new Set(['invalid-timestamp', 'invalid-value', 'unit-mismatch', 'dst-skipped']);

export interface Issue {
  kind: IssueKind;
  meterId?: string;
  /** 1-based line numbers in the file (the header is line 1), inclusive. */
  fromRow: number;
  toRow: number;
  count: number;
  detail: string;
}

export interface ImportOptions {
  format: 'auto' | 'wide' | 'long' | 'json';
  /** Column names: the timestamp, and for long files the meter and value (and optionally unit). */
  columns: { ts?: string; meter?: string; value?: string; unit?: string };
  /** Only these columns of a wide file are meters (default: all but the timestamp and known non-meter ones). */
  meters?: string[];
  /** Unit of the values: Wh, kWh, MWh (energy per interval) or W, kW, MW (power). */
  unit: string;
  /** energyImport / energyExport / energyNet for energies, activePower for powers (default from the unit). */
  quantity?: Quantity;
  /** Interval length in seconds; detected from the timestamps when absent. */
  resolutionS?: number;
  /** IANA zone for timestamps without an offset (default UTC). */
  timezone: string;
  /** Values are cumulative counters: differences become the readings. */
  cumulative: boolean;
}

export const DEFAULT_IMPORT: ImportOptions = { format: 'auto', columns: {}, unit: 'kWh', timezone: 'UTC', cumulative: false };

const UNITS: Record<string, { base: 'Wh' | 'W'; factor: number }> = {
  Wh: { base: 'Wh', factor: 1 },
  kWh: { base: 'Wh', factor: 1e3 },
  MWh: { base: 'Wh', factor: 1e6 },
  W: { base: 'W', factor: 1 },
  kW: { base: 'W', factor: 1e3 },
  MW: { base: 'W', factor: 1e6 },
};

export function unitInfo(unit: string): { base: 'Wh' | 'W'; factor: number } {
  const u = UNITS[unit];
  if (!u) throw new GfError(MeterDataErrors.GF_IMPORT_BAD_OPTION, `unit '${unit}' is not one of ${Object.keys(UNITS).join(', ')}`, { data: { option: 'unit' } });
  return u;
}

export function checkOptions(o: ImportOptions): { quantity: Quantity; base: 'Wh' | 'W'; factor: number } {
  const u = unitInfo(o.unit);
  const quantity = o.quantity ?? (u.base === 'Wh' ? 'energyImport' : 'activePower');
  if (!isQuantity(quantity)) throw new GfError(MeterDataErrors.GF_IMPORT_BAD_OPTION, `quantity '${String(quantity)}' is unknown`, { data: { option: 'quantity' } });
  const energy = quantity === 'energyImport' || quantity === 'energyExport' || quantity === 'energyNet';
  if (energy !== (u.base === 'Wh') || (!energy && quantity !== 'activePower')) {
    throw new GfError(MeterDataErrors.GF_IMPORT_BAD_OPTION, `unit ${o.unit} does not measure ${quantity}`, { data: { option: 'unit' } });
  }
  if (!isTimeZone(o.timezone)) throw new GfError(MeterDataErrors.GF_IMPORT_BAD_OPTION, `time zone '${o.timezone}' is unknown`, { data: { option: 'timezone' } });
  if (o.resolutionS !== undefined && (!Number.isInteger(o.resolutionS) || o.resolutionS <= 0 || 86400 % o.resolutionS !== 0)) {
    throw new GfError(MeterDataErrors.GF_IMPORT_BAD_OPTION, `resolution ${o.resolutionS}s must divide a day`, { data: { option: 'resolution' } });
  }
  if (o.cumulative && !energy) throw new GfError(MeterDataErrors.GF_IMPORT_BAD_OPTION, 'only energy counters can be cumulative', { data: { option: 'cumulative' } });
  return { quantity, ...u };
}

/** One CSV line into fields (RFC 4180 quoting). */
export function splitCsv(line: string): string[] {
  if (!line.includes('"')) return line.split(',');
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (q) {
      if (c === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') q = false;
      else cur += c;
    } else if (c === '"') q = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  out.push(cur);
  return out;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/;

interface RawPoint {
  row: number;
  /** UTC instant, or the local wall time (as UTC fields) when `local`. */
  t: number;
  local: boolean;
  value: number;
}

export interface ParsedSeries {
  meterId: string;
  ts: number[];
  values: number[];
  /** 1-based file line of each point. */
  rows: number[];
  estimated: boolean[];
}

export interface ParseResult {
  quantity: Quantity;
  unit: 'Wh' | 'W';
  resolutionS: number;
  series: ParsedSeries[];
  issues: Issue[];
  rows: number;
  refusedRows: number;
}

/**
 * Incremental parser: feed lines (`line`), then `finish()`. Used by the CLI on a stream (with progress) and by
 * the API on a body.
 */
export class ReadingsParser {
  readonly #o: ImportOptions;
  readonly #q: { quantity: Quantity; base: 'Wh' | 'W'; factor: number };
  #header: string[] | undefined;
  #format: 'wide' | 'long' | undefined;
  #tsCol = -1;
  #meterCols: number[] = [];
  #meterCol = -1;
  #valueCol = -1;
  #unitCol = -1;
  readonly #points = new Map<string, RawPoint[]>();
  readonly #issues: Issue[] = [];
  #line = 0;
  #refused = new Set<number>();

  constructor(opts: Partial<ImportOptions> = {}) {
    this.#o = { ...DEFAULT_IMPORT, ...opts, columns: { ...DEFAULT_IMPORT.columns, ...opts.columns } };
    this.#q = checkOptions(this.#o);
  }

  readonly #open = new Map<string, Issue>();

  /** Records an issue, extending the open range of the same kind and meter when the rows are consecutive. */
  #issue(kind: IssueKind, row: number, detail: string, meterId?: string): void {
    const key = `${kind}\u0000${meterId ?? ''}\u0000${detail.split(':')[0]}`;
    const open = this.#open.get(key);
    if (open && open.toRow >= row - 1 && open.toRow <= row) {
      open.toRow = row;
      open.count++;
    } else {
      const issue: Issue = { kind, ...(meterId !== undefined ? { meterId } : {}), fromRow: row, toRow: row, count: 1, detail };
      this.#issues.push(issue);
      this.#open.set(key, issue);
    }
    if (REFUSING.has(kind)) this.#refused.add(row);
  }

  #refuse(kind: IssueKind, row: number, detail: string, meterId?: string): void {
    this.#issue(kind, row, detail, meterId);
    this.#refused.add(row);
  }

  #setHeader(fields: string[]): void {
    const h = fields.map((f) => f.trim());
    this.#header = h;
    const find = (name: string | undefined, fallbacks: string[]) => {
      for (const n of name ? [name] : fallbacks) {
        const i = h.findIndex((x) => x.toLowerCase() === n.toLowerCase());
        if (i >= 0) return i;
      }
      return -1;
    };
    this.#tsCol = find(this.#o.columns.ts, ['timestamp', 'utc_timestamp', 'ts', 'time', 'datetime']);
    if (this.#tsCol < 0) {
      throw new GfError(MeterDataErrors.GF_IMPORT_INVALID, `line 1: no timestamp column${this.#o.columns.ts ? ` named '${this.#o.columns.ts}'` : ' (timestamp, ts, time, datetime); name it with --map ts=COLUMN'}`, {
        data: { row: 1, columns: h },
      });
    }
    this.#meterCol = find(this.#o.columns.meter, ['meter', 'meterId', 'meter_id']);
    this.#valueCol = find(this.#o.columns.value, ['value']);
    this.#unitCol = find(this.#o.columns.unit, ['unit']);
    const wantLong = this.#o.format === 'long' || (this.#o.format === 'auto' && this.#meterCol >= 0 && this.#valueCol >= 0);
    if (wantLong) {
      if (this.#meterCol < 0 || this.#valueCol < 0) {
        throw new GfError(MeterDataErrors.GF_IMPORT_INVALID, 'line 1: a long file needs meter and value columns (--map meter=COLUMN,value=COLUMN)', { data: { row: 1, columns: h } });
      }
      this.#format = 'long';
    } else {
      this.#format = 'wide';
      const skip = new Set([this.#tsCol, this.#unitCol]);
      const wanted = this.#o.meters ? new Set(this.#o.meters) : undefined;
      this.#meterCols = h.map((_, i) => i).filter((i) => !skip.has(i) && !/timestamp|^interpolated/i.test(h[i]!) && (!wanted || wanted.has(h[i]!)));
      if (wanted) {
        const missing = [...wanted].filter((m) => !h.includes(m));
        if (missing.length) throw new GfError(MeterDataErrors.GF_IMPORT_INVALID, `line 1: no column for meter(s) ${missing.join(', ')}`, { data: { row: 1, missing } });
      }
      if (this.#meterCols.length === 0) throw new GfError(MeterDataErrors.GF_IMPORT_INVALID, 'line 1: no meter columns', { data: { row: 1, columns: h } });
    }
  }

  #time(raw: string, row: number): { t: number; local: boolean } | undefined {
    const m = ISO.exec(raw.trim());
    if (!m) {
      this.#refuse('invalid-timestamp', row, `not an ISO 8601 date-time: '${raw.slice(0, 40)}'`);
      return undefined;
    }
    const wall = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, m[6] ? +m[6] : 0);
    if (Number.isNaN(wall) || +m[2]! > 12 || +m[3]! > 31 || +m[4]! > 23 || +m[5]! > 59) {
      this.#refuse('invalid-timestamp', row, `not a valid date-time: '${raw.slice(0, 40)}'`);
      return undefined;
    }
    if (m[7]) {
      if (m[7] === 'Z') return { t: wall, local: false };
      const sign = m[7][0] === '-' ? -1 : 1;
      const d = m[7].slice(1).replace(':', '');
      return { t: wall - sign * (+d.slice(0, 2) * 3600_000 + +d.slice(2) * 60_000), local: false };
    }
    return { t: wall, local: this.#o.timezone !== 'UTC' };
  }

  #value(raw: string | undefined, row: number, meterId: string, unitRaw?: string): number | undefined {
    const s = (raw ?? '').trim();
    if (s === '' || /^(na|nan|null)$/i.test(s)) {
      this.#issue('missing-value', row, 'empty cell: no reading for this interval', meterId);
      return undefined;
    }
    const v = Number(s);
    if (!Number.isFinite(v)) {
      this.#refuse('invalid-value', row, `not a number: '${s.slice(0, 40)}'`, meterId);
      return undefined;
    }
    let factor = this.#q.factor;
    if (unitRaw !== undefined && unitRaw.trim() !== '') {
      const u = UNITS[unitRaw.trim()];
      if (!u || u.base !== this.#q.base) {
        this.#refuse('unit-mismatch', row, `unit '${unitRaw.trim()}' is not a unit of ${this.#q.quantity} (${this.#q.base})`, meterId);
        return undefined;
      }
      factor = u.factor;
    }
    return v * factor;
  }

  #add(meterId: string, p: RawPoint): void {
    let list = this.#points.get(meterId);
    if (!list) this.#points.set(meterId, (list = []));
    list.push(p);
  }

  /** One line of a CSV file (the first is the header). */
  line(text: string): void {
    const row = ++this.#line;
    const t = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (!this.#header) {
      this.#setHeader(splitCsv(t.replace(/^\uFEFF/, '')));
      return;
    }
    if (t.trim() === '') return;
    const f = splitCsv(t);
    const time = this.#time(f[this.#tsCol] ?? '', row);
    if (!time) return;
    if (this.#format === 'long') {
      const meterId = (f[this.#meterCol] ?? '').trim();
      if (!/^[A-Za-z0-9_.:@-]{1,128}$/.test(meterId)) {
        this.#refuse('invalid-value', row, `meter id '${meterId.slice(0, 40)}' is empty or has characters other than letters, digits and _.:@-`);
        return;
      }
      const v = this.#value(f[this.#valueCol], row, meterId, this.#unitCol >= 0 ? f[this.#unitCol] : undefined);
      if (v !== undefined) this.#add(meterId, { row, t: time.t, local: time.local, value: v });
    } else {
      const unitRaw = this.#unitCol >= 0 ? f[this.#unitCol] : undefined;
      for (const c of this.#meterCols) {
        const meterId = this.#header[c]!;
        const v = this.#value(f[c], row, meterId, unitRaw);
        if (v !== undefined) this.#add(meterId, { row, t: time.t, local: time.local, value: v });
      }
    }
  }

  /** JSON input: `[{meterId, ts, value, unit?}]` or `{readings: [...]}`. */
  json(doc: unknown): void {
    const list = Array.isArray(doc) ? doc : (doc as { readings?: unknown })?.readings;
    if (!Array.isArray(list)) throw new GfError(MeterDataErrors.GF_IMPORT_INVALID, 'JSON must be an array of readings or {"readings": [...]}', { data: {} });
    this.#header = ['ts', 'meterId', 'value', 'unit'];
    this.#format = 'long';
    list.forEach((r: Record<string, unknown>, i) => {
      const row = i + 1;
      this.#line = row;
      const meterId = typeof r?.meterId === 'string' ? r.meterId : '';
      if (!/^[A-Za-z0-9_.:@-]{1,128}$/.test(meterId)) {
        this.#refuse('invalid-value', row, 'meterId missing or not made of letters, digits and _.:@-');
        return;
      }
      const time = typeof r.ts === 'string' ? this.#time(r.ts, row) : typeof r.ts === 'number' && Number.isFinite(r.ts) ? { t: r.ts, local: false } : undefined;
      if (!time) {
        if (typeof r.ts !== 'string') this.#refuse('invalid-timestamp', row, 'ts must be an ISO 8601 string or epoch milliseconds', meterId);
        return;
      }
      const v = this.#value(r.value === null || r.value === undefined ? '' : String(r.value), row, meterId, typeof r.unit === 'string' ? r.unit : undefined);
      if (v !== undefined) this.#add(meterId, { row, t: time.t, local: time.local, value: v });
    });
  }

  get rows(): number {
    return this.#line;
  }

  finish(): ParseResult {
    if (!this.#header) throw new GfError(MeterDataErrors.GF_IMPORT_INVALID, 'the file is empty', { data: {} });
    const series: ParsedSeries[] = [];
    const steps = new Map<number, number>();
    const resolved: [string, { row: number; t: number; value: number }[]][] = [];
    for (const [meterId, pts] of this.#points) {
      const out: { row: number; t: number; value: number }[] = [];
      const seenLocal = new Set<number>();
      for (const p of pts) {
        if (!p.local) {
          out.push(p);
          continue;
        }
        const c = resolveLocal(this.#o.timezone, p.t).candidates;
        if (c.length === 0) {
          this.#refuse('dst-skipped', p.row, `local time ${new Date(p.t).toISOString().slice(0, 16)} does not exist in ${this.#o.timezone} (clocks went forward)`, meterId);
          continue;
        }
        if (c.length === 2) {
          // The first time a repeated local time is seen it is the earlier instant (summer time), then the later.
          const second = seenLocal.has(p.t);
          seenLocal.add(p.t);
          this.#issue('dst-repeated', p.row, `local time ${new Date(p.t).toISOString().slice(0, 16)} happens twice in ${this.#o.timezone}: read as the ${second ? 'second' : 'first'}`, meterId);
          out.push({ row: p.row, t: second ? c[1]! : c[0]!, value: p.value });
        } else out.push({ row: p.row, t: c[0]!, value: p.value });
      }
      out.sort((a, b) => a.t - b.t || a.row - b.row);
      for (let i = 1; i < out.length; i++) {
        const d = out[i]!.t - out[i - 1]!.t;
        if (d > 0) steps.set(d, (steps.get(d) ?? 0) + 1);
      }
      resolved.push([meterId, out]);
    }
    let resolutionS = this.#o.resolutionS;
    if (resolutionS === undefined) {
      const best = [...steps.entries()].sort((a, b) => b[1] - a[1])[0];
      resolutionS = best ? best[0] / 1000 : 3600;
      if (!Number.isInteger(resolutionS) || 86400 % resolutionS !== 0) {
        throw new GfError(MeterDataErrors.GF_IMPORT_INVALID, `the most common step between timestamps, ${resolutionS}s, does not divide a day; give --resolution`, { data: { resolutionS } });
      }
    }
    const stepMs = resolutionS * 1000;
    for (const [meterId, out] of resolved) {
      const s: ParsedSeries = { meterId, ts: [], values: [], rows: [], estimated: [] };
      let prev: { row: number; t: number; value: number } | undefined;
      let prevCounter: number | undefined;
      for (const p of out) {
        if (p.t % stepMs !== 0) this.#issue('irregular-step', p.row, `timestamp not on the ${resolutionS}s grid`, meterId);
        if (prev && p.t === prev.t) {
          const same = p.value === prev.value;
          this.#issue(same ? 'duplicate' : 'conflict', p.row, same ? 'same interval again, same value' : `same interval again with another value (${prev.value} then ${p.value}): the later row is kept`, meterId);
          if (!this.#o.cumulative) {
            s.values[s.values.length - 1] = p.value;
            s.rows[s.rows.length - 1] = p.row;
          }
          prev = p;
          continue;
        }
        if (prev && p.t - prev.t > stepMs) {
          const missing = Math.round((p.t - prev.t) / stepMs) - 1;
          this.#issues.push({
            kind: 'gap',
            meterId,
            fromRow: prev.row,
            toRow: p.row,
            count: missing,
            detail: `${missing} interval(s) missing between ${new Date(prev.t).toISOString()} and ${new Date(p.t).toISOString()}`,
          });
        }
        if (this.#o.cumulative) {
          if (prevCounter === undefined || (prev && p.t - prev.t > stepMs)) {
            prevCounter = p.value;
            prev = p;
            continue; // a counter's first value (or the first after a gap) starts the differences
          }
          let v = p.value - prevCounter;
          let est = false;
          if (v < 0) {
            this.#issue('counter-reset', p.row, `counter went down from ${prevCounter} to ${p.value}: read as a reset to zero`, meterId);
            v = p.value;
            est = true;
          }
          prevCounter = p.value;
          // The difference belongs to the interval that ends at this reading.
          s.ts.push(prev!.t);
          s.values.push(v);
          s.rows.push(p.row);
          s.estimated.push(est);
        } else {
          s.ts.push(p.t);
          s.values.push(p.value);
          s.rows.push(p.row);
          s.estimated.push(false);
        }
        prev = p;
      }
      this.#suspectUnits(s);
      if (s.ts.length) series.push(s);
    }
    this.#issues.sort((a, b) => a.fromRow - b.fromRow || (a.meterId ?? '').localeCompare(b.meterId ?? ''));
    return { quantity: this.#q.quantity, unit: this.#q.base, resolutionS, series, issues: this.#issues, rows: this.#line, refusedRows: this.#refused.size };
  }

  /** Values whose size does not fit the declared unit (kWh read as Wh or the other way). */
  #suspectUnits(s: ParsedSeries): void {
    if (s.values.length < 10) return;
    const abs = s.values.map(Math.abs).sort((a, b) => a - b);
    const med = abs[abs.length >> 1]!;
    const max = abs[abs.length - 1]!;
    const declaredKilo = this.#q.factor >= 1e3;
    if (declaredKilo && med / this.#q.factor > 100) {
      this.#issues.push({ kind: 'unit-suspect', meterId: s.meterId, fromRow: s.rows[0]!, toRow: s.rows[s.rows.length - 1]!, count: s.values.length, detail: `median ${med / this.#q.factor} ${this.#o.unit}: values look like ${this.#q.base}, not ${this.#o.unit}` });
    } else if (!declaredKilo && max > 0 && max < 10) {
      this.#issues.push({ kind: 'unit-suspect', meterId: s.meterId, fromRow: s.rows[0]!, toRow: s.rows[s.rows.length - 1]!, count: s.values.length, detail: `largest value ${max} ${this.#o.unit}: values look like k${this.#q.base}, not ${this.#o.unit}` });
    }
  }
}
