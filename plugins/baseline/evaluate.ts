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
  input.methods.forEach((method, mi) => {
    const perAbs: number[] = [];
    const perBias: number[] = [];
    const portB = new Float64Array(placebo.length);
    const portA = new Float64Array(placebo.length);
    for (const s of input.series) {
      let absSum = 0;
      let biasSum = 0;
      let n = 0;
      placebo.forEach((d, k) => {
        const actual = row(s.matrix, d);
        let a = 0;
        for (let i = input.window.startSlot; i < input.window.endSlot; i++) a += actual[i]!;
        const r = method.compute(s.matrix, d, input.window, ctx);
        let b = 0;
        for (let i = input.window.startSlot; i < input.window.endSlot; i++) b += r.baseline[i]!;
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
    }
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
