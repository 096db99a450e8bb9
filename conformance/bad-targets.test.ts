import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { startTestHost, type TestHost } from '../core/testing/host.js';
import { run } from '../test/process.js';

/**
 * Targets the runner cannot test end with one line on stderr, nothing on stdout and exit 3, never a
 * stack trace. Every target is real: a closed port, a server that accepts and never answers, our own
 * server's non-OpenADR root, our own OpenADR 2.0b VTN (another version), and our 3.1 VTN with wrong
 * credentials.
 */
describe('conformance: bad targets end with one clear line and a non-zero exit', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-conformance-bad-'));
  const credentials = path.join(dir, 'credentials.json');
  const wrong = path.join(dir, 'wrong.json');
  let host: TestHost;
  let silent: net.Server;
  const held: net.Socket[] = [];
  let closedPort = 0;

  before(async () => {
    host = await startTestHost({
      plugins: ['openadr3', 'openadr2b'],
      config: { openadr3: { clients: [{ clientId: 'bt-bl', clientSecret: 'bt-bl-secret', role: 'bl', name: 'BL' }, { clientId: 'bt-ven', clientSecret: 'bt-ven-secret', role: 'ven', name: 'VEN' }] } },
    });
    writeFileSync(credentials, JSON.stringify({ bl: { clientId: 'bt-bl', clientSecret: 'bt-bl-secret' }, vens: [{ clientId: 'bt-ven', clientSecret: 'bt-ven-secret' }] }));
    writeFileSync(wrong, JSON.stringify({ bl: { clientId: 'bt-bl', clientSecret: 'not-the-secret' }, vens: [{ clientId: 'bt-ven', clientSecret: 'bt-ven-secret' }] }));
    // Accepts connections and never answers.
    silent = net.createServer((s) => held.push(s));
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    // A port that was free a moment ago: nothing listens there.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    closedPort = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
  });
  after(async () => {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
    await host?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cases: [string, () => string, RegExp, string?][] = [
    ['unreachable', () => `http://127.0.0.1:${closedPort}/openadr3/3.1.0`, /is unreachable: connection refused \(\d attempts\)$/],
    ['slow', () => `http://127.0.0.1:${(silent.address() as net.AddressInfo).port}/openadr3/3.1.0`, /did not answer GET \/auth\/server within 300 ms \(2 attempts\): too slow or hung$/],
    ['not OpenADR', () => `${host.url}/`, /is not an OpenADR 3\.1\.0 VTN: GET \/auth\/server answered 404/],
    ['wrong version (OpenADR 2.0b)', () => `${host.url}/OpenADR2/Simple/2.0b`, /speaks OpenADR 2\.0b \(XML\), not 3\.1\.0/],
    ['credentials refused', () => `${host.url}/openadr3/3.1.0`, /refused BL's credentials \(client bt-bl\): 401 invalid_client$/, 'wrong'],
  ];
  for (const [kind, target, line, creds] of cases) {
    it(`${kind}: one line, exit 3`, async () => {
      const r = await run(['conformance', 'run', '--suite', 'openadr3-vtn', '--target', target(), '--credentials', creds === 'wrong' ? wrong : credentials, '--timeout-ms', '300', '--attempts', '2']);
      const lines = r.err.trim().split('\n');
      assert.equal(lines.length, 1, r.err);
      assert.match(lines[0]!, /^gridflex conformance: target .*|^gridflex conformance: the token endpoint/);
      assert.match(lines[0]!, line);
      assert.equal(r.out, '');
      assert.equal(r.code, 3);
    });
  }

  it('usage errors exit 2 with one line', async () => {
    const r = await run(['conformance', 'run', '--suite', 'openadr3-vtn', '--target', `${host.url}/openadr3/3.1.0`]);
    assert.equal(r.code, 2);
    assert.equal(r.err.trim(), 'gridflex conformance: --credentials is required (see gridflex conformance --help)');
    const bad = path.join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ bl: { clientId: 'x' }, vens: [] }));
    const r2 = await run(['conformance', 'run', '--suite', 'openadr3-vtn', '--target', `${host.url}/openadr3/3.1.0`, '--credentials', bad]);
    assert.equal(r2.code, 2);
    assert.equal(r2.err.trim(), 'gridflex conformance: bl needs clientId and clientSecret, or token');
  });
});
