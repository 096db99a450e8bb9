import { quantile, row, type DailyMatrix } from '../forecasting/api.js';
import type { BaselineContext, Window } from './methods.js';
import { eligibleDays } from './methods.js';

/**
 * How far a prosumer can shift in a window, from its history: the spread of its load in that window over the
 * last eligible days (what it has actually done), plus the controllable range of its assets when known.
 * `downWh`: how much lower than the baseline it has gone (a reduction it can deliver, p10 of history);
 * `upWh`: how much higher (p90), e.g. to absorb surplus.
 */
export interface AssetFlex {
  nature: string;
  /** Power it can shed (W) for the window's duration, and power it can add. */
  downW: number;
  upW: number;
}

export interface FlexibilityEstimate {
  baselineWh: number;
  downWh: number;
  upWh: number;
  fromHistoryDownWh: number;
  fromHistoryUpWh: number;
  fromAssetsDownWh: number;
  fromAssetsUpWh: number;
  daysUsed: number;
}

export function flexibility(m: DailyMatrix, day: number, w: Window, baseline: Float64Array, ctx: BaselineContext, assets: readonly AssetFlex[] = []): FlexibilityEstimate {
  const days = eligibleDays(m, day, 20, 60, ctx);
  const loads = days.map((d) => {
    let s = 0;
    for (let i = w.startSlot; i < w.endSlot; i++) s += row(m, d)[i]!;
    return s;
  });
  let b = 0;
  for (let i = w.startSlot; i < w.endSlot; i++) b += baseline[i]!;
  const hours = ((w.endSlot - w.startSlot) * 24) / m.slotsPerDay;
  const histDown = loads.length ? Math.max(0, b - quantile(loads, 0.1)) : 0;
  const histUp = loads.length ? Math.max(0, quantile(loads, 0.9) - b) : 0;
  const assetDown = assets.reduce((a, x) => a + Math.max(0, x.downW) * hours, 0);
  const assetUp = assets.reduce((a, x) => a + Math.max(0, x.upW) * hours, 0);
  return {
    baselineWh: b,
    downWh: Math.min(b, histDown + assetDown),
    upWh: histUp + assetUp,
    fromHistoryDownWh: histDown,
    fromHistoryUpWh: histUp,
    fromAssetsDownWh: assetDown,
    fromAssetsUpWh: assetUp,
    daysUsed: days.length,
  };
}
