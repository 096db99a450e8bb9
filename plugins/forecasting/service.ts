import { createHash } from 'node:crypto';
import { GfError, type Quantity, type TimeSeriesStore } from '../../core/index.js';
import { resampleSeries } from '../meter-data/api.js';
import type { Weather } from '../weather/api.js';
import { ForecastErrors } from './errors.js';
import { applyIntervals, calibrate, type Calibration } from './intervals.js';
import type { ForecastModel } from './models.js';
import { DAY_MS, row, sumMatrices, toMatrix, type DailyMatrix } from './profiles.js';

export interface ForecastRequest {
  meters: string[];
  /** Also forecast the sum of the meters as a series of its own. */
  aggregate: boolean;
  quantity: Quantity;
  resolutionS: number;
  horizonHours: number;
  /** day-ahead: from the next UTC midnight after `at`; intraday: from the next interval, corrected by the latest readings. */
  kind: 'day-ahead' | 'intraday';
  /** Issue time (ms). */
  at: number;
  model: string;
}

export interface ForecastSeries {
  meterId: string;
  ts: string[];
  point: number[];
  p10: number[];
  p50: number[];
  p90: number[];
}

export interface ForecastResult {
  model: string;
  version: string;
  kind: ForecastRequest['kind'];
  issuedAt: string;
  quantity: Quantity;
  unit: string;
  resolutionS: number;
  series: ForecastSeries[];
  aggregate?: ForecastSeries;
}

const HISTORY_DAYS = 63;
const MIN_DAYS = 14;
const TAU_MS = 2 * 3600_000;

interface Trained {
  state: unknown;
  calibration: Calibration;
  at: number;
}

/**
 * Forecasts from the time-series store: loads ~9 weeks of history per meter, trains (once per model, meter set,
 * resolution and day; cached), forecasts day by day feeding each day into the next, adds p10/p50/p90 from
 * out-of-sample errors, and for intraday requests pulls the near intervals towards the latest readings.
 */
export class ForecastService {
  readonly #cache = new Map<string, Trained>();

  constructor(
    private readonly store: () => TimeSeriesStore,
    private readonly models: () => ReadonlyMap<string, ForecastModel<any>>,
    private readonly weather: () => Weather | undefined = () => undefined,
  ) {}

  /** Hourly weather of the meter's location on the matrix calendar (forecast values included), if any. */
  async #covariates(id: string, resolutionS: number, from: number, to: number): Promise<DailyMatrix['covariates']> {
    const w = this.weather();
    const loc = w?.locationOf(id);
    if (!w || !loc) return undefined;
    const out: NonNullable<DailyMatrix['covariates']> = {};
    for (const what of ['temperature', 'irradiance'] as const) {
      const s = await w.series(loc, what, from, to);
      if (s.ts.length === 0) continue;
      const rs = resampleSeries(s.ts, s.values, 3600, resolutionS, 'mean');
      out[what] = toMatrix(rs.ts, rs.values, resolutionS, from, to);
    }
    return out;
  }

  model(id: string): ForecastModel<any> {
    const m = this.models().get(id);
    if (!m) throw new GfError(ForecastErrors.GF_FORECAST_UNKNOWN_MODEL, `no model '${id}' (known: ${[...this.models().keys()].join(', ')})`, { data: { model: id } });
    return m;
  }

  async history(meters: readonly string[], quantity: Quantity, resolutionS: number, fromDay: number, days: number): Promise<{ id: string; matrix: DailyMatrix; lastTs: number }[]> {
    const from = fromDay;
    const to = fromDay + days * DAY_MS;
    const stored = await this.store().read({ meterIds: meters, quantity, from, to });
    const energy = quantity.startsWith('energy');
    const covariates = await Promise.all(meters.map((id) => this.#covariates(id, resolutionS, from, to)));
    return meters.map((id, i) => {
      const cands = stored.filter((s) => s.meterId === id && (resolutionS % s.resolutionS === 0 || s.resolutionS % resolutionS === 0));
      // The stored series closest to the asked resolution (exact, else the finest).
      const s = cands.find((c) => c.resolutionS === resolutionS) ?? cands.sort((a, b) => a.resolutionS - b.resolutionS)[0];
      if (!s || s.ts.length === 0) {
        throw new GfError(ForecastErrors.GF_FORECAST_NO_HISTORY, `meter ${id} has no ${quantity} readings in the last ${days} days that convert to ${resolutionS}s`, { data: { meterId: id } });
      }
      const rs = resampleSeries(s.ts, s.values, s.resolutionS, resolutionS, energy ? 'sum' : 'mean');
      const cov = covariates[i];
      return { id, matrix: { ...toMatrix(rs.ts, rs.values, resolutionS, from, to), id, ...(cov ? { covariates: cov } : {}) }, lastTs: rs.ts[rs.ts.length - 1] ?? 0 };
    });
  }

  async forecast(req: ForecastRequest): Promise<ForecastResult> {
    const model = this.model(req.model);
    const slotMs = req.resolutionS * 1000;
    const today = Math.floor(req.at / DAY_MS) * DAY_MS;
    const start = req.kind === 'day-ahead' ? today + DAY_MS : Math.floor(req.at / slotMs) * slotMs + slotMs;
    const end = start + req.horizonHours * 3600_000;
    const daysAhead = Math.ceil((end - today) / DAY_MS);
    const firstDay = today - HISTORY_DAYS * DAY_MS;
    const hist = await this.history(req.meters, req.quantity, req.resolutionS, firstDay, HISTORY_DAYS + daysAhead);
    // Only readings before the issue time count.
    const cutoff = Math.floor((req.at - firstDay) / slotMs);
    for (const h of hist) h.matrix.values.fill(NaN, Math.max(0, cutoff));
    const untilDay = HISTORY_DAYS; // the day index of `today`
    for (const h of hist) {
      let have = 0;
      for (let d = 0; d < untilDay; d++) if (!row(h.matrix, d).some(Number.isNaN)) have++;
      if (have < MIN_DAYS) {
        throw new GfError(ForecastErrors.GF_FORECAST_NO_HISTORY, `meter ${h.id} has ${have} complete day(s) of history; ${MIN_DAYS} are needed`, { data: { meterId: h.id, days: have } });
      }
    }
    const matrices = hist.map((h) => h.matrix);
    const energy = req.quantity.startsWith('energy') || req.quantity === 'activePower';
    const trained = this.#train(model, matrices, untilDay, req, 'members');
    const out = hist.map((h) => this.#series(model, trained, h.id, h.matrix, untilDay, daysAhead, req, start, end, energy));
    const result: ForecastResult = {
      model: model.id,
      version: model.version,
      kind: req.kind,
      issuedAt: new Date(req.at).toISOString(),
      quantity: req.quantity,
      unit: req.quantity.startsWith('energy') ? 'Wh' : 'W',
      resolutionS: req.resolutionS,
      series: out,
    };
    if (req.aggregate) {
      // The aggregate's history is the sum of the members' readings; it gets its own model and its own error.
      const agg = sumMatrices(matrices); // readings after the issue time are already blanked
      const aggTrained = this.#train(model, [agg], untilDay, req, 'aggregate');
      result.aggregate = this.#series(model, aggTrained, 'aggregate', agg, untilDay, daysAhead, req, start, end, energy);
    }
    return result;
  }

  #train(model: ForecastModel<any>, matrices: DailyMatrix[], untilDay: number, req: ForecastRequest, what: string): Trained {
    const key = createHash('sha256')
      .update(JSON.stringify([model.id, model.version, what, req.quantity, req.resolutionS, req.meters, Math.floor(req.at / DAY_MS)]))
      .digest('hex');
    const hit = this.#cache.get(key);
    if (hit) return hit;
    const t: Trained = { state: model.train(matrices, untilDay), calibration: calibrate(model, matrices, untilDay), at: Date.now() };
    if (this.#cache.size > 200) this.#cache.delete(this.#cache.keys().next().value!);
    this.#cache.set(key, t);
    return t;
  }

  #series(model: ForecastModel<any>, t: Trained, id: string, m: DailyMatrix, untilDay: number, daysAhead: number, req: ForecastRequest, start: number, end: number, nonNegative: boolean): ForecastSeries {
    const slots = m.slotsPerDay;
    const work: DailyMatrix = { ...m, values: Float64Array.from(m.values) };
    const point = new Float64Array(daysAhead * slots);
    const bands: Float64Array[] = [new Float64Array(daysAhead * slots), new Float64Array(daysAhead * slots), new Float64Array(daysAhead * slots)];
    for (let k = 0; k < daysAhead; k++) {
      const d = untilDay + k;
      const f = model.predictDay(t.state, work, d);
      const q = applyIntervals(t.calibration, work, untilDay, f, nonNegative);
      const r = row(work, d);
      for (let s = 0; s < slots; s++) {
        point[k * slots + s] = f[s]!;
        for (let b = 0; b < 3; b++) bands[b]![k * slots + s] = q[b]![s]!;
        if (Number.isNaN(r[s]!)) r[s] = f[s]!; // later days see this day as forecast
      }
    }
    const first = m.start + untilDay * DAY_MS;
    if (req.kind === 'intraday') {
      // Residual of the latest readings, fading with a 2 h time constant.
      const lastIdx = Math.floor((req.at - first) / (req.resolutionS * 1000)) - 1;
      const obs = lastIdx >= 0 ? m.values[untilDay * slots + lastIdx]! : m.values[untilDay * slots - 1]!;
      const base = lastIdx >= 0 ? point[lastIdx]! : NaN;
      const resid = Number.isNaN(obs) || Number.isNaN(base) ? 0 : obs - base;
      const t0 = first + (lastIdx + 1) * req.resolutionS * 1000;
      for (let i = Math.max(0, lastIdx + 1); i < point.length; i++) {
        const w = Math.exp(-(first + i * req.resolutionS * 1000 - t0) / TAU_MS) * resid;
        const fix = (v: number) => (nonNegative ? Math.max(0, v + w) : v + w);
        point[i] = fix(point[i]!);
        for (const b of bands) b[i] = fix(b[i]!);
      }
    }
    const from = Math.round((start - first) / (req.resolutionS * 1000));
    const to = Math.round((end - first) / (req.resolutionS * 1000));
    const pick = (a: Float64Array) => Array.from(a.subarray(from, to), (v) => Math.round(v * 1000) / 1000);
    return {
      meterId: id,
      ts: Array.from({ length: to - from }, (_, i) => new Date(first + (from + i) * req.resolutionS * 1000).toISOString()),
      point: pick(point),
      p10: pick(bands[0]!),
      p50: pick(bands[1]!),
      p90: pick(bands[2]!),
    };
  }
}
