import { HistForest, mulberry32, type ForestOptions, type SerializedForest } from './forest.js';
import { at, dayMean, row, weekday, type DailyMatrix } from './profiles.js';

/**
 * A day-ahead forecasting method. `train` learns from days [0, untilDay) of a set of series (one calendar);
 * `predictDay` forecasts one whole day of one series from the days before it only.
 * Methods are contributed to the `forecasting.models` extension point, so a third party can add one.
 */
export interface ForecastModel<S = unknown> {
  readonly id: string;
  readonly version: string;
  readonly description: string;
  train(series: readonly DailyMatrix[], untilDay: number, opts?: TrainOptions): S;
  predictDay(state: S, m: DailyMatrix, day: number): Float64Array;
}

export interface TrainOptions {
  /** Progress 0..1 for long training. */
  onProgress?: (fraction: number) => void;
  /** UTC midnights (ms) of public holidays: treated as Sundays. */
  holidays?: ReadonlySet<number>;
}

const dayType = (m: DailyMatrix, day: number, holidays?: ReadonlySet<number>) =>
  holidays?.has(m.start + day * 86_400_000) ? 6 : weekday(m, day);

/** Same slot, previous day. The reference every method must beat. */
export const persistence: ForecastModel<null> = {
  id: 'persistence',
  version: '1',
  description: 'same slot of the previous day',
  train: () => null,
  predictDay: (_s, m, day) => (day >= 1 ? Float64Array.from(row(m, day - 1)) : new Float64Array(m.slotsPerDay).fill(NaN)),
};

/** Same slot, same day last week. */
export const seasonalNaive: ForecastModel<null> = {
  id: 'seasonal-naive',
  version: '1',
  description: 'same slot of the same weekday last week',
  train: () => null,
  predictDay: (_s, m, day) => (day >= 7 ? Float64Array.from(row(m, day - 7)) : new Float64Array(m.slotsPerDay).fill(NaN)),
};

/**
 * Similar days: of the past `lookbackDays` days of the same day type (weekday or weekend/holiday), the `k`
 * whose preceding day looked most like the day before the target (Euclidean distance); their mean.
 */
export const similarDay: ForecastModel<{ holidays?: ReadonlySet<number> }> = {
  id: 'similar-day',
  version: '1',
  description: 'mean of the k=4 past days of the same day type whose previous day best matches yesterday',
  train: (_series, _until, opts) => ({ holidays: opts?.holidays }),
  predictDay: (s, m, day) => {
    const k = 4;
    const lookback = 42;
    const weekend = (d: number) => dayType(m, d, s.holidays) >= 5;
    const target = weekend(day);
    const y = row(m, day - 1);
    const cands: { d: number; dist: number }[] = [];
    for (let d = day - 1; d >= Math.max(1, day - lookback); d--) {
      if (weekend(d) !== target) continue;
      const p = row(m, d - 1);
      let dist = 0;
      for (let i = 0; i < y.length; i++) dist += (p[i]! - y[i]!) ** 2;
      if (!Number.isNaN(dist)) cands.push({ d, dist });
    }
    cands.sort((a, b) => a.dist - b.dist);
    const use = cands.slice(0, k);
    const out = new Float64Array(m.slotsPerDay).fill(use.length ? 0 : NaN);
    for (const c of use) {
      const r = row(m, c.d);
      for (let i = 0; i < out.length; i++) out[i]! += r[i]! / use.length;
    }
    return out;
  },
};

// ---------------------------------------------------------------- random forest

export const FEATURE_NAMES = [
  'slotOfDay', 'weekday', 'weekend', 'lag1d', 'lag2d', 'lag7d', 'lag14d', 'mean7dSameSlot', 'meanDayMinus1', 'meanDayMinus7',
  'lag1dPrevSlot', 'lag1dNextSlot', 'lag7dNeighbourhood', 'maxDayMinus1', 'temperature', 'temperatureDayMean',
] as const;
const NF = FEATURE_NAMES.length;

function scaleOf(m: DailyMatrix, untilDay: number): number {
  let s = 0;
  let n = 0;
  for (let i = 0; i < untilDay * m.slotsPerDay && i < m.values.length; i++) {
    const v = m.values[i]!;
    if (!Number.isNaN(v)) {
      s += Math.abs(v);
      n++;
    }
  }
  return n > 0 && s > 0 ? s / n : 1;
}

/** Features of one slot (values divided by the series' scale, so one forest serves every prosumer). */
function features(m: DailyMatrix, day: number, slot: number, scale: number, holidays: ReadonlySet<number> | undefined, out: Float64Array, o: number): void {
  const v = (d: number, s: number) => at(m, d, s) / scale;
  const wd = dayType(m, day, holidays);
  let mean7 = 0;
  for (let k = 1; k <= 7; k++) mean7 += v(day - k, slot);
  let max1 = -Infinity;
  for (let s = 0; s < m.slotsPerDay; s++) max1 = Math.max(max1, v(day - 1, s));
  out[o] = slot / m.slotsPerDay;
  out[o + 1] = wd;
  out[o + 2] = wd >= 5 ? 1 : 0;
  out[o + 3] = v(day - 1, slot);
  out[o + 4] = v(day - 2, slot);
  out[o + 5] = v(day - 7, slot);
  out[o + 6] = v(day - 14, slot);
  out[o + 7] = mean7 / 7;
  out[o + 8] = dayMean(m, day - 1) / scale;
  out[o + 9] = dayMean(m, day - 7) / scale;
  out[o + 10] = v(day - 1, slot - 1);
  out[o + 11] = v(day - 1, slot + 1);
  out[o + 12] = (v(day - 7, slot - 1) + v(day - 7, slot) + v(day - 7, slot + 1)) / 3;
  out[o + 13] = Number.isFinite(max1) ? max1 : NaN;
  // Weather when the meter has a location (NaN otherwise: the forest then never splits on it).
  const T = m.covariates?.temperature;
  out[o + 14] = T ? at(T, day, slot) : NaN;
  out[o + 15] = T ? dayMean(T, day) : NaN;
}

export interface ForestState {
  forest: HistForest;
  holidays?: ReadonlySet<number>;
  /** Scale per series, by identity; series not seen in training use their own history's mean. */
  scales: WeakMap<DailyMatrix, number>;
  untilDay: number;
}

export interface ForestModelOptions extends Partial<ForestOptions> {
  /** Most training rows sampled across all series (uniformly). */
  maxRows: number;
}

/**
 * One pooled random forest over every series, each normalised by its own mean, on calendar and lagged-load
 * features (FEATURE_NAMES). Pooling lets a prosumer with little history borrow the shape of the others.
 */
export function randomForestModel(opts: Partial<ForestModelOptions> = {}): ForecastModel<ForestState> & { serialize(s: ForestState): SerializedForest } {
  // Median leaves: the point forecast is the conditional median, which is what MAE and WAPE reward
  // (household loads are skewed: the mean over-forecasts most slots). Measured in docs/benchmarks.md.
  const o: ForestModelOptions = { maxRows: 40_000, leaf: 'median', minLeaf: 20, ...opts };
  return {
    id: 'random-forest',
    version: '1',
    description: `pooled histogram random forest (${o.trees ?? 60} trees, ${o.leaf} leaves) on calendar, lagged-load and weather features, per-prosumer normalisation`,
    train(series, untilDay, topts) {
      const firstDay = 14;
      const slots = series[0]?.slotsPerDay ?? 0;
      const perSeries = Math.max(0, untilDay - firstDay) * slots;
      const total = perSeries * series.length;
      const take = Math.min(total, o.maxRows);
      const rnd = mulberry32(o.seed ?? 7);
      const X = new Float64Array(take * NF);
      const y = new Float64Array(take);
      const scales = new WeakMap<DailyMatrix, number>();
      const sc = series.map((m) => {
        const s = scaleOf(m, untilDay);
        scales.set(m, s);
        return s;
      });
      let n = 0;
      for (let i = 0; i < take; i++) {
        const k = take === total ? i : Math.floor(rnd() * total);
        const si = Math.floor(k / perSeries);
        const rest = k % perSeries;
        const day = firstDay + Math.floor(rest / slots);
        const slot = rest % slots;
        const m = series[si]!;
        const target = at(m, day, slot) / sc[si]!;
        if (Number.isNaN(target)) continue;
        features(m, day, slot, sc[si]!, topts?.holidays, X, n * NF);
        y[n++] = target;
        if (i % 10000 === 0) topts?.onProgress?.((0.3 * i) / take);
      }
      const forest = HistForest.fit(X.subarray(0, n * NF), y.subarray(0, n), NF, o);
      topts?.onProgress?.(1);
      return { forest, holidays: topts?.holidays, scales, untilDay };
    },
    predictDay(s, m, day) {
      const scale = s.scales.get(m) ?? scaleOf(m, day);
      const X = new Float64Array(m.slotsPerDay * NF);
      for (let slot = 0; slot < m.slotsPerDay; slot++) features(m, day, slot, scale, s.holidays, X, slot * NF);
      const p = s.forest.predict(X);
      for (let i = 0; i < p.length; i++) p[i]! *= scale;
      return p;
    },
    serialize: (s) => s.forest.toJSON(),
  };
}

export const BUILTIN_MODELS: readonly ForecastModel<any>[] = [persistence, seasonalNaive, similarDay, randomForestModel()];
