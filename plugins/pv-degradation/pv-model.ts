import { clearSkyMean, row, type DailyMatrix, type ForecastModel, type Site } from '../forecasting/api.js';

/**
 * `pv-clearsky`: PV output = clear-sky irradiance of the slot (sun position at the site) × the system's recent
 * clear-sky index (median over the last 14 days of production ÷ clear-sky energy: capacity, orientation and
 * typical cloudiness, from observed history) × the degradation since that window (the pv-degradation estimate
 * for the meter, when there is one). When the meter's weather location has an irradiance forecast for the day,
 * that replaces the clear sky, times the capacity seen on the clearest recent days. Needs no training.
 */
export interface PvModelDeps {
  site(meterId: string | undefined): Site | undefined;
  /** Degradation in % per year for a meter, if estimated. */
  degradation(meterId: string | undefined): number | undefined;
}

export function pvClearSkyModel(deps: PvModelDeps): ForecastModel<null> {
  return {
    id: 'pv-clearsky',
    version: '1',
    description: 'clear-sky irradiance × recent clear-sky index (14-day median) × degradation correction',
    train: () => null,
    predictDay(_s, m: DailyMatrix, day: number) {
      const site = deps.site(m.id);
      const out = new Float64Array(m.slotsPerDay).fill(NaN);
      if (!site) return out;
      const res = 86400 / m.slotsPerDay;
      const cs = (d: number) => Float64Array.from({ length: m.slotsPerDay }, (_, s) => clearSkyMean(site, m.start + d * 86_400_000 + s * res * 1000, res));
      const ratios: number[] = [];
      for (let d = day - 1; d >= Math.max(0, day - 14); d--) {
        const r = row(m, d);
        if (r.some(Number.isNaN)) continue;
        const c = cs(d);
        let e = 0;
        let x = 0;
        for (let s = 0; s < r.length; s++) {
          e += Math.max(0, r[s]!);
          x += c[s]!;
        }
        if (x > 0) ratios.push(e / x);
      }
      if (ratios.length === 0) return out;
      ratios.sort((a, b) => a - b);
      const k = ratios[ratios.length >> 1]!; // typical day: capacity × typical cloudiness
      const capacity = ratios[Math.min(ratios.length - 1, Math.floor(ratios.length * 0.9))]!; // the clearest days
      const rate = deps.degradation(m.id) ?? 0;
      const factor = Math.pow(1 + rate / 100, 7.5 / 365.25); // from the window's middle to the forecast day
      const c = cs(day);
      // With an irradiance forecast for the day (clouds included) it replaces the clear sky, scaled by the
      // system's capacity as seen on its clearest recent days.
      const irr = m.covariates?.irradiance ? row(m.covariates.irradiance, day) : undefined;
      const useIrr = irr !== undefined && !irr.some(Number.isNaN);
      for (let s = 0; s < out.length; s++) out[s] = (useIrr ? capacity * irr![s]! : k * c[s]!) * factor;
      return out;
    },
  };
}
