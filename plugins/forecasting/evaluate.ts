import { metrics, median, quantile, type Metrics } from './metrics.js';
import type { ForecastModel, TrainOptions } from './models.js';
import { applyIntervals, calibrate } from './intervals.js';
import { row, sumMatrices, type DailyMatrix } from './profiles.js';

/**
 * Rolling-origin backtest, day-ahead: each model is trained once on the days before `trainUntilDay`; then every
 * later day is forecast from the days before it only (the origin rolls forward a day at a time). Per prosumer
 * and for the aggregate (the sum of all, forecast as a series of its own, so it has its own error).
 */
export interface EvaluationInput {
  series: { id: string; matrix: DailyMatrix }[];
  trainUntilDay: number;
  models: readonly ForecastModel<any>[];
  /** Also score p10–p90 intervals (trains each model a second time, for the calibration). */
  intervals?: boolean;
  onProgress?: (done: number, total: number, what: string) => void;
}

export interface Spread {
  median: number;
  p25: number;
  p75: number;
}

export interface ModelScore {
  model: string;
  version: string;
  description: string;
  perProsumer: { mae: Spread; rmse: Spread; nrmse: Spread; wape: Spread; mape: Spread | null };
  aggregate: Metrics;
  /** Share of actuals inside the p10–p90 interval (aggregate and median per prosumer); 0.8 is calibrated. */
  coverage80?: { perProsumer: number; aggregate: number };
  trainMs: number;
  predictMs: number;
}

export interface Evaluation {
  testDays: number;
  prosumers: number;
  scores: ModelScore[];
  best: { perProsumerWape: string; aggregateWape: string };
}

const spread = (xs: number[]): Spread => ({ median: median(xs), p25: quantile(xs, 0.25), p75: quantile(xs, 0.75) });

function backtest(model: ForecastModel<any>, state: unknown, m: DailyMatrix, from: number): { actual: number[]; forecast: number[] } {
  const actual: number[] = [];
  const forecast: number[] = [];
  for (let d = from; d < m.days; d++) {
    const f = model.predictDay(state, m, d);
    const a = row(m, d);
    for (let s = 0; s < a.length; s++) {
      actual.push(a[s]!);
      forecast.push(f[s]!);
    }
  }
  return { actual, forecast };
}

function coverage(model: ForecastModel<any>, state: unknown, cal: ReturnType<typeof calibrate>, m: DailyMatrix, from: number): number {
  let inside = 0;
  let n = 0;
  for (let d = from; d < m.days; d++) {
    const [lo, , hi] = applyIntervals(cal, m, from, model.predictDay(state, m, d), true);
    const a = row(m, d);
    for (let s = 0; s < a.length; s++) {
      if (Number.isNaN(a[s]!)) continue;
      n++;
      if (a[s]! >= lo![s]! - 1e-9 && a[s]! <= hi![s]! + 1e-9) inside++;
    }
  }
  return n ? inside / n : NaN;
}

export function evaluate(input: EvaluationInput): Evaluation {
  const { series, trainUntilDay: until } = input;
  const matrices = series.map((s) => s.matrix);
  const agg = sumMatrices(matrices);
  const days = matrices[0]!.days - until;
  if (days <= 0) throw new RangeError('no days after the training period to test on');
  const scores: ModelScore[] = [];
  const total = input.models.length;
  input.models.forEach((model, mi) => {
    const topts: TrainOptions = { onProgress: (f) => input.onProgress?.(mi + f * 0.5, total, `training ${model.id}`) };
    let t0 = performance.now();
    const state = model.train(matrices, until, topts);
    const aggState = model.train([agg], until);
    const trainMs = performance.now() - t0;
    t0 = performance.now();
    const per = { mae: [] as number[], rmse: [] as number[], nrmse: [] as number[], wape: [] as number[], mape: [] as number[] };
    series.forEach((s, i) => {
      const { actual, forecast } = backtest(model, state, s.matrix, until);
      const m = metrics(actual, forecast);
      per.mae.push(m.mae);
      per.rmse.push(m.rmse);
      per.nrmse.push(m.nrmse);
      per.wape.push(m.wape);
      if (m.mape !== null) per.mape.push(m.mape);
      if (i % 20 === 0) input.onProgress?.(mi + 0.5 + (0.5 * i) / series.length, total, `forecasting with ${model.id}`);
    });
    const a = backtest(model, aggState, agg, until);
    const predictMs = performance.now() - t0;
    const score: ModelScore = {
      model: model.id,
      version: model.version,
      description: model.description,
      perProsumer: { mae: spread(per.mae), rmse: spread(per.rmse), nrmse: spread(per.nrmse), wape: spread(per.wape), mape: per.mape.length ? spread(per.mape) : null },
      aggregate: metrics(a.actual, a.forecast),
      trainMs,
      predictMs,
    };
    if (input.intervals) {
      const cal = calibrate(model, matrices, until);
      const calAgg = calibrate(model, [agg], until);
      score.coverage80 = {
        perProsumer: median(series.map((s) => coverage(model, state, cal, s.matrix, until))),
        aggregate: coverage(model, aggState, calAgg, agg, until),
      };
    }
    scores.push(score);
  });
  input.onProgress?.(total, total, 'done');
  const best = (f: (s: ModelScore) => number) => [...scores].sort((x, y) => f(x) - f(y))[0]!.model;
  return {
    testDays: days,
    prosumers: series.length,
    scores,
    best: { perProsumerWape: best((s) => s.perProsumer.wape.median), aggregateWape: best((s) => s.aggregate.wape) },
  };
}
