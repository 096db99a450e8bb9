import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger, StorageToken } from '../../core/index.js';
import { startServer } from '../../core/server.js';
import { ROOT } from '../../test/process.js';
import { clearSkyMean, mulberry32, type Site } from '../forecasting/api.js';
import { evaluate } from '../forecasting/evaluate.js';
import { loadWideCsv } from '../forecasting/load.js';
import { persistence } from '../forecasting/models.js';
import { pvClearSkyModel } from './pv-model.js';
import { yearOnYear, type DailyPr } from './yoy.js';
import { OPERATOR, OPERATOR_ENV } from '../../core/testing/operator.js';

const MUNICH: Site = { latitude: 48.1, longitude: 11.6 };
const DAY = 86_400_000;

/** Hourly PV energy (Wh) with clear and cloudy days, 1 % noise, and a known yearly loss. */
function synthetic(seed: number, years: number, lossPerYear: number, capacity: number, endMs: number): { ts: number[]; values: number[] } {
  const rnd = mulberry32(seed);
  const start = Math.floor(endMs / DAY) * DAY - Math.round(years * 365.25) * DAY;
  const ts: number[] = [];
  const values: number[] = [];
  for (let d = 0; start + d * DAY < endMs - DAY + 1; d++) {
    const clear = rnd() < 0.35;
    const cloud = clear ? 0.97 + 0.03 * rnd() : 0.1 + 0.7 * rnd();
    const deg = Math.pow(1 - lossPerYear, d / 365.25);
    for (let h = 0; h < 24; h++) {
      const t = start + d * DAY + h * 3600_000;
      ts.push(t);
      values.push(clearSkyMean(MUNICH, t, 3600) * capacity * cloud * deg * (1 + 0.01 * (rnd() - 0.5)));
    }
  }
  return { ts, values };
}

function daily(s: { ts: number[]; values: number[] }): DailyPr[] {
  const out: DailyPr[] = [];
  for (let i = 0; i < s.ts.length; i += 24) {
    let e = 0;
    let x = 0;
    for (let h = 0; h < 24; h++) {
      e += s.values[i + h]!;
      x += clearSkyMean(MUNICH, s.ts[i + h]!, 3600);
    }
    out.push({ day: Math.floor(s.ts[i]! / DAY), energy: e, expected: x });
  }
  return out;
}

describe('pv-degradation: year-on-year', function () {
  this.timeout(60_000);
  it('recovers a known 0.8 %/year loss within ±0.2 %/year, with an interval around it', () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const r = yearOnYear(daily(synthetic(seed, 4, 0.008, 5, Date.UTC(2026, 0, 1))))!;
      assert.ok(Math.abs(r.ratePctPerYear + 0.8) <= 0.2, `seed ${seed}: ${r.ratePctPerYear}`);
      assert.ok(r.ci95[0] < r.ratePctPerYear && r.ratePctPerYear < r.ci95[1]);
      assert.ok(r.ci95[0] < -0.8 + 0.3 && r.ci95[1] > -0.8 - 0.3);
      assert.ok(r.pairs > 300);
    }
  });

  it('gives nothing from less than a year of data', () => {
    assert.equal(yearOnYear(daily(synthetic(9, 0.8, 0.008, 5, Date.UTC(2026, 0, 1)))), undefined);
  });
});

describe('pv-degradation: clear-sky PV forecasts on 42 simulated rooftop systems (May 2009)', function () {
  this.timeout(60_000);
  it('beats persistence per system and for the aggregate', () => {
    const d = loadWideCsv(path.join(ROOT, '..', 'shared', 'data', 'phovafer_simulated_pv_42hh_halfhourly_2009-03_2009-05.csv'), { unit: 'kW', quantity: 'activePower' });
    for (const s of d.series) for (let i = 0; i < s.matrix.values.length; i++) s.matrix.values[i] = Math.max(0, s.matrix.values[i]!);
    const pv = pvClearSkyModel({ site: () => ({ latitude: 56.0, longitude: -3.8 }), degradation: () => undefined });
    const e = evaluate({ series: d.series, trainUntilDay: 61, models: [persistence, pv] });
    const [p, c] = e.scores;
    // measured 0.328 vs 0.365 per system, 0.351 vs 0.386 aggregate
    assert.ok(c!.perProsumer.wape.median < 0.95 * p!.perProsumer.wape.median);
    assert.ok(c!.aggregate.wape < 0.95 * p!.aggregate.wape);
  });
});

describe('pv-degradation: /api/pv-health and the corrected forecast', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-pv-'));
  let server: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins['pv-degradation'] = { enabled: true, config: { sites: { roofA: MUNICH, roofB: MUNICH, roofC: MUNICH, roofD: MUNICH, young: MUNICH }, groups: { street: ['roofA', 'roofB', 'roofC', 'roofD'] } } };
    server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    const storage = server.host.resolve(StorageToken);
    const end = Math.floor(Date.now() / DAY) * DAY;
    const systems: [string, number, number, number][] = [['roofA', 1, 0.008, 5], ['roofB', 2, 0.005, 5], ['roofC', 3, 0.03, 5], ['roofD', 4, 0.006, 3], ['young', 5, 0.008, 5]];
    for (const [id, seed, loss, cap] of systems) {
      const s = synthetic(seed, id === 'young' ? 0.5 : 3.2, loss, cap, end);
      await storage.readings.writeSeries({ meterId: id, quantity: 'energyExport', resolutionS: 3600, unit: 'Wh' }, s.ts, s.values);
    }
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const get = async (p: string) => {
    const res = await fetch(`${server.url}${p}`, { headers: OPERATOR });
    return { status: res.status, body: (await res.json()) as any };
  };

  it('estimates each system, flags the fast-degrading and the weak one, and explains why', async () => {
    const { status, body } = await get('/api/pv-health?group=street');
    assert.equal(status, 200, JSON.stringify(body));
    const by = Object.fromEntries(body.systems.map((s: any) => [s.meterId, s]));
    assert.ok(Math.abs(by.roofA.ratePctPerYear + 0.8) <= 0.25, String(by.roofA.ratePctPerYear));
    assert.equal(by.roofA.underperforming, false);
    assert.equal(by.roofB.underperforming, false);
    assert.equal(by.roofC.underperforming, true);
    assert.match(by.roofC.reasons[0], /losing 3\.\d+ %\/year/);
    assert.equal(by.roofD.underperforming, true, 'a smaller yield than its neighbours');
    assert.match(by.roofD.reasons.join(' '), /of the fleet median/);
  });

  it('pv-clearsky forecasts a system from its history and its site: zero at night, sun-shaped by day', async () => {
    const { status, body } = await get('/api/forecasts?meter=roofA&quantity=energyExport&model=pv-clearsky&resolution=60m');
    assert.equal(status, 200, JSON.stringify(body));
    const p = body.series[0].point as number[];
    assert.equal(p.length, 24);
    assert.equal(p[0], 0);
    assert.ok(Math.max(...p) > 500);
    assert.ok(p.indexOf(Math.max(...p)) >= 9 && p.indexOf(Math.max(...p)) <= 13, 'peak around 11:00 UTC in Munich');
  });

  it('refuses systems without a site or with too little history', async () => {
    const noSite = await get('/api/pv-health?meter=elsewhere');
    assert.equal(noSite.status, 422);
    assert.equal(noSite.body.code, 'GF_PV_NO_SITE');
    const young = await get('/api/pv-health?meter=young');
    assert.equal(young.body.code, 'GF_PV_NOT_ENOUGH_HISTORY');
    assert.equal((await get('/api/pv-health?meter=roofA&years=1')).status, 400);
    assert.equal((await get('/api/pv-health?group=nope')).body.parameter, 'group');
  });
});
