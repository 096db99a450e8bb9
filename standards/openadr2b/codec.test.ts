import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { makeTestPki } from '../../core/testing/pki.js';
import { decodePayload, encodePayload, Oadr2bSchemaError } from './codec.js';
import { certFingerprint, NonceCache, Oadr2bSignatureError, signPayload, verifyPayload } from './signature.js';
import { excC14n, parseXml, XmlError } from './xml.js';
import { xsdFailures } from './testing/xsd.js';

/** xmllint's exclusive canonicalization of a whole document (the reference our excC14n must match). */
function xmllintExcC14n(xml: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-c14n-'));
  try {
    const f = path.join(dir, 'd.xml');
    writeFileSync(f, xml);
    const r = spawnSync('xmllint', ['--exc-c14n', f], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    return r.stdout;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('OpenADR 2.0b codec', () => {
  it('canonicalizes (exclusive C14N) exactly as libxml2 does', () => {
    const docs = [
      '<a:root xmlns:a="urn:a" xmlns:b="urn:b" xmlns:unused="urn:u" z="1" b:y="2" a:x="3"><b:kid>t &amp; &lt;x&gt; "q"</b:kid><plain xmlns="urn:d" attr="a&#10;b&quot;c"/><a:e></a:e></a:root>',
      '<r xmlns="urn:default"><k xmlns="">no namespace</k><![CDATA[<cdata> & text]]><m>\r\nline</m></r>',
      encodePayload('oadrCreatePartyRegistration', { requestID: 'r&1', oadrProfileName: '2.0b', oadrTransportName: 'simpleHttp', oadrReportOnly: false, oadrXmlSignature: true, oadrVenName: 'v<1>' }, { signedObjectId: 'so1' }),
    ];
    for (const d of docs) assert.equal(excC14n(parseXml(d)), xmllintExcC14n(d));
    assert.equal(excC14n(parseXml('<a><!-- comment --><b/></a>')), '<a><b></b></a>', 'comments are not part of the signed form');
  });

  it('round-trips every message type and each one validates against the XSD', () => {
    const when = '2026-11-27T10:00:00Z';
    const target = { venID: ['v1'], groupID: ['g'] };
    const request = { reportRequestID: 'rr1', reportSpecifier: { reportSpecifierID: 's1', granularity: { duration: 'PT1M' }, reportBackDuration: { duration: 'PT5M' }, specifierPayload: [{ rID: 'p', readingType: 'Direct Read' }] } };
    const report = {
      dtstart: { 'date-time': when },
      duration: { duration: 'PT1M' },
      intervals: { interval: [{ dtstart: { 'date-time': when }, duration: { duration: 'PT1M' }, payloads: [{ oadrReportPayload: { rID: 'p', payloadBase: { payloadFloat: { value: 1.5 } }, oadrDataQuality: 'Quality Good - Non Specific' } }] }] },
      oadrReportDescription: [{ rID: 'p', reportType: 'usage', itemBase: { powerReal: { itemDescription: 'RealPower', itemUnits: 'W', siScaleCode: 'k', powerAttributes: { hertz: 50, voltage: 230, ac: true } } }, readingType: 'Direct Read', oadrSamplingRate: { oadrMinPeriod: 'PT1M', oadrMaxPeriod: 'PT1H', oadrOnChange: false } }],
      reportRequestID: 'rr1',
      reportSpecifierID: 's1',
      reportName: 'TELEMETRY_USAGE',
      createdDateTime: when,
    };
    const ok = { responseCode: '200', responseDescription: 'OK', requestID: 'r1' };
    const bodies: Record<string, Record<string, unknown>> = {
      oadrDistributeEvent: {
        eiResponse: ok,
        requestID: 'r1',
        vtnID: 'vtn',
        oadrEvent: [
          {
            eiEvent: {
              eventDescriptor: { eventID: 'e1', modificationNumber: 2, priority: 1, eiMarketContext: { marketContext: 'http://example.com/p' }, createdDateTime: when, eventStatus: 'far', testEvent: 'false' },
              eiActivePeriod: { properties: { dtstart: { 'date-time': when }, duration: { duration: 'PT1H' }, 'x-eiNotification': { duration: 'PT1H' } }, components: '' },
              eiEventSignals: { eiEventSignal: [{ intervals: { interval: [{ duration: { duration: 'PT1H' }, uid: { text: '0' }, payloads: [{ signalPayload: { payloadBase: { payloadFloat: { value: 0.2 } } } }] }] }, signalName: 'ELECTRICITY_PRICE', signalType: 'price', signalID: 's', itemBase: { currencyPerKWh: { itemDescription: 'currencyPerKWh', itemUnits: 'EUR', siScaleCode: 'none' } }, currentValue: { payloadFloat: { value: 0 } } }] },
              eiTarget: target,
            },
            oadrResponseRequired: 'always',
          },
        ],
      },
      oadrCreatedEvent: { eiCreatedEvent: { eiResponse: ok, eventResponses: { eventResponse: [{ responseCode: '200', requestID: 'r1', qualifiedEventID: { eventID: 'e1', modificationNumber: 2 }, optType: 'optIn' }] }, venID: 'v1' } },
      oadrRequestEvent: { eiRequestEvent: { requestID: 'r1', venID: 'v1', replyLimit: 5 } },
      oadrResponse: { eiResponse: ok, venID: 'v1' },
      oadrCancelOpt: { requestID: 'r1', optID: 'o1', venID: 'v1' },
      oadrCanceledOpt: { eiResponse: ok, optID: 'o1' },
      oadrCreateOpt: { optID: 'o1', optType: 'optOut', optReason: 'x-schedule', venID: 'v1', vavailability: { components: { available: [{ properties: { dtstart: { 'date-time': when }, duration: { duration: 'PT2H' } } }] } }, createdDateTime: when, requestID: 'r1', eiTarget: target },
      oadrCreatedOpt: { eiResponse: ok, optID: 'o1' },
      oadrCancelReport: { requestID: 'r1', reportRequestID: ['rr1'], reportToFollow: false, venID: 'v1' },
      oadrCanceledReport: { eiResponse: ok, oadrPendingReports: { reportRequestID: ['rr2'] }, venID: 'v1' },
      oadrCreateReport: { requestID: 'r1', oadrReportRequest: [request], venID: 'v1' },
      oadrCreatedReport: { eiResponse: ok, oadrPendingReports: {}, venID: 'v1' },
      oadrRegisterReport: { requestID: 'r1', oadrReport: [report], venID: 'v1' },
      oadrRegisteredReport: { eiResponse: ok, oadrReportRequest: [request], venID: 'v1' },
      oadrUpdateReport: { requestID: 'r1', oadrReport: [report], venID: 'v1' },
      oadrUpdatedReport: { eiResponse: ok, oadrCancelReport: { requestID: 'r2', reportRequestID: ['rr1'], reportToFollow: false }, venID: 'v1' },
      oadrCancelPartyRegistration: { requestID: 'r1', registrationID: 'reg', venID: 'v1' },
      oadrCanceledPartyRegistration: { eiResponse: ok, registrationID: 'reg', venID: 'v1' },
      oadrCreatePartyRegistration: { requestID: 'r1', oadrProfileName: '2.0b', oadrTransportName: 'simpleHttp', oadrTransportAddress: 'https://ven.example', oadrReportOnly: false, oadrXmlSignature: false, oadrVenName: 'v', oadrHttpPullModel: false },
      oadrCreatedPartyRegistration: {
        eiResponse: ok,
        registrationID: 'reg',
        venID: 'v1',
        vtnID: 'vtn',
        oadrProfiles: { oadrProfile: [{ oadrProfileName: '2.0b', oadrTransports: { oadrTransport: [{ oadrTransportName: 'simpleHttp' }] } }] },
        oadrRequestedOadrPollFreq: { duration: 'PT10S' },
        oadrServiceSpecificInfo: { oadrService: [{ oadrServiceName: 'EiEvent', oadrInfo: [{ oadrKey: 'k', oadrValue: 'v' }] }] },
      },
      oadrRequestReregistration: { venID: 'v1' },
      oadrQueryRegistration: { requestID: 'r1' },
      oadrPoll: { venID: 'v1' },
    };
    const docs: string[] = [];
    for (const [name, body] of Object.entries(bodies)) {
      const xml = encodePayload(name as never, body);
      docs.push(xml);
      const back = decodePayload(xml);
      assert.equal(back.name, name);
      // Opaque elements come back as XML nodes; compare the rest.
      const plain = JSON.parse(JSON.stringify(back.body, (k, v) => (k === 'components' && v && v.local === 'components' ? '' : v)));
      assert.deepEqual(plain, body, name);
    }
    assert.deepEqual(xsdFailures(docs), []);
  });

  it('names what is wrong: order, a missing element, a bad value, an unknown message', () => {
    const poll = encodePayload('oadrPoll', { venID: 'v' });
    assert.throws(() => decodePayload(poll.replace('<ei:venID>v</ei:venID>', '')), (e: Error) => e instanceof Oadr2bSchemaError && /oadrPoll: missing <ei:venID>/.test(e.message));
    const reg = encodePayload('oadrCreatePartyRegistration', { requestID: 'r', oadrProfileName: '2.0b', oadrTransportName: 'simpleHttp', oadrReportOnly: false, oadrXmlSignature: false });
    assert.throws(() => decodePayload(reg.replace('>simpleHttp<', '>carrier-pigeon<')), /oadrTransportName: 'carrier-pigeon' is not one of simpleHttp, xmpp/);
    assert.throws(() => decodePayload(reg.replace('<oadr:oadrReportOnly>false</oadr:oadrReportOnly><oadr:oadrXmlSignature>false</oadr:oadrXmlSignature>', '<oadr:oadrXmlSignature>false</oadr:oadrXmlSignature><oadr:oadrReportOnly>false</oadr:oadrReportOnly>')), /missing <oadr:oadrReportOnly>/);
    assert.throws(() => decodePayload(poll.replace('oadrPoll ', 'oadrTeleport ').replace('</oadr:oadrPoll>', '</oadr:oadrTeleport>')), /is not an OpenADR 2.0b message/);
    assert.throws(() => encodePayload('oadrPoll', {}), /oadrPoll\/venID: is required/);
  });

  it('refuses DTDs (billion laughs, external entities), deep nesting and node floods before building anything big', () => {
    const laughs = '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><l>&b;</l>';
    assert.throws(() => parseXml(laughs), (e: Error) => e instanceof XmlError && e.code === 'DOCTYPE_REFUSED');
    assert.throws(() => parseXml('<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>'), (e: Error) => e instanceof XmlError && e.code === 'DOCTYPE_REFUSED');
    assert.throws(() => parseXml('<x>&undefined;</x>'), (e: Error) => e instanceof XmlError && e.code === 'NOT_WELL_FORMED');
    assert.throws(() => parseXml(`${'<a>'.repeat(100)}${'</a>'.repeat(100)}`), (e: Error) => e instanceof XmlError && e.code === 'TOO_DEEP');
    assert.throws(() => parseXml(`<a>${'<b/>'.repeat(1000)}</a>`, { maxBytes: 1e6, maxDepth: 10, maxNodes: 500 }), (e: Error) => e instanceof XmlError && e.code === 'TOO_MANY_NODES');
    assert.throws(() => parseXml('<a/>', { maxBytes: 2, maxDepth: 10, maxNodes: 10 }), (e: Error) => e instanceof XmlError && e.code === 'TOO_LARGE');
    assert.throws(() => parseXml('<?php evil ?><a/>'), (e: Error) => e instanceof XmlError);
    for (const bad of ['<a><b></a>', '<p:a/>', '<a x="1" x="2"/>', '<a/><b/>', '<a/>text', '<a x=1/>', '<a>&amp</a>', '<a>&#0;</a>', '<a>\u0001</a>', '<a><!-- x -- y --></a>', '<a><![CDATA[x</a>', '<a', '<a x="<"/>', '<a xmlns:p="urn:p" p:x="1" xmlns:q="urn:p" q:x="2"/>']) {
      assert.throws(() => parseXml(bad), (e: Error) => e instanceof XmlError && e.code === 'NOT_WELL_FORMED', bad);
    }
    const ok = parseXml('\ufeff<?xml version="1.0" encoding="utf-8"?>\n<!-- c --><a xmlns="urn:d" xmlns:p="urn:p" p:k=\'v&apos;\'>x &#x41;&#66;<![CDATA[<&>]]><p:b/></a>\n');
    assert.deepEqual([ok.uri, ok.attrs[0]!.uri, ok.attrs[0]!.value, ok.children[0], (ok.children[1] as { uri: string }).uri], ['urn:d', 'urn:p', "v'", 'x AB<&>', 'urn:p']);
  });

  it('signs and verifies (RSA-SHA256, exclusive C14N, ReplayProtect), and catches tampering, replay, staleness and a foreign key', () => {
    const pki = makeTestPki();
    try {
      const a = pki.issue('a');
      const b = pki.issue('b');
      const id = { key: createPrivateKey(a.keyPem), cert: new X509Certificate(a.certPem) };
      const xml = signPayload('oadrPoll', { venID: 'v' }, id);
      assert.deepEqual(xsdFailures([xml]), []);
      const nonces = new NonceCache();
      assert.equal(verifyPayload(decodePayload(xml), { nonces, expectedFingerprint: certFingerprint(a.certPem) }), certFingerprint(a.certPem));
      assert.match(certFingerprint(a.certPem), /^([0-9A-F]{2}:){9}[0-9A-F]{2}$/);
      const reason = (f: () => unknown) => {
        try {
          f();
        } catch (e) {
          return (e as Oadr2bSignatureError).reason;
        }
        return 'accepted';
      };
      assert.equal(reason(() => verifyPayload(decodePayload(xml), { nonces })), 'REPLAY');
      assert.equal(reason(() => verifyPayload(decodePayload(xml.replace('<ei:venID>v<', '<ei:venID>w<')))), 'DIGEST');
      assert.equal(reason(() => verifyPayload(decodePayload(xml), { expectedFingerprint: certFingerprint(b.certPem) })), 'CERTIFICATE');
      assert.equal(reason(() => verifyPayload(decodePayload(xml), { now: Date.now() + 3600_000 })), 'STALE');
      const sigValue = /<ds:SignatureValue>([^<]+)</.exec(xml)![1]!;
      const flipped = sigValue.slice(0, 10) + (sigValue[10] === 'A' ? 'B' : 'A') + sigValue.slice(11);
      assert.equal(reason(() => verifyPayload(decodePayload(xml.replace(sigValue, flipped)))), 'SIGNATURE');
      assert.equal(reason(() => verifyPayload(decodePayload(encodePayload('oadrPoll', { venID: 'v' })))), 'MISSING');
      // Whitespace a proxy might add between elements outside the signed object does not break it.
      assert.equal(reason(() => verifyPayload(decodePayload(xml.replace('<oadr:oadrSignedObject', '\n  <oadr:oadrSignedObject')))), 'accepted');
    } finally {
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });
});
