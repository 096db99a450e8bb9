import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exited, run, serve } from '../../test/process.js';

describe('gridflex command', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-cli-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints help for every command', async () => {
    for (const args of [['--help'], ['serve', '--help'], ['plugins', '--help'], ['config', 'check', '--help']]) {
      const r = await run(args);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.out, /Usage: gridflex/, args.join(' '));
    }
  });

  it('exits non-zero with a one-line reason on a bad command or argument', async () => {
    const a = await run(['frobnicate']);
    assert.equal(a.code, 2);
    assert.equal(a.err.trim().split('\n').length, 1);
    assert.match(a.err, /^gridflex: GF_CLI_USAGE: unknown command 'frobnicate'/);
    const b = await run(['serve', '--port', 'eighty']);
    assert.equal(b.code, 2);
    assert.match(b.err, /--port must be a whole number/);
    const c = await run(['serve', '--bogus']);
    assert.equal(c.code, 2);
    assert.match(c.err, /Unknown option '--bogus'/);
  });

  it('config check prints every error at once and exits 1, or OK and 0', async () => {
    const bad = path.join(dir, 'bad.yaml');
    writeFileSync(bad, 'server: { port: -1 }\ndataDir: ""\n');
    const r = await run(['config', 'check', bad]);
    assert.equal(r.code, 1);
    assert.match(r.err, /has 2 error\(s\)/);
    assert.match(r.err, /server\.port/);
    assert.match(r.err, /dataDir/);
    const good = path.join(dir, 'good.yaml');
    writeFileSync(good, 'plugins:\n  example: {}\n');
    const ok = await run(['config', 'check', good, '--json']);
    assert.equal(ok.code, 0, ok.err);
    assert.deepEqual(JSON.parse(ok.out), { ok: true, source: good, errors: [] });
  });

  it('config check reports the rules start used to check (extension-point names, cross-field rules), with root errors beside them', async () => {
    const f = path.join(dir, 'rules.yaml');
    writeFileSync(
      f,
      [
        'server: { port: -1 }',
        'plugins:',
        '  forecasting: { config: { defaultModel: nosuchmodel, schedule: { groups: [nogroup] } } }',
        '  baseline: { config: { defaultMethod: high-99-of-100 } }',
        '  p2p-market: { config: { algorithm: lottery, priceCap: 200, defaultRules: { defaultBidPrice: 500 } } }',
        '  ledger: { config: { maxGas: 40000000 } }',
        '  weather: { config: { meters: { hh1: nowhere } } }',
        '  devices: { config: { devices: [{ id: inv1, nature: pv, bridge: modbus, endpoint: { port: 1502 }, ratedW: 5000, colour: red }] } }',
        '',
      ].join('\n'),
    );
    const r = await run(['config', 'check', f, '--json']);
    assert.equal(r.code, 1, r.err);
    const paths = (JSON.parse(r.out) as { errors: { path: string; message: string }[] }).errors.map((e) => e.path).sort();
    assert.deepEqual(paths, [
      'plugins.baseline.config.defaultMethod',
      'plugins.devices.config.devices[0].colour',
      'plugins.forecasting.config.defaultModel',
      'plugins.forecasting.config.schedule.groups[0]',
      'plugins.ledger.config.maxGas',
      'plugins.p2p-market.config.algorithm',
      'plugins.p2p-market.config.defaultRules.defaultBidPrice',
      'plugins.weather.config.meters.hh1',
      'server.port',
    ]);
  });

  it('lists plugins from the config when no server runs, and from the server when one does', async () => {
    const data = path.join(dir, 'data');
    const offline = await run(['plugins', '--data', data, '--json'], { GRIDFLEX__plugins__example__enabled: 'true' });
    assert.equal(offline.code, 0, offline.err);
    const o = JSON.parse(offline.out) as { source: string; plugins: { id: string; state: string }[] };
    assert.deepEqual(o.plugins.map((p) => [p.id, p.state]), [['storage', 'not running'], ['scheduler', 'not running'], ['secrets', 'not running'], ['parties', 'not running'], ['ledger', 'not running'], ['devices', 'not running'], ['openadr3', 'not running'], ['openadr2b', 'not running'], ['meter-data', 'not running'], ['weather', 'not running'], ['forecasting', 'not running'], ['baseline', 'not running'], ['pv-degradation', 'not running'], ['p2p-market', 'not running'], ['hmi', 'not running'], ['demo', 'not running'], ['example', 'not running']]);

    const s = await serve(['--port', '0', '--data', data]);
    try {
      const online = await run(['plugins', '--data', data, '--json']);
      const j = JSON.parse(online.out) as { source: string; plugins: { id: string; state: string }[] };
      assert.match(j.source, /^server pid \d+ at http:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(j.plugins.map((p) => [p.id, p.state]), [['storage', 'started'], ['scheduler', 'started'], ['secrets', 'started'], ['parties', 'started'], ['ledger', 'started'], ['devices', 'started'], ['openadr3', 'started'], ['openadr2b', 'started'], ['meter-data', 'started'], ['weather', 'started'], ['forecasting', 'started'], ['baseline', 'started'], ['pv-degradation', 'started'], ['p2p-market', 'started'], ['hmi', 'started'], ['demo', 'started']]);
      const second = await run(['serve', '--port', '0', '--data', data]);
      assert.equal(second.code, 1);
      assert.match(second.err, /GF_STORAGE_LOCKED: data folder .* is in use by gridflex/);
    } finally {
      s.proc.kill('SIGINT');
      assert.equal((await exited(s.proc)).code, 0);
    }
  });
});
