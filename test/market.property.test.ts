import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { mulberry32 } from '../plugins/forecasting/forest.js';
import { exited, ROOT, serve } from './process.js';
import { OPERATOR } from '../core/testing/operator.js';

/**
 * Market property test (issue 25): concurrent orders, amendments, withdrawals, token purchases, clearings and
 * session cancellations against a `gridflex serve` child process, which SIGKILLs itself right after the n-th
 * market transaction is on chain and before the market writes its database (test/fixtures/market-fault-plugin.ts),
 * and is restarted on the same data folder, again and again. After every restart, and at the end:
 * - the database equals the chain (every order, cancellation, session state and trade);
 * - no self-trade (an owner has live orders on one side of a session only; no trade has one owner on both sides);
 * - escrow equals the open orders (each order's lock as its terms say; the contract holds exactly what it owes);
 * - token supply is conserved (supply = every balance = issued − redeemed; a payment reference mints once, and
 *   every acknowledged purchase is minted).
 */

const PAY = 'payment-provider-secret-property';
const PENALTY = 100n; // shortfallPenaltyPerKwh (default)
const PROSUMERS = Array.from({ length: 8 }, (_, i) => `p${i}`);
const KILL_ROUNDS = 6;
const sha = (s: string) => `0x${createHash('sha256').update(s).digest('hex')}`;

interface State {
  chainOrders: { id: number; owner: string; sessionId: string; isBid: boolean; green: boolean; cancelled: boolean; withdrawn: boolean; qtyWh: string; limitPrice: string; locked: string }[];
  chainSessions: { id: string; state: string }[];
  chainTrades: { session: string; idx: number; bidId: string; offerId: string; qtyWh: string; price: string }[];
  dbOrders: { id: number; session_id: string; prosumer: string; wallet: string; side: string; qty_wh: number; limit_price: number; green: boolean; cancelled: boolean }[];
  dbSessions: { id: string; state: string }[];
  dbTrades: { session_id: string; idx: number; bid_id: number; offer_id: number; qty_wh: number; price: number }[];
  dbSides: { session_id: string; prosumer: string; side: string; live: number }[];
  tokenRequests: { kind: string; reference: string; request: unknown; state: string }[];
  prosumers: { id: string; wallet: string }[];
  market: string;
  balances: Record<string, string>;
  credits: Record<string, string>;
  supply: string;
  held: string;
  rewardPool: string;
  issued: { to: string; amount: string; paymentRef: string }[];
  redeemed: { from: string; amount: string }[];
}

const CHAIN_STATE: Record<string, string> = { '1': 'Open', '2': 'Clearing', '3': 'Cleared', '4': 'Settled', '6': 'Voided' };

describe('market property: concurrent orders, amendments, cancellations and clearings across SIGKILLs between chain and database', function () {
  this.timeout(600_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-market-prop-'));
  const cfg = path.join(dir, 'gridflex.yaml');
  const off = ['openadr3', 'openadr2b', 'devices', 'meter-data', 'weather', 'forecasting', 'baseline', 'pv-degradation', 'hmi'];
  writeFileSync(
    cfg,
    [
      `dataDir: ${path.join(dir, 'data')}`,
      'plugins:',
      ...off.map((p) => `  ${p}:\n    enabled: false`),
      '  p2p-market:',
      '    config:',
      "      jobEvery: ''",
      '      sessionsAhead: 4',
      `      paymentProviderTokens: ['${PAY}']`,
      '  marketfault:',
      `    module: ${path.join(ROOT, 'test/fixtures/market-fault-plugin.ts')}`,
      '',
    ].join('\n'),
  );
  after(() => rmSync(dir, { recursive: true, force: true }));

  const rnd = mulberry32(2025);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const int = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));

  /** What clients were told: acknowledged orders (live as far as they know), purchases and their answers. */
  const acked = new Map<number, { prosumer: string; session: number; side: 'bid' | 'offer' }>();
  const everAcked = new Set<number>();
  const bought = new Map<string, { prosumer: string; amount: number; answer: string }>();
  const stats: Record<string, number> = {};
  const count = (k: string) => (stats[k] = (stats[k] ?? 0) + 1);
  const serverErrors: string[] = [];

  async function call(url: string, method: string, p: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; body: any }> {
    const res = await fetch(`${url}${p}`, { method, headers: { ...OPERATOR, ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    const parsed = text ? JSON.parse(text) : null;
    if (res.status >= 500) serverErrors.push(`${method} ${p}: ${text}`);
    return { status: res.status, body: parsed };
  }

  async function openSessions(url: string): Promise<{ id: number; gate: number }[]> {
    await call(url, 'POST', '/api/market/sessions/open');
    const list = (await call(url, 'GET', '/api/market/sessions')).body as { id: number; state: string }[];
    const now = (await call(url, 'GET', '/api/ledger')).body.chainTime as number;
    return list.filter((s) => s.state === 'open' && s.id - 300 > now).map((s) => ({ id: s.id, gate: s.id - 300 }));
  }

  /** One random operation; throws when the server is gone. */
  async function operate(url: string, open: { id: number; gate: number }[]): Promise<void> {
    const x = rnd();
    if (x < 0.1) {
      const k = int(0, 5);
      const ref = `buy-${stats.round}-${k}`;
      const prosumer = PROSUMERS[k]!;
      const amount = 5000 + k;
      const r = await call(url, 'POST', `/api/market/prosumers/${prosumer}/tokens/buy`, { amount, reference: ref }, { 'x-payment-provider-token': PAY });
      count(`buy ${r.status}`);
      if (r.status === 200) {
        const answer = JSON.stringify(r.body);
        const prev = bought.get(ref);
        // A repeat gets the first answer (except the balance, which only the first answer carries as it was then).
        if (prev) assert.equal(answer, prev.answer, `repeat of ${ref}`);
        else bought.set(ref, { prosumer, amount, answer });
      }
    } else if (x < 0.5 && open.length) {
      const s = pick(open);
      const n = int(1, 3);
      const prosumer = pick(PROSUMERS);
      const side = rnd() < 0.5 ? 'bid' : 'offer';
      const orders = Array.from({ length: n }, () => ({ prosumer, side, qtyWh: int(100, 4000), limitPrice: side === 'bid' ? int(100, 600) : int(0, 400) }));
      const r = await call(url, 'POST', `/api/market/sessions/${s.id}/orders`, { orders });
      count(`submit ${r.status}${r.body?.code ? ` ${r.body.code}` : ''}`);
      if (r.status === 201) for (const o of r.body) (acked.set(o.id, { prosumer, session: s.id, side }), everAcked.add(o.id));
    } else if (x < 0.65 && acked.size) {
      const [id, o] = pick([...acked.entries()]);
      const r = await call(url, 'PUT', `/api/market/sessions/${o.session}/orders/${id}`, { prosumer: o.prosumer, side: o.side, qtyWh: int(100, 4000), limitPrice: o.side === 'bid' ? int(100, 600) : int(0, 400) });
      count(`amend ${r.status}${r.body?.code ? ` ${r.body.code}` : ''}`);
      if (r.status === 201) {
        acked.delete(id);
        acked.set(r.body.id, o);
        everAcked.add(r.body.id);
      } else if (r.status === 404 || r.status === 409) acked.delete(id); // gone, or its gate closed: clients stop touching it
    } else if (x < 0.8 && acked.size) {
      const [id, o] = pick([...acked.entries()]);
      const r = await call(url, 'DELETE', `/api/market/sessions/${o.session}/orders/${id}?prosumer=${o.prosumer}`);
      count(`cancel ${r.status}${r.body?.code ? ` ${r.body.code}` : ''}`);
      if (r.status === 204 || r.status === 404 || r.status === 409) acked.delete(id);
    } else if (x < 0.9) {
      const list = (await call(url, 'GET', '/api/market/sessions')).body as { id: number; state: string }[];
      const now = (await call(url, 'GET', '/api/ledger')).body.chainTime as number;
      const due = list.filter((s) => s.state === 'open' && s.id - 300 <= now);
      if (due.length) {
        const r = await call(url, 'POST', `/api/market/sessions/${pick(due).id}/clear`);
        count(`clear ${r.status}${r.body?.code ? ` ${r.body.code}` : ''}`);
      }
      open.splice(0, open.length, ...(await openSessions(url)));
    } else if (x < 0.96) {
      await call(url, 'POST', `/api/marketfault/advance/${int(60, 240)}`);
      count('advance');
    } else if (x < 0.97 && open.length) {
      const s = pick(open);
      const r = await call(url, 'POST', `/api/market/sessions/${s.id}/cancel`);
      count(`cancel-session ${r.status}`);
      if (r.status === 200) open.splice(open.indexOf(s), 1);
    } else {
      const r = await call(url, 'POST', '/api/marketfault/tick');
      count(`tick ${r.body?.failCount ? 'failed' : 'ok'}`);
    }
  }

  function check(s: State, label: string, final: boolean): void {
    const wallets = new Map(s.prosumers.map((p) => [p.wallet, p.id]));
    // The database equals the chain: every order the chain holds, with its terms and whether it was withdrawn.
    assert.equal(s.dbOrders.length, s.chainOrders.length, `${label}: ${s.chainOrders.length} orders on chain, ${s.dbOrders.length} in the database`);
    const db = new Map(s.dbOrders.map((o) => [o.id, o]));
    for (const c of s.chainOrders) {
      const d = db.get(c.id);
      assert.ok(d, `${label}: order ${c.id} is on chain, not in the database`);
      assert.deepEqual(
        [d.session_id, d.wallet, d.side, d.qty_wh, d.limit_price, d.green, d.cancelled],
        [c.sessionId, c.owner.toLowerCase(), c.isBid ? 'bid' : 'offer', Number(c.qtyWh), Number(c.limitPrice), c.green, c.cancelled],
        `${label}: order ${c.id}`,
      );
    }
    const chainState = new Map(s.chainSessions.map((c) => [c.id, CHAIN_STATE[c.state] ?? c.state]));
    for (const d of s.dbSessions) {
      const c = chainState.get(d.id);
      const allowed = { open: final ? ['Open'] : ['Open', 'Clearing', 'Cleared'], cleared: ['Cleared'], voided: ['Voided'], settled: ['Settled'] }[d.state] ?? [];
      assert.ok(allowed.includes(c!), `${label}: session ${d.id} is ${d.state} in the database, ${c} on chain`);
    }
    const chainTrades = s.chainTrades.map((t) => `${t.session}/${t.idx}: ${t.bidId}-${t.offerId} ${t.qtyWh}@${t.price}`);
    const cleared = new Set(s.dbSessions.filter((d) => d.state === 'cleared' || d.state === 'settled').map((d) => d.id));
    assert.deepEqual(
      s.dbTrades.map((t) => `${t.session_id}/${t.idx}: ${t.bid_id}-${t.offer_id} ${t.qty_wh}@${t.price}`),
      chainTrades.filter((t) => cleared.has(t.split('/')[0]!)),
      `${label}: trades`,
    );

    // No self-trade.
    const sides = new Map<string, Set<boolean>>();
    for (const c of s.chainOrders.filter((o) => !o.cancelled)) {
      const k = `${c.sessionId}/${c.owner}`;
      sides.set(k, (sides.get(k) ?? new Set()).add(c.isBid));
    }
    for (const [k, v] of sides) assert.equal(v.size, 1, `${label}: ${k} has bids and offers`);
    const byId = new Map(s.chainOrders.map((o) => [String(o.id), o]));
    for (const t of s.chainTrades) assert.notEqual(byId.get(t.bidId)!.owner, byId.get(t.offerId)!.owner, `${label}: self-trade ${t.bidId}/${t.offerId}`);
    for (const d of s.dbSides.filter((x) => s.dbSessions.find((y) => y.id === x.session_id)?.state === 'open')) {
      const live = s.dbOrders.filter((o) => o.session_id === d.session_id && o.prosumer === d.prosumer && !o.cancelled);
      assert.equal(d.live, live.length, `${label}: side count of ${d.prosumer} in ${d.session_id}`);
      if (live.length) assert.equal(d.side, live[0]!.side);
    }

    // Escrow equals the open orders: each order locks what its terms say until it is withdrawn or the session voided
    // and refunded; the contract holds exactly what it owes.
    let locked = 0n;
    for (const c of s.chainOrders) {
      const terms = c.isBid ? (BigInt(c.qtyWh) * BigInt(c.limitPrice)) / 1000n : (BigInt(c.qtyWh) * PENALTY) / 1000n;
      const state = chainState.get(c.sessionId);
      const expected = c.cancelled || c.withdrawn ? 0n : terms;
      assert.equal(BigInt(c.locked), expected, `${label}: escrow of order ${c.id} (${state})`);
      if (final && state === 'Voided') assert.ok(c.cancelled || c.withdrawn, `${label}: order ${c.id} of a cancelled session was refunded`);
      locked += BigInt(c.locked);
    }
    const openEscrow = s.dbOrders
      .filter((o) => !o.cancelled && ['open', 'cleared'].includes(s.dbSessions.find((x) => x.id === o.session_id)!.state))
      .reduce((a, o) => a + (o.side === 'bid' ? (BigInt(o.qty_wh) * BigInt(o.limit_price)) / 1000n : (BigInt(o.qty_wh) * PENALTY) / 1000n), 0n);
    const voidedLocked = s.chainOrders.filter((c) => chainState.get(c.sessionId) === 'Voided').reduce((a, c) => a + BigInt(c.locked), 0n);
    assert.equal(openEscrow + voidedLocked, locked, `${label}: escrow held for orders equals the open orders' escrow`);
    const credits = Object.values(s.credits).reduce((a, v) => a + BigInt(v), 0n);
    assert.equal(BigInt(s.held), locked + BigInt(s.rewardPool) + credits, `${label}: the contract owes what it holds`);
    assert.equal(BigInt(s.balances[s.market]!), BigInt(s.held), `${label}: and holds it`);

    // Supply conserved; a reference mints once; every acknowledged purchase is minted.
    const supply = BigInt(s.supply);
    assert.equal(Object.values(s.balances).reduce((a, v) => a + BigInt(v), 0n), supply, `${label}: every token is somewhere`);
    const issued = s.issued.reduce((a, e) => a + BigInt(e.amount), 0n);
    const redeemed = s.redeemed.reduce((a, e) => a + BigInt(e.amount), 0n);
    assert.equal(issued - redeemed, supply, `${label}: supply = issued - redeemed`);
    const refs = s.issued.map((e) => e.paymentRef);
    assert.equal(new Set(refs).size, refs.length, `${label}: a payment reference minted twice`);
    for (const [ref, b] of bought) {
      const e = s.issued.filter((x) => x.paymentRef === sha(ref));
      assert.equal(e.length, 1, `${label}: acknowledged purchase ${ref} minted ${e.length} times`);
      assert.deepEqual([wallets.get(e[0]!.to.toLowerCase()), Number(e[0]!.amount)], [b.prosumer, b.amount]);
    }
  }

  it(`holds through ${KILL_ROUNDS} SIGKILLs between chain and database, and at the end`, async () => {
    const kills: number[] = [];
    let orphans = 0;
    let tradedSessions = 0;
    for (let round = 0; round <= KILL_ROUNDS + 1; round++) {
      stats.round = round;
      // Round 0 sets up, rounds 1..KILL_ROUNDS die mid-burst, the last round runs to the end.
      const killAfter = round >= 1 && round <= KILL_ROUNDS ? int(4, 30) : 0;
      const srv = await serve(['--config', cfg, '--port', '0'], killAfter ? { GF_TEST_KILL_AFTER: String(killAfter) } : {});
      const url = srv.url;
      try {
        if (round > 0) {
          const s = (await call(url, 'GET', '/api/marketfault/state')).body as State;
          check(s, `after restart ${round}`, false);
          // Orders no client was told about but the chain holds (the crashes' orphans, so far) are in the database.
          orphans = s.chainOrders.filter((o) => !everAcked.has(o.id)).length;
        }
        if (round === 0) {
          for (const id of PROSUMERS) {
            assert.equal((await call(url, 'POST', '/api/market/prosumers', { id, meterId: `m-${id}` })).status, 201);
            const r = await call(url, 'POST', `/api/market/prosumers/${id}/tokens/buy`, { amount: 200_000, reference: `seed-${id}` }, { 'x-payment-provider-token': PAY });
            assert.equal(r.status, 200);
            bought.set(`seed-${id}`, { prosumer: id, amount: 200_000, answer: JSON.stringify(r.body) });
          }
        }
        const open = await openSessions(url);
        const budget = killAfter ? 400 : round === 0 ? 60 : 200;
        let done = 0;
        let dead = false;
        const worker = async () => {
          while (!dead && done < budget) {
            done++;
            try {
              await operate(url, open);
            } catch (e) {
              if (e instanceof assert.AssertionError) throw e;
              dead = true; // the server died under us
            }
          }
        };
        await Promise.all([worker(), worker(), worker(), worker()]);
        if (killAfter) {
          if (!dead) srv.proc.kill('SIGKILL'); // the burst did not reach the n-th transaction: a plain crash then
          const end = await exited(srv.proc);
          assert.equal(end.signal, 'SIGKILL');
          kills.push(killAfter);
        } else if (round > KILL_ROUNDS) {
          // The end: every session past its gate is cleared (or cancelled and refunded) by the market job.
          await call(url, 'POST', '/api/marketfault/advance/7200');
          for (let i = 0; i < 2; i++) {
            const t = await call(url, 'POST', '/api/marketfault/tick');
            assert.equal(t.body.failCount ?? 0, 0, JSON.stringify(t.body));
          }
          const s = (await call(url, 'GET', '/api/marketfault/state')).body as State;
          check(s, 'at the end', true);
          tradedSessions = new Set(s.chainTrades.map((t) => t.session)).size;
          assert.ok(s.dbSessions.every((x) => x.state !== 'open' || Number(x.id) - 300 > (s as unknown as { chainTime: number }).chainTime), 'no session left open past its gate');
        }
      } finally {
        if (srv.proc.exitCode === null && srv.proc.signalCode === null) {
          srv.proc.kill('SIGTERM');
          assert.equal((await exited(srv.proc)).code, 0, srv.output());
        }
      }
    }
    console.log(`      ${kills.length} SIGKILLs (after ${kills.join(', ')} market transactions), ${orphans} orders on chain that no client was told about (crash orphans), all adopted, ops: ${JSON.stringify(Object.fromEntries(Object.entries(stats).filter(([k]) => k !== 'round').sort()))}`);
    assert.deepEqual(serverErrors, [], 'no 5xx');
    // The seed and rates are fixed; make sure the run exercised what the properties are about.
    assert.ok((stats['submit 201'] ?? 0) > 40 && (stats['amend 201'] ?? 0) >= 5 && (stats['cancel 204'] ?? 0) >= 5, JSON.stringify(stats));
    assert.ok(tradedSessions >= 2, `${tradedSessions} sessions cleared with trades`);
    assert.ok(orphans > 0, 'a crash left orders on chain only, and they were adopted');
    assert.ok((stats['submit 409 GF_MARKET_BOTH_SIDES'] ?? 0) > 0, 'the one-side rule was exercised');
  });
});
