import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestHost, type TestHost } from '../core/testing/host.js';
import { conformanceMain } from './cli.js';
import type { RunReport } from './model.js';

const BASE = '/openadr3/3.1.0';
const CLIENTS = [
  { clientId: 'ct-bl', clientSecret: 'ct-bl-secret', role: 'bl', name: 'Conformance BL' },
  { clientId: 'ct-ven-1', clientSecret: 'ct-ven-secret-1', role: 'ven', name: 'Conformance VEN 1' },
  { clientId: 'ct-ven-2', clientSecret: 'ct-ven-secret-2', role: 'ven', name: 'Conformance VEN 2' },
];

/** Runs the CLI in process and captures what it prints. */
async function cli(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await conformanceMain(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('conformance: the openadr3-vtn suite against our own VTN', function () {
  this.timeout(300_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-conformance-'));
  const credentials = path.join(dir, 'credentials.json');
  let host: TestHost;

  before(async () => {
    host = await startTestHost({
      plugins: ['openadr3'],
      config: {
        openadr3: {
          clients: CLIENTS,
          // The runner's webhook listener is plain http on loopback: allowed for this test deployment only.
          webhooks: { allowHttpHosts: ['127.0.0.1'], allowPrivateHosts: ['127.0.0.1'], backoffBaseMs: 100, pollMs: 50, timeoutMs: 2000 },
        },
      },
    });
    writeFileSync(
      credentials,
      JSON.stringify({ bl: { clientId: 'ct-bl', clientSecret: 'ct-bl-secret' }, vens: [{ clientId: 'ct-ven-1', clientSecret: 'ct-ven-secret-1' }, { clientId: 'ct-ven-2', clientSecret: 'ct-ven-secret-2' }] }),
    );
  });
  after(async () => {
    await host?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes every required case, writes JUnit and HTML, and leaves nothing behind', async () => {
    const junit = path.join(dir, 'report.xml');
    const html = path.join(dir, 'report.html');
    const r = await cli(['run', '--target', `${host.url}${BASE}`, '--suite', 'openadr3-vtn', '--credentials', credentials, '--junit', junit, '--html', html, '--json', '--notify-timeout-ms', '8000']);
    const report = JSON.parse(r.out.join('\n')) as RunReport & { summary: any };
    const failed = report.results.filter((x) => x.outcome === 'fail').map((x) => `${x.id} [${x.severity}]: ${x.reason}`);
    // Every case passes here, recommended and extension ones too (docs/conformance.md lists the results);
    // the one skip is HTTPS, which a loopback test deployment does not have.
    assert.deepEqual(failed, []);
    assert.deepEqual(report.results.filter((x) => x.outcome === 'skip').map((x) => x.id), ['auth.https']);
    assert.ok(report.results.length > 200, `${report.results.length} cases`);
    assert.equal(r.code, 0, r.err.slice(-5).join('\n'));
    assert.deepEqual(report.leftovers, []);
    // Progress: one line per case on stderr, in the suite's order.
    assert.equal(r.err.filter((l) => /^\[\s*\d+\/\d+\] /.test(l)).length, report.results.length);
    assert.ok(readFileSync(junit, 'utf8').includes('<testsuites name="openadr3-vtn"'));
    assert.ok(readFileSync(html, 'utf8').includes('<table>'));
    // Nothing the run made is left: no object carries the run's prefix.
    const token = await fetch(`${host.url}${BASE}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=ct-bl&client_secret=ct-bl-secret' });
    const auth = { authorization: `Bearer ${((await token.json()) as { access_token: string }).access_token}` };
    for (const p of ['programs', 'vens', 'subscriptions']) {
      const left = (await (await fetch(`${host.url}${BASE}/${p}`, { headers: auth })).json()) as unknown[];
      assert.deepEqual(left, [], `${p} left behind`);
    }
  });

  it('skips, never passes, the webhook cases when the VTN will not call the runner back', async () => {
    // The same VTN configured as in production: https callbacks on public addresses only.
    const strict = await startTestHost({ plugins: ['openadr3'], config: { openadr3: { clients: CLIENTS } } });
    try {
      const r = await cli(['run', '--target', `${strict.url}${BASE}`, '--suite', 'openadr3-vtn', '--credentials', credentials, '--only', 'webhooks.', '--json']);
      const report = JSON.parse(r.out.join('\n')) as RunReport;
      const byOutcome = (o: string) => report.results.filter((x) => x.outcome === o).map((x) => x.id);
      // The refusals are checked (https, private addresses); everything needing a callback is skipped.
      assert.deepEqual(byOutcome('pass'), ['webhooks.https-required', 'webhooks.private-address-refused']);
      assert.deepEqual(byOutcome('fail'), []);
      assert.ok(byOutcome('skip').includes('webhooks.notify-create'));
      assert.match(report.results.find((x) => x.id === 'webhooks.notify-create')!.reason!, /refused the runner's callback .* without calling it \(400\)/);
      assert.equal(r.code, 0);
    } finally {
      await strict.close();
    }
  });
});
