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
