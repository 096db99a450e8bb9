import assert from 'node:assert/strict';
import { openTestLedger, type TestLedger } from '../adapters/ledger/testing/harness.js';
import type { Address } from '../core/index.js';
import { clearingResultHash, type TradeEntry } from './hashes.js';
import { mulberry32 as prng } from '../plugins/forecasting/forest.js';

/**
 * Property: for random sessions (random orders, cancellations, a uniform-price clearing, random metered
 * delivery and batched settlement), token supply is conserved through escrow, clearing and settlement, every
 * balance ends exactly where an off-chain model of the settlement rule puts it, the contract holds exactly
 * what it owes, and no balance would have to go negative (the chain reverts on underflow, so a run that
 * completes proves it).
 */

interface Order {
  id: number;
  owner: Address;
  isBid: boolean;
  green: boolean;
  qty: bigint;
  limit: bigint;
  locked: bigint;
  cancelled: boolean;
}

const PARTICIPANTS = 8;
const CAP = 1000n; // base units per kWh
const PENALTY = 150n;
const GREEN = 40n;

describe('MarketSession property: supply conserved, balances as modelled', function () {
  this.timeout(300_000);
  let t: TestLedger;
  let people: Address[];
  const held = new Map<string, bigint>();

  before(async () => {
    t = await openTestLedger();
    const L = t.ledger;
    people = [];
    for (let i = 0; i < PARTICIPANTS; i++) people.push(await L.createWallet(`p${i}`));
    const agg = await L.createWallet('agg');
    await L.send('ParticipantRegistry', 'register', [agg, 2, `0x${'0'.repeat(64)}`, '0x0000000000000000000000000000000000000000']);
    await L.send('ParticipantRegistry', 'registerBatch', [people, people.map(() => 1), people.map((_, i) => `0x${(i + 1).toString(16).padStart(64, '0')}`), people.map(() => agg)]);
    await L.send('EnergyToken', 'issueBatch', [[...people, L.operator], [...people.map(() => 20_000n), 5_000n], `0x${'1'.repeat(64)}`]);
    const market = L.addressOf('MarketSession');
    for (const p of people) await L.send('EnergyToken', 'approve', [market, 10n ** 30n], { from: p });
    await L.send('EnergyToken', 'approve', [market, 10n ** 30n]);
    await L.send('MarketSession', 'fundRewards', [300n, `0x${'2'.repeat(64)}`]); // small on purpose: the pool runs dry
    for (const a of [...people, L.operator, market]) held.set(a, await L.call<bigint>('EnergyToken', 'balanceOf', [a]));
  });
  const stats = { trades: 0, shortfalls: 0 };
  after(async () => {
    // The seeds are fixed: make sure they exercise what the property is about.
    assert.ok(stats.trades >= 20 && stats.shortfalls >= 5, JSON.stringify(stats));
    assert.equal(await t.ledger.call('MarketSession', 'rewardPool', []), 0n, 'the green reward pool ran dry at some point');
    await t?.close();
  });

  async function checkSupply(label: string) {
    const L = t.ledger;
    const supply = await L.call<bigint>('EnergyToken', 'totalSupply', []);
    const market = L.addressOf('MarketSession');
    let sum = 0n;
    for (const a of [...people, L.operator, market]) sum += await L.call<bigint>('EnergyToken', 'balanceOf', [a]);
    assert.equal(sum, supply, `${label}: every token is somewhere`);
    assert.equal(await L.call('EnergyToken', 'balanceOf', [market]), await L.call('MarketSession', 'held', []), `${label}: contract holds what it owes`);
  }

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`session with seed ${seed}`, async () => {
      const L = t.ledger;
      const rnd = prng(seed);
      const int = (lo: number, hi: number) => BigInt(lo + Math.floor(rnd() * (hi - lo + 1)));
      const now = await L.chainTime();
      const sid = BigInt(now + seed * 10_000);
      await L.send('MarketSession', 'openSession', [sid, now + 600, now + 900, now + 1800, CAP, PENALTY, GREEN]);
      const supplyBefore = await L.call<bigint>('EnergyToken', 'totalSupply', []);

      // Each participant is a buyer or a seller in this session (no self-trades to avoid).
      const orders: Order[] = [];
      for (const p of people) {
        const isBid = rnd() < 0.5;
        const n = Number(int(1, 3));
        for (let k = 0; k < n; k++) {
          const qty = int(100, 5000);
          const limit = int(0, Number(CAP));
          const green = !isBid && rnd() < 0.5;
          const r = isBid
            ? await L.send('MarketSession', 'submitBid', [sid, qty, limit], { from: p })
            : await L.send('MarketSession', 'submitOffer', [sid, qty, limit, green], { from: p });
          const e = r.events.find((x) => x.event === 'OrderSubmitted')!;
          orders.push({ id: Number(e.args.orderId), owner: p, isBid, green, qty, limit, locked: BigInt(e.args.locked as string), cancelled: false });
        }
      }
      for (const o of orders) {
        if (rnd() < 0.15) {
          await L.send('MarketSession', 'cancelOrder', [o.id], { from: o.owner });
          o.cancelled = true;
          o.locked = 0n;
        }
      }
      await checkSupply('after orders');

      // Uniform-price clearing: bids descending, offers ascending, price halfway across the marginal pair.
      await L.advanceTime(650);
      const bids = orders.filter((o) => o.isBid && !o.cancelled).sort((a, b) => Number(b.limit - a.limit) || a.id - b.id);
      const offers = orders.filter((o) => !o.isBid && !o.cancelled).sort((a, b) => Number(a.limit - b.limit) || a.id - b.id);
      const matches: { bidId: number; offerId: number; qtyWh: bigint; bidLimit: bigint }[] = [];
      const left = new Map(orders.map((o) => [o.id, o.qty]));
      let i = 0;
      let j = 0;
      let marginal: [bigint, bigint] | undefined;
      while (i < bids.length && j < offers.length && bids[i]!.limit >= offers[j]!.limit) {
        const b = bids[i]!;
        const o = offers[j]!;
        const q = left.get(b.id)! < left.get(o.id)! ? left.get(b.id)! : left.get(o.id)!;
        matches.push({ bidId: b.id, offerId: o.id, qtyWh: q, bidLimit: b.limit });
        marginal = [b.limit, o.limit];
        left.set(b.id, left.get(b.id)! - q);
        left.set(o.id, left.get(o.id)! - q);
        if (left.get(b.id) === 0n) i++;
        if (left.get(o.id) === 0n) j++;
      }
      // Odd seeds: uniform price (the middle of the marginal pair); even seeds: pay-as-bid (each trade at its bid).
      const payAsBid = seed % 2 === 0;
      const price = payAsBid ? 0n : marginal ? (marginal[0] + marginal[1]) / 2n : 0n;
      const trades: TradeEntry[] = matches.map((m) => ({ bidId: m.bidId, offerId: m.offerId, qtyWh: m.qtyWh, price: payAsBid ? m.bidLimit : price }));
      const session = await L.call<{ bookHash: string }>('MarketSession', 'session', [sid]);
      await L.send('MarketSession', 'postClearing', [sid, price, session.bookHash, clearingResultHash(price, trades), trades.length]);
      for (let k = 0; k < trades.length; k += 7) await L.send('MarketSession', 'addTrades', [sid, trades.slice(k, k + 7)]);
      await checkSupply('after clearing');

      // Metered delivery and settlement in random batches, modelled off chain.
      await L.advanceTime(1200);
      const expected = new Map([...held.keys()].map((a) => [a, 0n]));
      const add = (a: string, v: bigint) => expected.set(a, (expected.get(a) ?? 0n) + v);
      const byId = new Map(orders.map((o) => [o.id, o]));
      let pool = await L.call<bigint>('MarketSession', 'rewardPool', []);
      const deliveries = trades.map((tr, k) => ({ tradeId: k, deliveredWh: rnd() < 0.6 ? BigInt(tr.qtyWh) : int(0, Number(BigInt(tr.qtyWh) * 12n / 10n)) }));
      for (const [k, tr] of trades.entries()) {
        const bid = byId.get(tr.bidId)!;
        const off = byId.get(tr.offerId)!;
        const q = BigInt(tr.qtyWh);
        const d = deliveries[k]!.deliveredWh < q ? deliveries[k]!.deliveredWh : q;
        const paid = (d * BigInt(tr.price)) / 1000n;
        bid.locked -= paid;
        add(off.owner, paid);
        let pen = ((q - d) * PENALTY) / 1000n;
        if (pen > off.locked) pen = off.locked;
        off.locked -= pen;
        add(bid.owner, pen);
        if (off.green) {
          let r = (d * GREEN) / 1000n;
          if (r > pool) r = pool;
          pool -= r;
          add(bid.owner, r);
        }
      }
      stats.trades += trades.length;
      stats.shortfalls += deliveries.filter((d, k) => d.deliveredWh < BigInt(trades[k]!.qtyWh)).length;
      const shuffled = [...deliveries].sort(() => rnd() - 0.5);
      for (let k = 0; k < shuffled.length; k += 5) await L.send('MarketSession', 'settle', [sid, shuffled.slice(k, k + 5)]);
      if (trades.length === 0) await L.send('MarketSession', 'settle', [sid, []]);
      assert.equal((await L.call<{ state: bigint }>('MarketSession', 'session', [sid])).state, 4n, 'settled');
      await checkSupply('after settlement');

      // Everyone withdraws what is left and claims its credits.
      for (const p of people) {
        const mine = orders.filter((o) => o.owner === p && !o.cancelled);
        for (const o of mine) add(p, o.locked);
        if (mine.length) await L.send('MarketSession', 'withdraw', [mine.map((o) => o.id)], { from: p });
        const credit = await L.call<bigint>('MarketSession', 'credits', [p]);
        if (credit > 0n) await L.send('MarketSession', 'claim', [], { from: p });
      }
      for (const p of people) {
        // what it had, less what it escrowed, plus what settlement and withdrawal gave it back
        const escrowed = orders.filter((o) => o.owner === p && !o.cancelled).reduce((a, o) => a + (o.isBid ? (o.qty * o.limit) / 1000n : (o.qty * PENALTY) / 1000n), 0n);
        const want = held.get(p)! - escrowed + expected.get(p)!;
        const have = await L.call<bigint>('EnergyToken', 'balanceOf', [p]);
        assert.equal(have, want, `balance of ${p}`);
        assert.ok(have >= 0n);
        held.set(p, have);
      }
      assert.equal(await L.call('EnergyToken', 'totalSupply', []), supplyBefore, 'no token created or destroyed');
      assert.equal(await L.call('MarketSession', 'rewardPool', []), pool);
      assert.equal(await L.call('MarketSession', 'held', []), pool, 'only the reward pool is left');
      await checkSupply('after withdrawal');
    });
  }
});
