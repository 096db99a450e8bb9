import assert from 'node:assert/strict';
import { mulberry32 } from '../forecasting/api.js';
import { curves, kDoubleAuction, payAsBid, uniformPrice, type Order } from './clearing.js';

let seq = 0;
const bid = (id: number, qtyWh: number, limit: number, owner = `b${id}`): Order => ({ id, owner, side: 'bid', qtyWh, limit, seq: seq++ });
const offer = (id: number, qtyWh: number, limit: number, owner = `o${id}`): Order => ({ id, owner, side: 'offer', qtyWh, limit, seq: seq++ });
const t = (r: ReturnType<typeof uniformPrice.clear>) => r.trades.map((x) => [x.bidId, x.offerId, x.qtyWh]);

describe('p2p-market: uniform-price clearing, hand-checked cases', () => {
  const cases: { name: string; book: Order[]; price: number | null; volume: number; trades: number[][]; reason?: string }[] = [
    { name: 'one side empty: no offers', book: [bid(1, 1000, 300)], price: null, volume: 0, trades: [], reason: 'no-offers' },
    { name: 'one side empty: no bids', book: [offer(1, 1000, 100)], price: null, volume: 0, trades: [], reason: 'no-bids' },
    { name: 'no cross: best bid below best offer', book: [bid(1, 1000, 100), offer(2, 1000, 150)], price: null, volume: 0, trades: [], reason: 'no-cross' },
    { name: 'exact cross: one bid meets one offer at the same limit', book: [bid(1, 1000, 200), offer(2, 1000, 200)], price: 200, volume: 1000, trades: [[1, 2, 1000]] },
    {
      name: 'textbook: supply ascending, demand descending, price inside the crossing',
      book: [bid(1, 3000, 300), bid(2, 2000, 250), bid(3, 2000, 150), offer(4, 2000, 100), offer(5, 2000, 200), offer(6, 2000, 260)],
      // matched 4000: bid1 3000 + bid2 1000 / offer4 2000 + offer5 2000. Bid 2 still wants 1000 more at 250, so
      // below 250 demand exceeds supply: the interval is [250, min(250, 260)] and the price 250.
      price: 250,
      volume: 4000,
      trades: [[1, 4, 2000], [1, 5, 1000], [2, 5, 1000]],
    },
    {
      name: 'partial fill of the marginal offer: with supply left at its limit, the price falls to it',
      book: [bid(1, 1000, 300), offer(2, 1500, 100), offer(3, 1000, 120)],
      price: 100, // offer 2 still has 500 Wh at 100: the interval is [100, min(300, 100)]
      volume: 1000,
      trades: [[1, 2, 1000]],
    },
    {
      name: 'ties at the marginal bid limit share pro rata',
      book: [bid(1, 3000, 200), bid(2, 1000, 200), offer(3, 2000, 100)],
      price: 200,
      volume: 2000,
      trades: [[1, 3, 1500], [2, 3, 500]],
    },
    {
      name: 'ties at the marginal offer limit share pro rata, rounding by largest remainder',
      book: [bid(1, 1000, 300), offer(2, 1000, 100), offer(3, 1000, 100), offer(4, 1000, 100)],
      price: 100,
      volume: 1000,
      trades: [[1, 2, 334], [1, 3, 333], [1, 4, 333]],
    },
    {
      name: 'a bid at the cap and an offer at zero',
      book: [bid(1, 500, 1000), offer(2, 500, 0)],
      price: 500,
      volume: 500,
      trades: [[1, 2, 500]],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const r = uniformPrice.clear(c.book);
      assert.equal(r.price, c.price);
      assert.equal(r.volumeWh, c.volume);
      assert.deepEqual(t(r), c.trades);
      if (c.reason) assert.equal(r.reason, c.reason);
    });
  }

  it('pay-as-bid prices each trade at its bid; k-double divides the marginal pair', () => {
    const book = [bid(1, 1000, 300), bid(2, 1000, 250), offer(3, 2000, 100)];
    assert.deepEqual(payAsBid.clear(book).trades.map((x) => x.price), [300, 250]);
    assert.equal(payAsBid.clear(book).price, null);
    assert.equal(kDoubleAuction(1).clear(book).price, 250);
    assert.equal(kDoubleAuction(0).clear(book).price, 100);
    assert.equal(kDoubleAuction(0.5).clear(book).price, 175);
    assert.throws(() => kDoubleAuction(2), RangeError);
  });

  it('orders with equal sequence numbers fall back to id order, with the same result as the fast path', () => {
    const book = [bid(1, 1000, 200), bid(2, 1000, 200), offer(3, 1500, 100), offer(4, 500, 100)];
    const sameSeq = book.map((o) => ({ ...o, seq: 0 }));
    const bySeq = book.map((o) => ({ ...o, seq: o.id }));
    assert.deepEqual(uniformPrice.clear(sameSeq).trades, uniformPrice.clear(bySeq).trades);
    const fractional = book.map((o) => ({ ...o, limit: o.limit + 0.5 }));
    assert.equal(uniformPrice.clear(fractional).volumeWh, 2000);
  });

  it('draws supply ascending and demand descending', () => {
    const c = curves([bid(1, 100, 50), bid(2, 200, 80), offer(3, 300, 10), offer(4, 100, 5)]);
    assert.deepEqual(c.demand, [{ price: 80, qtyWh: 200 }, { price: 50, qtyWh: 300 }]);
    assert.deepEqual(c.supply, [{ price: 5, qtyWh: 100 }, { price: 10, qtyWh: 400 }]);
  });
});

describe('p2p-market: clearing properties over random books', () => {
  it('no trade beyond a limit, volume balance, no over-fill, determinism, no profitable trade left out (300 books × 3 algorithms)', () => {
    const algorithms = [uniformPrice, kDoubleAuction(0.3), payAsBid];
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = mulberry32(seed);
      const n = 1 + Math.floor(rnd() * 60);
      const book: Order[] = Array.from({ length: n }, (_, i) => ({
        id: i + 1,
        owner: `p${i}`,
        side: rnd() < 0.5 ? 'bid' : 'offer',
        qtyWh: 1 + Math.floor(rnd() * 5000),
        limit: Math.floor(rnd() * 20) * 25, // coarse prices: many ties
        seq: i,
      }));
      for (const a of algorithms) {
        const r = a.clear(book);
        const byId = new Map(book.map((o) => [o.id, o]));
        // nobody trades at a worse price than its limit
        for (const tr of r.trades) {
          assert.ok(tr.price <= byId.get(tr.bidId)!.limit && tr.price >= byId.get(tr.offerId)!.limit, `seed ${seed} ${a.id}: price beyond a limit`);
          assert.ok(tr.qtyWh > 0);
        }
        // volume balance, no order over-filled
        const filled = new Map<number, number>();
        for (const tr of r.trades) {
          filled.set(tr.bidId, (filled.get(tr.bidId) ?? 0) + tr.qtyWh);
          filled.set(tr.offerId, (filled.get(tr.offerId) ?? 0) + tr.qtyWh);
        }
        for (const [id, q] of filled) assert.ok(q <= byId.get(id)!.qtyWh, `seed ${seed} ${a.id}: over-filled`);
        assert.equal(r.trades.reduce((x, tr) => x + tr.qtyWh, 0), r.volumeWh);
        // determinism: the same book in another order clears the same
        const shuffled = [...book].sort(() => rnd() - 0.5);
        assert.deepEqual(a.clear(shuffled), r, `seed ${seed} ${a.id}: not deterministic`);
      }
      // efficiency: no unmatched bid would pay an unmatched offer's price at the uniform price
      const r = uniformPrice.clear(book);
      if (r.price !== null) {
        const filled = new Map<number, number>();
        for (const tr of r.trades) {
          filled.set(tr.bidId, (filled.get(tr.bidId) ?? 0) + tr.qtyWh);
          filled.set(tr.offerId, (filled.get(tr.offerId) ?? 0) + tr.qtyWh);
        }
        const openBid = book.some((o) => o.side === 'bid' && o.limit > r.price! && (filled.get(o.id) ?? 0) < o.qtyWh);
        const openOffer = book.some((o) => o.side === 'offer' && o.limit < r.price! && (filled.get(o.id) ?? 0) < o.qtyWh);
        assert.ok(!(openBid && openOffer), `seed ${seed}: a profitable trade was left out`);
      }
    }
  });
});
