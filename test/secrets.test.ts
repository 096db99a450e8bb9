import assert from 'node:assert/strict';
import { createCipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SignJWT } from 'jose';
import { openStorage } from '../adapters/storage/index.js';
import { LedgerToken, SecretBox, SecretsToken, StorageToken, type SqlClient } from '../core/index.js';
import { rotateSealed, writeKekFile } from '../core/secrets.js';
import { startTestHost, type TestHost } from '../core/testing/host.js';
import { startReceiver } from '../plugins/openadr3/testing/receiver.js';
import { waitFor } from '../core/testing/wait.js';
import { run } from './process.js';

const OA3 = '/openadr3/3.1.0';
const BL = { clientId: 'bl-1', clientSecret: 'bl-secret-1', role: 'bl', name: 'Utility' };
const VEN = { clientId: 'ven-1', clientSecret: 'ven-secret-1', role: 'ven', name: 'A VEN' };
const HOOK_TOKEN = 'webhook-bearer-token-of-ven-1';

/** Every value in the database that looks sealed, found by the test's own scan of every text and JSON column. */
async function sealedInDb(db: SqlClient): Promise<{ where: string; value: string }[]> {
  const cols = await db.query<{ table_name: string; column_name: string }>(
    `SELECT c.table_name, c.column_name FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
     WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.data_type IN ('text', 'character varying', 'json', 'jsonb')`,
  );
  const out: { where: string; value: string }[] = [];
  for (const c of cols.rows) {
    const rows = await db.query<{ v: string }>(`SELECT "${c.column_name}"::text AS v FROM "${c.table_name}" WHERE "${c.column_name}"::text LIKE '%gfs1.%'`);
    for (const r of rows.rows) for (const m of r.v.matchAll(/gfs1\.[0-9a-f]{16}(?:\.[A-Za-z0-9_-]*){4}/g)) out.push({ where: `${c.table_name}.${c.column_name}`, value: m[0] });
  }
  return out;
}

/** Every text and JSON value in the database, to look for a plaintext secret. */
async function allText(db: SqlClient): Promise<string> {
  const cols = await db.query<{ table_name: string; column_name: string }>(
    `SELECT c.table_name, c.column_name FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
     WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.data_type IN ('text', 'character varying', 'json', 'jsonb')`,
  );
  let all = '';
  for (const c of cols.rows) all += (await db.query<{ v: string }>(`SELECT coalesce(string_agg("${c.column_name}"::text, ' '), '') AS v FROM "${c.table_name}"`)).rows[0]!.v;
  return all;
}

const labelOf = (sealed: string) => Buffer.from(sealed.split('.')[2]!, 'base64url').toString('utf8');

describe('secrets at rest: sealed under one key-encryption key, rotated by a command', function () {
  this.timeout(300_000);
  const root = mkdtempSync(path.join(os.tmpdir(), 'gf-secrets-'));
  const dataDir = path.join(root, 'data');
  const kekFile = path.join(dataDir, 'secrets', 'kek');
  let rx: Awaited<ReturnType<typeof startReceiver>>;
  let host: TestHost | undefined;
  let blToken = '';
  let wallet = '';
  let subscriptionId = '';
  after(async () => {
    await host?.close();
    await rx?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const boot = async (plugins: string[] = ['openadr3', 'ledger']) => {
    host = await startTestHost({
      dataDir,
      plugins,
      config: { openadr3: { mqtt: { enabled: false }, clients: [BL, VEN], webhooks: { allowHttpHosts: ['127.0.0.1'], allowPrivateHosts: ['127.0.0.1'], pollMs: 50, backoffBaseMs: 50 } } },
    });
    return host;
  };
  const stop = async () => {
    await host?.close();
    host = undefined;
  };
  const token = async (c: { clientId: string; clientSecret: string }) => {
    const r = await fetch(`${host!.url}${OA3}/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&client_id=${c.clientId}&client_secret=${c.clientSecret}` });
    assert.equal(r.status, 200);
    return ((await r.json()) as { access_token: string }).access_token;
  };
  const call = (bearer: string, method: string, p: string, body?: unknown) =>
    fetch(`${host!.url}${OA3}${p}`, { method, headers: { authorization: `Bearer ${bearer}`, ...(body ? { 'content-type': 'application/json' } : {}) }, ...(body ? { body: JSON.stringify(body) } : {}) });
  const storage = () => host!.resolve(StorageToken);

  it('seals and opens with a label; another label, an altered value or another KEK does not open', () => {
    const box = SecretBox.generate();
    const sealed = box.seal('attack at dawn', 'test/one');
    assert.ok(SecretBox.isSealed(sealed) && !sealed.includes('attack'));
    assert.equal(box.openText(sealed, 'test/one'), 'attack at dawn');
    assert.notEqual(box.seal('attack at dawn', 'test/one'), sealed, 'a fresh IV every time');
    assert.throws(() => box.open(sealed, 'test/two'), { code: 'GF_SECRETS_UNSEALABLE' });
    const parts = sealed.split('.');
    parts[5] = Buffer.from(Buffer.from(parts[5]!, 'base64url').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64url');
    assert.throws(() => box.open(parts.join('.'), 'test/one'), { code: 'GF_SECRETS_UNSEALABLE' });
    assert.throws(() => SecretBox.generate().open(sealed, 'test/one'), { code: 'GF_SECRETS_WRONG_KEK' });
  });

  it('creates the KEK file at first start with mode 0600 (its folder 0700), and stores no secret in clear', async () => {
    rx = await startReceiver();
    await boot();
    assert.equal((statSync(kekFile).mode & 0o777).toString(8), '600');
    assert.equal((statSync(path.dirname(kekFile)).mode & 0o777).toString(8), '700');
    assert.match(readFileSync(kekFile, 'utf8'), /^[0-9a-f]{64}\n$/);
    blToken = await token(BL);
    const venToken = await token(VEN);
    const sub = await call(venToken, 'POST', '/subscriptions', { clientName: 'ven-1', objectOperations: [{ objects: ['PROGRAM'], operations: ['CREATE'], callbackUrl: `${rx.url}/ven-1`, bearerToken: HOOK_TOKEN }] });
    assert.equal(sub.status, 201, await sub.clone().text());
    subscriptionId = ((await sub.json()) as { id: string }).id;
    const blSub = await call(blToken, 'POST', '/subscriptions', { clientName: 'bl', objectOperations: [{ objects: ['SUBSCRIPTION'], operations: ['CREATE', 'UPDATE'], callbackUrl: `${rx.url}/bl`, bearerToken: 'bl-hook-token-xyz' }] });
    assert.equal(blSub.status, 201);
    wallet = await host!.resolve(LedgerToken).createWallet('prosumer-1');
    // The HMAC key of the 3.1 VTN: the row is a sealed value, not the key.
    const secrets = host!.resolve(SecretsToken);
    const row = (await storage().query<{ kid: string; secret: string }>('SELECT kid, secret FROM oa3_keys')).rows[0]!;
    assert.ok(SecretBox.isSealed(row.secret), row.secret);
    const hmacKey = secrets.open(row.secret, `openadr3/oa3_keys/${row.kid}`);
    assert.equal(hmacKey.length, 32);
    // A notification about the VEN's subscription goes out with its token, opened from its sealed copy.
    await call(blToken, 'POST', '/programs', { programName: 'p1' });
    await waitFor(() => rx.received.some((r) => r.path === '/ven-1'), 10_000, 'the webhook');
    assert.equal(rx.received.find((r) => r.path === '/ven-1')!.authorization, `Bearer ${HOOK_TOKEN}`);
    assert.equal((await (await call(venToken, 'GET', `/subscriptions/${subscriptionId}`)).json() as any).objectOperations[0].bearerToken, HOOK_TOKEN, 'the owner reads its token back');
    // Nowhere in the database in clear: the HMAC key (any encoding), the webhook tokens, the wallet and operator keys.
    const text = await allText(storage());
    for (const s of [hmacKey.toString('base64url'), hmacKey.toString('hex'), hmacKey.toString('base64'), HOOK_TOKEN, 'bl-hook-token-xyz']) assert.ok(!text.includes(s), `${s} is stored in clear`);
    const sealed = await sealedInDb(storage());
    const where = new Set(sealed.map((s) => s.where));
    for (const w of ['oa3_keys.secret', 'oa3_objects.body', 'oa3_outbox.bearer_token', 'ledger_wallets.key_enc', 'ledger_meta.value']) assert.ok(where.has(w), `${w} holds sealed values (${[...where].join(', ')})`);
    for (const s of sealed) assert.doesNotThrow(() => secrets.open(s.value, labelOf(s.value)), s.where);
    assert.equal(existsSync(path.join(dataDir, 'ledger', 'operator.key')), false, 'no operator key file in clear');
    assert.equal(existsSync(path.join(dataDir, 'ledger', 'wallet.key')), false, 'no wallet master key');
  });

  it('refuses to start with a KEK file others may read, a missing one, or another KEK', async () => {
    await stop();
    const good = readFileSync(kekFile, 'utf8');
    const refused = async (code: string) => {
      await assert.rejects(boot(['openadr3']), (e: any) => e.data?.causeCode === code || e.code === code);
    };
    chmodSync(kekFile, 0o644);
    await refused('GF_SECRETS_KEK_PERMISSIONS');
    chmodSync(kekFile, 0o640);
    await refused('GF_SECRETS_KEK_PERMISSIONS');
    chmodSync(kekFile, 0o600);
    rmSync(kekFile);
    await refused('GF_SECRETS_KEK_INVALID');
    assert.equal(existsSync(kekFile), false, 'a lost KEK is not silently replaced by a new one');
    writeFileSync(kekFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    await refused('GF_SECRETS_WRONG_KEK');
    rmSync(kekFile);
    writeFileSync(kekFile, good, { mode: 0o600 });
    await boot();
  });

  it('seals, at start, what earlier versions stored in clear: the HMAC key, webhook tokens, the operator key file, wallet-key ciphertexts', async () => {
    const ledger = host!.resolve(LedgerToken);
    const operator = ledger.operator;
    const secrets = host!.resolve(SecretsToken);
    const operatorKey = secrets.open((await storage().query<{ value: string }>(`SELECT value FROM ledger_meta WHERE key = 'operator_key'`)).rows[0]!.value, 'ledger/operator_key');
    const walletKey = secrets.open((await storage().query<{ key_enc: string }>('SELECT key_enc FROM ledger_wallets WHERE address = $1', [wallet])).rows[0]!.key_enc, `ledger/wallet/${wallet}`);
    await stop();
    // Put the database and data folder back the way the previous version left them.
    const db = await openStorage({ dataDir, databaseUrl: undefined });
    const legacyHmac = randomBytes(32);
    await db.query(`UPDATE oa3_keys SET secret = $1`, [legacyHmac.toString('base64url')]);
    await db.query(`UPDATE oa3_objects SET body = jsonb_set(body, '{objectOperations,0,bearerToken}', to_jsonb($2::text)) WHERE id = $1`, [subscriptionId, HOOK_TOKEN]);
    await db.query(`DELETE FROM ledger_meta WHERE key = 'operator_key'`);
    const legacyWalletKey = randomBytes(32);
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', legacyWalletKey, iv);
    c.setAAD(Buffer.from(wallet));
    const enc = Buffer.concat([c.update(walletKey), c.final()]);
    await db.query('UPDATE ledger_wallets SET key_enc = $2 WHERE address = $1', [wallet, [iv, c.getAuthTag(), enc].map((b) => b.toString('base64')).join('.')]);
    await db.close();
    mkdirSync(path.join(dataDir, 'ledger'), { recursive: true, mode: 0o700 });
    writeFileSync(path.join(dataDir, 'ledger', 'operator.key'), `0x${operatorKey.toString('hex')}\n`, { mode: 0o600 });
    writeFileSync(path.join(dataDir, 'ledger', 'wallet.key'), `${legacyWalletKey.toString('hex')}\n`, { mode: 0o600 });

    await boot();
    const text = await allText(storage());
    assert.ok(!text.includes(legacyHmac.toString('base64url')) && !text.includes(HOOK_TOKEN), 'sealed in place');
    // The key was sealed, not replaced: a token signed with the old plaintext key is still accepted.
    const old = await new SignJWT({ scope: 'read_all', role: 'bl' }).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).setIssuer('gridflex').setSubject('bl-1').setExpirationTime('1h').sign(legacyHmac);
    assert.equal((await call(old, 'GET', '/programs')).status, 200);
    blToken = await token(BL);
    assert.equal(host!.resolve(LedgerToken).operator, operator, 'the same operator');
    assert.equal(existsSync(path.join(dataDir, 'ledger', 'operator.key')), false, 'the operator key file in clear is gone');
    assert.equal(existsSync(path.join(dataDir, 'ledger', 'wallet.key')), false, 'the old wallet master key is gone');
    const sealedWallet = (await storage().query<{ key_enc: string }>('SELECT key_enc FROM ledger_wallets WHERE address = $1', [wallet])).rows[0]!.key_enc;
    assert.ok(SecretBox.isSealed(sealedWallet));
    await host!.resolve(LedgerToken).send('EnergyToken', 'transfer', [operator, 0n], { from: wallet as `0x${string}` });
  });

  it('`gridflex secrets rotate` re-seals everything under a new KEK: tokens stay valid, the old KEK opens nothing', async () => {
    const oldKek = new SecretBox(Buffer.from(readFileSync(kekFile, 'utf8').trim(), 'hex'));
    await stop();
    const r = await run(['secrets', 'rotate', '--json', '--data', dataDir]);
    assert.equal(r.code, 0, r.err);
    const out = JSON.parse(r.out) as { kid: string; oldKid: string; resealed: number; columns: string[] };
    assert.equal(out.oldKid, oldKek.kid);
    assert.notEqual(out.kid, oldKek.kid);
    assert.ok(out.resealed >= 5, r.out);
    assert.equal((statSync(kekFile).mode & 0o777).toString(8), '600');
    assert.equal(existsSync(`${kekFile}.next`), false);
    const newKek = new SecretBox(Buffer.from(readFileSync(kekFile, 'utf8').trim(), 'hex'));
    assert.equal(newKek.kid, out.kid);
    await boot();
    const sealed = await sealedInDb(storage());
    assert.ok(sealed.length >= 5);
    for (const s of sealed) {
      assert.throws(() => oldKek.open(s.value, labelOf(s.value)), { code: 'GF_SECRETS_WRONG_KEK' }, s.where);
      assert.doesNotThrow(() => newKek.open(s.value, labelOf(s.value)), s.where);
    }
    assert.equal((await call(blToken, 'GET', '/programs')).status, 200, 'a token issued before the rotation is still valid');
    await host!.resolve(LedgerToken).send('EnergyToken', 'transfer', [host!.resolve(LedgerToken).operator, 0n], { from: wallet as `0x${string}` });
    rx.received.length = 0;
    await call(blToken, 'POST', '/programs', { programName: 'p2' });
    await waitFor(() => rx.received.some((x) => x.path === '/ven-1'), 10_000, 'the webhook after rotation');
    assert.equal(rx.received.find((x) => x.path === '/ven-1')!.authorization, `Bearer ${HOOK_TOKEN}`);
  });

  it('a rotation that crashed after its commit is finished at the next start, one that crashed before it is abandoned', async () => {
    const current = new SecretBox(Buffer.from(readFileSync(kekFile, 'utf8').trim(), 'hex'));
    await stop();
    // Crash before the commit: the new KEK file was written, the database not touched.
    writeKekFile(`${kekFile}.next`, randomBytes(32).toString('hex'));
    await boot();
    assert.equal(existsSync(`${kekFile}.next`), false);
    assert.equal(host!.resolve(SecretsToken).kid, current.kid);
    assert.equal((await call(blToken, 'GET', '/programs')).status, 200);
    await stop();
    // Crash after the commit, before the new file replaced the old one.
    const nextHex = randomBytes(32).toString('hex');
    const next = new SecretBox(Buffer.from(nextHex, 'hex'));
    writeKekFile(`${kekFile}.next`, nextHex);
    const db = await openStorage({ dataDir, databaseUrl: undefined });
    await rotateSealed(db, current, next);
    await db.close();
    await boot();
    assert.equal(existsSync(`${kekFile}.next`), false);
    assert.equal(readFileSync(kekFile, 'utf8').trim(), nextHex);
    assert.equal(host!.resolve(SecretsToken).kid, next.kid);
    assert.equal((await call(blToken, 'GET', '/programs')).status, 200);
    for (const s of await sealedInDb(storage())) assert.throws(() => current.open(s.value, labelOf(s.value)), { code: 'GF_SECRETS_WRONG_KEK' });
  });

  it('takes the KEK from config (GRIDFLEX_KEK) instead of a file, and rotates it with GRIDFLEX_NEW_KEK', async () => {
    await stop();
    const dir = path.join(root, 'config-kek');
    const k1 = randomBytes(32).toString('hex');
    const k2 = randomBytes(32).toString('hex');
    const withKek = (kek: string) => startTestHost({ dataDir: dir, plugins: ['openadr3'], config: { openadr3: { mqtt: { enabled: false }, clients: [BL] }, secrets: { kek } } });
    host = await withKek(k1);
    const t = await token(BL);
    assert.equal(existsSync(path.join(dir, 'secrets', 'kek')), false, 'no file when the KEK is configured');
    await stop();
    const r = await run(['secrets', 'rotate', '--data', dir], { GRIDFLEX_KEK: k1, GRIDFLEX_NEW_KEK: k2 });
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /GRIDFLEX_KEK/);
    await assert.rejects(withKek(k1), (e: any) => e.data?.causeCode === 'GF_SECRETS_WRONG_KEK');
    host = await withKek(k2);
    assert.equal((await call(t, 'GET', '/programs')).status, 200);
    await stop();
  });
});
