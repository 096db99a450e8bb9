import { readFileSync } from 'node:fs';
import { GfError } from '../../core/index.js';
import { ReadingsParser } from '../meter-data/api.js';
import { ForecastErrors } from './errors.js';
import { DAY_MS, resample, toMatrix, type DailyMatrix } from './profiles.js';

export interface WideData {
  series: { id: string; matrix: DailyMatrix }[];
  resolutionS: number;
  start: number;
  days: number;
}

/**
 * A wide CSV (timestamp + one column per meter, as in ../shared/data) as day × slot matrices on one
 * calendar, at `resolutionS` (energies summed when coarser). Rows that cannot be read are refused by line.
 */
export function loadWideCsv(file: string, opts: { resolutionS?: number; unit?: string; maxSeries?: number; meters?: string[]; quantity?: 'activePower' | 'energyImport' } = {}): WideData {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new GfError(ForecastErrors.GF_FORECAST_BAD_INPUT, `cannot read ${file}`, { data: { file } });
  }
  const parser = new ReadingsParser({ unit: opts.unit ?? 'kWh', format: 'wide', ...(opts.meters ? { meters: opts.meters } : {}), ...(opts.quantity ? { quantity: opts.quantity } : {}) });
  let n = 0;
  for (const line of text.split('\n')) {
    parser.line(line);
    n++;
  }
  const r = parser.finish();
  if (r.refusedRows > 0) {
    const first = r.issues.find((i) => ['invalid-timestamp', 'invalid-value', 'unit-mismatch', 'dst-skipped'].includes(i.kind))!;
    throw new GfError(ForecastErrors.GF_FORECAST_BAD_INPUT, `${file} line ${first.fromRow}${first.meterId ? ` (${first.meterId})` : ''}: ${first.detail}`, {
      data: { file, row: first.fromRow, issues: r.issues.slice(0, 20) },
    });
  }
  if (r.series.length === 0 || n < 3) throw new GfError(ForecastErrors.GF_FORECAST_BAD_INPUT, `${file} holds no readings`, { data: { file } });
  const series = opts.maxSeries ? r.series.slice(0, opts.maxSeries) : r.series;
  const start = Math.min(...series.map((s) => Math.floor(s.ts[0]! / DAY_MS) * DAY_MS));
  const end = Math.max(...series.map((s) => Math.floor(s.ts[s.ts.length - 1]! / DAY_MS) * DAY_MS + DAY_MS));
  const target = opts.resolutionS ?? r.resolutionS;
  const out = series.map((s) => {
    const m = toMatrix(s.ts, s.values, r.resolutionS, start, end);
    return { id: s.meterId, matrix: { ...resample(m, 86400 / target, r.quantity === 'activePower' ? 'mean' : 'sum'), id: s.meterId } };
  });
  return { series: out, resolutionS: target, start, days: Math.round((end - start) / DAY_MS) };
}
