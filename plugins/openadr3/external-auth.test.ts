import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger } from '../../core/index.js';
import { startServer } from '../../core/server.js';

describe('OpenADR 3.1 VTN with an external authorisation server (JWKS)', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-oa3-jwks-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts that server\'s tokens, refuses others, and points clients at its token endpoint', async () => {
    const { publicKey, privateKey } = await generateKeyPair('RS256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
    const idp = http.createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] })));
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
    const idpUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
    const config = loadConfigOrThrow({ env: {}, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins.openadr3 = { enabled: true, config: { externalAuth: { jwksUrl: `${idpUrl}/jwks`, issuer: 'https://idp.example', audience: 'gridflex-vtn', tokenUrl: 'https://idp.example/oauth2/token' } } };
    const server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    const sign = (claims: Record<string, unknown>, key = privateKey, iss = 'https://idp.example', exp = '5m') =>
      new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(iss).setAudience('gridflex-vtn').setIssuedAt().setExpirationTime(exp).sign(key);
    const get = (tok: string, p: string) => fetch(`${server.url}/openadr3/3.1.0${p}`, { headers: { authorization: `Bearer ${tok}` } });
    try {
      const info = (await (await fetch(`${server.url}/openadr3/3.1.0/auth/server`)).json()) as { tokenURL: string };
      assert.equal(info.tokenURL, 'https://idp.example/oauth2/token');
      const local = await fetch(`${server.url}/openadr3/3.1.0/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&client_id=a&client_secret=b' });
      assert.equal(local.status, 501);

      const blTok = await sign({ client_id: 'utility', scope: 'read_all write_programs write_events write_vens' });
      const created = await fetch(`${server.url}/openadr3/3.1.0/programs`, { method: 'POST', headers: { authorization: `Bearer ${blTok}`, 'content-type': 'application/json' }, body: JSON.stringify({ programName: 'idp-program' }) });
      assert.equal(created.status, 201);
      const venTok = await sign({ sub: 'ven-9', scp: ['read_targets', 'read_ven_objects', 'write_vens'] });
      const seen = (await (await get(venTok, '/programs')).json()) as { programName: string }[];
      assert.deepEqual(seen.map((p) => p.programName), ['idp-program']);
      assert.equal((await fetch(`${server.url}/openadr3/3.1.0/programs`, { method: 'POST', headers: { authorization: `Bearer ${venTok}`, 'content-type': 'application/json' }, body: '{"programName":"x"}' })).status, 403);
      const ven = await fetch(`${server.url}/openadr3/3.1.0/vens`, { method: 'POST', headers: { authorization: `Bearer ${venTok}`, 'content-type': 'application/json' }, body: JSON.stringify({ objectType: 'VEN_VEN_REQUEST', venName: 'v9' }) });
      assert.equal(((await ven.json()) as { clientID: string }).clientID, 'ven-9', 'the client id comes from the token');

      const other = await generateKeyPair('RS256');
      assert.equal((await get(await sign({ client_id: 'x', scope: 'read_all' }, other.privateKey), '/programs')).status, 401, 'a key not in the JWKS');
      assert.equal((await get(await sign({ client_id: 'x', scope: 'read_all' }, privateKey, 'https://evil.example'), '/programs')).status, 401, 'another issuer');
      assert.equal((await get(await sign({ client_id: 'x', scope: 'read_all' }, privateKey, 'https://idp.example', '-1m'), '/programs')).status, 401, 'expired');
    } finally {
      await server.close();
      await new Promise<void>((r) => idp.close(() => r()));
    }
  });
});
