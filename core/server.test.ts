import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from './config/config.js';
import { access, createLogger, definePlugin, GfError, Router, StorageToken } from './index.js';
import { startServer } from './server.js';
import { sleep } from './testing/wait.js';
import { OPERATOR, OPERATOR_ENV } from './testing/operator.js';

const log = createLogger({ level: 'silent' });

/** A plugin with a slow route, to hold a request in flight during shutdown. */
const slow = definePlugin({
  manifest: { id: 'slow', version: '1.0.0' },
  async start(ctx) {
    const r = new Router();
    r.get('/wait/:ms', access.public('test'), async (http) => {
      await sleep(Number(http.params.ms));
      http.body = { waited: Number(http.params.ms) };
    });
    ctx.mount('/api/slow', r);
  },
});

describe('server', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-server-'));
  const config = (extra: Record<string, string> = {}) =>
    loadConfigOrThrow({ env: { ...OPERATOR_ENV, GRIDFLEX__plugins__example__config__greeting: 'Moin', ...extra }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('boots the example plugin on the embedded engine, and its data survives a restart', async () => {
    let s = await startServer({ config: config(), log });
    try {
      assert.equal((await fetch(`${s.url}/ready`)).status, 200);
      const res = await fetch(`${s.url}/api/example/greetings`, { method: 'POST', headers: { ...OPERATOR,  'content-type': 'application/json' }, body: '{"name":"Ada"}' });
      assert.equal(res.status, 201);
      assert.deepEqual(await res.json(), { message: 'Moin, Ada!', count: 1 });
      const bad = await fetch(`${s.url}/api/example/greetings`, { method: 'POST', headers: { ...OPERATOR,  'content-type': 'application/json' }, body: '{"name":42}' });
      assert.equal(bad.status, 400);
      const problem = (await bad.json()) as { code: string; detail: string; field: string };
      assert.deepEqual([problem.code, problem.field, problem.detail], ['GF_VALIDATION_FAILED', 'name', 'name: must be string']);
      const extra = await fetch(`${s.url}/api/example/greetings`, { method: 'POST', headers: { ...OPERATOR,  'content-type': 'application/json' }, body: '{"name":"Ada 2","shout":true}' });
      const both = ((await extra.json()) as { detail: string }).detail;
      assert.match(both, /shout: is not a known key/);
      assert.match(both, /name: must match pattern/);
    } finally {
      await s.close();
    }
    s = await startServer({ config: config(), log });
    try {
      const res = await fetch(`${s.url}/api/example/greetings`, { method: 'POST', headers: { ...OPERATOR,  'content-type': 'application/json' }, body: '{"name":"Grace"}' });
      assert.deepEqual(await res.json(), { message: 'Moin, Grace!', count: 2 });
    } finally {
      await s.close();
    }
  });

  it('lets in-flight requests finish on shutdown and refuses new connections after', async () => {
    const s = await startServer({ config: config(), log, extraPlugins: [slow] });
    const inflight = fetch(`${s.url}/api/slow/wait/700`, { headers: OPERATOR });
    await sleep(150);
    const closing = s.close();
    const res = await inflight;
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { waited: 700 });
    await closing;
    await assert.rejects(fetch(`${s.url}/health`), 'the port is closed');
    assert.ok(s.host.status().every((p) => p.state === 'stopped'), JSON.stringify(s.host.status()));
  });

  it('refuses a second server on the same data folder while the first runs', async () => {
    const s = await startServer({ config: config(), log });
    try {
      await assert.rejects(startServer({ config: config(), log }), (e: unknown) => e instanceof GfError && e.code === 'GF_STORAGE_LOCKED' && /in use by gridflex/.test(e.message));
    } finally {
      await s.close();
    }
  });

  it('fails boot with the plugin named, closes the port, and releases the data folder', async () => {
    const broken = definePlugin({
      manifest: { id: 'broken', version: '1.0.0' },
      deps: { storage: StorageToken },
      start: async () => {
        throw new Error('bad calibration table');
      },
    });
    let url = '';
    await assert.rejects(
      startServer({ config: config(), log, extraPlugins: [broken], onListening: (u) => (url = u) }),
      (e: unknown) => e instanceof GfError && e.code === 'GF_PLUGIN_START_FAILED' && /'broken'.*bad calibration table/.test(e.message),
    );
    await assert.rejects(fetch(`${url}/health`), 'the port is closed after a failed boot');
    const again = await startServer({ config: config(), log });
    await again.close();
  });

  it('refuses to boot with an unknown plugin in the config', async () => {
    await assert.rejects(
      startServer({ config: loadConfigOrThrow({ env: { ...OPERATOR_ENV, GRIDFLEX__plugins__nosuch__enabled: 'true' }, overrides: { port: 0, dataDir: path.join(dir, 'x') } }), log }),
      (e: unknown) => e instanceof GfError && e.code === 'GF_PLUGIN_UNKNOWN' && /nosuch/.test(e.message),
    );
  });
});
