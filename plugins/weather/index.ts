import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { access, definePlugin, GfError, KernelErrors, Router, SchedulerToken, StorageToken, type PluginCommand, type Storage } from '../../core/index.js';
import { WeatherConfig } from './config.js';

export { WeatherConfig } from './config.js';
import { splitCsv } from '../meter-data/api.js';
import { WeatherToken, type Weather } from './api.js';
import { WeatherErrors } from './errors.js';
import { fetchHourly } from './source.js';

const HOUR = 3_600_000;
/** Weather series live in the time-series store under this meter id. */
const seriesId = (loc: string) => `weather-${loc}`;

async function store(storage: Storage, loc: string, ts: number[], temperature: (number | null)[], irradiance: (number | null)[], irradianceBackward: boolean): Promise<number> {
  let n = 0;
  const t = ts.flatMap((x, i) => (temperature[i] === null || temperature[i] === undefined ? [] : [[x, temperature[i]!] as const]));
  const g = ts.flatMap((x, i) => (irradiance[i] === null || irradiance[i] === undefined ? [] : [[irradianceBackward ? x - HOUR : x, irradiance[i]!] as const]));
  if (t.length) n += (await storage.readings.writeSeries({ meterId: seriesId(loc), quantity: 'temperature', resolutionS: 3600, unit: 'Cel' }, t.map((x) => x[0]), t.map((x) => x[1]), { onConflict: 'replace' })).written;
  if (g.length) n += (await storage.readings.writeSeries({ meterId: seriesId(loc), quantity: 'irradiance', resolutionS: 3600, unit: 'W/m2' }, g.map((x) => x[0]), g.map((x) => x[1]), { onConflict: 'replace' })).written;
  return n;
}

/** A CSV of timestamp, temperature (°C) and/or irradiance (W/m²), hourly; every bad row is named. */
export function parseWeatherCsv(text: string): { ts: number[]; temperature: (number | null)[]; irradiance: (number | null)[] } {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const head = splitCsv(lines[0] ?? '').map((h) => h.trim().toLowerCase());
  const iT = head.findIndex((h) => ['timestamp', 'time', 'ts'].includes(h));
  const iTemp = head.findIndex((h) => h === 'temperature' || h === 'temperature_2m');
  const iIrr = head.findIndex((h) => h === 'irradiance' || h === 'ghi' || h === 'shortwave_radiation');
  if (iT < 0 || (iTemp < 0 && iIrr < 0)) throw new GfError(WeatherErrors.GF_WEATHER_BAD_INPUT, 'line 1: needs a timestamp column and a temperature and/or irradiance column', { data: { row: 1 } });
  const out = { ts: [] as number[], temperature: [] as (number | null)[], irradiance: [] as (number | null)[] };
  lines.slice(1).forEach((l, k) => {
    if (!l.trim()) return;
    const row = k + 2;
    const f = splitCsv(l);
    const raw = f[iT]?.trim() ?? '';
    const t = Date.parse(/Z|[+-]\d{2}:?\d{2}$/.test(raw) ? raw : `${raw}Z`);
    if (Number.isNaN(t) || t % HOUR !== 0) throw new GfError(WeatherErrors.GF_WEATHER_BAD_INPUT, `line ${row}: '${raw}' is not a whole hour`, { data: { row } });
    const num = (i: number, lo: number, hi: number, what: string) => {
      if (i < 0) return null;
      const s = f[i]?.trim() ?? '';
      if (s === '') return null;
      const v = Number(s);
      if (!Number.isFinite(v) || v < lo || v > hi) throw new GfError(WeatherErrors.GF_WEATHER_BAD_INPUT, `line ${row}: ${what} '${s}' is not within ${lo}..${hi}`, { data: { row } });
      return v;
    };
    out.ts.push(t);
    out.temperature.push(num(iTemp, -90, 60, 'temperature'));
    out.irradiance.push(num(iIrr, 0, 1500, 'irradiance'));
  });
  return out;
}

const importCommand: PluginCommand<WeatherConfig, { storage: typeof StorageToken }> = {
  summary: 'import hourly temperatures and irradiance for a location (weather import FILE --location ID)',
  usage: `Usage: gridflex weather import FILE --location ID
       (also takes --config FILE and --data DIR)

Reads a CSV of timestamp (whole hours, UTC unless an offset is given), temperature (°C) and/or irradiance
(W/m², the hour's mean, stamped at the hour's start) into the location's weather series.`,
  async run(args, ctx, io) {
    const [sub, ...rest] = args;
    if (sub !== 'import') throw new GfError(KernelErrors.GF_CLI_USAGE, sub ? `unknown weather command '${sub}'; try import` : 'weather needs a command: import FILE --location ID');
    let p;
    try {
      p = parseArgs({ args: rest, options: { location: { type: 'string' } }, allowPositionals: true, strict: true });
    } catch (e) {
      throw new GfError(KernelErrors.GF_CLI_USAGE, (e as Error).message.split('\n')[0]!);
    }
    const loc = p.values.location;
    if (!loc || p.positionals.length !== 1) throw new GfError(KernelErrors.GF_CLI_USAGE, 'weather import takes FILE and --location ID');
    if (!ctx.config.locations[loc]) throw new GfError(WeatherErrors.GF_WEATHER_UNKNOWN_LOCATION, `no location '${loc}' in plugins.weather.config.locations`, { data: { location: loc } });
    let text: string;
    try {
      text = readFileSync(p.positionals[0]!, 'utf8');
    } catch {
      throw new GfError(KernelErrors.GF_CLI_USAGE, `cannot read ${p.positionals[0]}`);
    }
    const w = parseWeatherCsv(text);
    const n = await store(ctx.deps.storage, loc, w.ts, w.temperature, w.irradiance, false);
    io.out(`${n} weather values stored for ${loc}`);
    return 0;
  },
};

/**
 * Weather for forecasts and baselines: hourly temperature and irradiance per location, from CSV files or an
 * Open-Meteo-compatible HTTP source fetched by a job; meters are attached to locations.
 */
export const weatherPlugin = definePlugin({
  manifest: {
    id: 'weather',
    version: '0.2.0',
    kernel: '^0.2.0',
    description: 'hourly temperature and irradiance per location (file import, Open-Meteo-compatible source)',
  },
  config: WeatherConfig,
  deps: { storage: StorageToken, scheduler: SchedulerToken },
  provides: { weather: WeatherToken },
  validate: (cfg) => Object.entries(cfg.meters).flatMap(([m, loc]) => (cfg.locations[loc] ? [] : [{ path: `meters.${m}`, message: `no location '${loc}' in locations` }])),
  commands: { weather: importCommand },
  async start(ctx) {
    const { storage, scheduler } = ctx.deps;
    const weather: Weather = {
      locationOf: (meterId) => ctx.config.meters[meterId],
      async series(loc, what, from, to) {
        const q = what === 'temperature' ? 'temperature' : 'irradiance';
        const [s] = await storage.readings.read({ meterIds: [seriesId(loc)], quantity: q, resolutionS: 3600, from, to });
        return { ts: s ? Array.from(s.ts) : [], values: s ? Array.from(s.values) : [] };
      },
    };
    const r = new Router();
    r.get('/', access.signedIn(), async (http) => {
      const loc = typeof http.query.location === 'string' ? http.query.location : '';
      if (!ctx.config.locations[loc]) throw new GfError(WeatherErrors.GF_WEATHER_UNKNOWN_LOCATION, `no location '${loc}' (configured: ${Object.keys(ctx.config.locations).join(', ') || 'none'})`, { data: { location: loc } });
      const from = Date.parse(String(http.query.from ?? ''));
      const to = Date.parse(String(http.query.to ?? ''));
      if (Number.isNaN(from) || Number.isNaN(to) || to <= from) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, 'from and to must be ISO 8601 times, from before to', { data: { parameter: 'from' } });
      if (to - from > 400 * 86_400_000) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, 'at most 400 days a request', { data: { parameter: 'to' } });
      const iso = (s: { ts: number[]; values: number[] }) => ({ ts: s.ts.map((t) => new Date(t).toISOString()), values: s.values });
      http.body = { location: loc, ...ctx.config.locations[loc], temperature: iso(await weather.series(loc, 'temperature', from, to)), irradiance: iso(await weather.series(loc, 'irradiance', from, to)) };
    });
    ctx.mount('/api/weather', r);
    const src = ctx.config.source;
    scheduler.define('weather.fetch', async (job) => {
      const locs = Object.entries(ctx.config.locations);
      let done = 0;
      for (const [id, loc] of locs) {
        const h = await fetchHourly(src.url, loc, src.pastDays, src.forecastDays, src.timeoutMs);
        await store(storage, id, h.ts, h.temperature, h.irradiance, true);
        await job.progress(Math.round((100 * ++done) / locs.length));
      }
    });
    if (src.url && Object.keys(ctx.config.locations).length) {
      await scheduler.every(src.every, 'weather.fetch');
      await scheduler.now('weather.fetch');
    }
    return { weather };
  },
});

export default weatherPlugin;
