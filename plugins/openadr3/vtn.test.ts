import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import mqtt from 'mqtt';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger, SecretsToken, StorageToken } from '../../core/index.js';
import { startServer, type RunningServer } from '../../core/server.js';
import { waitFor } from '../../core/testing/wait.js';
import { startReceiver } from './testing/receiver.js';
import { SpecValidator } from './testing/spec.js';

const BASE = '/openadr3/3.1.0';
const CLIENTS = [
  { clientId: 'bl-1', clientSecret: 'bl-secret-1', role: 'bl', name: 'Utility BL' },
  { clientId: 'ven-a', clientSecret: 'ven-secret-a', role: 'ven', name: 'VEN A' },
  { clientId: 'ven-b', clientSecret: 'ven-secret-b', role: 'ven', name: 'VEN B' },
];

interface Recorded {
  method: string;
  template: string;
  status: number;
  body: unknown;
}

describe('OpenADR 3.1 VTN', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-oa3-'));
  const recorded: Recorded[] = [];
  const notifications: any[] = [];
  let server: RunningServer;
  const tokens: Record<string, string> = {};

  /** One HTTP call, recorded with its spec path template for the conformance check at the end. */
  async function call(who: string | null, method: string, template: string, opts: { ids?: Record<string, string | undefined>; query?: string; body?: unknown; form?: string; headers?: Record<string, string> } = {}) {
    let p = template;
    for (const [k, v] of Object.entries(opts.ids ?? {})) p = p.replace(`{${k}}`, encodeURIComponent(v!));
    const headers: Record<string, string> = { ...(opts.headers ?? {}) };
    if (who) headers.authorization = `Bearer ${tokens[who] ?? who}`;
    let body: string | undefined;
    if (opts.form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = opts.form;
    } else if (opts.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    const res = await fetch(`${server.url}${BASE}${p}${opts.query ? `?${opts.query}` : ''}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    const text = await res.text();
    const json = text ? JSON.parse(text) : undefined;
    recorded.push({ method, template, status: res.status, body: json });
    return { status: res.status, body: json as any, headers: res.headers };
  }

  const ok = async <T = any>(p: Promise<{ status: number; body: any }>, status = 200): Promise<T> => {
    const r = await p;
    assert.equal(r.status, status, JSON.stringify(r.body));
    return r.body as T;
  };

  before(async () => {
    const config = loadConfigOrThrow({ env: {}, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins.openadr3 = {
      enabled: true,
      config: { clients: CLIENTS, webhooks: { allowHttpHosts: ['127.0.0.1'], allowPrivateHosts: ['127.0.0.1'], backoffBaseMs: 50, pollMs: 50, timeoutMs: 2000 } },
    };
    config.log.level = 'silent';
    server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    for (const c of CLIENTS) {
      const t = await ok(call(null, 'POST', '/auth/token', { form: `grant_type=client_credentials&client_id=${c.clientId}&client_secret=${c.clientSecret}` }));
      tokens[c.clientId] = t.access_token;
    }
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  describe('auth', () => {
    it('names its token endpoint and issues scoped, expiring bearer tokens', async () => {
      const info = await ok(call(null, 'GET', '/auth/server'));
      assert.equal(info.tokenURL, `${server.url}${BASE}/auth/token`);
      const t = await ok(call(null, 'POST', '/auth/token', { form: 'grant_type=client_credentials&client_id=ven-a&client_secret=ven-secret-a' }));
      assert.equal(t.token_type, 'Bearer');
      assert.equal(t.expires_in, 3600);
      assert.equal(t.scope, 'read_targets read_ven_objects write_reports write_subscriptions write_vens');
      const basic = Buffer.from('bl-1:bl-secret-1').toString('base64');
      const b = await ok(call(null, 'POST', '/auth/token', { form: 'grant_type=client_credentials', headers: { authorization: `Basic ${basic}` } }));
      assert.match(b.scope, /write_programs/);
    });

    it('refuses bad token requests the OAuth2 way, inside a problem body', async () => {
      const wrong = await call(null, 'POST', '/auth/token', { form: 'grant_type=client_credentials&client_id=ven-a&client_secret=nope-nope' });
      assert.equal(wrong.status, 401);
      assert.equal(wrong.body.error, 'invalid_client');
      const grant = await call(null, 'POST', '/auth/token', { form: 'grant_type=password&client_id=ven-a&client_secret=ven-secret-a' });
      assert.equal(grant.status, 400);
      assert.equal(grant.body.error, 'unsupported_grant_type');
      const missing = await call(null, 'POST', '/auth/token', { form: 'grant_type=client_credentials&client_id=ven-a' });
      assert.equal(missing.status, 400);
      assert.equal(missing.body.error, 'invalid_request');
      const scope = await call(null, 'POST', '/auth/token', { form: 'grant_type=client_credentials&client_id=ven-a&client_secret=ven-secret-a&scope=write_programs' });
      assert.equal(scope.status, 400);
      assert.equal(scope.body.error, 'invalid_scope');
    });

    it('answers 401 without a valid token and 403 without the scope', async () => {
      const none = await call(null, 'GET', '/programs');
      assert.equal(none.status, 401);
      assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/);
      assert.equal((await call('not-a-jwt', 'GET', '/programs')).status, 401);
      // An expired token signed with the server's own key.
      const storage = server.host.resolve(StorageToken);
      const sealed = (await storage.query<{ secret: string }>('SELECT secret FROM oa3_keys LIMIT 1')).rows[0]!.secret;
      const key = server.host.resolve(SecretsToken).open(sealed, 'openadr3/oa3_keys/k1');
      const expired = await new SignJWT({ scope: 'read_all', role: 'bl' })
        .setProtectedHeader({ alg: 'HS256' })
        .setIssuer('gridflex')
        .setSubject('bl-1')
        .setExpirationTime(Math.floor(Date.now() / 1000) - 10)
        .sign(key);
      const exp = await call(expired, 'GET', '/programs');
      assert.equal(exp.status, 401);
      assert.match(exp.body.detail, /expired/);
      const narrow = await ok(call(null, 'POST', '/auth/token', { form: 'grant_type=client_credentials&client_id=ven-a&client_secret=ven-secret-a&scope=read_targets' }));
      const forbidden = await call(narrow.access_token, 'GET', '/vens');
      assert.equal(forbidden.status, 403);
      assert.equal((await call('ven-a', 'POST', '/programs', { body: { programName: 'sneaky' } })).status, 403, 'a VEN may not write programs');
    });
  });

  describe('objects, privacy and targeting', () => {
    const ids = {} as Record<string, string> & { [k: string]: string };

    before(async () => {
      // BL grants targets: ven A gets group-a; ven B gets group-b, and feeder-7 through a resource.
      ids.venA = (await ok(call('bl-1', 'POST', '/vens', { body: { objectType: 'BL_VEN_REQUEST', clientID: 'ven-a', venName: 'site-a', targets: ['group-a'] } }), 201)).id;
      ids.venB = (await ok(call('bl-1', 'POST', '/vens', { body: { objectType: 'BL_VEN_REQUEST', clientID: 'ven-b', venName: 'site-b', targets: ['group-b'] } }), 201)).id;
      ids.resB = (await ok(call('bl-1', 'POST', '/resources', { body: { objectType: 'BL_RESOURCE_REQUEST', clientID: 'ven-b', venID: ids.venB, resourceName: 'battery-1', targets: ['feeder-7'] } }), 201)).id;
      ids.p0 = (await ok(call('bl-1', 'POST', '/programs', { body: { programName: 'tariff', payloadDescriptors: [{ objectType: 'EVENT_PAYLOAD_DESCRIPTOR', payloadType: 'PRICE', units: 'KWH', currency: 'EUR' }] } }), 201)).id;
      ids.pa = (await ok(call('bl-1', 'POST', '/programs', { body: { programName: 'dr-a', targets: ['group-a', 'secret-x'] } }), 201)).id;
      ids.pb = (await ok(call('bl-1', 'POST', '/programs', { body: { programName: 'dr-b', targets: ['group-b'] } }), 201)).id;
      const ev = (programID: string | undefined, name: string, targets?: string[]) => ({
        programID,
        eventName: name,
        ...(targets ? { targets } : {}),
        intervalPeriod: { start: '2026-12-01T16:00:00Z', duration: 'PT1H' },
        intervals: [{ id: 0, payloads: [{ type: 'IMPORT_CAPACITY_LIMIT', values: [3.5] }] }],
      });
      ids.e0 = (await ok(call('bl-1', 'POST', '/events', { body: ev(ids.p0, 'everyone') }), 201)).id;
      ids.ea = (await ok(call('bl-1', 'POST', '/events', { body: ev(ids.pa, 'for-a', ['group-a']) }), 201)).id;
      ids.ef = (await ok(call('bl-1', 'POST', '/events', { body: ev(ids.pb, 'feeder', ['feeder-7']) }), 201)).id;
    });

    it('fills object metadata and refuses duplicate names and invalid bodies', async () => {
      const p = await ok(call('bl-1', 'GET', '/programs/{programID}', { ids: { programID: ids.p0 } }));
      assert.equal(p.objectType, 'PROGRAM');
      assert.match(p.id, /^[A-Za-z0-9_-]+$/);
      assert.ok(Date.parse(p.createdDateTime) <= Date.parse(p.modificationDateTime));
      const dup = await call('bl-1', 'POST', '/programs', { body: { programName: 'tariff' } });
      assert.equal(dup.status, 409);
      assert.equal(dup.body.code, 'GF_OA3_CONFLICT');
      const bad = await call('bl-1', 'POST', '/programs', { body: { intervalPeriod: { start: 'yesterday' } } });
      assert.equal(bad.status, 400);
      assert.match(bad.body.detail, /programName/);
      assert.match(bad.body.detail, /date-time/);
      const badEvent = await call('bl-1', 'POST', '/events', { body: { programID: 'no-such-program' } });
      assert.equal(badEvent.status, 400);
      assert.equal((await call('bl-1', 'POST', '/vens', { body: { objectType: 'BL_VEN_REQUEST', clientID: 'x', venName: 'site-a' } })).status, 409);
    });

    it('shows a VEN untargeted programs, and targeted ones only for requested and granted targets, hiding the rest', async () => {
      const none = await ok(call('ven-a', 'GET', '/programs'));
      assert.deepEqual(none.map((p: any) => p.programName), ['tariff']);
      const a = await ok(call('ven-a', 'GET', '/programs', { query: 'targets=group-a' }));
      assert.deepEqual(a.map((p: any) => [p.programName, p.targets]), [['tariff', null], ['dr-a', ['group-a']]], 'secret-x is hidden');
      const notGranted = await ok(call('ven-a', 'GET', '/programs', { query: 'targets=group-b' }));
      assert.deepEqual(notGranted.map((p: any) => p.programName), ['tariff']);
      assert.equal((await call('ven-a', 'GET', '/programs/{programID}', { ids: { programID: ids.pb }, query: 'targets=group-b' })).status, 404);
      const one = await ok(call('ven-a', 'GET', '/programs/{programID}', { ids: { programID: ids.pa }, query: 'targets=group-a' }));
      assert.deepEqual(one.targets, ['group-a']);
      // Targets granted through a resource count too.
      const evB = await ok(call('ven-b', 'GET', '/events', { query: 'targets=feeder-7&targets=group-a' }));
      assert.deepEqual(evB.map((e: any) => e.eventName), ['everyone', 'feeder']);
      // BL sees everything, and may filter by targets.
      assert.deepEqual((await ok(call('bl-1', 'GET', '/programs'))).map((p: any) => p.programName), ['tariff', 'dr-a', 'dr-b']);
      assert.deepEqual((await ok(call('bl-1', 'GET', '/programs', { query: 'targets=group-b' }))).map((p: any) => p.programName), ['dr-b']);
      assert.deepEqual((await ok(call('bl-1', 'GET', '/programs/{programID}', { ids: { programID: ids.pa } }))).targets, ['group-a', 'secret-x']);
    });

    it('keeps VEN-owned objects private to their client, by list and by id', async () => {
      const own = await ok(call('ven-a', 'POST', '/vens', { body: { objectType: 'VEN_VEN_REQUEST', venName: 'a-second-site' } }), 201);
      assert.equal(own.clientID, 'ven-a');
      assert.equal(own.targets, null);
      const listB = await ok(call('ven-b', 'GET', '/vens'));
      assert.deepEqual(listB.map((v: any) => v.venName), ['site-b']);
      assert.deepEqual((await ok(call('ven-a', 'GET', '/vens'))).map((v: any) => v.venName), ['site-a', 'a-second-site']);
      assert.equal((await call('ven-b', 'GET', '/vens/{venID}', { ids: { venID: own.id } })).status, 404);
      assert.equal((await call('ven-b', 'PUT', '/vens/{venID}', { ids: { venID: own.id }, body: { objectType: 'VEN_VEN_REQUEST', venName: 'hijack' } })).status, 404);
      assert.equal((await call('ven-b', 'DELETE', '/vens/{venID}', { ids: { venID: own.id } })).status, 404);
      assert.equal((await call('ven-b', 'GET', '/resources/{resourceID}', { ids: { resourceID: ids.resB } })).status, 200);
      assert.equal((await call('ven-a', 'GET', '/resources/{resourceID}', { ids: { resourceID: ids.resB } })).status, 404);
      assert.deepEqual(await ok(call('ven-a', 'GET', '/resources')), []);
    });

    it('lets only BL set owners and grant targets; a VEN update keeps what BL granted', async () => {
      const grab = await call('ven-a', 'POST', '/vens', { body: { objectType: 'BL_VEN_REQUEST', clientID: 'ven-a', venName: 'x', targets: ['group-b'] } });
      assert.equal(grab.status, 403);
      const renamed = await ok(call('ven-a', 'PUT', '/vens/{venID}', { ids: { venID: ids.venA }, body: { objectType: 'VEN_VEN_REQUEST', venName: 'site-a-renamed', targets: ['group-b'] } }));
      assert.equal(renamed.venName, 'site-a-renamed');
      assert.deepEqual(renamed.targets, ['group-a'], 'targets in a VEN request are ignored');
      assert.ok(Date.parse(renamed.modificationDateTime) > Date.parse(renamed.createdDateTime));
      const res = await ok(call('ven-a', 'POST', '/resources', { body: { objectType: 'VEN_RESOURCE_REQUEST', venID: ids.venA, resourceName: 'heat-pump' } }), 201);
      assert.equal(res.clientID, 'ven-a');
      const foreign = await call('ven-a', 'POST', '/resources', { body: { objectType: 'VEN_RESOURCE_REQUEST', venID: ids.venB, resourceName: 'not-mine' } });
      assert.equal(foreign.status, 400);
      assert.equal((await call('ven-a', 'POST', '/resources', { body: { objectType: 'VEN_RESOURCE_REQUEST', venID: ids.venA, resourceName: 'heat-pump' } })).status, 409);
    });

    it('takes reports from VENs on events they can see, and shows them to BL and their author only', async () => {
      const report = {
        eventID: ids.ea,
        clientName: 'site-a',
        reportName: 'usage',
        payloadDescriptors: [{ objectType: 'REPORT_PAYLOAD_DESCRIPTOR', payloadType: 'USAGE', readingType: 'DIRECT_READ', units: 'KWH' }],
        resources: [{ resourceName: 'heat-pump', intervalPeriod: { start: '2026-12-01T16:00:00Z', duration: 'PT1H' }, intervals: [{ id: 0, payloads: [{ type: 'USAGE', values: [1.25] }] }] }],
      };
      const r = await ok(call('ven-a', 'POST', '/reports', { body: report }), 201);
      assert.equal(r.clientID, 'ven-a');
      assert.equal(r.objectType, 'REPORT');
      assert.equal((await call('ven-a', 'POST', '/reports', { body: { ...report, eventID: ids.ef } })).status, 400, 'an event targeted elsewhere');
      assert.equal((await call('bl-1', 'POST', '/reports', { body: report })).status, 403, 'only VENs write reports');
      assert.deepEqual(await ok(call('ven-b', 'GET', '/reports')), []);
      assert.equal((await call('ven-b', 'GET', '/reports/{reportID}', { ids: { reportID: r.id } })).status, 404);
      const byEvent = await ok(call('bl-1', 'GET', '/reports', { query: `eventID=${ids.ea}` }));
      assert.deepEqual(byEvent.map((x: any) => x.id), [r.id]);
      assert.deepEqual((await ok(call('bl-1', 'GET', '/reports', { query: `programID=${ids.pa}&clientName=site-a` }))).length, 1);
      assert.deepEqual(await ok(call('bl-1', 'GET', '/reports', { query: `programID=${ids.p0}` })), []);
    });

    it('updates and deletes events, resources and reports under the same ownership rules', async () => {
      const ev = await ok(call('bl-1', 'PUT', '/events/{eventID}', { ids: { eventID: ids.ea }, body: { programID: ids.pa, eventName: 'for-a-v2', targets: ['group-a'], intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [2] }] }] } }));
      assert.equal(ev.eventName, 'for-a-v2');
      assert.equal((await call('ven-a', 'PUT', '/events/{eventID}', { ids: { eventID: ids.ea }, body: { programID: ids.pa } })).status, 403);
      const seenByA = await ok(call('ven-a', 'GET', '/events/{eventID}', { ids: { eventID: ids.ea }, query: 'targets=group-a' }));
      assert.deepEqual(seenByA.intervals[0].payloads[0].values, [2]);

      const res = await ok(call('ven-b', 'PUT', '/resources/{resourceID}', { ids: { resourceID: ids.resB }, body: { objectType: 'VEN_RESOURCE_REQUEST', venID: ids.venB, resourceName: 'battery-one' } }));
      assert.deepEqual(res.targets, ['feeder-7'], 'the VEN rename keeps the granted target');
      const regrant = await ok(call('bl-1', 'PUT', '/resources/{resourceID}', { ids: { resourceID: ids.resB }, body: { objectType: 'BL_RESOURCE_REQUEST', clientID: 'ven-b', venID: ids.venB, resourceName: 'battery-one', targets: ['feeder-8'] } }));
      assert.deepEqual(regrant.targets, ['feeder-8']);
      assert.deepEqual((await ok(call('ven-b', 'GET', '/events', { query: 'targets=feeder-7' }))).map((e: any) => e.eventName), ['everyone'], 'a withdrawn grant hides the event');
      assert.equal((await call('ven-a', 'DELETE', '/resources/{resourceID}', { ids: { resourceID: ids.resB } })).status, 404);
      const conflict = await call('bl-1', 'DELETE', '/vens/{venID}', { ids: { venID: ids.venB } });
      assert.equal(conflict.status, 409, 'a ven with resources');
      assert.equal((await ok(call('ven-b', 'DELETE', '/resources/{resourceID}', { ids: { resourceID: ids.resB } }))).id, ids.resB);

      const report = { eventID: ids.e0, clientName: 'site-a', resources: [{ resourceName: 'meter', intervals: [{ id: 0, payloads: [{ type: 'USAGE', values: [0.5] }] }] }] };
      const r = await ok(call('ven-a', 'POST', '/reports', { body: report }), 201);
      const r2 = await ok(call('ven-a', 'PUT', '/reports/{reportID}', { ids: { reportID: r.id }, body: { ...report, reportName: 'corrected' } }));
      assert.equal(r2.reportName, 'corrected');
      assert.equal((await call('ven-b', 'PUT', '/reports/{reportID}', { ids: { reportID: r.id }, body: report })).status, 404);
      assert.equal((await call('ven-b', 'DELETE', '/reports/{reportID}', { ids: { reportID: r.id } })).status, 404);
      assert.equal((await ok(call('ven-a', 'DELETE', '/reports/{reportID}', { ids: { reportID: r.id } }))).id, r.id);
    });

    it('pages in a stable order (creation time, then id) with limit at most 50', async () => {
      const prog = (await ok(call('bl-1', 'POST', '/programs', { body: { programName: 'paging' } }), 201)).id;
      const made: string[] = [];
      for (let i = 0; i < 60; i++) made.push((await ok(call('bl-1', 'POST', '/events', { body: { programID: prog, eventName: `e${i}` } }), 201)).id);
      const first = await ok(call('bl-1', 'GET', '/events', { query: `programID=${prog}` }));
      assert.equal(first.length, 50, 'the default page is the largest allowed');
      const second = await ok(call('bl-1', 'GET', '/events', { query: `programID=${prog}&skip=50&limit=50` }));
      assert.deepEqual([...first, ...second].map((e: any) => e.id), made);
      assert.deepEqual((await ok(call('bl-1', 'GET', '/events', { query: `programID=${prog}&skip=10&limit=3` }))).map((e: any) => e.eventName), ['e10', 'e11', 'e12']);
      for (const q of ['limit=51', 'skip=-1', 'limit=ten', 'active=maybe']) {
        const r = await call('bl-1', 'GET', '/events', { query: q });
        assert.equal(r.status, 400, q);
      }
      ids.paging = prog;
    });

    it('filters out ended events with active=true', async () => {
      const prog = (await ok(call('bl-1', 'POST', '/programs', { body: { programName: 'timing' } }), 201)).id;
      const past = { programID: prog, eventName: 'past', intervalPeriod: { start: '2020-01-01T00:00:00Z', duration: 'PT1H' }, intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [1] }] }, { id: 1, payloads: [{ type: 'SIMPLE', values: [0] }] }] };
      await ok(call('bl-1', 'POST', '/events', { body: past }), 201);
      await ok(call('bl-1', 'POST', '/events', { body: { ...past, eventName: 'future', intervalPeriod: { start: '2099-01-01T00:00:00Z', duration: 'PT1H' } } }), 201);
      await ok(call('bl-1', 'POST', '/events', { body: { programID: prog, eventName: 'open-ended' } }), 201);
      const active = await ok(call('bl-1', 'GET', '/events', { query: `programID=${prog}&active=true` }));
      assert.deepEqual(active.map((e: any) => e.eventName), ['future', 'open-ended']);
      assert.equal((await ok(call('bl-1', 'GET', '/events', { query: `programID=${prog}&active=false` }))).length, 3);
    });

    it('counts calendar durations on the calendar and the 0001-01-01 start literally (do it now, cancelled)', async () => {
      const prog = (await ok(call('bl-1', 'POST', '/programs', { body: { programName: 'calendar' } }), 201)).id;
      const mk = (eventName: string, intervalPeriod: Record<string, string>) => ok(call('bl-1', 'POST', '/events', { body: { programID: prog, eventName, intervalPeriod, intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [1] }] }] } }), 201);
      await mk('year-2000', { start: '2000-01-01T00:00:00Z', duration: 'P1Y' });
      await mk('century', { start: '2000-01-01T00:00:00Z', duration: 'P100Y' });
      await mk('do-it-now', { start: '0001-01-01T00:00:00Z', duration: 'P9999Y' });
      await mk('cancelled', { start: '0001-01-01T00:00:00Z', duration: 'PT0S' });
      // The User Guide's own forms of the sentinel (not RFC 3339) are taken and stored as RFC 3339.
      const ug = await mk('ug-form', { start: '0001-01-01', duration: 'P9999Y' });
      assert.equal(ug.intervalPeriod.start, '0001-01-01T00:00:00Z');
      await mk('ug-form-local', { start: '0001-01-01T00:00:00', duration: 'PT0S' });
      const active = await ok(call('bl-1', 'GET', '/events', { query: `programID=${prog}&active=true` }));
      assert.deepEqual(active.map((e: any) => e.eventName), ['century', 'do-it-now', 'ug-form']);
    });

    it('updates and deletes, refusing to orphan events', async () => {
      const upd = await ok(call('bl-1', 'PUT', '/programs/{programID}', { ids: { programID: ids.p0 }, body: { programName: 'tariff-2026', id: 'ignored', objectType: 'EVENT' } }));
      assert.equal(upd.id, ids.p0, 'metadata in a request is ignored');
      assert.equal(upd.objectType, 'PROGRAM');
      assert.equal(upd.programName, 'tariff-2026');
      assert.equal(upd.payloadDescriptors, undefined, 'PUT replaces the representation');
      const conflict = await call('bl-1', 'DELETE', '/programs/{programID}', { ids: { programID: ids.p0 } });
      assert.equal(conflict.status, 409);
      const gone = await ok(call('bl-1', 'DELETE', '/events/{eventID}', { ids: { eventID: ids.e0 } }));
      assert.equal(gone.id, ids.e0);
      assert.equal((await call('bl-1', 'GET', '/events/{eventID}', { ids: { eventID: ids.e0 } })).status, 404);
      assert.equal((await ok(call('bl-1', 'DELETE', '/programs/{programID}', { ids: { programID: ids.p0 } }))).id, ids.p0);
      assert.equal((await call('bl-1', 'PUT', '/programs/{programID}', { ids: { programID: ids.p0 }, body: { programName: 'zombie' } })).status, 404);
      assert.equal((await call('bl-1', 'GET', '/programs/{programID}', { ids: { programID: 'bad id!' } })).status, 400);
    });
  });

  describe('subscriptions and webhook notifications', () => {
    let rx: Awaited<ReturnType<typeof startReceiver>>;
    const ids: Record<string, string> = {};
    before(async () => {
      rx = await startReceiver();
      ids.venA = (await ok(call('bl-1', 'POST', '/vens', { body: { objectType: 'BL_VEN_REQUEST', clientID: 'ven-a', venName: 'sub-site-a', targets: ['zone-1'] } }), 201)).id;
      ids.prog = (await ok(call('bl-1', 'POST', '/programs', { body: { programName: 'notify-me' } }), 201)).id;
    });
    after(async () => {
      notifications.push(...rx.received.map((r) => r.body));
      await rx.close();
    });

    it('creates a subscription only after its callback answers the echo challenge', async () => {
      const sub = await ok(
        call('ven-a', 'POST', '/subscriptions', {
          body: { clientName: 'ven-a', programID: ids.prog, targets: ['zone-1'], objectOperations: [{ objects: ['EVENT'], operations: ['CREATE', 'UPDATE'], callbackUrl: `${rx.url}/a`, bearerToken: 'tok-a' }] },
        }),
        201,
      );
      assert.equal(sub.clientID, 'ven-a');
      assert.deepEqual(sub.targets, ['zone-1']);
      const challenge = rx.challenges.find((c) => c.path === '/a')!;
      assert.ok(challenge.echo && challenge.echo.length >= 16, 'a random echo value');
      assert.equal(challenge.authorization, 'Bearer tok-a');
      ids.subA = sub.id;
      ids.subB = (await ok(call('ven-b', 'POST', '/subscriptions', { body: { clientName: 'ven-b', objectOperations: [{ objects: ['EVENT', 'VEN'], operations: ['CREATE'], callbackUrl: `${rx.url}/b` }] } }), 201)).id;
      ids.subBl = (await ok(call('bl-1', 'POST', '/subscriptions', { body: { clientName: 'bl', objectOperations: [{ objects: ['REPORT'], operations: ['CREATE'], callbackUrl: `${rx.url}/bl` }] } }), 201)).id;

      rx.mode.echo = 'wrong';
      const wrong = await call('ven-a', 'POST', '/subscriptions', { body: { clientName: 'x', objectOperations: [{ objects: ['EVENT'], operations: ['CREATE'], callbackUrl: `${rx.url}/w` }] } });
      assert.equal(wrong.status, 400);
      assert.equal(wrong.body.code, 'GF_OA3_CALLBACK_REJECTED');
      rx.mode.echo = 'redirect';
      assert.equal((await call('ven-a', 'POST', '/subscriptions', { body: { clientName: 'x', objectOperations: [{ objects: ['EVENT'], operations: ['CREATE'], callbackUrl: `${rx.url}/r` }] } })).status, 400, 'redirects are not followed');
      rx.mode.echo = 'right';
      const plain = await call('ven-a', 'POST', '/subscriptions', { body: { clientName: 'x', objectOperations: [{ objects: ['EVENT'], operations: ['CREATE'], callbackUrl: 'http://localhost:9/hook' }] } });
      assert.equal(plain.status, 400);
      assert.match(plain.body.detail, /https/);
    });

    it('keeps subscriptions private to their client and filters them', async () => {
      assert.deepEqual((await ok(call('ven-b', 'GET', '/subscriptions'))).map((x: any) => x.id), [ids.subB]);
      assert.equal((await call('ven-b', 'GET', '/subscriptions/{subscriptionID}', { ids: { subscriptionID: ids.subA } })).status, 404);
      assert.deepEqual((await ok(call('bl-1', 'GET', '/subscriptions', { query: 'objects=REPORT' }))).map((x: any) => x.id), [ids.subBl]);
      assert.deepEqual((await ok(call('bl-1', 'GET', '/subscriptions', { query: `programID=${ids.prog}` }))).map((x: any) => x.id), [ids.subA]);
      assert.deepEqual((await ok(call('bl-1', 'GET', '/subscriptions', { query: 'clientName=ven-b' }))).map((x: any) => x.id), [ids.subB]);
      assert.equal((await call('bl-1', 'GET', '/subscriptions', { query: 'objects=THING' })).status, 400);
    });

    it('notifies each subscriber of what it may see, with hidden targets and its bearer token', async () => {
      rx.received.length = 0;
      const targeted = await ok(call('bl-1', 'POST', '/events', { body: { programID: ids.prog, eventName: 'zone-event', targets: ['zone-1', 'zone-secret'] } }), 201);
      const open = await ok(call('bl-1', 'POST', '/events', { body: { programID: ids.prog, eventName: 'open-event' } }), 201);
      await waitFor(() => rx.received.filter((r) => r.path === '/a').length === 2 && rx.received.filter((r) => r.path === '/b').length === 1, 10_000, 'notifications');
      const toA = rx.received.filter((r) => r.path === '/a');
      assert.deepEqual(toA.map((r) => r.body.object.eventName).sort(), ['open-event', 'zone-event']);
      const zone = toA.find((r) => r.body.object.id === targeted.id)!;
      assert.deepEqual(zone.body.object.targets, ['zone-1'], 'target hiding in notifications');
      assert.deepEqual(zone.body.targets, ['zone-1']);
      assert.equal(zone.authorization, 'Bearer tok-a');
      assert.equal(zone.body.operation, 'CREATE');
      const toB = rx.received.filter((r) => r.path === '/b');
      assert.deepEqual(toB.map((r) => r.body.object.id), [open.id], 'VEN B was not granted zone-1');

      await ok(call('bl-1', 'PUT', '/events/{eventID}', { ids: { eventID: open.id }, body: { programID: ids.prog, eventName: 'open-event-2' } }));
      await waitFor(() => rx.received.some((r) => r.path === '/a' && r.body.operation === 'UPDATE'), 10_000, 'update notification');
      // A ven created by VEN A is not VEN B's business.
      await ok(call('ven-a', 'POST', '/vens', { body: { objectType: 'VEN_VEN_REQUEST', venName: 'sub-site-a2' } }), 201);
      await ok(call('ven-a', 'POST', '/reports', { body: { eventID: open.id, clientName: 'ven-a', resources: [] } }), 201);
      await waitFor(() => rx.received.some((r) => r.path === '/bl'), 10_000, 'report notification to BL');
      assert.ok(!rx.received.some((r) => r.path === '/b' && r.body.objectType === 'VEN'));
    });

    it('updates and deletes subscriptions, re-checking the callback', async () => {
      const upd = await ok(call('ven-b', 'PUT', '/subscriptions/{subscriptionID}', { ids: { subscriptionID: ids.subB }, body: { clientName: 'ven-b', objectOperations: [{ objects: ['PROGRAM'], operations: ['CREATE'], callbackUrl: `${rx.url}/b2` }] } }));
      assert.equal(upd.objectOperations[0].callbackUrl, `${rx.url}/b2`);
      assert.ok(rx.challenges.some((c) => c.path === '/b2'));
      assert.equal((await call('ven-a', 'DELETE', '/subscriptions/{subscriptionID}', { ids: { subscriptionID: ids.subB } })).status, 404);
      assert.equal((await ok(call('ven-b', 'DELETE', '/subscriptions/{subscriptionID}', { ids: { subscriptionID: ids.subB } }))).id, ids.subB);
    });
  });

  describe('MQTT notifier', () => {
    const ids: Record<string, string> = {};
    let uri = '';
    const clients: mqtt.MqttClient[] = [];
    const connect = async (clientId: string) => {
      const c = await mqtt.connectAsync(uri, { username: clientId, password: tokens[clientId], reconnectPeriod: 0, clientId: `${clientId}-${clients.length}` });
      clients.push(c);
      return c;
    };
    const inbox = (c: mqtt.MqttClient) => {
      const got: { topic: string; body: any }[] = [];
      c.on('message', (topic, payload) => got.push({ topic, body: JSON.parse(payload.toString()) }));
      return got;
    };
    before(async () => {
      ids.venA = (await ok(call('bl-1', 'POST', '/vens', { body: { objectType: 'BL_VEN_REQUEST', clientID: 'ven-a', venName: 'mqtt-a', targets: ['mq-a'] } }), 201)).id;
      ids.venB = (await ok(call('bl-1', 'POST', '/vens', { body: { objectType: 'BL_VEN_REQUEST', clientID: 'ven-b', venName: 'mqtt-b' } }), 201)).id;
      ids.prog = (await ok(call('bl-1', 'POST', '/programs', { body: { programName: 'mqtt-program' } }), 201)).id;
    });
    after(async () => {
      for (const c of clients) await c.endAsync();
    });

    it('advertises the broker and topic names, to each client only its own', async () => {
      const n = await ok(call('ven-a', 'GET', '/notifiers'));
      assert.equal(n.WEBHOOK, true);
      assert.equal(n.MQTT.serialization, 'JSON');
      assert.deepEqual(n.MQTT.authentication, { method: 'OAUTH2_BEARER_TOKEN', username: '{clientID}' });
      uri = n.MQTT.URIS[0];
      assert.match(uri, /^mqtt:\/\/127\.0\.0\.1:\d+$/);
      assert.deepEqual(await ok(call('bl-1', 'GET', '/notifiers/mqtt/topics/programs')), { topics: { CREATE: 'programs/create', UPDATE: 'programs/update', DELETE: 'programs/delete', ALL: 'programs/+' } });
      for (const p of ['events', 'reports', 'subscriptions', 'vens', 'resources']) {
        assert.equal((await ok(call('bl-1', 'GET', `/notifiers/mqtt/topics/${p}`))).topics.CREATE, `${p}/create`);
        assert.equal((await call('ven-a', 'GET', `/notifiers/mqtt/topics/${p}`)).status, 403, `${p} topics are BL's`);
      }
      assert.equal((await ok(call('bl-1', 'GET', '/notifiers/mqtt/topics/programs/{programID}', { ids: { programID: ids.prog } }))).topics.UPDATE, `programs/${ids.prog}/update`);
      assert.equal((await ok(call('bl-1', 'GET', '/notifiers/mqtt/topics/programs/{programID}/events', { ids: { programID: ids.prog } }))).topics.CREATE, `programs/${ids.prog}/events/create`);
      assert.equal((await call('bl-1', 'GET', '/notifiers/mqtt/topics/programs/{programID}', { ids: { programID: 'nope' } })).status, 404);
      assert.equal((await call('ven-a', 'GET', '/notifiers/mqtt/topics/programs/{programID}', { ids: { programID: ids.prog } })).status, 403);
      assert.equal((await ok(call('ven-a', 'GET', '/notifiers/mqtt/topics/vens/{venID}/events', { ids: { venID: ids.venA } }))).topics.CREATE, `vens/${ids.venA}/events/create`);
      assert.equal((await ok(call('ven-a', 'GET', '/notifiers/mqtt/topics/vens/{venID}', { ids: { venID: ids.venA } }))).topics.UPDATE, `vens/${ids.venA}/update`);
      assert.ok(await ok(call('ven-a', 'GET', '/notifiers/mqtt/topics/vens/{venID}/programs', { ids: { venID: ids.venA } })));
      assert.ok(await ok(call('ven-a', 'GET', '/notifiers/mqtt/topics/vens/{venID}/resources', { ids: { venID: ids.venA } })));
      assert.equal((await call('ven-a', 'GET', '/notifiers/mqtt/topics/vens/{venID}/events', { ids: { venID: ids.venB } })).status, 404, "VEN B's topics are not VEN A's");
    });

    it('lets a client in only with its own valid token, and a VEN subscribe only to its own topics', async () => {
      await assert.rejects(mqtt.connectAsync(uri, { username: 'ven-a', password: 'not-a-token', reconnectPeriod: 0 }));
      await assert.rejects(mqtt.connectAsync(uri, { username: 'ven-b', password: tokens['ven-a'], reconnectPeriod: 0 }), 'username must match the token');
      const a = await connect('ven-a');
      const granted = await a.subscribeAsync(`vens/${ids.venA}/events/+`, { qos: 1 });
      assert.deepEqual(granted.map((g) => g.qos), [1]);
      // The broker answers SUBACK 128 (failure) for each of these; mqtt.js turns that into a rejection.
      for (const topic of ['events/create', `vens/${ids.venB}/events/create`, 'vens/+/events/create', '#', `programs/${ids.prog}/events/+`]) {
        await assert.rejects(a.subscribeAsync(topic, { qos: 1 }), /Subscribe error/, topic);
      }
    });

    it('publishes each change to BL topics in full and to the VEN topics each client may read, with hidden targets', async () => {
      const a = await connect('ven-a');
      const b = await connect('ven-b');
      const bl = await connect('bl-1');
      const [ga, gb, gbl] = [inbox(a), inbox(b), inbox(bl)];
      await a.subscribeAsync(`vens/${ids.venA}/events/+`, { qos: 1 });
      await b.subscribeAsync(`vens/${ids.venB}/#`, { qos: 1 });
      await bl.subscribeAsync(['events/create', `programs/${ids.prog}/events/+`], { qos: 1 });
      const targeted = await ok(call('bl-1', 'POST', '/events', { body: { programID: ids.prog, eventName: 'mq-targeted', targets: ['mq-a', 'mq-secret'] } }), 201);
      const open = await ok(call('bl-1', 'POST', '/events', { body: { programID: ids.prog, eventName: 'mq-open' } }), 201);
      await waitFor(() => ga.length === 2 && gb.length === 1 && gbl.length === 4, 10_000, 'MQTT messages');
      const toA = ga.find((m) => m.body.object.id === targeted.id)!;
      assert.equal(toA.topic, `vens/${ids.venA}/events/create`);
      assert.deepEqual(toA.body.object.targets, ['mq-a']);
      assert.deepEqual(gb.map((m) => [m.topic, m.body.object.id]), [[`vens/${ids.venB}/events/create`, open.id]]);
      const blFull = gbl.find((m) => m.topic === 'events/create' && m.body.object.id === targeted.id)!;
      assert.deepEqual(blFull.body.object.targets, ['mq-a', 'mq-secret']);
      for (const m of [...ga, ...gb, ...gbl]) notifications.push(m.body);
    });
  });

  // Last (mocha runs a suite's own tests before its child suites, so this is a suite too).
  describe('conformance', () => {
  it('every response body in this run matches the 3.1.0 OpenAPI schema for its path, method and status', () => {
    const spec = new SpecValidator();
    const failures: string[] = [];
    const seen = new Set<string>();
    for (const r of recorded) {
      seen.add(`${r.method} ${r.template}`);
      for (const e of spec.check(r.template, r.method, r.status, r.body)) failures.push(`${r.method} ${r.template} ${r.status}: ${e}`);
    }
    assert.deepEqual(failures, []);
    // Every operation of every path in the spec was exercised.
    const served = ['/programs', '/programs/{programID}', '/events', '/events/{eventID}', '/vens', '/vens/{venID}', '/resources', '/resources/{resourceID}', '/reports', '/reports/{reportID}', '/subscriptions', '/subscriptions/{subscriptionID}', '/notifiers', '/notifiers/mqtt/topics/programs', '/notifiers/mqtt/topics/programs/{programID}', '/notifiers/mqtt/topics/events', '/notifiers/mqtt/topics/programs/{programID}/events', '/notifiers/mqtt/topics/reports', '/notifiers/mqtt/topics/subscriptions', '/notifiers/mqtt/topics/vens', '/notifiers/mqtt/topics/vens/{venID}', '/notifiers/mqtt/topics/resources', '/notifiers/mqtt/topics/vens/{venID}/events', '/notifiers/mqtt/topics/vens/{venID}/programs', '/notifiers/mqtt/topics/vens/{venID}/resources', '/auth/server', '/auth/token'];
    const missing: string[] = [];
    for (const p of served) for (const m of ['GET', 'POST', 'PUT', 'DELETE']) if (spec.statuses(p, m) && !seen.has(`${m} ${p}`)) missing.push(`${m} ${p}`);
    assert.deepEqual(missing, [], 'operations never exercised');
    assert.ok(recorded.length > 100, `${recorded.length} responses checked`);
  });

  it('every webhook notification in this run matches the spec\'s notification schema', () => {
    const spec = new SpecValidator();
    assert.ok(notifications.length >= 5, `${notifications.length} notifications`);
    const failures = notifications.flatMap((n) => spec.checkNotification(n).map((e) => `${n.objectType} ${n.operation}: ${e}`));
    assert.deepEqual(failures, []);
  });
  });
});
