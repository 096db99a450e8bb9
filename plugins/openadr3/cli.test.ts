import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { exited, run, serve } from '../../test/process.js';

describe('gridflex clients (OpenADR 3 client provisioning)', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-clients-'));
  const data = path.join(dir, 'data');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('adds clients whose credentials the served VTN then accepts, and refuses while a server holds the folder', async () => {
    const add = await run(['clients', 'add', '--role', 'ven', '--name', 'Site 7', '--json', '--data', data]);
    assert.equal(add.code, 0, add.err);
    const creds = JSON.parse(add.out) as { clientId: string; clientSecret: string };
    assert.match(creds.clientId, /^ven-[A-Za-z0-9_-]+$/);
    assert.ok(creds.clientSecret.length >= 24);
    const fixed = await run(['clients', 'add', '--role', 'bl', '--name', 'Utility', '--client-id', 'utility-1', '--data', data]);
    assert.equal(fixed.code, 0, fixed.err);
    assert.match(fixed.out, /client id: +utility-1/);
    const dup = await run(['clients', 'add', '--role', 'bl', '--name', 'Again', '--client-id', 'utility-1', '--data', data]);
    assert.equal(dup.code, 1);
    assert.match(dup.err, /GF_OA3_CONFLICT: client 'utility-1' exists/);
    const bad = await run(['clients', 'add', '--role', 'admin', '--name', 'x', '--data', data]);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--role must be bl or ven/);

    const s = await serve(['--port', '0', '--data', data]);
    try {
      const res = await fetch(`${s.url}/openadr3/3.1.0/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: creds.clientId, client_secret: creds.clientSecret }).toString(),
      });
      assert.equal(res.status, 200);
      const token = ((await res.json()) as { access_token: string }).access_token;
      const programs = await fetch(`${s.url}/openadr3/3.1.0/programs`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(programs.status, 200);
      const busy = await run(['clients', 'list', '--data', data]);
      assert.equal(busy.code, 1);
      assert.match(busy.err, /GF_STORAGE_LOCKED: data folder .* is in use by the server at http/);
    } finally {
      s.proc.kill('SIGTERM');
      await exited(s.proc);
    }
    const list = await run(['clients', 'list', '--json', '--data', data]);
    assert.deepEqual((JSON.parse(list.out) as { clientId: string }[]).map((c) => c.clientId), [creds.clientId, 'utility-1']);
  });
});
