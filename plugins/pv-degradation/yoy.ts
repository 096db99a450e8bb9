import { mulberry32, quantile } from '../forecasting/api.js';

/**
 * Year-on-year performance-ratio degradation (after Jordan et al., RdTools' YoY): daily performance ratio
 * PR = energy ÷ expected energy (clear-sky or irradiance), kept on clear days only (PR within 10 % of the best
 * of its ±15-day neighbourhood), then every clear day is paired with the clear day nearest to one year earlier
 * (within ±7 days): each pair gives an annual rate. The median rate is the degradation; a bootstrap of the
 * pairs gives its 95 % interval. Seasonal effects (temperature, sun angle, a clear-sky model's bias) cancel in
 * the pairing.
 */
export interface DailyPr {
  /** Day index (days since some epoch). */
  day: number;
  energy: number;
  expected: number;
}

export interface YoyResult {
  /** Percent per year (negative: losing output). */
  ratePctPerYear: number;
  ci95: [number, number];
  pairs: number;
  clearDays: number;
  years: number;
  /** Median PR of the last 365 days' clear days. */
  recentPr: number;
}

export function clearDays(days: readonly DailyPr[], tolerance = 0.1, halfWindow = 15): DailyPr[] {
  const pr = days.map((d) => (d.expected > 0 ? d.energy / d.expected : NaN));
  const out: DailyPr[] = [];
  for (let i = 0; i < days.length; i++) {
    if (!(pr[i]! > 0)) continue;
    const near: number[] = [];
    for (let j = 0; j < days.length; j++) if (Math.abs(days[j]!.day - days[i]!.day) <= halfWindow && pr[j]! > 0) near.push(pr[j]!);
    if (pr[i]! >= (1 - tolerance) * quantile(near, 0.95)) out.push(days[i]!);
  }
  return out;
}

export function yearOnYear(days: readonly DailyPr[], opts: { seed?: number; resamples?: number } = {}): YoyResult | undefined {
  const clear = clearDays(days);
  const byDay = new Map(clear.map((d) => [d.day, d.energy / d.expected]));
  const rates: number[] = [];
  for (const d of clear) {
    let best: number | undefined;
    for (let k = 0; k <= 7 && best === undefined; k++) {
      for (const c of [d.day - 365 - k, d.day - 365 + k]) if (byDay.has(c)) best = c;
    }
    if (best === undefined) continue;
    const years = (d.day - best) / 365.25;
    rates.push((Math.pow(byDay.get(d.day)! / byDay.get(best)!, 1 / years) - 1) * 100);
  }
  if (rates.length < 10) return undefined;
  const rnd = mulberry32(opts.seed ?? 1);
  const meds: number[] = [];
  for (let b = 0; b < (opts.resamples ?? 500); b++) {
    const sample = Array.from({ length: rates.length }, () => rates[Math.floor(rnd() * rates.length)]!);
    meds.push(quantile(sample, 0.5));
  }
  const last = clear.length ? clear[clear.length - 1]!.day : 0;
  const recent = clear.filter((d) => d.day > last - 365).map((d) => d.energy / d.expected);
  return {
    ratePctPerYear: quantile(rates, 0.5),
    ci95: [quantile(meds, 0.025), quantile(meds, 0.975)],
    pairs: rates.length,
    clearDays: clear.length,
    years: (days[days.length - 1]!.day - days[0]!.day) / 365.25,
    recentPr: quantile(recent, 0.5),
  };
}
