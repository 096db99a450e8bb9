import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger, StorageToken } from '../../core/index.js';
import { Oadr2bVen, type VenEvent, type VenReportSource } from '../../core/openadr2b/ven.js';
import { startServer, type RunningServer } from '../../core/server.js';
import { waitFor } from '../../core/testing/wait.js';
import { exited, gridflex, run } from '../../test/process.js';
import { encodePayload } from '../../standards/openadr2b/codec.js';
import { messageName, xsdFailures } from '../../standards/openadr2b/testing/xsd.js';
import { OPERATOR, OPERATOR_ENV } from '../../core/testing/operator.js';

const OA3 = '/openadr3/3.1.0';
const OA2 = '/OpenADR2/Simple/2.0b';
/** The registration secrets the operator provisions the plain-HTTP VENs with (config `vens`). */
const SITE_SECRET = 'site-2b-registration-secret';
const CLI_SECRET = 'cli-2b-registration-secret';

/** Readings for the VEN's reports: a meter that counts up, a status, and an hourly history. */
function sources(): VenReportSource[] {
  let w = 1000;
  return [
    { reportSpecifierID: 'telemetry-1', reportName: 'TELEMETRY_USAGE', minPeriod: 'PT1S', points: [{ rID: 'power', reportType: 'usage', readingType: 'Direct Read', unit: 'powerReal', resourceID: 'meter-1' }], read: () => (w += 10) },
    { reportSpecifierID: 'status-1', reportName: 'TELEMETRY_STATUS', minPeriod: 'PT1S', points: [{ rID: 'status', reportType: 'x-resourceStatus', readingType: 'x-notApplicable' }], read: () => ({ online: true, manualOverride: false, loadControl: { setPoint: 21 } }) },
    {
      reportSpecifierID: 'history-1',
      reportName: 'HISTORY_USAGE',
      minPeriod: 'PT1H',
      points: [{ rID: 'energy', reportType: 'usage', readingType: 'Direct Read', unit: 'energyReal' }],
      read: () => 0,
      history: (_r, start, end, g) => Array.from({ length: Math.round((end - start) / g) }, (_, i) => 500 + i),
    },
  ];
}

describe('OpenADR 2.0b VTN and VEN over plain HTTP (pull)', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-oa2-'));
  const wire: string[] = [];
  let server: RunningServer;
  let bl = '';
  let ven: Oadr2bVen;
  const decisions: string[] = [];
  const cancelled: string[] = [];
  let programId = '';
  const ids = { targeted: '', open: '', other: '', high: '' };

  async function boot(port = 0): Promise<void> {
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port, dataDir: path.join(dir, 'data') } });
    config.plugins.openadr3 = {
      enabled: true,
      config: {
        clients: [
          { clientId: 'bl-1', clientSecret: 'bl-secret-1', role: 'bl', name: 'Utility' },
          { clientId: 'ven-31', clientSecret: 'ven-secret-31', role: 'ven', name: 'A 3.1 VEN' },
        ],
        mqtt: { enabled: false },
      },
    };
    config.plugins.openadr2b = {
      enabled: true,
      config: { pollFreq: 'PT1S', reportBackDuration: 'PT1S', vens: [{ venName: 'site-2b', secret: SITE_SECRET }, { venName: 'cli-2b', secret: CLI_SECRET }] },
    };
    for (const p of ['ledger', 'devices', 'meter-data', 'weather', 'forecasting', 'baseline', 'pv-degradation', 'p2p-market']) config.plugins[p] = { enabled: false, config: {} };
    config.log.level = 'silent';
    server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    const t = await fetch(`${server.url}${OA3}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=bl-1&client_secret=bl-secret-1' });
    bl = ((await t.json()) as { access_token: string }).access_token;
  }
  const oa3 = async (method: string, p: string, body?: unknown): Promise<any> => {
    const r = await fetch(`${server.url}${OA3}${p}`, { method, headers: { authorization: `Bearer ${bl}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    assert.ok(r.status < 300, `${method} ${p}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  const api = async (method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> => {
    const r = await fetch(`${server.url}/api/openadr2b${p}`, { method, headers: { ...OPERATOR, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  };
  const event = (name: string, startMs: number, targets?: string[], value = 1) => ({
    programID: programId,
    eventName: name,
    ...(targets ? { targets } : {}),
    intervalPeriod: { start: new Date(startMs).toISOString(), duration: 'PT30M' },
    intervals: [
      { id: 0, payloads: [{ type: 'SIMPLE', values: [value] }] },
      { id: 1, payloads: [{ type: 'SIMPLE', values: [value + 1] }] },
    ],
  });

  before(async () => {
    await boot();
    programId = (await oa3('POST', '/programs', { programName: 'summer peak' })).id;
    ven = new Oadr2bVen({
      vtnUrl: `${server.url}${OA2}`,
      venName: 'site-2b',
      secret: SITE_SECRET,
      pollMs: 100,
      maxBackoffMs: 400,
      reports: sources(),
      onEvent: (e: VenEvent) => {
        decisions.push(`${e.eventID}:${e.modificationNumber}`);
        return e.signals[0]!.intervals[0]!.value >= 5 ? 'optOut' : 'optIn';
      },
      onCancel: (e) => cancelled.push(e.eventID),
      tap: (_d, xml) => wire.push(xml),
    });
    await ven.start();
  });
  after(async () => {
    await ven?.stop();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('registers: the VEN gets a venID and registrationID, and appears as a 3.1 ven object BL can target', async () => {
    assert.ok(ven.venID && ven.registrationID);
    assert.equal(ven.pollFreqMs, 1000, 'the VTN asks for its poll frequency');
    const vens = await oa3('GET', '/vens?venName=site-2b');
    assert.equal(vens.length, 1);
    assert.equal(vens[0].id, ven.venID, 'venID is the ven object id');
    assert.equal(vens[0].clientID, 'oadr2b:site-2b');
    await oa3('PUT', `/vens/${ven.venID}`, { objectType: 'BL_VEN_REQUEST', clientID: 'oadr2b:site-2b', venName: 'site-2b', targets: ['group-1'] });
    const listed = (await api('GET', '/vens')).body;
    assert.deepEqual(listed.map((v: any) => [v.venName, v.credential, v.registered, v.transport]), [['cli-2b', 'secret', false, null], ['site-2b', 'secret', true, 'pull']]);
  });

  it('distributes the events 3.1 privacy shows this VEN, with the program as market context, and records opt-in/out', async () => {
    const soon = Date.now() + 60 * 60_000;
    ids.targeted = (await oa3('POST', '/events', event('for group-1', soon, ['group-1']))).id;
    ids.open = (await oa3('POST', '/events', event('everyone', soon + 3600_000))).id;
    ids.other = (await oa3('POST', '/events', event('group-2 only', soon, ['group-2']))).id;
    ids.high = (await oa3('POST', '/events', event('deep cut', soon, undefined, 7))).id;
    await waitFor(() => ven.events.size === 3, 10_000, 'the VEN and VTN to agree');
    assert.deepEqual([...ven.events.keys()].sort(), [ids.targeted, ids.open, ids.high].sort(), 'group-2 is not granted to this VEN');
    const e = ven.events.get(ids.targeted)!;
    assert.equal(e.marketContext, 'urn:gridflex:program:summer%20peak');
    assert.equal(e.status, 'far');
    assert.equal(e.modificationNumber, 0);
    assert.equal(e.durationMs, 3600_000);
    assert.deepEqual(e.signals.map((s) => [s.signalName, s.signalType, s.intervals.map((i) => i.value)]), [['simple', 'level', [1, 2]]]);
    assert.deepEqual(e.targets, { groupID: ['group-1'], venID: [ven.venID] });
    await waitFor(async () => (await api('GET', `/events/${ids.high}/participation`)).body.optOut === 1, 5000, 'the VEN and VTN to agree');
    const p = (await api('GET', `/events/${ids.targeted}/participation`)).body;
    assert.deepEqual(p.vens.map((v: any) => [v.venName, v.optType, v.decidedBy]), [['site-2b', 'optIn', 'oadrCreatedEvent']]);
    // A 3.1 VEN granted the same target sees the same events.
    await oa3('POST', '/vens', { objectType: 'BL_VEN_REQUEST', clientID: 'ven-31', venName: 'site-31', targets: ['group-1'] });
    const t = await fetch(`${server.url}${OA3}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=ven-31&client_secret=ven-secret-31' });
    const venToken = ((await t.json()) as { access_token: string }).access_token;
    const seen31 = (await (await fetch(`${server.url}${OA3}/events?targets=group-1`, { headers: { authorization: `Bearer ${venToken}` } })).json()) as Array<{ id: string }>;
    assert.deepEqual(seen31.map((e) => e.id).sort(), [...ven.events.keys()].sort(), 'the 2.0b and the 3.1 VEN see the same events');
  });

  it('takes per-event opts and opt schedules into account when it counts who delivers', async () => {
    const optId = await ven.createOpt({ optType: 'optOut', eventID: ids.targeted, optReason: 'overrideStatus' });
    let p = (await api('GET', `/events/${ids.targeted}/participation`)).body;
    assert.deepEqual([p.vens[0].optType, p.vens[0].decidedBy, p.optOut], ['optOut', 'oadrCreateOpt (event)', 1]);
    await ven.cancelOpt(optId);
    p = (await api('GET', `/events/${ids.targeted}/participation`)).body;
    assert.equal(p.vens[0].optType, 'optIn', 'cancelling the opt restores the event answer');
    const open = ven.events.get(ids.open)!;
    await ven.createOpt({ optType: 'optOut', optReason: 'x-schedule', periods: [{ startMs: open.startMs - 600_000, duration: 'PT2H' }] });
    p = (await api('GET', `/events/${ids.open}/participation`)).body;
    assert.deepEqual([p.vens[0].optType, p.vens[0].decidedBy], ['optOut', 'oadrCreateOpt (schedule)']);
    const opts = (await api('GET', `/vens/${ven.venID}/opts`)).body;
    assert.equal(opts.length, 2);
    assert.ok(opts[0].cancelledMs > 0 && opts[1].cancelledMs === null);
  });

  it('sends modifications with a new modification number, and cancellations, explicit and implied', async () => {
    const before = ven.events.get(ids.targeted)!;
    await oa3('PUT', `/events/${ids.targeted}`, { ...event('for group-1', before.startMs, ['group-1'], 3) });
    await waitFor(() => ven.events.get(ids.targeted)?.modificationNumber === 1, 10_000, 'the VEN and VTN to agree');
    assert.deepEqual(ven.events.get(ids.targeted)!.signals[0]!.intervals.map((i) => i.value), [3, 4]);
    assert.ok(decisions.includes(`${ids.targeted}:1`), 'the handler decided again on the modified event');
    await oa3('DELETE', `/events/${ids.high}`);
    await waitFor(() => ven.events.get(ids.high)?.status === 'cancelled', 10_000, 'the VEN and VTN to agree');
    assert.equal(ven.events.get(ids.high)!.modificationNumber, 1, 'a cancellation is a modification');
    assert.ok(cancelled.includes(ids.high));
    // Taking the grant away hides the targeted event: the VEN drops it (implied cancellation).
    await oa3('PUT', `/vens/${ven.venID}`, { objectType: 'BL_VEN_REQUEST', clientID: 'oadr2b:site-2b', venName: 'site-2b', targets: [] });
    await waitFor(() => !ven.events.has(ids.targeted), 10_000, 'the VEN and VTN to agree');
    assert.ok(cancelled.includes(ids.targeted));
    await oa3('PUT', `/vens/${ven.venID}`, { objectType: 'BL_VEN_REQUEST', clientID: 'oadr2b:site-2b', venName: 'site-2b', targets: ['group-1'] });
    await waitFor(() => ven.events.has(ids.targeted), 10_000, 'the VEN and VTN to agree');
    const all = await ven.requestEvents();
    assert.ok(all.some((e) => e.eventID === ids.open));
  });

  it('shows an event as active while it runs and drops it from the list once it has ended', async () => {
    const short = (await oa3('POST', '/events', { programID: programId, eventName: 'short', intervalPeriod: { start: new Date(Date.now() - 500).toISOString(), duration: 'PT3S' }, intervals: [{ id: 0, payloads: [{ type: 'SIMPLE', values: [2] }] }] })).id;
    await waitFor(() => ven.events.get(short)?.status === 'active', 10_000, 'the short event to arrive active');
    assert.equal(ven.events.get(short)!.signals[0]!.currentValue, 2);
    await waitFor(() => !ven.events.has(short), 10_000, 'the ended event to leave the list');
  });

  it('registers reports both ways, receives requested telemetry, history on request, and cancels requests', async () => {
    const meta = (await api('GET', `/vens/${ven.venID}/report-metadata`)).body;
    assert.deepEqual(meta.map((m: any) => m.reportName).sort(), ['METADATA_HISTORY_USAGE', 'METADATA_TELEMETRY_STATUS', 'METADATA_TELEMETRY_USAGE']);
    await waitFor(async () => {
      const r = (await api('GET', `/vens/${ven.venID}/reports`)).body as any[];
      return r.some((x) => x.reportName === 'TELEMETRY_USAGE') && r.some((x) => x.reportName === 'TELEMETRY_STATUS');
    }, 10_000, 'the VEN and VTN to agree');
    const usage = ((await api('GET', `/vens/${ven.venID}/reports`)).body as any[]).find((x) => x.reportName === 'TELEMETRY_USAGE');
    const payload = usage.body.intervals.interval[0].payloads[0].oadrReportPayload;
    assert.equal(payload.rID, 'power');
    assert.ok(payload.payloadBase.payloadFloat.value > 1000);
    // History, asked for by the operator: the VEN gets oadrCreateReport on its next poll.
    const start = Date.UTC(2026, 10, 1);
    const req = await api('POST', `/vens/${ven.venID}/report-requests`, { reportSpecifierID: 'history-1', granularity: 'PT1H', reportBackDuration: 'PT1H', start: new Date(start).toISOString(), duration: 'PT3H' });
    assert.equal(req.status, 202, JSON.stringify(req.body));
    await waitFor(async () => ((await api('GET', `/vens/${ven.venID}/reports`)).body as any[]).some((x) => x.reportName === 'HISTORY_USAGE'), 10_000, 'the VEN and VTN to agree');
    const hist = ((await api('GET', `/vens/${ven.venID}/reports`)).body as any[]).find((x) => x.reportName === 'HISTORY_USAGE');
    assert.deepEqual(hist.body.intervals.interval.map((i: any) => i.payloads[0].oadrReportPayload.payloadBase.payloadFloat.value), [500, 501, 502]);
    // Usage reports are meter readings too: in the time-series store, where baselines and forecasts read them.
    const readings = server.host.resolve(StorageToken).readings;
    const energy = await readings.read({ meterIds: ['site-2b__energy'], quantity: 'energyImport', from: start, to: start + 3 * 3600_000 });
    assert.deepEqual([...energy[0]!.values], [500, 501, 502]);
    assert.equal(energy[0]!.resolutionS, 3600);
    const power = await readings.read({ meterIds: ['site-2b__meter-1'], quantity: 'activePower', from: Date.now() - 3600_000, to: Date.now() + 60_000 });
    assert.ok(power[0]!.values.length > 0 && power[0]!.values.every((v) => v > 1000), 'telemetry in W');
    // Cancelling the telemetry request stops it on the VEN.
    const requests = (await api('GET', `/vens/${ven.venID}/report-requests`)).body as any[];
    const telemetry = requests.find((r) => r.reportSpecifierID === 'telemetry-1');
    assert.equal((await api('DELETE', `/vens/${ven.venID}/report-requests/${telemetry.reportRequestID}`)).status, 202);
    await waitFor(() => !ven.requests.has(telemetry.reportRequestID), 10_000, 'the VEN and VTN to agree');
    assert.equal((await api('POST', `/vens/${ven.venID}/report-requests`, { reportSpecifierID: 'nope', granularity: 'PT1M', reportBackDuration: 'PT1M' })).status, 404);
    assert.equal((await api('POST', `/vens/${ven.venID}/report-requests`, { reportSpecifierID: 'history-1', granularity: 'soon', reportBackDuration: 'PT1M' })).body.code, 'GF_OA2B_INVALID');
    const extra = await api('POST', `/vens/${ven.venID}/report-requests`, { reportSpecifierID: 'history-1', granularity: 'PT1M', reportBackDuration: 'PT1M', start: 'yesterday', every: 'PT1M' });
    assert.equal(extra.status, 400);
    assert.match(extra.body.detail, /start: must match format "date-time"/);
    assert.match(extra.body.detail, /every: is not a known key/);
  });

  it('provisions VENs through the operator API, refusing what it cannot use and naming the field', async () => {
    const fp = 'AA:BB:CC:DD:EE:FF:00:11:22:33';
    const made = await api('POST', '/vens', { venName: 'site-provisioned', fingerprint: fp });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    assert.equal(made.body.venName, 'site-provisioned');
    assert.equal(made.body.fingerprint, fp);
    const taken = await api('POST', '/vens', { venName: 'site-other', fingerprint: fp });
    assert.deepEqual([taken.status, taken.body.code, taken.body.field], [409, 'GF_OA2B_CONFLICT', 'fingerprint']);
    const cases: [unknown, string][] = [
      [{ venName: 'x', fingerprint: 'aa:bb' }, 'fingerprint'],
      [{ venName: '' }, 'venName'],
      [{ fingerprint: fp }, 'venName'],
      [{ venName: 'x', role: 'admin' }, 'role'],
      [['site'], '(root)'],
    ];
    for (const [body, field] of cases) {
      const r = await api('POST', '/vens', body);
      assert.deepEqual([r.status, r.body.code, r.body.field], [400, 'GF_OA2B_INVALID', field], JSON.stringify(r.body));
    }
  });

  it('answers a VEN that asks for VTN reports, and a VEN cancelling reports, in protocol terms', async () => {
    const created = await ven.send('oadrCreateReport', { requestID: 'cr-1', oadrReportRequest: [{ reportRequestID: 'rr-x', reportSpecifier: { reportSpecifierID: 'vtn-x', granularity: { duration: 'PT1M' }, reportBackDuration: { duration: 'PT1M' }, specifierPayload: [{ rID: 'a', readingType: 'Direct Read' }] } }], venID: ven.venID });
    assert.equal(created.name, 'oadrCreatedReport');
    assert.equal((created.body.eiResponse as any).responseCode, '461');
    const cancelledReport = await ven.send('oadrCancelReport', { requestID: 'cc-1', reportRequestID: ['rr-x'], reportToFollow: false, venID: ven.venID });
    assert.equal(cancelledReport.name, 'oadrCanceledReport');
  });

  it('asks for re-registration, keeps state across a restart, and backs off while the VTN is down', async () => {
    const regBefore = ven.registrationID;
    assert.equal((await api('POST', `/vens/${ven.venID}/reregister`)).status, 202);
    await waitFor(() => wire.some((x) => messageName(x) === 'oadrRequestReregistration'), 10_000, 'the VEN and VTN to agree');
    await waitFor(() => wire.filter((x) => messageName(x) === 'oadrCreatePartyRegistration').length >= 2, 10_000, 'the VEN and VTN to agree');
    assert.equal(ven.registrationID, regBefore, 're-registering with its registrationID keeps it');
    const modBefore = ven.events.get(ids.targeted)!.modificationNumber;
    const port = Number(new URL(server.url).port);
    await server.close();
    await waitFor(() => ven.failures >= 2, 10_000, 'the VEN and VTN to agree');
    await boot(port);
    await waitFor(() => ven.failures === 0, 10_000, 'the VEN and VTN to agree');
    const again = await ven.requestEvents();
    assert.equal(again.find((e) => e.eventID === ids.targeted)?.modificationNumber, modBefore, 'modification numbers survive the restart');
    assert.equal((await api('GET', `/vens/${ven.venID}`)).body.registrationID, regBefore);
    assert.equal((await api('GET', `/vens/${ven.venID}/report-metadata`)).body.length, 3, 'report registrations survive the restart');
    assert.ok(((await api('GET', `/events/${ids.targeted}/participation`)).body.vens as any[]).length === 1);
    // A message queued for the VEN survives a restart and is delivered, in order, on its next poll.
    ven.opts.pollMs = 3_600_000;
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await api('POST', `/vens/${ven.venID}/reregister`)).status, 202);
    await server.close();
    await boot(port);
    assert.equal(await ven.poll(), 'oadrRequestReregistration');
    ven.opts.pollMs = 100;
    await ven.poll();
  });

  it('refuses malformed, invalid, oversized and entity-expanding XML with an eiResponse, not a crash', async () => {
    const post = async (body: string, service = 'EiEvent', type = 'application/xml') => {
      const r = await fetch(`${server.url}${OA2}/${service}`, { method: 'POST', headers: { 'content-type': type }, body });
      return { status: r.status, text: await r.text() };
    };
    const code = (t: string) => /<ei:responseCode>(\d+)</.exec(t)?.[1];
    const bad = await post('<oadr:oadrPayload xmlns:oadr="http://openadr.org/oadr-2.0b/2012/07"><oops>');
    assert.deepEqual([bad.status, code(bad.text)], [400, '454']);
    const laughs = `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><lolz>&lol3;</lolz>`;
    const l = await post(laughs);
    assert.deepEqual([l.status, code(l.text)], [400, '454']);
    assert.match(l.text, /DOCTYPE is not accepted/);
    const outOfOrder = encodePayload('oadrPoll', { venID: ven.venID! }).replace('<ei:venID>', '<ei:vtnID>x</ei:vtnID><ei:venID>');
    const o = await post(outOfOrder, 'OadrPoll');
    assert.deepEqual([o.status, code(o.text)], [400, '454']);
    assert.match(o.text, /oadrPoll/);
    const wrongService = await post(encodePayload('oadrPoll', { venID: ven.venID! }), 'EiReport');
    assert.equal(code(wrongService.text), '459');
    const big = await post(`<a>${'x'.repeat(2 * 1024 * 1024)}</a>`);
    assert.equal(big.status, 413);
    const json = await post('{"venID":"x"}', 'OadrPoll', 'application/json');
    assert.equal(json.status, 415);
    const pushElsewhere = await post(encodePayload('oadrCreatePartyRegistration', { requestID: 'p', oadrProfileName: '2.0b', oadrTransportName: 'simpleHttp', oadrTransportAddress: 'http://10.9.8.7/OpenADR2/Simple/2.0b', oadrReportOnly: false, oadrXmlSignature: false, oadrVenName: 'pusher', oadrHttpPullModel: false }), 'EiRegisterParty');
    assert.equal(code(pushElsewhere.text), '451', 'an unauthenticated VEN cannot make the VTN push to any host');
    const stranger = await post(encodePayload('oadrPoll', { venID: 'nobody' }), 'OadrPoll');
    assert.equal(code(stranger.text), '463');
    assert.equal((await fetch(`${server.url}/health`)).status, 200, 'the server is still up');
  });

  it('runs as `gridflex ven2b`, answering events with --opt and printing them as JSON lines until SIGTERM', async () => {
    const bad = await run(['ven2b', '--vtn', `${server.url}${OA2}`, '--ven-name', 'x', '--cert', 'a.pem']);
    assert.equal(bad.code, 2);
    assert.match(bad.err, /--cert, --key and --ca go together/);
    const proc = gridflex(['ven2b', '--vtn', `${server.url}${OA2}`, '--ven-name', 'cli-2b', '--opt', 'out', '--poll-seconds', '1', '--json'], { GRIDFLEX_VEN2B_SECRET: CLI_SECRET });
    let out = '';
    let err = '';
    proc.stdout!.on('data', (d) => (out += d));
    proc.stderr!.on('data', (d) => (err += d));
    await waitFor(() => /registered as/.test(err), 30_000, `the CLI VEN to register: ${err}`);
    const ev = (await oa3('POST', '/events', event('for the CLI', Date.now() + 7200_000))).id;
    await waitFor(() => out.includes(ev), 15_000, `the event line: ${out} ${err}`);
    const line = JSON.parse(out.trim().split('\n').find((l) => l.includes(ev))!);
    assert.deepEqual([line.change, line.optType, line.modificationNumber], ['event', 'optOut', 0]);
    await waitFor(async () => ((await api('GET', `/events/${ev}/participation`)).body.vens as any[]).some((v) => v.venName === 'cli-2b' && v.optType === 'optOut'), 10_000, 'the CLI VEN\'s optOut');
    proc.kill('SIGTERM');
    assert.equal((await exited(proc)).code, 0);
  });

  it('cancels a registration: the VEN is refused until it registers again', async () => {
    await ven.cancelRegistration();
    // With its credentials, so the refusal is the cancelled registration's.
    const authorization = `Basic ${Buffer.from(`site-2b:${SITE_SECRET}`).toString('base64')}`;
    const r = await fetch(`${server.url}${OA2}/OadrPoll`, { method: 'POST', headers: { 'content-type': 'application/xml', authorization }, body: encodePayload('oadrPoll', { venID: ven.venID! }) });
    assert.match(await r.text(), /<ei:responseCode>463<\/ei:responseCode>\s*<ei:responseDescription>VEN '[^']+' is not registered/);
    assert.equal((await api('GET', `/vens/${ven.venID}`)).body.registered, false);
    const vens = await oa3('GET', '/vens?venName=site-2b');
    assert.deepEqual(vens[0].targets, ['group-1'], 'the ven object and its grants stay for a later registration');
  });

  it('emitted every message on the wire as the official XSD requires', async () => {
    // While the server stops and starts (the restart test), the kernel answers 503 in problem+json: not OpenADR.
    const other = wire.filter((x) => !x.trimStart().startsWith('<'));
    for (const x of other) assert.match(JSON.parse(x).code, /^GF_HTTP_/, x);
    const docs = wire.filter((x) => x.trimStart().startsWith('<'));
    const failures = xsdFailures(docs);
    assert.deepEqual(failures.map((f) => `${messageName(docs[f.index]!)}: ${f.error}`), []);
    const seen = new Set(wire.map(messageName));
    for (const m of ['oadrQueryRegistration', 'oadrCreatePartyRegistration', 'oadrCreatedPartyRegistration', 'oadrCancelPartyRegistration', 'oadrCanceledPartyRegistration', 'oadrRequestReregistration', 'oadrPoll', 'oadrResponse', 'oadrRequestEvent', 'oadrDistributeEvent', 'oadrCreatedEvent', 'oadrRegisterReport', 'oadrRegisteredReport', 'oadrCreateReport', 'oadrCreatedReport', 'oadrUpdateReport', 'oadrUpdatedReport', 'oadrCancelReport', 'oadrCanceledReport', 'oadrCreateOpt', 'oadrCreatedOpt', 'oadrCancelOpt', 'oadrCanceledOpt']) {
      assert.ok(seen.has(m), `${m} was exchanged`);
    }
  });
});
