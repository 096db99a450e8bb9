import { median, row, weekday, DAY_MS, type DailyMatrix } from '../forecasting/api.js';
import type { BaselineContext, BaselineMethod, Window } from './methods.js';

/**
 * Placebo-day evaluation: every weekday (not a holiday) with enough history is treated as if it had an event
 * in the window; the baseline is compared with what was actually consumed in the window (nobody was asked to
 * do anything, so a perfect baseline has zero error). Error = (baseline − actual) / actual over the window.
 */
export interface BaselineScore {
  method: string;
  version: string;
  rule: string;
  days: number;
  perProsumer: { medianAbsError: number; medianBias: number };
  portfolio: { meanAbsError: number; bias: number; p90AbsError: number };
}

export interface BaselineEvaluation {
  window: Window;
  prosumers: number;
  placeboDays: number;
  scores: BaselineScore[];
  best: string;
}

export function evaluateBaselines(input: {
  series: { id: string; matrix: DailyMatrix }[];
  window: Window;
  methods: readonly BaselineMethod[];
  fromDay: number;
  holidays?: ReadonlySet<number>;
  temperature?: DailyMatrix;
  onProgress?: (done: number, total: number) => void;
}): BaselineEvaluation {
  const first = input.series[0]!.matrix;
  const holidays = input.holidays ?? new Set<number>();
  const ctx: BaselineContext = { excluded: new Set(), holidays, ...(input.temperature ? { temperature: input.temperature } : {}) };
  const placebo: number[] = [];
  for (let d = input.fromDay; d < first.days; d++) if (weekday(first, d) < 5 && !holidays.has(first.start + d * DAY_MS)) placebo.push(d);
  const scores: BaselineScore[] = [];
  const { startSlot, endSlot } = input.window;
  const windowOf = (v: ArrayLike<number>) => {
    let t = 0;
    for (let i = startSlot; i < endSlot; i++) t += v[i]!;
    return t;
  };
  const matrices = input.series.map((s) => s.matrix);
  input.methods.forEach((method, mi) => {
    // baseline[k][h]: member h's baseline over the window on placebo day k
    const baseline = placebo.map((d) =>
      method.computeGroup ? method.computeGroup(matrices, d, input.window, ctx).members.map((r) => windowOf(r.baseline)) : matrices.map((m) => windowOf(method.compute(m, d, input.window, ctx).baseline)),
    );
    const perAbs: number[] = [];
    const perBias: number[] = [];
    const portB = new Float64Array(placebo.length);
    const portA = new Float64Array(placebo.length);
    input.series.forEach((s, h) => {
      let absSum = 0;
      let biasSum = 0;
      let n = 0;
      placebo.forEach((d, k) => {
        const a = windowOf(row(s.matrix, d));
        const b = baseline[k]![h]!;
        if (Number.isNaN(a) || Number.isNaN(b)) return;
        portA[k]! += a;
        portB[k]! += b;
        if (a > 0) {
          absSum += Math.abs(b - a) / a;
          biasSum += (b - a) / a;
          n++;
        }
      });
      if (n) {
        perAbs.push(absSum / n);
        perBias.push(biasSum / n);
      }
    });
    const errs = placebo.map((_, k) => (portB[k]! - portA[k]!) / portA[k]!).filter(Number.isFinite);
    const abs = errs.map(Math.abs).sort((x, y) => x - y);
    scores.push({
      method: method.id,
      version: method.version,
      rule: method.rule,
      days: errs.length,
      perProsumer: { medianAbsError: median(perAbs), medianBias: median(perBias) },
      portfolio: {
        meanAbsError: abs.reduce((x, y) => x + y, 0) / abs.length,
        bias: errs.reduce((x, y) => x + y, 0) / errs.length,
        p90AbsError: abs[Math.min(abs.length - 1, Math.floor(abs.length * 0.9))]!,
      },
    });
    input.onProgress?.(mi + 1, input.methods.length);
  });
  const best = [...scores].sort((a, b) => a.portfolio.meanAbsError - b.portfolio.meanAbsError)[0]!.method;
  return { window: input.window, prosumers: input.series.length, placeboDays: placebo.length, scores, best };
}
