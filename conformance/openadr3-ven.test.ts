import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { exited, gridflex } from '../test/process.js';
import { conformanceMain } from './cli.js';
import type { RunReport } from './model.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

/**
 * The runner plays a VTN; our own `gridflex ven` (a child process, as a user runs it) connects to it.
 * Nothing of the VEN is imported: the runner sees only what the VEN sends.
 */
describe('conformance: the openadr3-ven suite against our own VEN (gridflex ven)', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-conformance-ven-'));
  const credentials = path.join(dir, 'credentials.json');
  after(() => rmSync(dir, { recursive: true, force: true }));

  for (const mode of ['webhook', 'poll'] as const) {
    it(`passes every required case with the VEN following events by ${mode}`, async () => {
      writeFileSync(credentials, JSON.stringify({ vens: [{ clientId: 'ven-under-test', clientSecret: 'its-secret-123' }] }));
      const port = await freePort();
      const out: string[] = [];
      const err: string[] = [];
      const running = conformanceMain(['run', '--suite', 'openadr3-ven', '--listen', `127.0.0.1:${port}`, '--credentials', credentials, '--observe-seconds', '6', '--wait-seconds', '30', '--json'], {
        out: (l) => out.push(l),
        err: (l) => err.push(l),
      });
      const webhook = mode === 'webhook' ? ['--webhook-port', String(await freePort())] : [];
      const ven = gridflex(['ven', '--vtn', `http://127.0.0.1:${port}/openadr3/3.1.0`, '--client-id', 'ven-under-test', '--client-secret', 'its-secret-123', '--ven-name', `site-${mode}`, '--notify', mode, '--poll-seconds', '1', ...webhook]);
      let venErr = '';
      ven.stderr!.on('data', (d) => (venErr += d));
      try {
        const code = await running;
        const report = JSON.parse(out.join('\n')) as RunReport;
        const failed = report.results.filter((x) => x.outcome === 'fail').map((x) => `${x.id} [${x.severity}]: ${x.reason}`);
        assert.deepEqual(failed, [], venErr);
        const skipped = report.results.filter((x) => x.outcome === 'skip').map((x) => x.id);
        assert.deepEqual(skipped, mode === 'webhook' ? ['ven.webhook-https'] : ['ven.webhook-echo', 'ven.webhook-https', 'ven.webhook-delivery']);
        assert.equal(code, 0);
      } finally {
        ven.kill('SIGTERM');
        await exited(ven);
      }
    });
  }

  it('fails a client that skips discovery, sends JSON for its token and reads without a token', async () => {
    writeFileSync(credentials, JSON.stringify({ vens: [{ clientId: 'sloppy', clientSecret: 'sloppy-secret' }] }));
    const port = await freePort();
    const out: string[] = [];
    const running = conformanceMain(['run', '--suite', 'openadr3-ven', '--listen', `127.0.0.1:${port}`, '--credentials', credentials, '--observe-seconds', '1', '--json'], { out: (l) => out.push(l), err: () => undefined });
    const base = `http://127.0.0.1:${port}/openadr3/3.1.0`;
    // A careless client, over real HTTP: no /auth/server, a JSON token request, then an anonymous read.
    for (let i = 0; i < 50; i++) {
      try {
        await fetch(`${base}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ grant_type: 'client_credentials', client_id: 'sloppy', client_secret: 'sloppy-secret' }) });
        break;
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await fetch(`${base}/events`);
    const code = await running;
    const report = JSON.parse(out.join('\n')) as RunReport;
    const failed = report.results.filter((x) => x.outcome === 'fail').map((x) => x.id);
    for (const id of ['ven.discovers-token-endpoint', 'ven.token-request-form', 'ven.bearer-on-every-request', 'ven.registers', 'ven.requests-granted-targets', 'ven.finds-event']) assert.ok(failed.includes(id), `${id} should fail: ${failed.join(', ')}`);
    assert.equal(code, 1);
  });

  it('ends with one line and exit 3 when no VEN connects', async () => {
    writeFileSync(credentials, JSON.stringify({ vens: [{ clientId: 'nobody', clientSecret: 'nobody-secret' }] }));
    const err: string[] = [];
    const code = await conformanceMain(['run', '--suite', 'openadr3-ven', '--listen', '127.0.0.1:0', '--credentials', credentials, '--wait-seconds', '1'], { out: () => undefined, err: (l) => err.push(l) });
    assert.equal(code, 3);
    assert.match(err.at(-1)!, /^gridflex conformance: no VEN connected to http:\/\/127\.0\.0\.1:\d+\/openadr3\/3\.1\.0 within 1 s$/);
  });
});
