import { quantile } from './metrics.js';
import type { ForecastModel, TrainOptions } from './models.js';
import { row, type DailyMatrix } from './profiles.js';

/**
 * Prediction intervals from out-of-sample errors: the model is trained without the last `holdoutDays` of the
 * training period, forecasts them, and the errors (divided by each series' mean level) give quantiles per part
 * of the day (night, morning, afternoon, evening). Applied to a forecast: point + quantile × level, never
 * below zero for consumption.
 */
export const QUANTILES = [0.1, 0.5, 0.9] as const;
const BANDS = 4;

export interface Calibration {
  /** [band][quantile] normalised error quantiles. */
  q: number[][];
}

function level(m: DailyMatrix, untilDay: number): number {
  let s = 0;
  let n = 0;
  for (let d = Math.max(0, untilDay - 28); d < untilDay; d++) {
    for (const v of row(m, d)) {
      if (!Number.isNaN(v)) {
        s += Math.abs(v);
        n++;
      }
    }
  }
  return n && s ? s / n : 1;
}

export function calibrate(model: ForecastModel<any>, series: readonly DailyMatrix[], untilDay: number, holdoutDays = 7, opts?: TrainOptions): Calibration {
  const start = untilDay - holdoutDays;
  const state = model.train(series, start, opts);
  const errs: number[][] = Array.from({ length: BANDS }, () => []);
  for (const m of series) {
    const lv = level(m, start);
    for (let d = start; d < untilDay; d++) {
      const f = model.predictDay(state, m, d);
      const a = row(m, d);
      for (let s = 0; s < a.length; s++) {
        const e = (a[s]! - f[s]!) / lv;
        if (!Number.isNaN(e)) errs[Math.floor((s * BANDS) / a.length)]!.push(e);
      }
    }
  }
  return { q: errs.map((e) => QUANTILES.map((q) => (e.length ? quantile(e, q) : 0))) };
}

/** p10, p50, p90 of one forecast day; p50 is the point forecast corrected by the median error. */
export function applyIntervals(c: Calibration, m: DailyMatrix, untilDay: number, point: Float64Array, nonNegative: boolean): Float64Array[] {
  const lv = level(m, untilDay);
  return QUANTILES.map((_, qi) =>
    Float64Array.from(point, (p, s) => {
      const v = p + c.q[Math.floor((s * BANDS) / point.length)]![qi]! * lv;
      return nonNegative ? Math.max(0, v) : v;
    }),
  );
}
