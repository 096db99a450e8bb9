import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { PartiesToken, StorageToken } from '../index.js';
import { startTestHost, type TestHost } from '../testing/host.js';
import { run } from '../../test/process.js';
import { CREDENTIALS_FILE } from './plugin.js';

describe('parties: first operator credential, client credentials, HMI sign-in, external OIDC issuer, CLI', function () {
  this.timeout(120_000);
  let h: TestHost;
  before(async () => {
    h = await startTestHost({ plugins: ['hmi', 'meter-data'] });
  });
  after(() => h?.close());

  it('writes the first operator credential to the data folder (0600) and exchanges it for a token', async () => {
    const file = path.join(h.dataDir, CREDENTIALS_FILE);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const cred = JSON.parse(readFileSync(file, 'utf8')) as { clientId: string; clientSecret: string };
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: cred.clientId, client_secret: cred.clientSecret });
    const res = await fetch(`${h.url}/api/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    const t = (await res.json()) as { access_token: string; token_type: string };
    assert.equal(t.token_type, 'Bearer');
    const me = (await (await fetch(`${h.url}/api/auth/me`, { headers: { authorization: `Bearer ${t.access_token}` } })).json()) as { partyId: string; role: string };
    assert.deepEqual(me, { partyId: 'operator', role: 'operator', via: 'token' });
    const basic = Buffer.from(`${cred.clientId}:${cred.clientSecret}`).toString('base64');
    assert.equal((await fetch(`${h.url}/api/auth/token`, { method: 'POST', headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials' })).status, 200, 'HTTP Basic (RFC 6749 §2.3.1)');
    const row = (await h.resolve(StorageToken).query<{ private_jwk: string }>('SELECT private_jwk FROM parties_keys')).rows[0]!;
    assert.match(row.private_jwk, /^gfs1\./, 'the signing key is sealed at rest');
    assert.doesNotMatch(row.private_jwk, /"d"/, 'no private key material in the clear');
    const wrong = await fetch(`${h.url}/api/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=password&client_id=operator&client_secret=x' });
    assert.equal(wrong.status, 400);
    assert.equal(((await wrong.json()) as { code: string }).code, 'GF_AUTH_TOKEN_REQUEST');
  });

  it('throttles guessing: five wrong secrets lock the client for this address', async () => {
    const parties = h.resolve(PartiesToken);
    await parties.addParty({ id: 'guessed', role: 'prosumer', name: 'G' });
    await parties.addClient('guessed', { clientId: 'guessed-client', clientSecret: 'the-right-secret-0123' });
    const ask = (secret: string) =>
      fetch(`${h.url}/api/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: 'guessed-client', client_secret: secret }) });
    for (let i = 0; i < 5; i++) assert.equal((await ask(`wrong-${i}`)).status, 401);
    const locked = await ask('the-right-secret-0123');
    assert.equal(locked.status, 429, 'even the right secret waits out the lock');
    assert.ok(Number(locked.headers.get('retry-after')) > 0);
  });

  it('signs a person in to the HMI with a password: HttpOnly Secure SameSite cookie, CSRF on forms, sign-out', async () => {
    const parties = h.resolve(PartiesToken);
    await parties.addParty({ id: 'alice', role: 'prosumer', name: 'Alice', password: 'correct horse battery' });
    assert.equal((await fetch(`${h.url}/hmi`, { redirect: 'manual' })).headers.get('location'), '/hmi/login', 'a page without a session asks to sign in');
    const form = await fetch(`${h.url}/hmi/login`);
    const csrfCookie = /gf_login_csrf=([^;]+)/.exec(form.headers.get('set-cookie') ?? '')![1]!;
    const field = /name="csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    assert.equal(field, csrfCookie);
    const post = (body: Record<string, string>, cookie: string) =>
      fetch(`${h.url}/hmi/login`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie }, body: new URLSearchParams(body) });
    assert.equal((await post({ party: 'alice', password: 'correct horse battery', csrf: 'forged' }, `gf_login_csrf=${csrfCookie}`)).status, 403, 'a forged form');
    assert.equal((await post({ party: 'alice', password: 'wrong password!', csrf: field }, `gf_login_csrf=${csrfCookie}`)).status, 401);
    const ok = await post({ party: 'alice', password: 'correct horse battery', csrf: field }, `gf_login_csrf=${csrfCookie}`);
    assert.equal(ok.status, 303);
    const setCookie = ok.headers.getSetCookie().find((c) => c.startsWith('gf_session='))!;
    assert.match(setCookie, /HttpOnly/);
    assert.match(setCookie, /Secure/);
    assert.match(setCookie, /SameSite=Strict/);
    const session = /gf_session=([^;]+)/.exec(setCookie)![1]!;
    const cookie = `gf_session=${session}`;
    const me = (await (await fetch(`${h.url}/api/auth/me`, { headers: { cookie } })).json()) as { partyId: string; via: string };
    assert.deepEqual([me.partyId, me.via], ['alice', 'session']);
    assert.equal((await fetch(`${h.url}/hmi`, { headers: { cookie } })).status, 200);
    // A write with the cookie but without the session's CSRF token is refused (a cross-site form cannot know it).
    const noCsrf = await fetch(`${h.url}/hmi/logout`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
    assert.equal(noCsrf.status, 403);
    const logoutPage = await (await fetch(`${h.url}/hmi/logout`, { headers: { cookie } })).text();
    const csrf = /name="csrf" value="([^"]+)"/.exec(logoutPage)![1]!;
    const out = await fetch(`${h.url}/hmi/logout`, { method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ csrf }) });
    assert.equal(out.status, 303);
    assert.equal((await fetch(`${h.url}/api/auth/me`, { headers: { cookie } })).status, 401, 'the session is gone');
    const rows = await h.resolve(PartiesToken).audit({ partyId: 'alice' });
    assert.ok(rows.some((r) => r.path === '/hmi/logout' && r.status === 303), 'the sign-out is audited');
  });

  it('accepts tokens of an external OpenID Connect issuer for parties that exist here, with our roles', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' };
    const idp = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
    const idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
    const x = await startTestHost({ config: { parties: { externalIssuer: { issuer: 'https://idp.example', jwksUrl: `${idpUrl}/jwks`, audience: 'gridflex', partyClaim: 'preferred_username' } } } });
    try {
      await x.resolve(PartiesToken).addParty({ id: 'dso-north', role: 'dso', name: 'DSO North' });
      const sign = (claims: Record<string, unknown>, iss = 'https://idp.example', key = privateKey) =>
        new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'idp-1' }).setIssuer(iss).setAudience('gridflex').setIssuedAt().setExpirationTime('5m').sign(key);
      const me = async (t: string) => fetch(`${x.url}/api/auth/me`, { headers: { authorization: `Bearer ${t}` } });
      const ok = await me(await sign({ sub: 'u-1', preferred_username: 'dso-north', role: 'operator' }));
      assert.equal(ok.status, 200);
      assert.deepEqual(((await ok.json()) as { partyId: string; role: string }).role, 'dso', 'the role is ours, whatever the token claims');
      assert.equal((await me(await sign({ preferred_username: 'nobody-here' }))).status, 401, 'a party we do not know');
      assert.equal((await me(await sign({ preferred_username: 'dso-north' }, 'https://evil.example'))).status, 401, 'another issuer (not ours either)');
      assert.equal((await me(await sign({ preferred_username: 'dso-north' }, 'https://idp.example', (await generateKeyPair('RS256')).privateKey))).status, 401, 'a key not in the JWKS');
    } finally {
      await x.close();
      await new Promise<void>((r) => idp.close(() => r()));
    }
  });

  it('gridflex parties / tokens / audit manage parties from the command line', async () => {
    const data = path.join(path.dirname(h.dataDir), 'cli-data');
    const add = await run(['parties', 'add', '--id', 'agg-1', '--role', 'aggregator', '--name', 'Aggregator One', '--json', '--data', data]);
    assert.equal(add.code, 0, add.err);
    assert.equal((JSON.parse(add.out) as { role: string }).role, 'aggregator');
    assert.equal((await run(['parties', 'add', '--id', 'p-1', '--role', 'prosumer', '--name', 'P', '--data', data])).code, 0);
    assert.equal((await run(['parties', 'site', '--party', 'p-1', '--id', 'site-1', '--meter', 'mA', '--device', 'dA', '--data', data])).code, 0);
    const enrol = await run(['parties', 'enrol', '--aggregator', 'agg-1', '--prosumer', 'p-1', '--json', '--data', data]);
    assert.deepEqual((JSON.parse(enrol.out) as { prosumers: string[] }).prosumers, ['p-1']);
    const bad = await run(['parties', 'add', '--id', 'x', '--role', 'king', '--name', 'X', '--data', data]);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /GF_PARTY_INVALID: role must be operator, dso, aggregator or prosumer/);
    const token = await run(['tokens', 'issue', '--party', 'agg-1', '--data', data]);
    assert.equal(token.code, 0, token.err);
    assert.match(token.out.trim(), /^[\w-]+\.[\w-]+\.[\w-]+$/);
    const list = await run(['parties', 'list', '--json', '--data', data]);
    assert.deepEqual((JSON.parse(list.out) as { id: string }[]).map((p) => p.id), ['agg-1', 'operator', 'p-1']);
  });
});
