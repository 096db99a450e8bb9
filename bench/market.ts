/**
 * Market benchmarks (issue 8, first part): uniform-price clearing of 1,000, 10,000 and 100,000 orders against
 * the time to sort the same orders by price (the floor any clearing pays).
 */
import { mulberry32 } from '../plugins/forecasting/api.js';
import { uniformPrice, type Order } from '../plugins/p2p-market/clearing.js';
import type { Row } from './openadr3.js';

const fmt = (n: number, d = 1) => n.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

function book(n: number, seed: number): Order[] {
  const rnd = mulberry32(seed);
  return Array.from({ length: n }, (_, i) => ({
    id: i + 1,
    owner: `p${i}`,
    side: rnd() < 0.5 ? 'bid' : 'offer',
    qtyWh: 100 + Math.floor(rnd() * 5000),
    limit: Math.floor(50 + rnd() * 400),
    seq: i,
  }));
}

export async function benchMarket(): Promise<Row[]> {
  const rows: Row[] = [];
  for (const n of [1000, 10_000, 100_000]) {
    const clear: number[] = [];
    const sort: number[] = [];
    for (let rep = 0; rep < 7; rep++) {
      const b = book(n, rep + 1);
      let t0 = performance.now();
      const r = uniformPrice.clear(b);
      clear.push(performance.now() - t0);
      if (r.volumeWh <= 0) throw new Error('bench book did not clear');
      t0 = performance.now();
      [...b].sort((x, y) => x.limit - y.limit || x.seq - y.seq);
      sort.push(performance.now() - t0);
    }
    rows.push({
      what: `market: uniform-price clearing of ${n.toLocaleString('en-US')} orders (median of 7) / sorting them by price`,
      result: `${fmt(median(clear))} ms / ${fmt(median(sort))} ms (${fmt(median(clear) / median(sort))}×)`,
      ...(n === 100_000 ? { target: '< 100 ms, within 3× of sorting' } : {}),
    });
    process.stderr.write(`bench: clearing ${n}: ${fmt(median(clear))} ms, sort ${fmt(median(sort))} ms\n`);
  }
  return rows;
}

/** One session with 1,000 prosumers on the embedded EVM: orders, clearing, metering and settlement. */
export async function benchMarketSession(): Promise<Row[]> {
  const { openTestLedger } = await import('../adapters/ledger/testing/harness.js');
  const { MarketService } = await import('../plugins/p2p-market/market.js');
  const { marketMigrations } = await import('../plugins/p2p-market/migrations.js');
  const { BUILTIN_ALGORITHMS } = await import('../plugins/p2p-market/clearing.js');
  const { createLogger } = await import('../core/index.js');
  const t = await openTestLedger();
  const rows: Row[] = [];
  try {
    await t.storage.migrate('p2p-market', marketMigrations);
    const market = new MarketService({
      storage: () => t.storage,
      ledger: () => t.ledger,
      forecaster: () => undefined,
      algorithms: () => new Map(BUILTIN_ALGORITHMS.map((a) => [a.id, a])),
      settings: {
        slotMinutes: 15, gateLeadMinutes: 5, sessionsAhead: 2, priceCap: 1000, shortfallPenaltyPerKwh: 100, greenRewardPerKwh: 20, offerTolerancePct: 10, algorithm: 'uniform',
        defaultRules: { maxOrderWh: 50_000, defaultBidPrice: 300, defaultOfferPrice: 100, autoBid: false, green: true },
      },
      log: createLogger({ level: 'silent' }),
    });
    const rnd = mulberry32(21);
    let t0 = performance.now();
    for (let i = 0; i < 1000; i++) {
      await market.register({ id: `p${i}`, meterId: `m${i}` });
      await market.buyTokens(`p${i}`, 10_000n, `pay-${i}`);
    }
    const reg = performance.now() - t0;
    process.stderr.write(`bench: registered and funded 1,000 prosumers in ${fmt(reg / 1000)} s\n`);
    const [sid] = await market.ensureSessions();
    if (!sid) throw new Error('no session opened');
    t0 = performance.now();
    const orders = Array.from({ length: 1000 }, (_, i) => ({
      prosumer: `p${i}`,
      side: (i % 2 ? 'offer' : 'bid') as 'bid' | 'offer',
      qtyWh: 200 + Math.floor(rnd() * 2000),
      limitPrice: i % 2 ? 50 + Math.floor(rnd() * 200) : 150 + Math.floor(rnd() * 250),
    }));
    for (let i = 0; i < orders.length; i += 200) await market.submit(sid, orders.slice(i, i + 200));
    const tOrders = performance.now() - t0;
    const s = await market.session(sid);
    await t.ledger.advanceTime(Number(s.gate_closure) - (await t.ledger.chainTime()) + 1);
    t0 = performance.now();
    const cleared = (await market.clear(sid)) as { trades: number; volumeWh: number };
    const tClear = performance.now() - t0;
    // Metered export: most sellers deliver, some fall short.
    for (let i = 1; i < 1000; i += 2) {
      const delivered = Math.floor(orders[i]!.qtyWh * (rnd() < 0.8 ? 1 : rnd()));
      await t.storage.readings.writeSeries({ meterId: `m${i}`, quantity: 'energyExport', resolutionS: 900, unit: 'Wh' }, [Number(s.slot_start) * 1000], [delivered]);
    }
    await t.ledger.advanceTime(Number(s.slot_end) - (await t.ledger.chainTime()) + 1);
    t0 = performance.now();
    await market.settle(sid);
    const tSettle = performance.now() - t0;
    rows.push({
      what: `market: one session with 1,000 prosumers on the embedded EVM (${fmt(cleared.trades, 0)} trades): orders in batches of 200 / clearing posted / settlement from meters incl. every wallet's withdrawal and claim`,
      result: `${fmt(tOrders / 1000)} s / ${fmt(tClear / 1000)} s / ${fmt(tSettle / 1000)} s; total ${fmt((tOrders + tClear + tSettle) / 1000)} s`,
    });
    rows.push({ what: 'market: registering and funding 1,000 prosumers (custodial wallet, registry, approval, broker, token issue: 4 transactions each)', result: `${fmt(reg / 1000)} s` });
    process.stderr.write(`bench: session: orders ${fmt(tOrders)} ms, clear ${fmt(tClear)} ms, settle ${fmt(tSettle)} ms\n`);
  } finally {
    await t.close();
  }
  return rows;
}
