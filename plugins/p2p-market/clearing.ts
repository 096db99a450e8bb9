/**
 * Double-auction clearing for the local energy market (HL-UC02 LL-UC03). Pure and deterministic: the same
 * order book (in any input order) gives the same result, so any node can recompute a clearing and compare its
 * hash. Quantities in Wh, prices in token base units per kWh, all integers.
 *
 * Order of priority: offers by ascending limit, bids by descending limit; equal limits by submission sequence
 * (`seq`), then id. The matched volume is the largest at which the marginal bid is still willing to pay the
 * marginal offer's price. Orders strictly inside the marginal price are filled whole; orders *at* the marginal
 * limit on the long side share what is left pro rata to their quantity (largest remainders, ties by priority).
 * Bids and offers are then paired in priority order into trades. A prosumer may not have bids and offers in the
 * same session (checked at submission), so a trade never has one owner on both sides.
 */
export interface Order {
  id: number;
  owner: string;
  side: 'bid' | 'offer';
  qtyWh: number;
  /** Limit price: the most a bid pays, the least an offer accepts. */
  limit: number;
  /** Submission sequence (earlier first at equal limits). */
  seq: number;
}

export interface Trade {
  bidId: number;
  offerId: number;
  qtyWh: number;
  price: number;
}

export interface CurvePoint {
  price: number;
  qtyWh: number;
}

export interface ClearingResult {
  algorithm: string;
  /** The uniform price, or null when nothing clears (or the algorithm prices each trade). */
  price: number | null;
  volumeWh: number;
  trades: Trade[];
  /** Why nothing cleared, when nothing did. */
  reason?: 'no-bids' | 'no-offers' | 'no-cross';
  /** The clearing interval: any uniform price within it clears the matched volume. */
  interval?: [number, number];
}

export interface ClearingAlgorithm {
  readonly id: string;
  readonly description: string;
  clear(orders: readonly Order[]): ClearingResult;
}

interface Matched {
  bids: Int32Array; // indices into orders, in priority order
  offers: Int32Array;
  volume: number;
  marginalBid: number; // limit
  marginalOffer: number;
  /** First bid / offer left out (their limits bound the clearing interval), or -1. */
  nextBid: number;
  nextOffer: number;
}

const SHIFT = 2 ** 26;

/**
 * Priority order of one side. Fast path: with whole limits and unique sequence numbers below 2^26, each order
 * becomes one float64 key (limit part × 2^26 + seq), sorted natively without a comparator; else a comparator
 * sort on (limit, seq, id).
 */
function prioritised(orders: readonly Order[], side: 'bid' | 'offer'): Int32Array {
  let n = 0;
  let fast = true;
  let maxSeq = 0;
  for (const o of orders) {
    if (o.side !== side) continue;
    n++;
    if (!(Number.isInteger(o.limit) && o.limit >= 0 && o.limit < SHIFT && Number.isInteger(o.seq) && o.seq >= 0 && o.seq < SHIFT)) fast = false;
    if (o.seq > maxSeq) maxSeq = o.seq;
  }
  const out = new Int32Array(n);
  if (fast && maxSeq < 4 * orders.length + 1024) {
    const bySeq = new Int32Array(maxSeq + 1).fill(-1);
    const keys = new Float64Array(n);
    let k = 0;
    for (let i = 0; i < orders.length; i++) {
      const o = orders[i]!;
      if (o.side !== side) continue;
      if (bySeq[o.seq] !== -1) {
        fast = false;
        break;
      }
      bySeq[o.seq] = i;
      keys[k++] = (side === 'bid' ? SHIFT - 1 - o.limit : o.limit) * SHIFT + o.seq;
    }
    if (fast) {
      keys.sort();
      for (let i = 0; i < n; i++) out[i] = bySeq[keys[i]! % SHIFT]!;
      return out;
    }
  }
  let k = 0;
  for (let i = 0; i < orders.length; i++) if (orders[i]!.side === side) out[k++] = i;
  const sign = side === 'bid' ? -1 : 1;
  out.sort((a, b) => {
    const x = orders[a]!;
    const y = orders[b]!;
    return sign * (x.limit - y.limit) || x.seq - y.seq || x.id - y.id;
  });
  return out;
}

function match(orders: readonly Order[]): Matched | { reason: 'no-bids' | 'no-offers' | 'no-cross' } {
  const bids = prioritised(orders, 'bid');
  const offers = prioritised(orders, 'offer');
  if (bids.length === 0) return { reason: 'no-bids' };
  if (offers.length === 0) return { reason: 'no-offers' };
  if (orders[bids[0]!]!.limit < orders[offers[0]!]!.limit) return { reason: 'no-cross' };
  // Walk both curves: each step consumes the smaller of the current bid's and offer's remaining quantity.
  let i = 0;
  let j = 0;
  let bidLeft = orders[bids[0]!]!.qtyWh;
  let offerLeft = orders[offers[0]!]!.qtyWh;
  let volume = 0;
  let mb = orders[bids[0]!]!.limit;
  let mo = orders[offers[0]!]!.limit;
  while (i < bids.length && j < offers.length && orders[bids[i]!]!.limit >= orders[offers[j]!]!.limit) {
    const q = Math.min(bidLeft, offerLeft);
    volume += q;
    mb = orders[bids[i]!]!.limit;
    mo = orders[offers[j]!]!.limit;
    bidLeft -= q;
    offerLeft -= q;
    if (bidLeft === 0 && ++i < bids.length) bidLeft = orders[bids[i]!]!.qtyWh;
    if (offerLeft === 0 && ++j < offers.length) offerLeft = orders[offers[j]!]!.qtyWh;
  }
  // The first order of each side that was not (fully) used bounds the interval of clearing prices.
  const nextBid = i < bids.length ? orders[bids[i]!]!.limit : -1;
  const nextOffer = j < offers.length ? orders[offers[j]!]!.limit : -1;
  return { bids, offers, volume, marginalBid: mb, marginalOffer: mo, nextBid, nextOffer };
}

/**
 * Fills per order: whole for orders beyond the marginal limit, pro rata (largest remainder) among the orders
 * at the marginal limit for what is left of `volume`.
 */
function fills(orders: readonly Order[], ranked: Int32Array, volume: number, marginal: number): Map<number, number> {
  const out = new Map<number, number>();
  let left = volume;
  let k = 0;
  for (; k < ranked.length && left > 0; k++) {
    const o = orders[ranked[k]!]!;
    if (o.limit === marginal) break;
    const q = Math.min(o.qtyWh, left);
    out.set(ranked[k]!, q);
    left -= q;
  }
  if (left <= 0) return out;
  const tied: number[] = [];
  for (; k < ranked.length && orders[ranked[k]!]!.limit === marginal; k++) tied.push(ranked[k]!);
  const total = tied.reduce((a, t) => a + orders[t]!.qtyWh, 0);
  if (total <= left) {
    for (const t of tied) out.set(t, orders[t]!.qtyWh);
    return out;
  }
  const shares = tied.map((t, n) => {
    const exact = (orders[t]!.qtyWh * left) / total;
    return { t, n, base: Math.floor(exact), rem: exact - Math.floor(exact) };
  });
  let rest = left - shares.reduce((a, s) => a + s.base, 0);
  for (const s of [...shares].sort((a, b) => b.rem - a.rem || a.n - b.n)) {
    if (rest === 0) break;
    s.base++;
    rest--;
  }
  for (const s of shares) if (s.base > 0) out.set(s.t, s.base);
  return out;
}

/** Pairs filled bids and offers in priority order. */
function pair(orders: readonly Order[], m: Matched, bidFill: Map<number, number>, offerFill: Map<number, number>, price: (b: Order, o: Order) => number): Trade[] {
  const trades: Trade[] = [];
  const bs = Array.from(m.bids).filter((b) => bidFill.has(b));
  const os = Array.from(m.offers).filter((o) => offerFill.has(o));
  let i = 0;
  let j = 0;
  let bl = bs.length ? bidFill.get(bs[0]!)! : 0;
  let ol = os.length ? offerFill.get(os[0]!)! : 0;
  while (i < bs.length && j < os.length) {
    const q = Math.min(bl, ol);
    const b = orders[bs[i]!]!;
    const o = orders[os[j]!]!;
    trades.push({ bidId: b.id, offerId: o.id, qtyWh: q, price: price(b, o) });
    bl -= q;
    ol -= q;
    if (bl === 0 && ++i < bs.length) bl = bidFill.get(bs[i]!)!;
    if (ol === 0 && ++j < os.length) ol = offerFill.get(os[j]!)!;
  }
  return trades;
}

function clearWith(id: string, orders: readonly Order[], pick: (m: Matched, lower: number, upper: number) => { uniform: number | null; price: (b: Order, o: Order) => number }): ClearingResult {
  const m = match(orders);
  if ('reason' in m) return { algorithm: id, price: null, volumeWh: 0, trades: [], reason: m.reason };
  // Clearing interval: at least the marginal offer (and the first bid left out), at most the marginal bid (and
  // the first offer left out).
  const lower = Math.max(m.marginalOffer, m.nextBid >= 0 && m.nextBid <= m.marginalBid ? m.nextBid : -Infinity);
  const upper = Math.min(m.marginalBid, m.nextOffer >= 0 && m.nextOffer >= m.marginalOffer ? m.nextOffer : Infinity);
  const bidFill = fills(orders, m.bids, m.volume, m.marginalBid);
  const offerFill = fills(orders, m.offers, m.volume, m.marginalOffer);
  const p = pick(m, lower, upper);
  return { algorithm: id, price: p.uniform, volumeWh: m.volume, trades: pair(orders, m, bidFill, offerFill, p.price), interval: [lower, upper] };
}

/** The default: one price for everyone, the middle of the clearing interval (rounded down). */
export const uniformPrice: ClearingAlgorithm = {
  id: 'uniform',
  description: 'uniform-price double auction: the middle of the interval of prices that clear the matched volume',
  clear(orders) {
    return clearWith(this.id, orders, (_m, lo, hi) => {
      const price = Math.floor((lo + hi) / 2);
      return { uniform: price, price: () => price };
    });
  },
};

/** k-double auction: the price divides the marginal bid and offer as k : 1 − k (k = 1 favours sellers). */
export function kDoubleAuction(k: number): ClearingAlgorithm {
  if (!(k >= 0 && k <= 1)) throw new RangeError('k must be within 0..1');
  return {
    id: `k-double-${k}`,
    description: `k-double auction, k = ${k}: price = k × marginal bid + (1 − k) × marginal offer`,
    clear(orders) {
      return clearWith(this.id, orders, (m) => {
        const price = Math.floor(k * m.marginalBid + (1 - k) * m.marginalOffer);
        return { uniform: price, price: () => price };
      });
    },
  };
}

/** Pay-as-bid: the same matches, each trade at its bid's limit (buyers pay what they offered). */
export const payAsBid: ClearingAlgorithm = {
  id: 'pay-as-bid',
  description: 'discriminatory: each trade is priced at its bid’s limit',
  clear(orders) {
    return clearWith(this.id, orders, () => ({ uniform: null, price: (b) => b.limit }));
  },
};

export const BUILTIN_ALGORITHMS: readonly ClearingAlgorithm[] = [uniformPrice, kDoubleAuction(0.5), payAsBid];

/** Supply (ascending) and demand (descending) step curves of a book, for plots. */
export function curves(orders: readonly Order[]): { supply: CurvePoint[]; demand: CurvePoint[] } {
  const step = (ranked: Int32Array) => {
    let q = 0;
    return Array.from(ranked, (i) => ({ price: orders[i]!.limit, qtyWh: (q += orders[i]!.qtyWh) }));
  };
  return { supply: step(prioritised(orders, 'offer')), demand: step(prioritised(orders, 'bid')) };
}
