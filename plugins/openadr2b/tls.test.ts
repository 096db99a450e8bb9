import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger } from '../../core/index.js';
import { Oadr2bVen, Oadr2bVenError } from '../../core/openadr2b/ven.js';
import { startServer, type RunningServer } from '../../core/server.js';
import { makeTestPki, type TestCert, type TestPki } from '../../core/testing/pki.js';
import { waitFor } from '../../core/testing/wait.js';
import { encodePayload } from '../../standards/openadr2b/codec.js';
import { certFingerprint, signPayload } from '../../standards/openadr2b/signature.js';
import { messageName, xsdFailures } from '../../standards/openadr2b/testing/xsd.js';
import { OPERATOR, OPERATOR_ENV } from '../../core/testing/operator.js';

const OA3 = '/openadr3/3.1.0';
const OA2 = '/OpenADR2/Simple/2.0b';

/** POSTs raw XML over mutual TLS with a given client certificate. */
function tlsPost(url: string, xml: string, client: TestCert, ca: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'POST', cert: client.certPem, key: client.keyPem, ca, headers: { 'content-type': 'application/xml' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(xml);
  });
}

describe('OpenADR 2.0b over mutual TLS, with XML signatures, pull and push', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-oa2tls-'));
  const wire: string[] = [];
  let pki: TestPki;
  let other: TestPki;
  let vtnCert: TestCert;
  let venCert: TestCert;
  let plainCert: TestCert;
  let pushCert: TestCert;
  let rogueCert: TestCert;
  let server: RunningServer;
  let tlsBase = '';
  let bl = '';
  const vens: Oadr2bVen[] = [];

  before(async () => {
    pki = makeTestPki();
    other = makeTestPki();
    vtnCert = pki.issue('vtn');
    venCert = pki.issue('ven-signed');
    plainCert = pki.issue('ven-plain');
    pushCert = pki.issue('ven-push');
    rogueCert = pki.issue('ven-rogue');
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins.openadr3 = { enabled: true, config: { clients: [{ clientId: 'bl-1', clientSecret: 'bl-secret-1', role: 'bl', name: 'Utility' }], mqtt: { enabled: false } } };
    config.plugins.openadr2b = {
      enabled: true,
      config: {
        pollFreq: 'PT1S',
        reportBackDuration: 'PT1S',
        tls: { port: 0, certFile: vtnCert.certFile, keyFile: vtnCert.keyFile, caFile: pki.ca.certFile },
        vens: [
          { venName: 'signed-site', fingerprint: certFingerprint(venCert.certPem) },
          { venName: 'plain-site', fingerprint: certFingerprint(plainCert.certPem) },
          { venName: 'push-site', fingerprint: certFingerprint(pushCert.certPem) },
        ],
      },
    };
    for (const p of ['ledger', 'devices', 'meter-data', 'weather', 'forecasting', 'baseline', 'pv-degradation', 'p2p-market']) config.plugins[p] = { enabled: false, config: {} };
    config.log.level = 'silent';
    server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    const info = (await (await fetch(`${server.url}/api/openadr2b`, { headers: OPERATOR })).json()) as { tlsPort: number };
    tlsBase = `https://127.0.0.1:${info.tlsPort}${OA2}`;
    const t = await fetch(`${server.url}${OA3}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=bl-1&client_secret=bl-secret-1' });
    bl = ((await t.json()) as { access_token: string }).access_token;
  });
  after(async () => {
    for (const v of vens) await v.stop();
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(pki.dir, { recursive: true, force: true });
    rmSync(other.dir, { recursive: true, force: true });
  });

  const oa3 = async (method: string, p: string, body?: unknown): Promise<any> => {
    const r = await fetch(`${server.url}${OA3}${p}`, { method, headers: { authorization: `Bearer ${bl}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
    assert.ok(r.status < 300, `${method} ${p}: ${r.status}`);
    const text = await r.text();
    return text ? JSON.parse(text) : undefined;
  };
  const makeVen = (name: string, cert: TestCert, extra: Partial<ConstructorParameters<typeof Oadr2bVen>[0]> = {}): Oadr2bVen => {
    const v = new Oadr2bVen({ vtnUrl: tlsBase, venName: name, tls: { certPem: cert.certPem, keyPem: cert.keyPem, caPem: pki.ca.certPem }, pollMs: 100, tap: (_d, x) => wire.push(x), ...extra });
    vens.push(v);
    return v;
  };

  /** One VEN's whole life over mutual TLS: registration, reports, events, opts, modification, cancellation. */
  async function fullLife(name: string, cert: TestCert, sign: boolean): Promise<void> {
    const mine: string[] = [];
    const ven = makeVen(name, cert, {
      sign,
      reports: [{ reportSpecifierID: 't1', reportName: 'TELEMETRY_USAGE', minPeriod: 'PT1S', points: [{ rID: 'p', reportType: 'usage', readingType: 'Direct Read', unit: 'powerReal' }], read: () => 42 }],
      tap: (_d, x) => {
        wire.push(x);
        mine.push(x);
      },
    });
    await ven.start();
    const row = (await (await fetch(`${server.url}/api/openadr2b/vens/${ven.venID}`, { headers: OPERATOR })).json()) as any;
    assert.deepEqual([row.venName, row.fingerprint, row.xmlSignature, row.registered], [name, ven.fingerprint, sign, true]);
    const program = await oa3('POST', '/programs', { programName: `tls-program-${name}` });
    const start = Date.now() + 3600_000;
    const ev = await oa3('POST', '/events', { programID: program.id, intervalPeriod: { start: new Date(start).toISOString(), duration: 'PT1H' }, intervals: [{ id: 0, payloads: [{ type: 'PRICE', values: [0.31] }] }], payloadDescriptors: [{ objectType: 'EVENT_PAYLOAD_DESCRIPTOR', payloadType: 'PRICE', units: 'KWH', currency: 'USD' }] });
    await waitFor(() => ven.events.has(ev.id), 10_000, 'the VEN to get the event');
    assert.deepEqual(ven.events.get(ev.id)!.signals.map((s) => [s.signalName, s.signalType, s.intervals[0]!.value]), [['ELECTRICITY_PRICE', 'price', 0.31]]);
    const part = async () => (await (await fetch(`${server.url}/api/openadr2b/events/${ev.id}/participation`, { headers: OPERATOR })).json()) as any;
    await waitFor(async () => (await part()).vens.some((v: any) => v.venName === name && v.optType === 'optIn'), 10_000, 'optIn recorded');
    await ven.createOpt({ optType: 'optOut', eventID: ev.id });
    assert.ok((await part()).vens.some((v: any) => v.venName === name && v.optType === 'optOut'));
    const schedule = await ven.createOpt({ optType: 'optOut', optReason: 'x-schedule', periods: [{ startMs: start, duration: 'PT30M' }] });
    await ven.cancelOpt(schedule);
    await waitFor(async () => ((await (await fetch(`${server.url}/api/openadr2b/vens/${ven.venID}/reports`, { headers: OPERATOR })).json()) as any[]).length > 0, 10_000, 'telemetry over TLS');
    await oa3('PUT', `/events/${ev.id}`, { programID: program.id, intervalPeriod: { start: new Date(start).toISOString(), duration: 'PT1H' }, intervals: [{ id: 0, payloads: [{ type: 'PRICE', values: [0.42] }] }] });
    await waitFor(() => ven.events.get(ev.id)?.modificationNumber === 1, 10_000, 'the modification over TLS');
    await oa3('DELETE', `/events/${ev.id}`);
    await waitFor(() => ven.events.get(ev.id)?.status === 'cancelled', 10_000, 'the cancellation over TLS');
    await waitFor(() => mine.some((x) => messageName(x) === 'oadrRegisterReport' && !x.includes('oadrReportDescription')), 10_000, 'the VTN to register its own METADATA report');
    // (The answer to the first oadrQueryRegistration precedes registration: the VTN cannot know yet that it should sign.)
    const fromVtn = mine.filter((x) => /oadrDistributeEvent|oadrCreatedPartyRegistration|oadrRegisteredReport|oadrUpdatedReport/.test(messageName(x) ?? '') && !(messageName(x) === 'oadrCreatedPartyRegistration' && !x.includes('<ei:registrationID>')));
    const polls = mine.filter((x) => messageName(x) === 'oadrPoll');
    assert.ok(fromVtn.length > 0 && polls.length > 0);
    assert.ok(fromVtn.every((x) => x.includes('<ds:Signature') === sign), sign ? 'the VTN signs what it sends a VEN registered with oadrXmlSignature' : 'and nothing for one that is not');
    assert.ok(polls.every((x) => x.includes('<ds:Signature') === sign));
  }

  it('runs a provisioned VEN\'s whole life over mutual TLS, signing both ways', () => fullLife('signed-site', venCert, true));
  it('runs a provisioned VEN\'s whole life over mutual TLS, unsigned', () => fullLife('plain-site', plainCert, false));

  it('refuses a CA-signed certificate that was not provisioned, and a certificate from another CA at the handshake', async () => {
    const rogue = makeVen('rogue', rogueCert);
    await assert.rejects(rogue.start(), (e: Error) => e instanceof Oadr2bVenError && e.responseCode === '463');
    const stranger = other.issue('stranger');
    await assert.rejects(tlsPost(`${tlsBase}/OadrPoll`, encodePayload('oadrPoll', { venID: 'x' }), stranger, pki.ca.certPem));
    // No client certificate at all: the handshake fails too.
    await assert.rejects(
      new Promise((resolve, reject) => {
        const req = httpsRequest(`${tlsBase}/OadrPoll`, { method: 'POST', ca: pki.ca.certPem, headers: { 'content-type': 'application/xml' } }, resolve);
        req.on('error', reject);
        req.end(encodePayload('oadrPoll', { venID: 'x' }));
      }),
    );
  });

  it('refuses an oversized body on the TLS listener with 413 and an eiResponse', async () => {
    const r = await tlsPost(`${tlsBase}/OadrPoll`, `<a>${'x'.repeat(1100 * 1024)}</a>`, venCert, pki.ca.certPem);
    assert.equal(r.status, 413);
    assert.match(r.body, /<ei:responseCode>454</);
  });

  it('refuses unsigned, tampered and replayed messages from a VEN that signs, and another VEN\'s venID', async () => {
    const ven = vens[0]!;
    const code = (t: string) => /<ei:responseCode>(\d+)</.exec(t)?.[1];
    const unsigned = await tlsPost(`${tlsBase}/OadrPoll`, encodePayload('oadrPoll', { venID: ven.venID! }), venCert, pki.ca.certPem);
    assert.deepEqual([unsigned.status, code(unsigned.body)], [403, '463']);
    const id = { key: createPrivateKey(venCert.keyPem), cert: new X509Certificate(venCert.certPem) };
    const signed = signPayload('oadrPoll', { venID: ven.venID! }, id);
    const ok = await tlsPost(`${tlsBase}/OadrPoll`, signed, venCert, pki.ca.certPem);
    assert.equal(ok.status, 200);
    const replay = await tlsPost(`${tlsBase}/OadrPoll`, signed, venCert, pki.ca.certPem);
    assert.deepEqual([replay.status, code(replay.body)], [403, '463']);
    assert.match(replay.body, /replayed/);
    const tampered = signPayload('oadrPoll', { venID: ven.venID! }, id).replace(`<ei:venID>${ven.venID}</ei:venID>`, '<ei:venID>someone-else</ei:venID>');
    const t = await tlsPost(`${tlsBase}/OadrPoll`, tampered, venCert, pki.ca.certPem);
    assert.notEqual(code(t.body), '200');
    const pushVenId = (await oa3('GET', '/vens?venName=push-site'))[0].id;
    const impostor = await tlsPost(`${tlsBase}/OadrPoll`, signPayload('oadrPoll', { venID: pushVenId }, id), venCert, pki.ca.certPem);
    assert.equal(code(impostor.body), '452', 'a certificate speaks only for its own VEN');
  });

  it('pushes events to a VEN that registered for push, over mutual TLS, and takes its answer', async () => {
    const ven = makeVen('push-site', pushCert, { push: { host: '127.0.0.1', port: 0 }, onEvent: () => 'optOut' });
    await ven.start();
    const program = await oa3('POST', '/programs', { programName: 'push-program' });
    const ev = await oa3('POST', '/events', { programID: program.id, intervalPeriod: { start: new Date(Date.now() + 7200_000).toISOString(), duration: 'PT15M' }, intervals: [{ id: 0, payloads: [{ type: 'IMPORT_CAPACITY_LIMIT', values: [4] }] }] });
    await waitFor(() => ven.events.has(ev.id), 10_000, 'the push VEN to receive the event');
    const s = ven.events.get(ev.id)!.signals[0]!;
    assert.deepEqual([s.signalName, s.signalType, s.payloadType], ['LOAD_DISPATCH', 'setpoint', 'DISPATCH_SETPOINT']);
    await waitFor(async () => {
      const p = (await (await fetch(`${server.url}/api/openadr2b/events/${ev.id}/participation`, { headers: OPERATOR })).json()) as any;
      return p.vens.some((v: any) => v.venName === 'push-site' && v.optType === 'optOut');
    }, 10_000, 'the pushed VEN\'s optOut to be recorded');
    await ven.cancelRegistration();
    await vens[0]!.cancelRegistration();
    assert.equal(((await (await fetch(`${server.url}/api/openadr2b/vens/${vens[0]!.venID}`, { headers: OPERATOR })).json()) as any).registered, false);
  });

  it('emitted every message over TLS (signed ones included) as the official XSD requires', () => {
    const failures = xsdFailures(wire);
    assert.deepEqual(failures.map((f) => `${messageName(wire[f.index]!)}: ${f.error}`), []);
    assert.ok(wire.some((x) => x.includes('<ds:Signature')));
  });
});
