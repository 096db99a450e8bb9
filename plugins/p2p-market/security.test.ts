import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
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
      headers: { ...host.operator, ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
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
    // The operator's own token is not enough; the provider's credential as a bearer token is no platform token at all.
    const attempts: [Record<string, string>, string][] = [
      [{}, 'GF_MARKET_UNAUTHORIZED'],
      [{ 'x-payment-provider-token': 'not-the-provider-token' }, 'GF_MARKET_UNAUTHORIZED'],
      [{ authorization: `Bearer ${PAY}` }, 'GF_AUTH_INVALID_TOKEN'],
    ];
    for (const [headers, code] of attempts) {
      const r = await api('POST', '/prosumers/p1/tokens/buy', { amount: 100, reference: 'free-1' }, headers);
      assert.deepEqual([r.status, r.body.code], [401, code], JSON.stringify(r.body));
      const f = await api('POST', '/rewards', { amount: 100, reference: 'free-2' }, headers);
      assert.deepEqual([f.status, f.body.code], [401, code], JSON.stringify(f.body));
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

/** A market host with funded prosumers and open sessions, for the order and clearing defects. */
const MARKET_CONFIG = { jobEvery: '', paymentProviderTokens: [PAY], sessionsAhead: 3 };

async function marketHost(prosumers: string[], dataDir?: string): Promise<{ host: TestHost; api: Api; L: Ledger; db: Storage; wallets: Record<string, Address>; sessions: number[] }> {
  const host = await startTestHost({ plugins: ['p2p-market'], config: { 'p2p-market': MARKET_CONFIG }, ...(dataDir ? { dataDir } : {}) });
  const api = apiOf(host);
  const L = host.resolve(LedgerToken);
  const wallets: Record<string, Address> = {};
  for (const id of prosumers) {
    const r = await api('POST', '/prosumers', { id, meterId: `m-${id}` });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    wallets[id] = r.body.wallet;
    assert.equal((await api('POST', `/prosumers/${id}/tokens/buy`, { amount: 50_000, reference: `pay-${id}` }, { 'x-payment-provider-token': PAY })).status, 200);
  }
  const opened = await api('POST', '/sessions/open');
  assert.equal(opened.status, 200, JSON.stringify(opened.body));
  return { host, api, L, db: host.resolve(StorageToken), wallets, sessions: (opened.body.opened as number[]).sort((a, b) => a - b) };
}

const order = (prosumer: string, side: 'bid' | 'offer', qtyWh = 1000, limitPrice = side === 'bid' ? 300 : 100) => ({ prosumer, side, qtyWh, limitPrice });

/** The clearing the service would post for a session's book (any node can recompute it). */
async function expectedClearing(api: Api, sid: number) {
  const { uniformPrice } = await import('./clearing.js');
  const { clearingResultHash } = await import('../../contracts/hashes.js');
  const v = (await api('GET', `/sessions/${sid}`)).body;
  const r = uniformPrice.clear(v.book.map((o: any) => ({ id: o.id, owner: o.prosumer, side: o.side, qtyWh: o.qtyWh, limit: o.limitPrice, seq: o.id })));
  const price = r.price ?? 0;
  return { price, trades: r.trades, resultHash: clearingResultHash(price, r.trades) };
}

describe('p2p-market: one side per session, atomically, and a clearing that fails can be retried or cancelled (issue 25.3)', function () {
  this.timeout(180_000);
  const racers = Array.from({ length: 20 }, (_, i) => `r${i}`);
  let m: Awaited<ReturnType<typeof marketHost>>;
  before(async () => {
    m = await marketHost([...racers, 'buyer', 'seller']);
  });
  after(async () => m?.host.close());

  it('a prosumer’s concurrent bid and offer in one session: exactly one is accepted, on chain too', async () => {
    const [s1] = m.sessions;
    const rs = await Promise.all(racers.flatMap((id) => [order(id, 'bid'), order(id, 'offer')].map((o) => m.api('POST', `/sessions/${s1}/orders`, { orders: [o] }))));
    for (let i = 0; i < racers.length; i++) {
      const pair = [rs[2 * i]!, rs[2 * i + 1]!];
      assert.deepEqual(pair.map((r) => r.status).sort(), [201, 409], `${racers[i]}: ${JSON.stringify(pair.map((r) => r.body))}`);
      assert.equal(pair.find((r) => r.status === 409)!.body.code, 'GF_MARKET_BOTH_SIDES');
      const side = await m.L.call<{ side: bigint; live: bigint }>('MarketSession', 'sideOf', [s1, m.wallets[racers[i]!]]);
      assert.equal(side.live, 1n, 'one live order on chain');
    }
    const book = (await m.api('GET', `/sessions/${s1}`)).body.book as { prosumer: string; side: string }[];
    for (const id of racers) assert.equal(new Set(book.filter((o) => o.prosumer === id).map((o) => o.side)).size, 1);
    // Withdrawing its only order frees the prosumer to take the other side.
    const mine = (await m.api('GET', '/prosumers/r0')).body.orders[0];
    assert.equal((await m.api('DELETE', `/sessions/${s1}/orders/${mine.id}?prosumer=r0`)).status, 204);
    assert.equal((await m.api('POST', `/sessions/${s1}/orders`, { orders: [order('r0', mine.side === 'bid' ? 'offer' : 'bid')] })).status, 201);
  });

  it('a clearing interrupted after it was posted (crash, timeout) is resumed, not stuck in WrongState', async () => {
    const [s1] = m.sessions;
    const v = (await m.api('GET', `/sessions/${s1}`)).body;
    await m.L.advanceTime(Math.ceil(Date.parse(v.gateClosure) / 1000) - (await m.L.chainTime()) + 1);
    // What a crash right after postClearing leaves: the chain in Clearing with no trades, the database open.
    const c = await expectedClearing(m.api, s1!);
    assert.ok(c.trades.length > 0);
    const chain = await m.L.call<{ bookHash: string }>('MarketSession', 'session', [s1]);
    await m.L.send('MarketSession', 'postClearing', [s1, c.price, chain.bookHash, c.resultHash, c.trades.length]);
    const r = await m.api('POST', `/sessions/${s1}/clear`);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal((await m.L.call<{ state: bigint }>('MarketSession', 'session', [s1])).state, 3n, 'Cleared on chain');
    assert.equal((await m.api('GET', `/sessions/${s1}`)).body.state, 'cleared');
  });

  it('a clearing that cannot complete fails with a stable code, stays retryable, and cancelling refunds every escrow', async () => {
    const s2 = m.sessions[1]!;
    const before = { buyer: await m.L.call<bigint>('EnergyToken', 'balanceOf', [m.wallets.buyer]), seller: await m.L.call<bigint>('EnergyToken', 'balanceOf', [m.wallets.seller]) };
    const held0 = await m.L.call<bigint>('MarketSession', 'held', []);
    assert.equal((await m.api('POST', `/sessions/${s2}/orders`, { orders: [order('buyer', 'bid', 4000, 400), order('seller', 'offer', 3000, 50)] })).status, 201);
    assert.ok((await m.L.call<bigint>('MarketSession', 'held', [])) > held0, 'escrow and collateral locked');
    const v = (await m.api('GET', `/sessions/${s2}`)).body;
    await m.L.advanceTime(Math.ceil(Date.parse(v.gateClosure) / 1000) - (await m.L.chainTime()) + 1);
    // A clearing posted that its trades cannot complete (as the self-trade on main did: InvalidTrade).
    const chain = await m.L.call<{ bookHash: string }>('MarketSession', 'session', [s2]);
    await m.L.send('MarketSession', 'postClearing', [s2, 100, chain.bookHash, `0x${'ab'.repeat(32)}`, 1]);
    for (let i = 0; i < 2; i++) {
      const r = await m.api('POST', `/sessions/${s2}/clear`);
      assert.deepEqual([r.status, r.body.code], [409, 'GF_MARKET_CLEARING_FAILED'], JSON.stringify(r.body));
    }
    const cancel = await m.api('POST', `/sessions/${s2}/cancel`);
    assert.equal(cancel.status, 200, JSON.stringify(cancel.body));
    assert.equal((await m.L.call<{ state: bigint }>('MarketSession', 'session', [s2])).state, 6n, 'Voided on chain');
    assert.equal((await m.api('GET', `/sessions/${s2}`)).body.state, 'voided');
    assert.equal(await m.L.call('EnergyToken', 'balanceOf', [m.wallets.buyer]), before.buyer, 'the buyer’s escrow is back');
    assert.equal(await m.L.call('EnergyToken', 'balanceOf', [m.wallets.seller]), before.seller, 'the seller’s collateral is back');
    assert.equal(await m.L.call('MarketSession', 'held', []), held0);
    // Idempotent, and a cancelled session takes no orders and no clearing.
    assert.equal((await m.api('POST', `/sessions/${s2}/cancel`)).status, 200);
    assert.equal((await m.api('POST', `/sessions/${s2}/clear`)).body.code, 'GF_MARKET_WRONG_STATE');
    assert.equal((await m.api('POST', `/sessions/${m.sessions[0]}/cancel`)).body.code, 'GF_MARKET_WRONG_STATE', 'a cleared session is disputed, not cancelled');
  });
});

describe('p2p-market: an order the chain holds is never lost to a crash, and a clearing proves its book (issue 25.4)', function () {
  this.timeout(180_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-market-orphans-'));
  const dataDir = path.join(dir, 'data');
  let m: Awaited<ReturnType<typeof marketHost>>;
  const restart = async () => {
    await m.host.close();
    const host = await startTestHost({ plugins: ['p2p-market'], config: { 'p2p-market': MARKET_CONFIG }, dataDir });
    m = { ...m, host, api: apiOf(host), L: host.resolve(LedgerToken), db: host.resolve(StorageToken) };
  };
  // Exactly the transaction the service sends for an API order, without the database insert that follows it.
  const orphan = (sid: number, owner: Address, isBid: boolean, qtyWh: number, limitPrice: number) =>
    m.L.send('MarketSession', 'submitOrdersFor', [sid, [{ owner, isBid, green: !isBid, qtyWh, limitPrice }]]);
  const bookOf = async (sid: number) => (await m.api('GET', `/sessions/${sid}`)).body.book as { id: number; prosumer: string; side: string; qtyWh: number; limitPrice: number }[];

  before(async () => {
    m = await marketHost(['b', 's'], dataDir);
  });
  after(async () => {
    await m?.host.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('an order sent to the chain whose database insert a crash prevented is adopted at restart, escrow and side included', async () => {
    const s1 = m.sessions[0]!;
    const r = await orphan(s1, m.wallets.b!, true, 2000, 400);
    const id = Number(r.events.find((e) => e.event === 'OrderSubmitted')!.args.orderId);
    assert.ok(!(await bookOf(s1)).some((o) => o.id === id), 'the database does not know it yet');
    await restart();
    assert.deepEqual((await bookOf(s1)).find((o) => o.id === id), { id, prosumer: 'b', side: 'bid', qtyWh: 2000, limitPrice: 400 });
    const bs = (await m.api('GET', '/prosumers/b')).body.orders;
    assert.ok(bs.some((o: any) => Number(o.id) === id), 'and the prosumer sees it');
    const other = await m.api('POST', `/sessions/${s1}/orders`, { orders: [order('b', 'offer')] });
    assert.equal(other.body.code, 'GF_MARKET_BOTH_SIDES', 'its side counts');
  });

  it('an orphan that appears while the server runs joins the book before the clearing', async () => {
    const s1 = m.sessions[0]!;
    const r = await orphan(s1, m.wallets.s!, false, 1500, 100);
    const offer = Number(r.events.find((e) => e.event === 'OrderSubmitted')!.args.orderId);
    const v = (await m.api('GET', `/sessions/${s1}`)).body;
    await m.L.advanceTime(Math.ceil(Date.parse(v.gateClosure) / 1000) - (await m.L.chainTime()) + 1);
    const c = await m.api('POST', `/sessions/${s1}/clear`);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    const trades = (await m.api('GET', `/sessions/${s1}`)).body.trades as { offer_id: number; qty_wh: number }[];
    assert.deepEqual(trades.map((t) => [t.offer_id, t.qty_wh]), [[offer, 1500]], 'the adopted offer is cleared against the adopted bid');
    assert.equal((await m.L.call<{ state: bigint }>('MarketSession', 'session', [s1])).state, 3n);
  });

  it('a clearing whose book is not the chain’s is refused before anything is posted', async () => {
    const s2 = m.sessions[1]!;
    assert.equal((await m.api('POST', `/sessions/${s2}/orders`, { orders: [order('b', 'bid', 3000, 300), order('s', 'offer', 1000, 100)] })).status, 201);
    // The database's book drifts from the chain's (an edit, a lost update): 1 Wh less on the offer.
    await m.db.query("UPDATE mkt_orders SET qty_wh = qty_wh - 1 WHERE session_id = $1 AND prosumer = 's'", [s2]);
    const v = (await m.api('GET', `/sessions/${s2}`)).body;
    await m.L.advanceTime(Math.ceil(Date.parse(v.gateClosure) / 1000) - (await m.L.chainTime()) + 1);
    const c = await m.api('POST', `/sessions/${s2}/clear`);
    assert.deepEqual([c.status, c.body.code], [409, 'GF_MARKET_BOOK_MISMATCH'], JSON.stringify(c.body));
    assert.equal((await m.L.call<{ state: bigint }>('MarketSession', 'session', [s2])).state, 1n, 'still Open on chain: nothing posted');
    await m.db.query("UPDATE mkt_orders SET qty_wh = qty_wh + 1 WHERE session_id = $1 AND prosumer = 's'", [s2]);
    assert.equal((await m.api('POST', `/sessions/${s2}/clear`)).status, 200, 'the same book as the chain clears');
  });
});

describe('p2p-market: an amendment is checked first and replaces the order in one step (issue 25.5)', function () {
  this.timeout(120_000);
  let m: Awaited<ReturnType<typeof marketHost>>;
  before(async () => {
    m = await marketHost(['a', 'z']);
  });
  after(async () => m?.host.close());

  const live = async (sid: number) => ((await m.api('GET', `/sessions/${sid}`)).body.book as { id: number; prosumer: string; qtyWh: number; limitPrice: number }[]).filter((o) => o.prosumer === 'a');

  it('an amendment that fails validation leaves the original in the book and on chain, its escrow untouched', async () => {
    const sid = m.sessions[0]!;
    assert.equal((await m.api('POST', '/prosumers/a/tokens/sell', { amount: 10_000, reference: 'payout-a' })).status, 200); // 40,000 left
    const placed = await m.api('POST', `/sessions/${sid}/orders`, { orders: [order('a', 'bid', 1000, 300)] });
    const id = placed.body[0].id as number;
    const held = await m.L.call<bigint>('MarketSession', 'held', []);
    const cases: [unknown, number, string, string][] = [
      [order('a', 'bid', 60_000, 300), 422, 'GF_MARKET_LIMIT', 'qtyWh'], // above maxOrderWh (50,000 by default)
      [order('a', 'bid', 1000, 5000), 422, 'GF_MARKET_LIMIT', 'limitPrice'],
      [order('a', 'bid', 40_001, 1000), 422, 'GF_MARKET_INSUFFICIENT_TOKENS', 'qtyWh'],
      [order('a', 'bid', 1.5, 300), 400, 'GF_MARKET_BAD_REQUEST', 'qtyWh'],
      [order('a', 'offer', 1000, 300), 400, 'GF_MARKET_BAD_REQUEST', 'side'],
    ];
    for (const [body, status, code, field] of cases) {
      const r = await m.api('PUT', `/sessions/${sid}/orders/${id}`, body);
      assert.deepEqual((await live(sid)).map((o) => o.id), [id], `the original is still in the book after ${JSON.stringify(r.body)}`);
      assert.deepEqual([r.status, r.body.code, r.body.field], [status, code, field], JSON.stringify(r.body));
    }
    assert.equal((await m.L.call<{ cancelled: boolean }>('MarketSession', 'order', [id])).cancelled, false, 'and live on chain');
    assert.equal(await m.L.call('MarketSession', 'held', []), held, 'its escrow untouched');
    assert.equal((await m.api('PUT', `/sessions/${sid}/orders/${id}`, order('z', 'bid', 10, 10))).status, 404, 'another prosumer’s order');
  });

  it('a good amendment replaces the order atomically; of two concurrent ones exactly one wins', async () => {
    const sid = m.sessions[0]!;
    const [old] = await live(sid);
    // The escrow the old bid frees counts: 40,000 Wh at 1000 needs 40,000 units, the wallet holds 39,700 and the old bid 300.
    const r = await m.api('PUT', `/sessions/${sid}/orders/${old!.id}`, order('a', 'bid', 40_000, 1000));
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.replaces, old!.id);
    assert.deepEqual((await live(sid)).map((o) => [o.id, o.qtyWh, o.limitPrice]), [[r.body.id, 40_000, 1000]]);
    assert.equal((await m.L.call<{ cancelled: boolean }>('MarketSession', 'order', [old!.id])).cancelled, true);
    const rs = await Promise.all([500, 600].map((q) => m.api('PUT', `/sessions/${sid}/orders/${r.body.id}`, order('a', 'bid', q, 300))));
    assert.deepEqual(rs.map((x) => x.status).sort(), [201, 409], JSON.stringify(rs.map((x) => x.body)));
    const now = await live(sid);
    assert.equal(now.length, 1, 'one live order, not two');
    assert.equal(now[0]!.id, rs.find((x) => x.status === 201)!.body.id);
    const side = await m.L.call<{ live: bigint }>('MarketSession', 'sideOf', [sid, m.wallets.a]);
    assert.equal(side.live, 1n);
    // The book hash the database rebuilds still is the chain's: the amended session clears.
    const v = (await m.api('GET', `/sessions/${sid}`)).body;
    await m.L.advanceTime(Math.ceil(Date.parse(v.gateClosure) / 1000) - (await m.L.chainTime()) + 1);
    assert.equal((await m.api('POST', `/sessions/${sid}/clear`)).status, 200);
  });
});
