import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../config/config.js';
import { createLogger } from '../log.js';
import { startServer, type RunningServer } from '../server.js';
import { sleep, waitFor } from '../testing/wait.js';
import { exited, gridflex } from '../../test/process.js';
import { Oa3Ven, type VenChange } from './ven.js';
import { OPERATOR_ENV } from '../testing/operator.js';

const BASE = '/openadr3/3.1.0';

describe('OpenADR 3.1 VEN client against the gridflex VTN', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-ven-'));
  let server: RunningServer;
  const bl = async (method: string, p: string, body?: unknown) => {
    // Tokens live 2 s here, so BL takes a fresh one for each call.
    const t = await fetch(`${server.url}${BASE}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=bl&client_secret=bl-secret-1' });
    const blToken = ((await t.json()) as { access_token: string }).access_token;
    const r = await fetch(`${server.url}${BASE}${p}`, { method, headers: { authorization: `Bearer ${blToken}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const json = (await r.json()) as any;
    assert.ok(r.ok, `${method} ${p}: ${r.status} ${JSON.stringify(json)}`);
    return json;
  };
  const clients = ['a', 'b', 'c'].map((x) => ({ clientId: `ven-${x}`, clientSecret: `secret-${x}-123`, role: 'ven', name: `VEN ${x}` }));

  before(async () => {
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins.openadr3 = {
      enabled: true,
      config: {
        tokenTtlSeconds: 2, // the VEN must refresh its token during the tests
        clients: [{ clientId: 'bl', clientSecret: 'bl-secret-1', role: 'bl', name: 'BL' }, ...clients],
        webhooks: { allowHttpHosts: ['127.0.0.1'], allowPrivateHosts: ['127.0.0.1'], pollMs: 50, backoffBaseMs: 50 },
      },
    };
    server = await startServer({ config, log: createLogger({ level: 'silent' }) });
  });
  after(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const mode of ['mqtt', 'webhook', 'poll'] as const) {
    it(`follows targeted events by ${mode}, keeps a timeline, refreshes its token and reports`, async () => {
      const id = mode === 'mqtt' ? 'a' : mode === 'webhook' ? 'b' : 'c';
      // BL provisions the VEN's ven with a grant; the VEN finds it by name and learns its targets.
      await bl('POST', '/vens', { objectType: 'BL_VEN_REQUEST', clientID: `ven-${id}`, venName: `site-${id}`, targets: [`grp-${id}`] });
      const program = await bl('POST', '/programs', { programName: `prog-${id}` });
      const changes: VenChange[] = [];
      const ven = new Oa3Ven({
        vtnUrl: `${server.url}${BASE}`,
        clientId: `ven-${id}`,
        clientSecret: `secret-${id}-123`,
        venName: `site-${id}`,
        resources: ['meter-1'],
        notify: mode,
        pollMs: 200,
        webhook: { host: '127.0.0.1', port: 0 },
        onChange: (c) => changes.push(c),
      });
      await ven.start();
      try {
        assert.equal(ven.mode, mode);
        assert.deepEqual(ven.targets, [`grp-${id}`]);
        await sleep(2_500); // past the token lifetime
        const start = new Date(Date.now() + 3_600_000).toISOString();
        const mine = await bl('POST', '/events', { programID: program.id, eventName: `for-${id}`, targets: [`grp-${id}`], intervalPeriod: { start, duration: 'PT1H' }, intervals: [{ id: 0, payloads: [{ type: 'IMPORT_CAPACITY_LIMIT', values: [2] }] }] });
        await bl('POST', '/events', { programID: program.id, eventName: `not-for-${id}`, targets: ['someone-else'] });
        await waitFor(() => changes.some((c) => c.event.id === mine.id), 10_000, `the event by ${mode}`);
        const entry = ven.timeline.get(mine.id)!;
        assert.equal(entry.status, 'pending');
        assert.deepEqual(entry.event.targets, [`grp-${id}`]);
        assert.ok(![...ven.timeline.values()].some((e) => e.event.eventName === `not-for-${id}`), 'only what it may see');

        await bl('PUT', `/events/${mine.id}`, { programID: program.id, eventName: `for-${id}-moved`, targets: [`grp-${id}`], intervalPeriod: { start: new Date(Date.now() - 60_000).toISOString(), duration: 'PT1H' } });
        await waitFor(() => ven.timeline.get(mine.id)?.status === 'active', 10_000, 'the update');
        const r = await ven.report(mine.id, 'USAGE', [{ resourceName: 'meter-1', start: new Date().toISOString(), duration: 'PT15M', value: 0.8 }]);
        const reports = await bl('GET', `/reports?eventID=${mine.id}`);
        assert.deepEqual(reports.map((x: { id: string; clientID: string }) => [x.id, x.clientID]), [[r.id, `ven-${id}`]]);

        await bl('DELETE', `/events/${mine.id}`);
        await waitFor(() => ven.timeline.get(mine.id)?.status === 'cancelled', 10_000, 'the cancellation');
        assert.deepEqual(changes.filter((c) => c.event.id === mine.id).map((c) => c.kind).at(-1), 'cancelled');
      } finally {
        await ven.stop();
      }
    });
  }

  it('runs as `gridflex ven`, printing its timeline as JSON lines until SIGTERM', async () => {
    await bl('POST', '/vens', { objectType: 'BL_VEN_REQUEST', clientID: 'ven-c', venName: 'cli-site', targets: ['cli-grp'] });
    const program = await bl('POST', '/programs', { programName: 'cli-prog' });
    const proc = gridflex(['ven', '--vtn', `${server.url}${BASE}`, '--client-id', 'ven-c', '--ven-name', 'cli-site', '--json'], { GRIDFLEX_VEN_CLIENT_SECRET: 'secret-c-123' });
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (err += d));
    await waitFor(() => /following events by mqtt/.test(err), 30_000, `the VEN to start: ${err}`);
    const ev = await bl('POST', '/events', { programID: program.id, eventName: 'cli-event', targets: ['cli-grp'] });
    await waitFor(() => out.includes(ev.id), 10_000, 'the event line');
    const line = JSON.parse(out.trim().split('\n').find((l) => l.includes(ev.id))!);
    assert.equal(line.change, 'created');
    assert.equal(line.eventName, 'cli-event');
    proc.kill('SIGTERM');
    assert.equal((await exited(proc)).code, 0);
  });

  it('reports readings from its source when an event completes', async () => {
    await bl('POST', '/vens', { objectType: 'BL_VEN_REQUEST', clientID: 'ven-a', venName: 'reporting-site', targets: ['rep'] });
    const program = await bl('POST', '/programs', { programName: 'reporting' });
    const asked: string[] = [];
    const reported: string[] = [];
    const ven = new Oa3Ven({
      vtnUrl: `${server.url}${BASE}`,
      clientId: 'ven-a',
      clientSecret: 'secret-a-123',
      venName: 'reporting-site',
      notify: 'poll',
      pollMs: 200,
      readings: {
        payloadType: 'USAGE',
        readings: async (e) => {
          asked.push(e.id);
          return [{ resourceName: 'main-meter', start: e.intervalPeriod!.start!, duration: 'PT2S', value: 1.5 }];
        },
      },
      onReport: (_e, r) => reported.push(r),
    });
    await ven.start();
    try {
      const ev = await bl('POST', '/events', { programID: program.id, eventName: 'short', targets: ['rep'], intervalPeriod: { start: new Date().toISOString(), duration: 'PT2S' }, intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [1] }] }] });
      await waitFor(() => reported.length === 1, 15_000, 'the automatic report');
      assert.deepEqual(asked, [ev.id]);
      const reports = await bl('GET', `/reports?eventID=${ev.id}`);
      assert.equal(reports.length, 1);
      assert.equal(reports[0].resources[0].intervals[0].payloads[0].values[0], 1.5);
      assert.equal(ven.timeline.get(ev.id)!.status, 'completed');
    } finally {
      await ven.stop();
    }
  });

  it('refuses wrong credentials with a coded error', async () => {
    const ven = new Oa3Ven({ vtnUrl: `${server.url}${BASE}`, clientId: 'ven-a', clientSecret: 'wrong-secret', venName: 'x', notify: 'poll' });
    await assert.rejects(ven.start(), (e: unknown) => (e as { code?: string }).code === 'GF_VEN_AUTH_FAILED');
  });
});
