import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../config/config.js';
import { createLogger } from '../index.js';
import { startServer, type RunningServer } from '../server.js';
import { samplePath } from './app.js';

describe('HTTP: API tokens guard every operator route, decided on the matched route', function () {
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
  const post = (p: string, headers: Record<string, string> = {}, body: unknown = { id: 'p1', meterId: 'm1' }) =>
    fetch(`${server.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('refuses writes without a configured token, lets reads and the VTN through', async () => {
    const denied = await post('/api/market/prosumers');
    assert.equal(denied.status, 401);
    assert.equal(denied.headers.get('www-authenticate'), 'Bearer');
    assert.equal(((await denied.json()) as { code: string }).code, 'GF_HTTP_UNAUTHORIZED');
    assert.equal((await post('/api/market/prosumers', { authorization: 'Bearer not-the-token-at-all' })).status, 401);
    assert.equal((await post('/api/market/prosumers', { authorization: `Bearer ${token}` })).status, 201);
    assert.equal((await fetch(`${server.url}/api/market/prosumers/p1`)).status, 200, 'reads stay open');
    assert.equal((await fetch(`${server.url}/openadr3/3.1.0/auth/server`)).status, 200, 'the VTN has its own OAuth2');
  });

  it('does not let another spelling of a path past the guard (issue 25 #1)', async () => {
    for (const p of ['/API/market/prosumers', '/Api/market/prosumers', '/api/MARKET/prosumers', '/api/market/Prosumers']) {
      const res = await post(p, {}, { id: 'p-case', meterId: 'm1' });
      assert.ok(res.status === 401 || res.status === 404, `${p}: ${res.status}`);
    }
    assert.equal((await fetch(`${server.url}/api/market/prosumers/p-case`)).status, 404, 'nothing was created');
    assert.equal((await fetch(`${server.url}/API/market/prosumers/p1`)).status, 404, 'routing is case-sensitive');
  });

  it('every route of the router table that is not declared public refuses a write without the token, in any spelling', async () => {
    const table = server.http.routes();
    assert.ok(table.length > 40, `the table lists the mounted routes (${table.length})`);
    for (const r of table) {
      if (['GET', 'HEAD', 'OPTIONS'].includes(r.method)) {
        assert.equal(r.access, 'public', `${r.method} ${r.path}`);
        continue;
      }
      if (r.access === 'public') {
        // Only the OpenADR VTNs, which authenticate their clients themselves, may take writes without an operator token.
        assert.ok(['openadr3', 'openadr2b'].includes(r.pluginId) && !r.path.startsWith('/api/'), `${r.method} ${r.path} (${r.pluginId}) is public`);
        continue;
      }
      const p = samplePath(r.path, 'p1');
      for (const spelling of [p, p.toUpperCase(), p.replace(/^\/api\//, '/API/')]) {
        const res = await fetch(`${server.url}${spelling}`, { method: r.method, headers: { 'content-type': 'application/json' }, body: '{}' });
        assert.ok(res.status === 401 || res.status === 404, `${r.method} ${spelling} (route ${r.path}): ${res.status}`);
        if (spelling === p) assert.equal(res.status, 401, `${r.method} ${p}`);
      }
    }
  });

  it('refuses tokens shorter than 16 characters in the config', () => {
    assert.throws(() => loadConfigOrThrow({ env: { GRIDFLEX__server__apiTokens: '["short"]' }, overrides: { dataDir: path.join(dir, 'x') } }), /apiTokens/);
  });
});
