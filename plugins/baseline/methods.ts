import { DAY_MS, row, weekday, type DailyMatrix } from '../forecasting/api.js';

/**
 * Customer baseline load (CBL) methods: what a prosumer would have consumed on a day without the DR event.
 * Each computes a whole day's baseline from days before it; the event window matters to the ones that rank
 * days by their load in it and to the day-of adjustment.
 */
export interface Window {
  /** First slot of the event (inclusive) and the slot after its end. */
  startSlot: number;
  endSlot: number;
}

export interface BaselineContext {
  /** Day indices not to use as history: past event days. */
  excluded: ReadonlySet<number>;
  /** UTC midnights (ms) of holidays: neither used as weekday history nor treated as weekdays. */
  holidays: ReadonlySet<number>;
  /** Temperature (°C) per slot on the same calendar, for weather-matched methods. */
  temperature?: DailyMatrix;
}

export interface BaselineResult {
  baseline: Float64Array;
  /** The day indices the baseline was built from. */
  daysUsed: number[];
  /** The day-of adjustment factor applied (1 when none). */
  adjustment: number;
}

export interface GroupBaselineResult {
  /** One result per member, in the order given. */
  members: BaselineResult[];
  /** The sum of the members' baselines. */
  aggregate: BaselineResult;
}

export interface BaselineMethod {
  readonly id: string;
  readonly version: string;
  /** The rule in one paragraph (README, API). */
  readonly rule: string;
  compute(m: DailyMatrix, day: number, w: Window, ctx: BaselineContext): BaselineResult;
  /**
   * Methods that learn from the whole group (a portfolio) compute its members together; without this, a
   * group's baseline is each member's `compute`. Member matrices share one calendar.
   */
  computeGroup?(members: readonly DailyMatrix[], day: number, w: Window, ctx: BaselineContext): GroupBaselineResult;
}

export interface AdjustmentRule {
  /** Hours of the adjustment window, ending `gapHours` before the event starts. */
  hours: number;
  gapHours: number;
  /** The factor is kept within 1 ± cap. */
  cap: number;
}

export const DEFAULT_ADJUSTMENT: AdjustmentRule = { hours: 3, gapHours: 1, cap: 0.2 };

const isWeekendLike = (m: DailyMatrix, d: number, holidays: ReadonlySet<number>) => weekday(m, d) >= 5 || holidays.has(m.start + d * DAY_MS);

function complete(m: DailyMatrix, d: number): boolean {
  return !row(m, d).some(Number.isNaN);
}

/** The most recent `count` eligible days of the target's type (weekday vs weekend/holiday), within `lookback` days. */
export function eligibleDays(m: DailyMatrix, day: number, count: number, lookback: number, ctx: BaselineContext): number[] {
  const weekendTarget = isWeekendLike(m, day, ctx.holidays);
  const out: number[] = [];
  for (let d = day - 1; d >= Math.max(0, day - lookback) && out.length < count; d--) {
    if (sameTypeHistory(m, d, weekendTarget, ctx) && complete(m, d)) out.push(d);
  }
  return out;
}

/** Whether day `d` may be history for an event of that type: not a past event day, and of the same type (weekday vs weekend/holiday). */
function sameTypeHistory(m: DailyMatrix, d: number, weekendTarget: boolean, ctx: BaselineContext): boolean {
  return !ctx.excluded.has(d) && isWeekendLike(m, d, ctx.holidays) === weekendTarget && (weekendTarget || !ctx.holidays.has(m.start + d * DAY_MS));
}

function meanOf(m: DailyMatrix, days: number[]): Float64Array {
  const out = new Float64Array(m.slotsPerDay);
  for (const d of days) {
    const r = row(m, d);
    for (let s = 0; s < out.length; s++) out[s]! += r[s]! / days.length;
  }
  if (days.length === 0) out.fill(NaN);
  return out;
}

function windowSum(v: ArrayLike<number>, from: number, to: number): number {
  let s = 0;
  for (let i = Math.max(0, from); i < to; i++) s += v[i]!;
  return s;
}

/**
 * Day-of adjustment: the ratio of the day's actual load to the baseline over the `hours` before the event
 * (ending `gapHours` before it, so pre-cooling or early response does not leak in), capped at 1 ± cap, applied
 * to the whole baseline. Needs the event to start late enough for the window; else no adjustment.
 */
export function dayOfAdjustment(m: DailyMatrix, day: number, w: Window, base: Float64Array, rule: AdjustmentRule): number {
  const perHour = m.slotsPerDay / 24;
  const to = w.startSlot - Math.round(rule.gapHours * perHour);
  const from = to - Math.round(rule.hours * perHour);
  if (from < 0) return 1;
  const actual = windowSum(row(m, day), from, to);
  const b = windowSum(base, from, to);
  if (!(b > 0) || Number.isNaN(actual)) return 1;
  return Math.min(1 + rule.cap, Math.max(1 - rule.cap, actual / b));
}

function adjusted(base: Float64Array, f: number): Float64Array {
  return f === 1 ? base : Float64Array.from(base, (v) => v * f);
}

/** CAISO-style X-in-Y: the mean of the last 10 eligible weekdays (4 for weekends and holidays), day-of adjusted. */
export function xInY(opts: { weekdays: number; weekends: number; lookbackDays: number; adjustment: AdjustmentRule | null; id?: string }): BaselineMethod {
  const adj = opts.adjustment;
  return {
    id: opts.id ?? `${opts.weekdays}-in-${opts.weekdays}${adj ? '-adjusted' : ''}`,
    version: '1',
    rule:
      `Mean of the ${opts.weekdays} most recent weekdays (${opts.weekends} for weekend and holiday events) within ${opts.lookbackDays} days, ` +
      `skipping past event days, holidays and days with missing readings` +
      (adj ? `; multiplied by the day-of adjustment: actual/baseline over the ${adj.hours} h ending ${adj.gapHours} h before the event, capped at ±${adj.cap * 100} %.` : '.'),
    compute(m, day, w, ctx) {
      const weekend = isWeekendLike(m, day, ctx.holidays);
      const days = eligibleDays(m, day, weekend ? opts.weekends : opts.weekdays, opts.lookbackDays, ctx);
      const base = meanOf(m, days);
      const f = adj ? dayOfAdjustment(m, day, w, base, adj) : 1;
      return { baseline: adjusted(base, f), daysUsed: days, adjustment: f };
    },
  };
}

/** High X of Y: of the last Y eligible days, the X with the highest load in the event window; their mean. */
export function highXofY(opts: { x: number; y: number; lookbackDays: number; adjustment: AdjustmentRule | null }): BaselineMethod {
  const adj = opts.adjustment;
  return {
    id: `high-${opts.x}-of-${opts.y}${adj ? '-adjusted' : ''}`,
    version: '1',
    rule:
      `Of the ${opts.y} most recent eligible days of the event's type within ${opts.lookbackDays} days (no past event days, holidays or incomplete days), ` +
      `the ${opts.x} with the highest load in the event window; their mean` +
      (adj ? `, day-of adjusted (${adj.hours} h ending ${adj.gapHours} h before the event, capped at ±${adj.cap * 100} %).` : '.') +
      ' Tends to over-state residential baselines.',
    compute(m, day, w, ctx) {
      const pool = eligibleDays(m, day, opts.y, opts.lookbackDays, ctx);
      const ranked = pool.map((d) => ({ d, load: windowSum(row(m, d), w.startSlot, w.endSlot) })).sort((a, b) => b.load - a.load);
      const days = ranked.slice(0, opts.x).map((r) => r.d);
      const base = meanOf(m, days);
      const f = adj ? dayOfAdjustment(m, day, w, base, adj) : 1;
      return { baseline: adjusted(base, f), daysUsed: days, adjustment: f };
    },
  };
}

/** Least squares for a small dense system (normal equations, Gaussian elimination with pivoting). */
function solve(A: number[][], b: number[]): number[] | undefined {
  const n = b.length;
  const M = A.map((r, i) => [...r, b[i]!]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(M[r]![c]!) > Math.abs(M[p]![c]!)) p = r;
    if (Math.abs(M[p]![c]!) < 1e-12) return undefined;
    [M[c], M[p]] = [M[p]!, M[c]!];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = M[r]![c]! / M[c]![c]!;
      for (let k = c; k <= n; k++) M[r]![k]! -= f * M[c]![k]!;
    }
  }
  return M.map((r, i) => r[n]! / r[i]!);
}

/**
 * Weather-matched regression: per slot, load = a + b·T + c·T² over the eligible days of the last `lookbackDays`
 * (ridge-stabilised), evaluated at the event day's temperature; day-of adjusted. Needs temperatures.
 */
export function weatherRegression(opts: { lookbackDays: number; adjustment: AdjustmentRule | null }): BaselineMethod {
  const adj = opts.adjustment;
  return {
    id: `weather-regression${adj ? '-adjusted' : ''}`,
    version: '1',
    rule:
      `Per interval, a regression of load on temperature and its square over the eligible days of the event's type within ${opts.lookbackDays} days, ` +
      `evaluated at the event day's temperature` +
      (adj ? `; day-of adjusted (${adj.hours} h ending ${adj.gapHours} h before the event, capped at ±${adj.cap * 100} %).` : '.') +
      ' Needs temperatures for the site.',
    compute(m, day, w, ctx) {
      const T = ctx.temperature;
      if (!T) throw new RangeError('weather-regression needs temperatures');
      const days = eligibleDays(m, day, opts.lookbackDays, opts.lookbackDays, ctx).filter((d) => !row(T, d).some(Number.isNaN));
      const base = new Float64Array(m.slotsPerDay).fill(NaN);
      const tDay = row(T, day);
      for (let s = 0; s < m.slotsPerDay; s++) {
        const A = [
          [0, 0, 0],
          [0, 0, 0],
          [0, 0, 0],
        ];
        const b = [0, 0, 0];
        for (const d of days) {
          const t = row(T, d)[s]!;
          const x = [1, t, t * t];
          const y = row(m, d)[s]!;
          for (let i = 0; i < 3; i++) {
            b[i]! += x[i]! * y;
            for (let j = 0; j < 3; j++) A[i]![j]! += x[i]! * x[j]!;
          }
        }
        for (let i = 1; i < 3; i++) A[i]![i]! += 1e-6 * (A[i]![i]! + 1); // ridge
        const c = days.length >= 5 ? solve(A, b) : undefined;
        const t = tDay[s]!;
        base[s] = c ? Math.max(0, c[0]! + c[1]! * t + c[2]! * t * t) : NaN;
      }
      const f = adj ? dayOfAdjustment(m, day, w, base, adj) : 1;
      return { baseline: adjusted(base, f), daysUsed: days, adjustment: f };
    },
  };
}

export interface LearnedAdjustmentOptions {
  weekdays: number;
  weekends: number;
  lookbackDays: number;
  /** Past days (of the event's type) the adjustment is learned from, and the fewest it needs. */
  trainingDays: number;
  minTrainingDays: number;
  /** The signal: the hour(s) ending `gapHours` before the event. */
  hours: number;
  gapHours: number;
  /** Share of members cut at each end before averaging their log ratios. */
  trim: number;
  /** Ridge penalty on the slope (log units). */
  ridge: number;
  /** The learned factor is kept within 1 ± cap. */
  cap: number;
  /** Used when there is too little history to learn from. */
  fallback: AdjustmentRule;
}

export const DEFAULT_LEARNED: LearnedAdjustmentOptions = {
  weekdays: 10,
  weekends: 4,
  lookbackDays: 45,
  trainingDays: 60,
  minTrainingDays: 8,
  hours: 1,
  gapHours: 1,
  trim: 0.2,
  ridge: 0.03,
  cap: 0.3,
  fallback: DEFAULT_ADJUSTMENT,
};

/** What one day says about the group: the day-of signal x and, on history days, the window's log ratio y. */
interface DayFeatures {
  x: number;
  y: number;
}

/**
 * 10-in-10 with a learned portfolio adjustment. The day-of adjustment of the CAISO rule scales each member by
 * its own ratio of actual to baseline before the event; on a portfolio that ratio is mostly one household's
 * kettle or washing machine, and how much a morning or afternoon deviation carries into the event window is
 * not 1. This method measures the day's common deviation robustly (the trimmed mean, over members, of
 * log(actual/baseline) in the hour before the gap) and learns, from the group's own past days of the event's
 * type (each treated as a placebo event: no past event days, no holidays), how the group's window load relates
 * to it: log(window actual / window 10-in-10) = a + b·signal, fitted by ridge regression. The factor exp(a + b·x)
 * (kept within 1 ± cap) multiplies every member's unadjusted 10-in-10 baseline. With fewer than
 * `minTrainingDays` usable past days it falls back to the capped 10-in-10 rule.
 */
export function learnedAdjustment(o: LearnedAdjustmentOptions = DEFAULT_LEARNED, id = '10-in-10-learned'): BaselineMethod {
  const eps = 0.1; // log((a + eps·b) / ((1 + eps)·b)): bounded when a member uses nothing in the hour
  const group = (ms: readonly DailyMatrix[], day: number, w: Window, ctx: BaselineContext): GroupBaselineResult => {
    const m0 = ms[0]!;
    const perHour = m0.slotsPerDay / 24;
    const to = w.startSlot - Math.round(o.gapHours * perHour);
    const from = to - Math.round(o.hours * perHour);
    const weekend = isWeekendLike(m0, day, ctx.holidays);
    const count = weekend ? o.weekends : o.weekdays;
    const bases = ms.map((m) => {
      const days = eligibleDays(m, day, count, o.lookbackDays, ctx);
      return { days, base: meanOf(m, days) };
    });
    let factor: number | undefined;
    const first = Math.max(0, day - o.trainingDays - o.lookbackDays);
    // Days of the event's type that may serve as history or as training days.
    const usable = new Uint8Array(day + 1);
    for (let d = first; d < day; d++) usable[d] = sameTypeHistory(m0, d, weekend, ctx) ? 1 : 0;
    if (from >= 0) {
      // Per member and day, computed once: complete?, the signal hour's load, the window's load.
      const span = day + 1 - first;
      const full = ms.map(() => new Uint8Array(span));
      const pre = ms.map(() => new Float64Array(span));
      const win = ms.map(() => new Float64Array(span));
      ms.forEach((m, h) => {
        for (let d = first; d <= day; d++) {
          const r = row(m, d);
          full[h]![d - first] = d < day && !r.some(Number.isNaN) ? 1 : 0;
          pre[h]![d - first] = windowSum(r, from, to);
          win[h]![d - first] = windowSum(r, w.startSlot, w.endSlot);
        }
      });
      // The group's features on day e: x = trimmed mean of members' log(actual/baseline) in the signal hour;
      // on history days also y = log(window actual / window baseline).
      const features = (e: number, wantY: boolean): DayFeatures | undefined => {
        const logs: number[] = [];
        let actualW = 0;
        let baseW = 0;
        for (let h = 0; h < ms.length; h++) {
          if (wantY && !full[h]![e - first]) continue;
          let n = 0;
          let b = 0;
          let bw = 0;
          for (let d = e - 1; d >= Math.max(first, e - o.lookbackDays) && n < count; d--) {
            if (!usable[d] || !full[h]![d - first]) continue;
            b += pre[h]![d - first]!;
            bw += win[h]![d - first]!;
            n++;
          }
          if (n < (wantY ? count : 3)) continue;
          b /= n;
          const a = pre[h]![e - first]!;
          if (b > 0 && !Number.isNaN(a)) logs.push(Math.log((a + eps * b) / ((1 + eps) * b)));
          if (wantY) {
            actualW += win[h]![e - first]!;
            baseW += bw / n;
          }
        }
        if (logs.length === 0 || (wantY && !(actualW > 0 && baseW > 0))) return undefined;
        logs.sort((p, q) => p - q);
        const k = Math.floor(logs.length * o.trim);
        const kept = logs.slice(k, logs.length - k);
        return { x: kept.reduce((p, q) => p + q, 0) / kept.length, y: wantY ? Math.log(actualW / baseW) : NaN };
      };
      const target = features(day, false);
      const train: DayFeatures[] = [];
      if (target) {
        for (let e = day - 1; e >= Math.max(first, day - o.trainingDays); e--) {
          if (!usable[e]) continue;
          const f = features(e, true);
          if (f) train.push(f);
        }
      }
      if (target && train.length >= o.minTrainingDays) {
        const mx = train.reduce((p, f) => p + f.x, 0) / train.length;
        const my = train.reduce((p, f) => p + f.y, 0) / train.length;
        let sxy = 0;
        let sxx = 0;
        for (const f of train) {
          sxy += (f.x - mx) * (f.y - my);
          sxx += (f.x - mx) ** 2;
        }
        const slope = sxy / (sxx + o.ridge);
        factor = Math.min(1 + o.cap, Math.max(1 - o.cap, Math.exp(my + slope * (target.x - mx))));
      }
    }
    const members = bases.map(({ days, base }, i) => {
      const f = factor ?? dayOfAdjustment(ms[i]!, day, w, base, o.fallback);
      return { baseline: adjusted(base, f), daysUsed: days, adjustment: f };
    });
    const total = new Float64Array(m0.slotsPerDay);
    for (const r of members) for (let s = 0; s < total.length; s++) total[s]! += r.baseline[s]!;
    let wb = 0;
    let wu = 0;
    members.forEach((r, i) => {
      wb += windowSum(r.baseline, w.startSlot, w.endSlot);
      wu += windowSum(bases[i]!.base, w.startSlot, w.endSlot);
    });
    const daysUsed = [...new Set(members.flatMap((r) => r.daysUsed))].sort((p, q) => q - p);
    return { members, aggregate: { baseline: total, daysUsed, adjustment: factor ?? (wu > 0 ? wb / wu : 1) } };
  };
  return {
    id,
    version: '1',
    rule:
      `Mean of the ${o.weekdays} most recent weekdays (${o.weekends} for weekend and holiday events) within ${o.lookbackDays} days, ` +
      `skipping past event days, holidays and days with missing readings, multiplied by a factor learned for the group: ` +
      `the day's signal is the ${o.trim * 100} %-trimmed mean over members of log(actual/baseline) in the ${o.hours} h ending ${o.gapHours} h before the event; ` +
      `on the group's past days of the event's type within ${o.trainingDays} days (each as a placebo event) a ridge regression learns ` +
      `log(window actual / window baseline) from that signal, and its prediction for the day, exp(a + b·signal) capped at ±${o.cap * 100} %, ` +
      `scales every member. With fewer than ${o.minTrainingDays} such days, the capped 10-in-10 adjustment instead. Meant for portfolios.`,
    compute: (m, day, w, ctx) => group([m], day, w, ctx).members[0]!,
    computeGroup: group,
  };
}

export const BUILTIN_METHODS: readonly BaselineMethod[] = [
  xInY({ weekdays: 10, weekends: 4, lookbackDays: 45, adjustment: DEFAULT_ADJUSTMENT, id: '10-in-10' }),
  learnedAdjustment(),
  xInY({ weekdays: 10, weekends: 4, lookbackDays: 45, adjustment: null, id: '10-in-10-unadjusted' }),
  highXofY({ x: 5, y: 10, lookbackDays: 45, adjustment: null }),
  highXofY({ x: 5, y: 10, lookbackDays: 45, adjustment: DEFAULT_ADJUSTMENT }),
  weatherRegression({ lookbackDays: 60, adjustment: DEFAULT_ADJUSTMENT }),
];

/** Methods that need temperatures. */
export const NEEDS_WEATHER = new Set(['weather-regression-adjusted']);
