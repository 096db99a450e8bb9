import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EDRP } from '../../test/data.js';
import { exited, run, serve } from '../../test/process.js';
import { OPERATOR, TEST_OPERATOR_TOKEN } from '../../core/testing/operator.js';


describe('meter-data: gridflex import readings and /api/readings', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-import-'));
  const data = path.join(dir, 'data');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('imports a large file offline with progress, refuses a bad one naming the line, then serves resampled reads', async () => {
    const r = await run(['import', 'readings', EDRP, '--meters', 'hh1,hh2,hh3', '--resample', '60m', '--json', '--data', data]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.err, /read \d+% \(/, 'progress on stderr');
    const report = JSON.parse(r.out) as { written: number; series: unknown[]; resampled: { resolutionS: number; written: number }[]; issues: unknown[] };
    assert.equal(report.written, 3 * 4416);
    assert.deepEqual(report.resampled, [{ resolutionS: 3600, written: 3 * 2208 }]);
    assert.deepEqual(report.issues, []);

    const bad = path.join(dir, 'bad.csv');
    writeFileSync(bad, 'timestamp,m1\n2026-01-05T00:00Z,1\n2026-01-05T00:30Z,oops\n');
    const refused = await run(['import', 'readings', bad, '--data', data]);
    assert.equal(refused.code, 1);
    assert.match(refused.err, /GF_IMPORT_INVALID: 1 row\(s\) refused, nothing written: line 3 \(m1\): not a number: 'oops'/);
    const usage = await run(['import', 'readings', bad, '--resample', '7m', '--data', data]);
    assert.equal(usage.code, 1);
    assert.match(usage.err, /GF_IMPORT_BAD_OPTION: resample: '7m'/);

    const token = TEST_OPERATOR_TOKEN; // imports are the operator's (server.apiTokens here)
    const s = await serve(['--port', '0', '--data', data]);
    try {
      const q = (p: string) => fetch(`${s.url}/api/readings?${p}`, { headers: OPERATOR }).then(async (res) => ({ status: res.status, body: (await res.json()) as any }));
      const from = '2009-03-01T00:00:00Z';
      const to = '2009-03-02T00:00:00Z';
      const half = await q(`meter=hh1&from=${from}&to=${to}`);
      assert.equal(half.status, 200);
      assert.equal(half.body.series[0].values.length, 48);
      assert.equal(half.body.series[0].values[0], 86);
      const hourly = await q(`meter=hh1&from=${from}&to=${to}&resolution=60m`);
      assert.equal(hourly.body.series[0].resolutionS, 3600);
      assert.equal(hourly.body.series[0].values[0], 86 + 86);
      const tenMin = await q(`meter=hh1&meter=hh2&from=${from}&to=${to}&resolution=10m`);
      assert.equal(tenMin.body.series.length, 2);
      assert.equal(tenMin.body.series[0].values.length, 144);
      assert.equal(tenMin.body.series[0].interpolated, true);
      assert.equal((await q(`meter=hh1&from=${to}&to=${from}`)).status, 400);
      assert.equal((await q(`meter=hh1&from=${from}&to=${to}&resolution=7m`)).status, 400);
      assert.equal((await q(`from=${from}&to=${to}`)).status, 400);
      const list = (await fetch(`${s.url}/api/readings/series?quantity=energyImport`, { headers: OPERATOR }).then((res) => res.json())) as { meterId: string; resolutionS: number; unit: string }[];
      assert.deepEqual([...new Set(list.map((x) => x.meterId))].slice(0, 3), ['hh1', 'hh2', 'hh3'], 'numeric order');
      assert.ok(list.some((x) => x.meterId === 'hh1' && x.resolutionS === 1800 && x.unit === 'Wh'), JSON.stringify(list.slice(0, 3)));
      const one = (await fetch(`${s.url}/api/readings/series?meter=hh2`, { headers: OPERATOR }).then((res) => res.json())) as { meterId: string }[];
      assert.ok(one.length > 0 && one.every((x) => x.meterId === 'hh2'));
      assert.equal((await fetch(`${s.url}/api/readings/series?colour=red`, { headers: OPERATOR })).status, 400);

      const csv = 'ts,meter,value\n2026-01-05T00:00Z,api-1,0.5\n2026-01-05T00:30Z,api-1,0.7\n2026-01-05T01:30Z,api-1,0.4\n';
      const post = (headers: Record<string, string>, query = 'unit=kWh') =>
        fetch(`${s.url}/api/readings?${query}`, { method: 'POST', headers: { 'content-type': 'text/csv', ...headers }, body: csv });
      assert.equal((await post({})).status, 401);
      const ok = await post({ authorization: `Bearer ${token}` });
      assert.equal(ok.status, 201);
      const rep = (await ok.json()) as { written: number; issues: { kind: string; fromRow: number; toRow: number }[] };
      assert.equal(rep.written, 3);
      assert.deepEqual(rep.issues.map((i) => [i.kind, i.fromRow, i.toRow]), [['gap', 3, 4]]);
      const badOpt = await post({ authorization: `Bearer ${token}` }, 'unit=kWh&colour=red');
      assert.equal(badOpt.status, 400);
      assert.equal(((await badOpt.json()) as { code: string }).code, 'GF_IMPORT_BAD_OPTION');

      // With the server holding the data folder, the CLI imports through its API.
      const remote = await run(['import', 'readings', EDRP, '--meters', 'hh4', '--token', token, '--data', data]);
      assert.equal(remote.code, 0, remote.err);
      assert.match(remote.err, /sent through the server/);
      assert.match(remote.out, /^4,416 readings written for 1 meter\(s\) at 30 min/);
      assert.equal((await q(`meter=hh4&from=${from}&to=${to}`)).body.series[0].values.length, 48);
    } finally {
      s.proc.kill('SIGTERM');
      await exited(s.proc);
    }
  });
});
