import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { LedgerToken, StorageToken, type Address, type Ledger, type Storage } from '../../core/index.js';
import { startTestHost, type TestHost } from '../../core/testing/host.js';

/**
 * Issue 25, market defects: each test reproduces an abuse or a crash that broke the market on main, against the
 * real stack (PGlite, the embedded EVM, HTTP on loopback).
 */

const PAY = 'payment-provider-secret-0123';
const sha = (s: string) => `0x${createHash('sha256').update(s).digest('hex')}`;

interface Api {
  (method: string, p: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; body: any }>;
}

function apiOf(host: TestHost): Api {
  return async (method, p, body, headers = {}) => {
    const res = await fetch(`${host.url}/api/market${p}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: res.status === 204 ? null : ((await res.json()) as any) };
  };
}

describe('p2p-market: minting is the payment provider’s, and a payment reference mints once (issue 25.2)', function () {
  this.timeout(120_000);
  let host: TestHost;
  let api: Api;
  let L: Ledger;
  let db: Storage;
  let wallet: Address;
  const minter = { 'x-payment-provider-token': PAY };
  const balance = async (a: Address = wallet) => L.call<bigint>('EnergyToken', 'balanceOf', [a]);

  before(async () => {
    host = await startTestHost({ plugins: ['p2p-market'], config: { 'p2p-market': { jobEvery: '', paymentProviderTokens: [PAY] } } });
    api = apiOf(host);
    L = host.resolve(LedgerToken);
    db = host.resolve(StorageToken);
    for (const id of ['p1', 'p2']) assert.equal((await api('POST', '/prosumers', { id, meterId: `m-${id}` })).status, 201);
    wallet = (await api('GET', '/prosumers/p1')).body.wallet;
  });
  after(async () => host?.close());

  it('refuses to mint without the payment provider’s credential, or with a wrong one', async () => {
    const attempts: Record<string, string>[] = [{}, { 'x-payment-provider-token': 'not-the-provider-token' }, { authorization: `Bearer ${PAY}` }];
    for (const headers of attempts) {
      const r = await api('POST', '/prosumers/p1/tokens/buy', { amount: 100, reference: 'free-1' }, headers);
      assert.deepEqual([r.status, r.body.code], [401, 'GF_MARKET_UNAUTHORIZED'], JSON.stringify(r.body));
      const f = await api('POST', '/rewards', { amount: 100, reference: 'free-2' }, headers);
      assert.deepEqual([f.status, f.body.code], [401, 'GF_MARKET_UNAUTHORIZED'], JSON.stringify(f.body));
    }
    assert.equal(await balance(), 0n);
    assert.equal(await L.call('EnergyToken', 'totalSupply', []), 0n, 'nothing minted');
  });

  it('51 concurrent buys with one reference mint once and all get the same answer', async () => {
    const rs = await Promise.all(Array.from({ length: 51 }, () => api('POST', '/prosumers/p1/tokens/buy', { amount: 100, reference: 'pay-51' }, minter)));
    assert.deepEqual([...new Set(rs.map((r) => r.status))], [200], JSON.stringify(rs.find((r) => r.status !== 200)?.body));
    assert.equal(new Set(rs.map((r) => JSON.stringify(r.body))).size, 1, 'one answer');
    assert.deepEqual(rs[0]!.body, { reference: 'pay-51', prosumer: 'p1', amount: '100', balance: '100' });
    assert.equal(await balance(), 100n, 'minted 100, not 5,100');
    assert.equal((await L.events({ contract: 'EnergyToken', event: 'Issued', where: { paymentRef: sha('pay-51') } })).length, 1);
    // Later repeats too.
    assert.deepEqual((await api('POST', '/prosumers/p1/tokens/buy', { amount: 100, reference: 'pay-51' }, minter)).body, rs[0]!.body);
    assert.equal(await balance(), 100n);
  });

  it('the same reference with another body is refused with a stable code; nothing is minted', async () => {
    for (const [p, amount] of [['p1', 101], ['p2', 100], ['p1', '100000000000000000000']] as const) {
      const r = await api('POST', `/prosumers/${p}/tokens/buy`, { amount, reference: 'pay-51' }, minter);
      assert.deepEqual([r.status, r.body.code, r.body.field], [409, 'GF_MARKET_REFERENCE_REUSED', 'reference'], JSON.stringify(r.body));
    }
    // A reward funding is a payment too: it may not reuse a purchase's reference.
    assert.equal((await api('POST', '/rewards', { amount: 100, reference: 'pay-51' }, minter)).body.code, 'GF_MARKET_REFERENCE_REUSED');
    assert.equal(await L.call('EnergyToken', 'totalSupply', []), 100n);
  });

  it('a buy whose mint reached the chain before a crash is completed by the retry, not minted again', async () => {
    // The state a crash leaves: the reference claimed (pending) and the tokens issued on chain, no answer stored.
    await db.query(`INSERT INTO mkt_token_requests (kind, reference, request, state) VALUES ('payment', 'pay-crash', $1::jsonb, 'pending')`, [JSON.stringify({ action: 'buy', prosumer: 'p1', amount: '40' })]);
    await L.send('EnergyToken', 'issue', [wallet, 40, sha('pay-crash')]);
    const r = await api('POST', '/prosumers/p1/tokens/buy', { amount: 40, reference: 'pay-crash' }, minter);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(await balance(), 140n, 'the 40 count once');
    // Even with the database's claim lost, the contract refuses the reference a second time.
    await L.send('EnergyToken', 'issue', [wallet, 5, sha('pay-lost')]);
    assert.equal((await api('POST', '/prosumers/p1/tokens/buy', { amount: 5, reference: 'pay-lost' }, minter)).status, 200);
    assert.equal(await balance(), 145n);
    // A reference the chain holds for another mint is not this request's.
    await L.send('EnergyToken', 'issue', [wallet, 9, sha('pay-other')]);
    assert.equal((await api('POST', '/prosumers/p2/tokens/buy', { amount: 9, reference: 'pay-other' }, minter)).body.code, 'GF_MARKET_REFERENCE_REUSED');
    assert.equal(await L.call('EnergyToken', 'totalSupply', []), 154n);
  });

  it('a refused request leaves its reference free; sales and reward fundings are idempotent too', async () => {
    const unknown = await api('POST', '/prosumers/ghost/tokens/buy', { amount: 5, reference: 'pay-free' }, minter);
    assert.equal(unknown.status, 404);
    assert.equal((await api('POST', '/prosumers/p2/tokens/buy', { amount: 5, reference: 'pay-free' }, minter)).status, 200);
    const sells = await Promise.all(Array.from({ length: 10 }, () => api('POST', '/prosumers/p1/tokens/sell', { amount: 45, reference: 'payout-1' })));
    assert.deepEqual([...new Set(sells.map((r) => r.status))], [200]);
    assert.equal(await balance(), 154n - 45n, 'burnt once');
    assert.equal((await api('POST', '/prosumers/p1/tokens/sell', { amount: 44, reference: 'payout-1' })).body.code, 'GF_MARKET_REFERENCE_REUSED');
    const funds = await Promise.all(Array.from({ length: 10 }, () => api('POST', '/rewards', { amount: 300, reference: 'pool-1' }, minter)));
    assert.deepEqual([...new Set(funds.map((r) => r.status))], [200], JSON.stringify(funds.map((f) => f.body)));
    assert.equal(await L.call('MarketSession', 'rewardPool', []), 300n);
  });

  it('with no payment-provider credential configured, nobody mints over HTTP', async () => {
    const plain = await startTestHost({ plugins: ['p2p-market'], config: { 'p2p-market': { jobEvery: '' } } });
    try {
      const a = apiOf(plain);
      assert.equal((await a('POST', '/prosumers', { id: 'q', meterId: 'm-q' })).status, 201);
      const r = await a('POST', '/prosumers/q/tokens/buy', { amount: 1, reference: 'r' }, minter);
      assert.deepEqual([r.status, r.body.code], [401, 'GF_MARKET_UNAUTHORIZED']);
      assert.match(r.body.detail, /paymentProviderTokens/);
    } finally {
      await plain.close();
    }
  });
});
