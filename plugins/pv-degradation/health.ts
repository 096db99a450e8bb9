import { GfError, type Quantity, type Storage } from '../../core/index.js';
import { clearSkyMean, median, type Site } from '../forecasting/api.js';
import { PvErrors } from './errors.js';
import { yearOnYear, type DailyPr, type YoyResult } from './yoy.js';

export interface PvHealth extends YoyResult {
  meterId: string;
  underperforming: boolean;
  reasons: string[];
  computedAt: string;
}

export interface HealthRules {
  /** Flag a system losing more than this (% per year, negative), with its 95 % interval below `-rateCiLimit`. */
  rateLimit: number;
  rateCiLimit: number;
  /** Flag a system whose recent performance ratio is below this share of the fleet's median. */
  fleetShare: number;
}

const DAY = 86_400_000;

/** Daily production (Wh) and expected clear-sky energy (Wh/m²) of one meter from stored readings. */
export async function dailyPr(storage: Storage, meterId: string, quantity: Quantity, site: Site, from: number, to: number): Promise<DailyPr[]> {
  const series = await storage.readings.read({ meterIds: [meterId], quantity, from, to });
  const s = series.sort((a, b) => a.resolutionS - b.resolutionS)[0];
  if (!s) return [];
  const hoursPer = s.resolutionS / 3600;
  const energy = new Map<number, { e: number; n: number }>();
  for (let i = 0; i < s.ts.length; i++) {
    const day = Math.floor(s.ts[i]! / DAY);
    const v = Math.max(0, s.values[i]!) * (quantity === 'activePower' ? hoursPer : 1);
    const cur = energy.get(day) ?? { e: 0, n: 0 };
    cur.e += v;
    cur.n++;
    energy.set(day, cur);
  }
  const full = 86400 / s.resolutionS;
  const out: DailyPr[] = [];
  for (const [day, { e, n }] of [...energy].sort((a, b) => a[0] - b[0])) {
    if (n < full) continue; // partial days would bias the ratio
    let x = 0;
    for (let h = 0; h < 24; h++) x += clearSkyMean(site, day * DAY + h * 3600_000, 3600);
    out.push({ day, energy: e, expected: x });
  }
  return out;
}

export function judge(results: { meterId: string; yoy: YoyResult }[], rules: HealthRules): PvHealth[] {
  const fleet = results.length >= 3 ? median(results.map((r) => r.yoy.recentPr)) : NaN;
  const now = new Date().toISOString();
  return results.map(({ meterId, yoy }) => {
    const reasons: string[] = [];
    if (yoy.ratePctPerYear < rules.rateLimit && yoy.ci95[1] < -rules.rateCiLimit) {
      reasons.push(`losing ${(-yoy.ratePctPerYear).toFixed(2)} %/year (95 % interval ${yoy.ci95.map((v) => v.toFixed(2)).join(' to ')}), beyond ${-rules.rateLimit} %/year`);
    }
    if (Number.isFinite(fleet) && yoy.recentPr < rules.fleetShare * fleet) {
      reasons.push(`performance ratio over the last year ${(yoy.recentPr / fleet).toFixed(2)} of the fleet median`);
    }
    return { meterId, ...yoy, underperforming: reasons.length > 0, reasons, computedAt: now };
  });
}

export function requireYoy(meterId: string, days: DailyPr[]): YoyResult {
  const yoy = days.length > 400 ? yearOnYear(days) : undefined;
  if (!yoy) {
    throw new GfError(PvErrors.GF_PV_NOT_ENOUGH_HISTORY, `${meterId}: ${days.length} complete day(s) of production; year-on-year needs more than a year with clear days in both`, {
      data: { meterId, days: days.length },
    });
  }
  return yoy;
}
