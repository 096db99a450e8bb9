import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger, SchedulerToken, StorageToken } from '../../core/index.js';
import { startServer } from '../../core/server.js';
import { storeEdrp } from '../../test/data.js';
import { OPERATOR, OPERATOR_ENV } from '../../core/testing/operator.js';

const METERS = ['hh1', 'hh2', 'hh3', 'hh4', 'hh5', 'hh6'];

describe('forecasting: /api/forecasts from stored readings, and the scheduled jobs', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-fc-api-'));
  let server: Awaited<ReturnType<typeof startServer>>;
  const get = async (q: string) => {
    const res = await fetch(`${server.url}/api/forecasts${q}`, { headers: OPERATOR });
    return { status: res.status, body: (await res.json()) as any };
  };

  before(async () => {
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins.forecasting = { enabled: true, config: { groups: { feeder7: METERS }, schedule: { groups: ['feeder7'], intradayEvery: '', dayAheadCron: '' } } };
    server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    await storeEdrp(server.host.resolve(StorageToken).readings, METERS);
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('forecasts the next day per meter and for the group aggregate, with ordered quantiles', async () => {
    const { status, body } = await get('?group=feeder7&aggregate=true&at=2009-05-10T10:00:00Z');
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.model, 'random-forest');
    assert.equal(body.kind, 'day-ahead');
    assert.equal(body.series.length, 6);
    for (const s of [...body.series, body.aggregate]) {
      assert.equal(s.ts.length, 48);
      assert.equal(s.ts[0], '2009-05-11T00:00:00.000Z');
      for (let i = 0; i < 48; i++) {
        assert.ok(s.p10[i] <= s.p50[i] + 1e-9 && s.p50[i] <= s.p90[i] + 1e-9, `quantiles ordered at ${i}`);
        assert.ok(s.p10[i] >= 0);
      }
    }
    const sumOfMembers = body.series.reduce((a: number, s: any) => a + s.point.reduce((x: number, y: number) => x + y, 0), 0);
    const agg = body.aggregate.point.reduce((x: number, y: number) => x + y, 0);
    assert.ok(Math.abs(agg - sumOfMembers) / sumOfMembers < 0.35, 'the aggregate is forecast on its own, near the sum of its members');
  });

  it('serves 5, 10 and 60 minute resolutions and longer horizons', async () => {
    for (const [res, n] of [['5m', 288], ['10m', 144], ['60m', 24]] as const) {
      const { status, body } = await get(`?meter=hh1&resolution=${res}&at=2009-05-10T10:00:00Z`);
      assert.equal(status, 200, JSON.stringify(body));
      assert.equal(body.series[0].ts.length, n, res);
      assert.equal(body.resolutionS, { '5m': 300, '10m': 600, '60m': 3600 }[res]);
    }
    const week = await get('?meter=hh2&horizon=72h&model=similar-day&at=2009-05-10T10:00:00Z');
    assert.equal(week.body.series[0].ts.length, 144);
    assert.equal(week.body.model, 'similar-day');
  });

  it('intraday forecasts start at the next whole interval; day-ahead ones at the next midnight', async () => {
    const { body } = await get('?meter=hh3&kind=intraday&horizon=6h&at=2009-05-12T10:05:00Z');
    const s = body.series[0];
    assert.equal(s.ts[0], '2009-05-12T10:30:00.000Z');
    assert.equal(s.ts.length, 12);
    const day = await get('?meter=hh3&kind=day-ahead&horizon=24h&at=2009-05-11T10:05:00Z');
    assert.equal(day.body.series[0].ts[0], '2009-05-12T00:00:00.000Z');
  });

  it('refuses what it cannot do, naming the parameter', async () => {
    const cases: [string, string][] = [
      ['?meter=hh1&resolution=7m', 'resolution'],
      ['?meter=hh1&horizon=999h', 'horizon'],
      ['?meter=hh1&kind=monthly', 'kind'],
      ['?group=nope', 'group'],
      ['?meter=hh1&colour=red', 'colour'],
      ['', 'meter'],
    ];
    for (const [q, parameter] of cases) {
      const r = await get(q);
      assert.equal(r.status, 400, q);
      assert.equal(r.body.parameter, parameter, q);
    }
    const model = await get('?meter=hh1&model=crystal-ball');
    assert.equal(model.body.code, 'GF_FORECAST_UNKNOWN_MODEL');
    const none = await get('?meter=nobody&at=2009-05-10T10:00:00Z');
    assert.equal(none.status, 422);
    assert.equal(none.body.code, 'GF_FORECAST_NO_HISTORY');
    const early = await get('?meter=hh1&at=2009-03-05T10:00:00Z');
    assert.equal(early.body.code, 'GF_FORECAST_NO_HISTORY');
    const models = await get('/models');
    assert.deepEqual(models.body.map((m: { id: string }) => m.id), ['persistence', 'seasonal-naive', 'similar-day', 'random-forest', 'pv-clearsky']);
  });

  it('the intraday job stores the latest forecast per meter', async () => {
    const scheduler = server.host.resolve(SchedulerToken);
    assert.equal((await get('/latest?meter=hh1')).status, 404);
    await scheduler.now('forecasting.intraday', { at: '2009-05-12T10:00:00Z' });
    for (let i = 0; i < 200; i++) {
      if ((await get('/latest?meter=hh1')).status === 200) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const latest = await get('/latest?meter=hh1&kind=intraday');
    assert.equal(latest.status, 200);
    assert.equal(latest.body.kind, 'intraday');
    assert.equal(latest.body.series[0].meterId, 'hh1');
  });
});
