import { GfError } from '../../core/index.js';
import { WeatherErrors } from './errors.js';

export interface Location {
  latitude: number;
  longitude: number;
}

export interface Hourly {
  ts: number[];
  temperature: (number | null)[];
  irradiance: (number | null)[];
}

/**
 * An Open-Meteo-compatible forecast endpoint: `GET {url}/v1/forecast?latitude&longitude&hourly=temperature_2m,
 * shortwave_radiation&past_days&forecast_days&timezone=UTC`. Its `shortwave_radiation` is the mean of the
 * preceding hour, so it is stored against the hour before its time stamp.
 */
export async function fetchHourly(url: string, loc: Location, pastDays: number, forecastDays: number, timeoutMs: number): Promise<Hourly> {
  const q = new URLSearchParams({
    latitude: String(loc.latitude),
    longitude: String(loc.longitude),
    hourly: 'temperature_2m,shortwave_radiation',
    past_days: String(pastDays),
    forecast_days: String(forecastDays),
    timezone: 'UTC',
  });
  const target = `${url.replace(/\/$/, '')}/v1/forecast?${q}`;
  let body: { hourly?: { time?: unknown; temperature_2m?: unknown; shortwave_radiation?: unknown }; hourly_units?: Record<string, string> };
  try {
    const res = await fetch(target, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    body = (await res.json()) as typeof body;
  } catch (cause) {
    throw new GfError(WeatherErrors.GF_WEATHER_SOURCE, `weather source ${url} failed: ${(cause as Error).message}`, { cause, data: { url } });
  }
  const h = body.hourly;
  const bad = (field: string, why: string) => new GfError(WeatherErrors.GF_WEATHER_SOURCE, `weather source answer: ${field} ${why}`, { data: { url, field } });
  if (!h || !Array.isArray(h.time)) throw bad('hourly.time', 'is missing');
  const n = h.time.length;
  for (const f of ['temperature_2m', 'shortwave_radiation'] as const) {
    if (!Array.isArray(h[f]) || (h[f] as unknown[]).length !== n) throw bad(`hourly.${f}`, `must be an array as long as hourly.time (${n})`);
  }
  const units = body.hourly_units ?? {};
  if (units.temperature_2m && units.temperature_2m !== '°C') throw bad('hourly_units.temperature_2m', `is '${units.temperature_2m}', expected °C`);
  if (units.shortwave_radiation && units.shortwave_radiation !== 'W/m²') throw bad('hourly_units.shortwave_radiation', `is '${units.shortwave_radiation}', expected W/m²`);
  const out: Hourly = { ts: [], temperature: [], irradiance: [] };
  (h.time as unknown[]).forEach((t, i) => {
    const ms = typeof t === 'string' ? Date.parse(/Z|[+-]\d{2}:?\d{2}$/.test(t) ? t : `${t}Z`) : NaN;
    if (Number.isNaN(ms)) throw bad(`hourly.time[${i}]`, `'${String(t)}' is not a time`);
    const temp = (h.temperature_2m as unknown[])[i];
    const irr = (h.shortwave_radiation as unknown[])[i];
    const num = (v: unknown, field: string, lo: number, hi: number) => {
      if (v === null) return null;
      if (typeof v !== 'number' || v < lo || v > hi) throw bad(`hourly.${field}[${i}]`, `${JSON.stringify(v)} is not within ${lo}..${hi}`);
      return v;
    };
    out.ts.push(ms);
    out.temperature.push(num(temp, 'temperature_2m', -90, 60));
    out.irradiance.push(num(irr, 'shortwave_radiation', 0, 1500));
  });
  return out;
}
