import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../config/config.js';
import { createLogger } from '../index.js';
import { startServer } from '../server.js';

describe('HTTP: API tokens guard every write under /api/', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-api-tokens-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses writes without a configured token, lets reads and the VTN through', async () => {
    const token = 'operator-token-0123456789';
    const config = loadConfigOrThrow({ env: { GRIDFLEX__server__apiTokens: JSON.stringify([token]) }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    const server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    try {
      const post = (p: string, headers: Record<string, string> = {}) => fetch(`${server.url}${p}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ id: 'p1', meterId: 'm1' }) });
      const denied = await post('/api/market/prosumers');
      assert.equal(denied.status, 401);
      assert.equal(denied.headers.get('www-authenticate'), 'Bearer');
      assert.equal(((await denied.json()) as { code: string }).code, 'GF_HTTP_UNAUTHORIZED');
      assert.equal((await post('/api/market/prosumers', { authorization: 'Bearer not-the-token-at-all' })).status, 401);
      assert.equal((await post('/api/market/prosumers', { authorization: `Bearer ${token}` })).status, 201);
      assert.equal((await fetch(`${server.url}/api/market/prosumers/p1`)).status, 200, 'reads stay open');
      assert.equal((await fetch(`${server.url}/openadr3/3.1.0/auth/server`)).status, 200, 'the VTN has its own OAuth2');
    } finally {
      await server.close();
    }
  });

  it('refuses tokens shorter than 16 characters in the config', () => {
    assert.throws(() => loadConfigOrThrow({ env: { GRIDFLEX__server__apiTokens: '["short"]' }, overrides: { dataDir: path.join(dir, 'x') } }), /apiTokens/);
  });
});
