import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { StorageToken } from '../../core/index.js';
import { Oadr2bVen, Oadr2bVenError } from '../../core/openadr2b/ven.js';
import { makeTestPki, type TestCert, type TestPki } from '../../core/testing/pki.js';
import { startTestHost, type TestHost } from '../../core/testing/host.js';
import { encodePayload, type Body } from '../../standards/openadr2b/codec.js';

const OA2 = '/OpenADR2/Simple/2.0b';
const OA3 = '/openadr3/3.1.0';

const registration = (name: string | undefined, extra: Body = {}): string =>
  encodePayload('oadrCreatePartyRegistration', {
    requestID: 'r1',
    ...extra,
    oadrProfileName: '2.0b',
    oadrTransportName: 'simpleHttp',
    oadrReportOnly: false,
    oadrXmlSignature: false,
    ...(name !== undefined ? { oadrVenName: name } : {}),
    oadrHttpPullModel: true,
  });
const basic = (user: string, secret: string) => `Basic ${Buffer.from(`${user}:${secret}`).toString('base64')}`;
const code = (xml: string) => /<ei:responseCode>(\d+)</.exec(xml)?.[1];
const venIdIn = (xml: string) => /<ei:venID>([^<]+)</.exec(xml)?.[1];

async function post(host: TestHost, service: string, xml: string, authorization?: string): Promise<{ status: number; xml: string }> {
  const r = await fetch(`${host.url}${OA2}/${service}`, { method: 'POST', headers: { 'content-type': 'application/xml', ...(authorization ? { authorization } : {}) }, body: xml });
  return { status: r.status, xml: await r.text() };
}

function tlsPost(url: string, xml: string, client: TestCert, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method: 'POST', cert: client.certPem, key: client.keyPem, ca, headers: { 'content-type': 'application/xml' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    });
    req.on('error', reject);
    req.end(xml);
  });
}

const api = async (host: TestHost, method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> => {
  const r = await fetch(`${host.url}/api/openadr2b${p}`, { method, headers: { ...host.operator, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const text = await r.text();
  return { status: r.status, body: text ? JSON.parse(text) : undefined };
};

describe('OpenADR 2.0b registration: a VEN is bound to its credential, never handed over by name', function () {
  this.timeout(120_000);
  const started: Oadr2bVen[] = [];
  const ven = (host: TestHost, venName: string, extra: Partial<ConstructorParameters<typeof Oadr2bVen>[0]> = {}) => {
    const v = new Oadr2bVen({ vtnUrl: `${host.url}${OA2}`, venName, pollMs: 3_600_000, ...extra });
    started.push(v);
    return v;
  };
  after(async () => {
    for (const v of started) await v.stop();
  });

  describe('by default (only provisioned VENs register)', () => {
    let host: TestHost;
    before(async () => {
      host = await startTestHost({ plugins: ['openadr2b'], config: { openadr3: { mqtt: { enabled: false } } } });
    });
    after(() => host?.close());

    it('refuses a VEN nobody provisioned, whatever it presents', async () => {
      for (const auth of [undefined, basic('stranger', 'a-secret-of-my-own-choosing')]) {
        const r = await post(host, 'EiRegisterParty', registration('stranger'), auth);
        assert.equal(code(r.xml), '463', r.xml);
        assert.equal(venIdIn(r.xml), undefined, 'no venID for a stranger');
      }
      assert.equal((await api(host, 'GET', '/vens')).body.length, 0);
    });

    it('provisions a VEN with a secret it then presents, stored only as a hash, and refuses every request without it', async () => {
      const secret = 'site-a-registration-secret-0123';
      const none = await api(host, 'POST', '/vens', { venName: 'site-a' });
      assert.deepEqual([none.status, none.body.code, none.body.field], [400, 'GF_OA2B_INVALID', 'secret'], 'a VEN without a credential could be taken by whoever registers first');
      assert.equal((await api(host, 'POST', '/vens', { venName: 'site-a', secret: 'short' })).body.field, 'secret');
      assert.equal((await api(host, 'POST', '/vens', { venName: 'a:b', secret })).body.field, 'venName');
      const made = await api(host, 'POST', '/vens', { venName: 'site-a', secret });
      assert.equal(made.status, 201, JSON.stringify(made.body));
      assert.equal(made.body.credential, 'secret');
      assert.ok(!JSON.stringify(made.body).includes(secret), 'the secret is not echoed');
      const row = (await host.resolve(StorageToken).query<{ secret_hash: string }>('SELECT secret_hash FROM oa2_vens WHERE ven_name = $1', ['site-a'])).rows[0]!;
      assert.match(row.secret_hash, /^scrypt\$/);
      assert.ok(!row.secret_hash.includes(secret));

      await assert.rejects(ven(host, 'site-a', { secret: 'not-the-secret-at-all' }).start(), (e: Error) => e instanceof Oadr2bVenError && e.responseCode === '463');
      await assert.rejects(ven(host, 'site-a').start(), (e: Error) => e instanceof Oadr2bVenError && e.responseCode === '463');
      const good = ven(host, 'site-a', { secret });
      await good.start();
      assert.equal(good.venID, made.body.venID);
      const poll = encodePayload('oadrPoll', { venID: good.venID! });
      assert.equal(code((await post(host, 'OadrPoll', poll, basic('site-a', secret))).xml), '200');
      // The venID is no password: a poll naming it without the credentials is refused.
      assert.equal(code((await post(host, 'OadrPoll', poll)).xml), '463');
      assert.equal(code((await post(host, 'OadrPoll', poll, basic('site-a', 'guess-guess-guess-guess'))).xml), '463');

      // The operator replaces the secret: the old one stops working at once (even though it was verified before).
      assert.equal((await api(host, 'POST', '/vens', { venName: 'site-a', secret: 'site-a-new-secret-456789' })).status, 201);
      assert.equal(code((await post(host, 'OadrPoll', poll, basic('site-a', secret))).xml), '463');
      const renewed = ven(host, 'site-a', { secret: 'site-a-new-secret-456789' });
      await renewed.start();
      assert.equal(renewed.venID, good.venID);
    });
  });

  describe('with openRegistration (opt-in)', () => {
    let host: TestHost;
    let pki: TestPki;
    let tlsBase = '';
    before(async () => {
      pki = makeTestPki();
      const vtnCert = pki.issue('vtn');
      host = await startTestHost({
        plugins: ['openadr2b'],
        config: {
          openadr3: { mqtt: { enabled: false }, clients: [{ clientId: 'bl-1', clientSecret: 'bl-secret-1', role: 'bl', name: 'Utility' }, { clientId: 'other-31', clientSecret: 'other-secret-31', role: 'ven', name: 'A 3.1 VEN' }] },
          openadr2b: { openRegistration: true, tls: { port: 0, certFile: vtnCert.certFile, keyFile: vtnCert.keyFile, caFile: pki.ca.certFile } },
        },
      });
      tlsBase = `https://127.0.0.1:${(await api(host, 'GET', '/')).body.tlsPort}${OA2}`;
    });
    after(async () => {
      await host?.close();
      if (pki) rmSync(pki.dir, { recursive: true, force: true });
    });

    it('does not hand a registered VEN to whoever re-registers with its oadrVenName, nor let them cancel it', async () => {
      const victim = ven(host, 'victim', { secret: 'victim-secret-0123456789' });
      await victim.start();
      const { venID, registrationID } = victim;
      assert.ok(venID && registrationID);
      // The attack of issue 25: the same name, no credentials (or wrong ones, or another VEN's).
      const attempts: Array<[string, string | undefined, Body]> = [
        ['no credentials', undefined, {}],
        ['a wrong secret', basic('victim', 'mallory-guesses-0123456'), {}],
        ['its venID', basic('victim', 'mallory-guesses-0123456'), { venID }],
        ['another name in the credentials', basic('mallory', 'mallory-secret-01234567'), {}],
      ];
      for (const [what, auth, extra] of attempts) {
        const r = await post(host, 'EiRegisterParty', registration('victim', extra), auth);
        assert.notEqual(code(r.xml), '200', `${what}: ${r.xml}`);
        assert.ok(!r.xml.includes(venID), `${what}: the victim's venID was handed over`);
      }
      const cancel = encodePayload('oadrCancelPartyRegistration', { requestID: 'c1', registrationID, venID });
      assert.equal(code((await post(host, 'EiRegisterParty', cancel)).xml), '463', 'a cancellation without credentials');
      // Mallory registers a VEN of her own (open registration) and tries with her own, valid, credentials.
      const mallory = ven(host, 'mallory', { secret: 'mallory-secret-01234567' });
      await mallory.start();
      assert.notEqual(mallory.venID, venID);
      assert.equal(code((await post(host, 'EiRegisterParty', cancel, basic('mallory', 'mallory-secret-01234567'))).xml), '452', 'her credentials speak only for her VEN');
      assert.equal((await api(host, 'GET', `/vens/${venID}`)).body.registered, true);
      const poll = await post(host, 'OadrPoll', encodePayload('oadrPoll', { venID }), basic('victim', 'victim-secret-0123456789'));
      assert.equal(code(poll.xml), '200', 'the victim is still registered and polls');
    });

    it('binds a new VEN to the first secret it presents, stored hashed', async () => {
      const first = ven(host, 'newcomer', { secret: 'newcomer-secret-0123456' });
      await first.start();
      const row = (await host.resolve(StorageToken).query<{ secret_hash: string }>('SELECT secret_hash FROM oa2_vens WHERE ven_id = $1', [first.venID])).rows[0]!;
      assert.match(row.secret_hash, /^scrypt\$/);
      await assert.rejects(ven(host, 'newcomer', { secret: 'second-comer-secret-0123' }).start(), (e: Error) => e instanceof Oadr2bVenError && e.responseCode === '463');
      // Re-registration with its own secret keeps its venID.
      await first.register();
      assert.equal((await api(host, 'GET', `/vens/${first.venID}`)).body.credential, 'secret');
    });

    it('binds a new VEN to the first certificate over mutual TLS; another certificate cannot take the name', async () => {
      const a = pki.issue('tofu-a');
      const b = pki.issue('tofu-b');
      const first = new Oadr2bVen({ vtnUrl: tlsBase, venName: 'tofu-site', tls: { certPem: a.certPem, keyPem: a.keyPem, caPem: pki.ca.certPem }, pollMs: 3_600_000 });
      started.push(first);
      await first.start();
      assert.equal((await api(host, 'GET', `/vens/${first.venID}`)).body.fingerprint, first.fingerprint);
      const other = await tlsPost(`${tlsBase}/EiRegisterParty`, registration('tofu-site'), b, pki.ca.certPem);
      assert.equal(code(other), '463', other);
      assert.ok(!other.includes(first.venID!));
      // Over plain HTTP the certificate-bound VEN cannot be reached at all.
      const plain = await post(host, 'EiRegisterParty', registration('tofu-site'), basic('tofu-site', 'any-secret-at-all-0123'));
      assert.equal(code(plain.xml), '463');
      assert.ok(!plain.xml.includes(first.venID!));
    });

    it('answers a registration under a name a 3.1 VEN holds in protocol terms, not with a 500', async () => {
      const t = await fetch(`${host.url}${OA3}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=other-31&client_secret=other-secret-31' });
      const token = ((await t.json()) as { access_token: string }).access_token;
      const made = await fetch(`${host.url}${OA3}/vens`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ objectType: 'VEN_VEN_REQUEST', venName: 'taken-31' }) });
      assert.equal(made.status, 201, await made.text());
      const r = await post(host, 'EiRegisterParty', registration('taken-31'), basic('taken-31', 'taken-secret-0123456789'));
      assert.equal(r.status, 200);
      assert.equal(code(r.xml), '463', r.xml);
    });
  });
});
