import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../config/config.js';
import { createLogger } from '../index.js';
import { startServer, type RunningServer } from '../server.js';
import { samplePath } from './app.js';

describe('HTTP: access is decided on the matched route; server.apiTokens act as the operator', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-api-tokens-'));
  const token = 'operator-token-0123456789';
  let server: RunningServer;
  before(async () => {
    const config = loadConfigOrThrow({ env: { GRIDFLEX__server__apiTokens: JSON.stringify([token]) }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    server = await startServer({ config, log: createLogger({ level: 'silent' }) });
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const post = (p: string, headers: Record<string, string> = {}, body: unknown = { id: 'operator', meterId: 'm1' }) =>
    fetch(`${server.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('refuses anonymous calls and wrong tokens, lets the operator token and the VTN discovery through', async () => {
    const denied = await post('/api/market/prosumers');
    assert.equal(denied.status, 401);
    assert.match(denied.headers.get('www-authenticate') ?? '', /^Bearer/);
    assert.equal(((await denied.json()) as { code: string }).code, 'GF_AUTH_UNAUTHENTICATED');
    assert.equal((await post('/api/market/prosumers', { authorization: 'Bearer not-the-token-at-all' })).status, 401);
    assert.equal((await post('/api/market/prosumers', { authorization: `Bearer ${token}` })).status, 201);
    assert.equal((await fetch(`${server.url}/api/market/prosumers/operator`)).status, 401, 'reads need a credential too');
    assert.equal((await fetch(`${server.url}/api/market/prosumers/operator`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    assert.equal((await fetch(`${server.url}/openadr3/3.1.0/auth/server`)).status, 200, 'the VTN has its own OAuth2');
  });

  it('does not let another spelling of a path past the guard (issue 25 #1)', async () => {
    for (const p of ['/API/market/prosumers', '/Api/market/prosumers', '/api/MARKET/prosumers', '/api/market/Prosumers']) {
      const res = await post(p, {}, { id: 'p-case', meterId: 'm1' });
      assert.ok(res.status === 401 || res.status === 404, `${p}: ${res.status}`);
    }
    const auth = { headers: { authorization: `Bearer ${token}` } };
    assert.equal((await fetch(`${server.url}/api/market/prosumers/p-case`, auth)).status, 404, 'nothing was created');
    assert.equal((await fetch(`${server.url}/API/market/prosumers/operator`, auth)).status, 404, 'routing is case-sensitive');
  });

  it('every route of the router table that is not public refuses an anonymous call, in any spelling', async () => {
    const table = server.http.routes();
    assert.ok(table.length > 40, `the table lists the mounted routes (${table.length})`);
    for (const r of table) {
      if (r.rule.kind === 'public') continue;
      if (r.rule.kind === 'protocol') {
        // Only the OpenADR VTNs authenticate their clients themselves.
        assert.ok(['openadr3', 'openadr2b'].includes(r.plugin) && !r.path.startsWith('/api/'), `${r.path} (${r.plugin}) authenticates by protocol`);
        continue;
      }
      const p = samplePath(r.path, 'p1');
      for (const method of r.methods) {
        for (const spelling of [p, p.toUpperCase(), p.replace(/^\/api\//, '/API/')]) {
          const res = await fetch(`${server.url}${spelling}`, { method, headers: { 'content-type': 'application/json' }, ...(method === 'GET' ? {} : { body: '{}' }), redirect: 'manual' });
          const hmiRedirect = method === 'GET' && spelling.startsWith('/hmi') && res.status === 302;
          assert.ok(res.status === 401 || res.status === 404 || hmiRedirect, `${method} ${spelling} (route ${r.path}): ${res.status}`);
          if (spelling === p) assert.ok(res.status === 401 || hmiRedirect, `${method} ${p}: ${res.status}`);
        }
      }
    }
  });

  it('refuses tokens shorter than 16 characters in the config', () => {
    assert.throws(() => loadConfigOrThrow({ env: { GRIDFLEX__server__apiTokens: '["short"]' }, overrides: { dataDir: path.join(dir, 'x') } }), /apiTokens/);
  });
});
