import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { run, serve } from '../../test/process.js';

describe('gridflex demo: a world a newcomer can sign in to', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-demo-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('seeds parties, sites, a portfolio and real readings; each prosumer sees only its own meter', async () => {
    const data = path.join(dir, 'data');
    const seeded = await run(['demo', '--prosumers', '2', '--days', '2', '--json', '--data', data]);
    assert.equal(seeded.code, 0, seeded.err);
    const world = JSON.parse(seeded.out) as { parties: { id: string; role: string; password: string; meter?: string }[]; readings: number };
    assert.deepEqual(world.parties.map((p) => `${p.id}:${p.role}`), ['dso-demo:dso', 'agg-demo:aggregator', 'prosumer-1:prosumer', 'prosumer-2:prosumer']);
    assert.equal(world.readings, 2 * 2 * 48, 'two days of two half-hourly households');
    const again = await run(['demo', '--data', data]);
    assert.equal(again.code, 1);
    assert.match(again.err, /already has the demo world/);

    const s = await serve(['--port', '0', '--data', data]);
    try {
      const p1 = world.parties.find((p) => p.id === 'prosumer-1')!;
      const p2 = world.parties.find((p) => p.id === 'prosumer-2')!;
      const form = await fetch(`${s.url}/hmi/login`);
      const csrf = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
      const login = await fetch(`${s.url}/hmi/login`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: `gf_login_csrf=${csrf}` },
        body: new URLSearchParams({ party: p1.id, password: p1.password, csrf }),
      });
      assert.equal(login.status, 303);
      const cookie = /gf_session=[^;]+/.exec(login.headers.get('set-cookie') ?? '')![0];
      const range = 'from=2009-03-01T00:00:00Z&to=2009-03-02T00:00:00Z';
      const own = await fetch(`${s.url}/api/readings?meter=${p1.meter}&${range}`, { headers: { cookie } });
      assert.equal(own.status, 200);
      assert.equal(((await own.json()) as { series: { values: number[] }[] }).series[0]!.values.length, 48);
      assert.equal((await fetch(`${s.url}/api/readings?meter=${p2.meter}&${range}`, { headers: { cookie } })).status, 404, "another prosumer's meter");
      const page = await fetch(`${s.url}/hmi/readings?meter=${p1.meter}&${range}`, { headers: { cookie } });
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<svg/);
    } finally {
      s.proc.kill('SIGTERM');
    }
  });
});
