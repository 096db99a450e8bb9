import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger, GfError } from '../../core/index.js';
import { startServer, type RunningServer } from '../../core/server.js';
import { waitFor } from '../../core/testing/wait.js';
import { startReceiver } from './testing/receiver.js';
import { checkCallbackUrl, isPrivateAddress } from './webhooks.js';

const strict: { allowHttpHosts: string[]; allowPrivateHosts: string[]; timeoutMs: number } = { allowHttpHosts: [], allowPrivateHosts: [], timeoutMs: 1000 };

describe('webhook callback guard', () => {
  it('refuses non-https, credentials and private or reserved addresses', async () => {
    const refused = async (url: string, policy = strict, why?: RegExp) => {
      await assert.rejects(checkCallbackUrl(url, policy), (e: unknown) => e instanceof GfError && e.code === 'GF_OA3_CALLBACK_REJECTED' && (!why || why.test(e.message)));
    };
    await refused('http://93.184.215.14/hook', strict, /https/);
    await refused('ftp://93.184.215.14/hook', strict, /https/);
    await refused('https://user:pw@93.184.215.14/hook', strict, /credentials/);
    for (const host of ['127.0.0.1', '10.1.2.3', '172.20.0.1', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '[::1]', '[fe80::1]', '[fd00::1]', '[::ffff:127.0.0.1]']) {
      await refused(`https://${host}/hook`, strict, /private or reserved/);
    }
    await refused('not a url');
    assert.equal((await checkCallbackUrl('https://93.184.215.14/hook', strict)).hostname, '93.184.215.14');
    // Development: loopback over plain http only for listed hosts.
    const dev = { allowHttpHosts: ['127.0.0.1'], allowPrivateHosts: ['127.0.0.1'], timeoutMs: 1000 };
    assert.equal((await checkCallbackUrl('http://127.0.0.1:9/x', dev)).port, '9');
    await refused('http://10.0.0.1/x', dev, /https/);
    assert.equal(isPrivateAddress('8.8.8.8'), false);
    assert.equal(isPrivateAddress('2001:4860:4860::8888'), false);
  });
});

describe('webhook notifications survive a restart', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-oa3-wh-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const boot = () => {
    const config = loadConfigOrThrow({ env: {}, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins.openadr3 = {
      enabled: true,
      config: {
        clients: [
          { clientId: 'bl-1', clientSecret: 'bl-secret-1', role: 'bl', name: 'BL' },
          { clientId: 'ven-a', clientSecret: 'ven-secret-a', role: 'ven', name: 'VEN A' },
        ],
        webhooks: { allowHttpHosts: ['127.0.0.1'], allowPrivateHosts: ['127.0.0.1'], backoffBaseMs: 100, backoffMaxMs: 400, pollMs: 50, timeoutMs: 2000 },
      },
    };
    return startServer({ config, log: createLogger({ level: 'silent' }) });
  };

  it('delivers a notification queued while the callback was failing, after the server restarts', async () => {
    const receiver = await startReceiver();
    let server: RunningServer = await boot();
    const token = async (id: string, secret: string) => {
      const r = await fetch(`${server.url}/openadr3/3.1.0/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&client_id=${id}&client_secret=${secret}` });
      return ((await r.json()) as { access_token: string }).access_token;
    };
    const api = async (tok: string, method: string, p: string, body?: unknown) => {
      const r = await fetch(`${server.url}/openadr3/3.1.0${p}`, { method, headers: { authorization: `Bearer ${tok}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
      return { status: r.status, body: (await r.json()) as any };
    };
    try {
      const bl = await token('bl-1', 'bl-secret-1');
      const ven = await token('ven-a', 'ven-secret-a');
      const sub = await api(ven, 'POST', '/subscriptions', { clientName: 'ven-a', objectOperations: [{ objects: ['EVENT'], operations: ['CREATE'], callbackUrl: `${receiver.url}/ven-a`, bearerToken: 'hook-secret' }] });
      assert.equal(sub.status, 201, JSON.stringify(sub.body));
      const program = await api(bl, 'POST', '/programs', { programName: 'restart-test' });
      receiver.mode.status = 503; // the VEN's endpoint is down
      const created = await api(bl, 'POST', '/events', { programID: program.body.id, eventName: 'while-down' });
      assert.equal(created.status, 201);
      await waitFor(async () => {
        const r = await server.host.resolve((await import('../../core/index.js')).StorageToken).query<{ attempts: number }>('SELECT attempts FROM oa3_outbox');
        return (r.rows[0]?.attempts ?? 0) >= 2;
      }, 10_000, 'two failed attempts');
      await server.close();
      assert.equal(receiver.received.length, 0);

      receiver.mode.status = 204; // back up while gridflex is down
      server = await boot();
      await waitFor(() => receiver.received.length === 1, 15_000, 'delivery after restart');
      const n = receiver.received[0]!;
      assert.equal(n.authorization, 'Bearer hook-secret');
      assert.equal(n.body.objectType, 'EVENT');
      assert.equal(n.body.operation, 'CREATE');
      assert.equal(n.body.object.eventName, 'while-down');
      assert.equal(n.body.object.id, created.body.id);
    } finally {
      await server.close();
      await receiver.close();
    }
  });
});
