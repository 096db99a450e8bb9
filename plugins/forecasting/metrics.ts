/** Point-forecast error metrics over paired actual/forecast values (pairs with a NaN are skipped). */
export interface Metrics {
  n: number;
  mae: number;
  rmse: number;
  /** RMSE over the mean actual. */
  nrmse: number;
  /** Sum of absolute errors over the sum of absolute actuals. */
  wape: number;
  /** Mean absolute percentage error over actuals above `mapeFloor`; null when there are none. */
  mape: number | null;
  /** Mean error (forecast − actual) over the mean actual: positive = over-forecast. */
  bias: number;
}

export function metrics(actual: ArrayLike<number>, forecast: ArrayLike<number>, mapeFloor = 1e-9): Metrics {
  let n = 0;
  let sae = 0;
  let sse = 0;
  let sa = 0;
  let sabs = 0;
  let se = 0;
  let mapeSum = 0;
  let mapeN = 0;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!;
    const f = forecast[i]!;
    if (Number.isNaN(a) || Number.isNaN(f)) continue;
    const e = f - a;
    n++;
    sae += Math.abs(e);
    sse += e * e;
    sa += a;
    sabs += Math.abs(a);
    se += e;
    if (Math.abs(a) > mapeFloor) {
      mapeSum += Math.abs(e) / Math.abs(a);
      mapeN++;
    }
  }
  const mean = sa / n;
  const rmse = Math.sqrt(sse / n);
  return {
    n,
    mae: sae / n,
    rmse,
    nrmse: rmse / Math.abs(mean),
    wape: sae / sabs,
    mape: mapeN > 0 ? mapeSum / mapeN : null,
    bias: se / n / Math.abs(mean),
  };
}

export function median(xs: readonly number[]): number {
  const s = [...xs].filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}
