import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger, SchedulerToken, StorageToken } from '../../core/index.js';
import { startServer } from '../../core/server.js';
import { run } from '../../test/process.js';
import { clearSkyMean } from '../forecasting/api.js';
import { fetchHourly } from './source.js';
import { OPERATOR, OPERATOR_ENV } from '../../core/testing/operator.js';

const DAY = 86_400_000;
const SITE = { latitude: 48.1, longitude: 11.6 };

/** An Open-Meteo-compatible endpoint on loopback: 40 past days and 3 forecast days, hourly. */
function openMeteo(opts: { cloudAhead: number; units?: Record<string, string> }) {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const u = new URL(req.url ?? '', 'http://x');
    const past = Number(u.searchParams.get('past_days'));
    const ahead = Number(u.searchParams.get('forecast_days'));
    const today = Math.floor(Date.now() / DAY) * DAY;
    const time: string[] = [];
    const temperature: number[] = [];
    const radiation: number[] = [];
    for (let t = today - past * DAY; t < today + ahead * DAY; t += 3600_000) {
      time.push(new Date(t).toISOString().slice(0, 16));
      temperature.push(Math.round((10 + 8 * Math.sin(((t % DAY) / DAY) * 2 * Math.PI - 2) + ((t / DAY) % 7)) * 10) / 10);
      // The hour ending at t; clouds cut the forecast days.
      radiation.push(Math.round(clearSkyMean(SITE, t - 3600_000, 3600) * (t >= today + DAY ? opts.cloudAhead : 1)));
    }
    res.writeHead(u.pathname === '/v1/forecast' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ latitude: 48.1, longitude: 11.6, hourly_units: { time: 'iso8601', temperature_2m: '°C', shortwave_radiation: 'W/m²', ...opts.units }, hourly: { time, temperature_2m: temperature, shortwave_radiation: radiation } }));
  });
  return new Promise<{ url: string; requests: string[]; close(): Promise<void> }>((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close: () => new Promise((r) => server.close(() => r())) }),
    ),
  );
}

describe('weather: Open-Meteo-compatible source, files, and their use by forecasts and baselines', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-weather-'));
  let src: Awaited<ReturnType<typeof openMeteo>>;
  let server: Awaited<ReturnType<typeof startServer>>;
  const get = async (p: string) => {
    const res = await fetch(`${server.url}${p}`, { headers: OPERATOR });
    return { status: res.status, body: (await res.json()) as any };
  };

  before(async () => {
    src = await openMeteo({ cloudAhead: 0.5 });
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins.weather = {
      enabled: true,
      config: { locations: { munich: SITE }, meters: { roofW: 'munich', homeW: 'munich' }, source: { url: src.url, pastDays: 40, forecastDays: 3 } },
    };
    config.plugins['pv-degradation'] = { enabled: true, config: { defaultSite: SITE } };
    server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    // Two identical PV systems, one attached to the weather location; 40 clear days of hourly production.
    const storage = server.host.resolve(StorageToken);
    const today = Math.floor(Date.now() / DAY) * DAY;
    const ts: number[] = [];
    const pv: number[] = [];
    for (let t = today - 40 * DAY; t < today; t += 3600_000) {
      ts.push(t);
      pv.push(clearSkyMean(SITE, t, 3600) * 4);
    }
    for (const id of ['roofW', 'roofPlain']) await storage.readings.writeSeries({ meterId: id, quantity: 'energyExport', resolutionS: 3600, unit: 'Wh' }, ts, pv);
    for (let i = 0; i < 100 && (await get(`/api/weather?location=munich&from=${new Date(today).toISOString()}&to=${new Date(today + DAY).toISOString()}`)).body.temperature?.ts.length !== 24; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  after(async () => {
    await server?.close();
    await src?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fetches hourly temperature and irradiance at start, stamping irradiance at the start of its hour', async () => {
    assert.ok(src.requests.some((r) => r.includes('latitude=48.1') && r.includes('hourly=temperature_2m%2Cshortwave_radiation') && r.includes('timezone=UTC')));
    const today = Math.floor(Date.now() / DAY) * DAY;
    const { status, body } = await get(`/api/weather?location=munich&from=${new Date(today).toISOString()}&to=${new Date(today + 2 * DAY).toISOString()}`);
    assert.equal(status, 200);
    assert.equal(body.temperature.ts.length, 48);
    assert.equal(body.irradiance.ts[0], new Date(today).toISOString());
    const noon = body.irradiance.ts.indexOf(new Date(today + 11 * 3600_000).toISOString());
    assert.ok(Math.abs(body.irradiance.values[noon] - clearSkyMean(SITE, today + 11 * 3600_000, 3600)) < 1.5);
    assert.equal((await get('/api/weather?location=mars&from=2026-01-01T00:00Z&to=2026-01-02T00:00Z')).body.code, 'GF_WEATHER_UNKNOWN_LOCATION');
    assert.equal((await get('/api/weather?location=munich&from=x&to=y')).status, 400);
  });

  it('pv-clearsky follows the irradiance forecast for a meter with a location', async () => {
    const a = await get('/api/forecasts?meter=roofW&quantity=energyExport&model=pv-clearsky&resolution=60m');
    const b = await get('/api/forecasts?meter=roofPlain&quantity=energyExport&model=pv-clearsky&resolution=60m');
    assert.equal(a.status, 200, JSON.stringify(a.body));
    const sa = a.body.series[0].point.reduce((x: number, y: number) => x + y, 0);
    const sb = b.body.series[0].point.reduce((x: number, y: number) => x + y, 0);
    assert.ok(Math.abs(sa / sb - 0.5) < 0.05, `half the sun forecast: ${sa / sb}`);
  });

  it('the random forest and the weather regression baseline get temperatures', async () => {
    const storage = server.host.resolve(StorageToken);
    const today = Math.floor(Date.now() / DAY) * DAY;
    const temps = (await get(`/api/weather?location=munich&from=${new Date(today - 40 * DAY).toISOString()}&to=${new Date(today + DAY).toISOString()}`)).body.temperature;
    // A home whose half-hourly load follows the temperature: heating below 18 °C.
    const ts: number[] = [];
    const load: number[] = [];
    temps.ts.forEach((t: string, i: number) => {
      if (Date.parse(t) >= today) return;
      for (const h of [0, 1800_000]) {
        ts.push(Date.parse(t) + h);
        load.push(200 + 40 * Math.max(0, 18 - temps.values[i]));
      }
    });
    await storage.readings.writeSeries({ meterId: 'homeW', quantity: 'energyImport', resolutionS: 1800, unit: 'Wh' }, ts, load);
    const day = new Date(today - DAY).toISOString().slice(0, 10);
    const bl = await get(`/api/baselines?meter=homeW&date=${day}&window=00:00-06:00&method=weather-regression-adjusted`);
    assert.equal(bl.status, 200, JSON.stringify(bl.body));
    const actual = ts.map((t, i) => [t, load[i]!] as const).filter(([t]) => t >= today - DAY && t < today - DAY + 6 * 3600_000).map(([, v]) => v);
    bl.body.series[0].baseline.forEach((v: number, i: number) => assert.ok(Math.abs(v - actual[i]!) < 0.03 * actual[i]!, `slot ${i}: ${v} vs ${actual[i]}`));
    const noWeather = await get(`/api/baselines?meter=roofPlain&date=${day}&window=10:00-12:00&method=weather-regression-adjusted`);
    assert.equal(noWeather.body.code, 'GF_BASELINE_NO_WEATHER');
    const fc = await get('/api/forecasts?meter=homeW&resolution=30m');
    assert.equal(fc.status, 200, JSON.stringify(fc.body));
    assert.equal(fc.body.series[0].point.length, 48);
  });

  it('the fetch job refuses a source that answers in other units, naming the field', async () => {
    const bad = await openMeteo({ cloudAhead: 1, units: { temperature_2m: '°F' } });
    try {
      await assert.rejects(fetchHourly(bad.url, SITE, 1, 1, 5000), { code: 'GF_WEATHER_SOURCE', message: /hourly_units.temperature_2m is '°F'/ });
      await assert.rejects(fetchHourly('http://127.0.0.1:9', SITE, 1, 1, 2000), { code: 'GF_WEATHER_SOURCE' });
    } finally {
      await bad.close();
    }
    const jobs = await server.host.resolve(SchedulerToken).jobs('weather.fetch');
    assert.equal(jobs[0]?.failCount ?? 0, 0);
  });

  it('imports a CSV for a location, naming a bad line', async () => {
    const data = path.join(dir, 'cli-data');
    const file = path.join(dir, 'w.csv');
    writeFileSync(file, 'timestamp,temperature,irradiance\n2026-01-05T00:00Z,3.5,0\n2026-01-05T01:00Z,3.1,0\n');
    const env = { GRIDFLEX__plugins__weather__config__locations: JSON.stringify({ edi: { latitude: 55.95, longitude: -3.19 } }) };
    const ok = await run(['weather', 'import', file, '--location', 'edi', '--data', data], env);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /4 weather values stored for edi/);
    writeFileSync(file, 'timestamp,temperature\n2026-01-05T00:00Z,3.5\n2026-01-05T01:00Z,hot\n');
    const bad = await run(['weather', 'import', file, '--location', 'edi', '--data', data], env);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /GF_WEATHER_BAD_INPUT: line 3: temperature 'hot'/);
    const unknown = await run(['weather', 'import', file, '--location', 'nowhere', '--data', data], env);
    assert.match(unknown.err, /GF_WEATHER_UNKNOWN_LOCATION/);
  });
});
