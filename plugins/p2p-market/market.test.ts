import assert from 'node:assert/strict';
import { elementsOf, parseXml, type XElement } from '../../standards/openadr2b/xml.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfigOrThrow } from '../../core/config/config.js';
import { createLogger, LedgerToken, SchedulerToken, StorageToken, type Address, type Ledger } from '../../core/index.js';
import { startServer } from '../../core/server.js';
import { EDRP } from '../../test/data.js';
import { clearSkyMean } from '../forecasting/api.js';
import { ReadingsParser } from '../meter-data/api.js';
import { Oa3Token } from '../openadr3/api.js';
import { OPERATOR, OPERATOR_ENV } from '../../core/testing/operator.js';

const DAY = 86_400_000;
const SITE = { latitude: 56.0, longitude: -3.8 };

describe('p2p-market end to end on the embedded EVM: register, fund, orders (some automatic), clear, meter, settle', function () {
  this.timeout(300_000);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'gf-market-'));
  let server: Awaited<ReturnType<typeof startServer>>;
  let L: Ledger;
  const PAY = 'payment-provider-secret-0123';
  const api = async (method: string, p: string, body?: unknown) => {
    // Minting (tokens/buy, rewards) is the payment provider's: these calls carry its credential.
    const minting: Record<string, string> = /\/tokens\/buy$|^\/rewards$/.test(p) ? { 'x-payment-provider-token': PAY } : {};
    const res = await fetch(`${server.url}/api/market${p}`, { method, headers: { ...OPERATOR, ...minting, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: res.status === 204 ? null : ((await res.json()) as any) };
  };
  const balance = async (a: Address) => L.call<bigint>('EnergyToken', 'balanceOf', [a]);

  before(async () => {
    const config = loadConfigOrThrow({ env: { ...OPERATOR_ENV }, overrides: { port: 0, dataDir: path.join(dir, 'data') } });
    config.plugins['p2p-market'] = { enabled: true, config: { jobEvery: '', paymentProviderTokens: [PAY], sessionsAhead: 2, greenRewardPerKwh: 200, defaultRules: { autoBid: false, green: true, maxOrderWh: 20_000 } } };
    config.plugins['pv-degradation'] = { enabled: true, config: { defaultSite: SITE } };
    server = await startServer({ config, log: createLogger({ level: 'silent' }) });
    L = server.host.resolve(LedgerToken);
    const storage = server.host.resolve(StorageToken);
    // Nine weeks of history ending today: three real households (EDRP, moved by whole weeks) and two PV roofs.
    const today = Math.floor(Date.now() / DAY) * DAY;
    const p = new ReadingsParser({ meters: ['hh1', 'hh2', 'hh3'] });
    for (const l of readFileSync(EDRP, 'utf8').split('\n')) p.line(l);
    const parsed = p.finish();
    const lastDay = Math.floor(parsed.series[0]!.ts.at(-1)! / DAY) * DAY;
    const shift = Math.ceil((today - DAY - lastDay) / (7 * DAY)) * 7 * DAY;
    for (const [i, s] of parsed.series.entries()) {
      const keep = s.ts.map((t, k) => [t + shift, s.values[k]!] as const).filter(([t]) => t < Date.now());
      await storage.readings.writeSeries({ meterId: `m-c${i + 1}`, quantity: 'energyImport', resolutionS: 1800, unit: 'Wh' }, keep.map((x) => x[0]), keep.map((x) => x[1]));
    }
    for (const [id, kw] of [['m-s1', 3], ['m-s2', 2]] as const) {
      const ts: number[] = [];
      const v: number[] = [];
      for (let t = today - 63 * DAY; t < Date.now() - 1800_000; t += 1800_000) {
        ts.push(t);
        v.push(clearSkyMean(SITE, t, 1800) * kw * 0.5 * 0.6);
      }
      await storage.readings.writeSeries({ meterId: id, quantity: 'energyExport', resolutionS: 1800, unit: 'Wh' }, ts, v);
    }
    // Sessions around the next 11:00 UTC, when the roofs produce.
    const now = await L.chainTime();
    const target = Math.floor(now / 86400) * 86400 + 11 * 3600 - 20 * 60;
    await L.advanceTime(target > now ? target - now : target + 86400 - now);
  });
  after(async () => {
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const wallets: Record<string, Address> = {};
  let sid = 0;

  it('registers prosumers with custodial wallets on the registry, and refuses duplicates and bad rules', async () => {
    for (const [id, meterId, autoBid] of [['c1', 'm-c1', true], ['c2', 'm-c2', true], ['c3', 'm-c3', false], ['s1', 'm-s1', true], ['s2', 'm-s2', false]] as const) {
      const r = await api('POST', '/prosumers', { id, meterId, rules: { autoBid, defaultBidPrice: 300, defaultOfferPrice: 100 } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      wallets[id] = r.body.wallet;
      assert.equal(await L.call('ParticipantRegistry', 'roleOf', [r.body.wallet]), 1n);
    }
    assert.equal((await api('POST', '/prosumers', { id: 'c1', meterId: 'm-c1' })).body.code, 'GF_MARKET_DUPLICATE');
    const bad = await api('POST', '/prosumers', { id: 'x', meterId: 'm-x', rules: { defaultBidPrice: 5000 } });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.field, 'rules.defaultBidPrice');
    // The shape of every body is checked before the service sees it, each bad or unknown field named.
    for (const [p, b, field] of [
      ['/prosumers', { id: 'y', meterId: 'm-y', colour: 'red' }, 'colour'],
      ['/prosumers', { meterId: 'm-y' }, 'id'],
      ['/prosumers/c1/tokens/buy', { amount: -5, reference: 'pay-1' }, 'amount'],
      ['/prosumers/c1/tokens/buy', { amount: '12', reference: '' }, 'reference'],
      ['/rewards', { amount: 1.5, reference: 'pool-1' }, 'amount'],
      ['/rewards', { amount: 15 }, 'reference'],
      [`/sessions/${sid}/orders`, { orders: 'all of them' }, 'orders'],
    ] as const) {
      const r = await api('POST', p, b);
      assert.deepEqual([r.status, r.body.code, r.body.field], [400, 'GF_MARKET_BAD_REQUEST', field], JSON.stringify(r.body));
    }
  });

  it('prosumers buy tokens (issued against a payment reference) and sell some back; the operator funds green rewards', async () => {
    for (const id of ['c1', 'c2', 'c3', 's1', 's2']) assert.equal((await api('POST', `/prosumers/${id}/tokens/buy`, { amount: 20_000, reference: `pay-${id}` })).status, 200);
    const sold = await api('POST', '/prosumers/c3/tokens/sell', { amount: '1000', reference: 'payout-c3' });
    assert.equal(sold.body.balance, '19000');
    assert.equal((await api('POST', '/prosumers/c3/tokens/buy', { amount: -5, reference: 'x' })).status, 400);
    const rw = await api('POST', '/rewards', { amount: 5000, reference: 'pool-1' });
    assert.equal(rw.body.rewardPool, '5000', JSON.stringify(rw));
  });

  it('opens sessions with automatic orders from forecasts and a price signal', async () => {
    const r = await api('POST', '/sessions/open');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.ok(r.body.opened.length >= 1, JSON.stringify(r.body));
    sid = r.body.opened[0];
    const v = (await api('GET', `/sessions/${sid}`)).body;
    assert.equal(v.state, 'open');
    const auto = v.book;
    assert.ok(auto.some((o: any) => o.prosumer === 'c1' && o.side === 'bid'), JSON.stringify(auto));
    assert.ok(auto.some((o: any) => o.prosumer === 's1' && o.side === 'offer'), JSON.stringify(auto));
    assert.ok(!auto.some((o: any) => o.prosumer === 'c3'), 'c3 bids by hand');
    assert.ok(Number.isInteger(v.priceSignal), `price signal ${v.priceSignal}`);
    // The price signal reaches VENs as an OpenADR 3.1 PRICE event.
    const ven = await server.host.resolve(Oa3Token).clients.add({ role: 'ven', name: 'market VEN' });
    const tok = (await (await fetch(`${server.url}/openadr3/3.1.0/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `grant_type=client_credentials&client_id=${ven.clientId}&client_secret=${ven.clientSecret}` })).json()) as { access_token: string };
    const events = (await (await fetch(`${server.url}/openadr3/3.1.0/events`, { headers: { authorization: `Bearer ${tok.access_token}` } })).json()) as any[];
    const e = events.find((x) => x.eventName === `p2p-market session ${sid}`);
    assert.ok(e, JSON.stringify(events.map((x) => x.eventName)));
    assert.equal(Date.parse(e.intervalPeriod.start), Date.parse(v.slotStart));
    assert.deepEqual(e.intervals[0].payloads[0], { type: 'PRICE', values: [v.priceSignal / 1000] });
  });

  let c3bid = 0;
  it('takes bids and offers by API and refuses what breaks the rules, naming the field', async () => {
    const ok = await api('POST', `/sessions/${sid}/orders`, { orders: [{ prosumer: 'c3', side: 'bid', qtyWh: 800, limitPrice: 400 }, { prosumer: 's2', side: 'offer', qtyWh: 40, limitPrice: 50 }] });
    assert.equal(ok.status, 201, JSON.stringify(ok.body));
    c3bid = ok.body[0].id;
    const cases: [unknown, string, string][] = [
      [{ prosumer: 'c3', side: 'offer', qtyWh: 100, limitPrice: 100 }, 'GF_MARKET_BOTH_SIDES', 'orders[0].side'],
      [{ prosumer: 'c3', side: 'bid', qtyWh: 19_999, limitPrice: 1000 }, 'GF_MARKET_INSUFFICIENT_TOKENS', 'orders[0].qtyWh'],
      [{ prosumer: 'c3', side: 'bid', qtyWh: 100, limitPrice: 1001 }, 'GF_MARKET_LIMIT', 'orders[0].limitPrice'],
      [{ prosumer: 'c3', side: 'bid', qtyWh: 25_000, limitPrice: 1 }, 'GF_MARKET_LIMIT', 'orders[0].qtyWh'],
      [{ prosumer: 's1', side: 'offer', qtyWh: 19_000, limitPrice: 10 }, 'GF_MARKET_OVER_FORECAST', 'orders[0].qtyWh'],
      [{ prosumer: 'c3', side: 'bid', qtyWh: 1.5, limitPrice: 1 }, 'GF_MARKET_BAD_REQUEST', 'orders[0].qtyWh'],
      [{ prosumer: 'c3', side: 'bid', qtyWh: 1, limitPrice: 1, note: 'hi' }, 'GF_MARKET_BAD_REQUEST', 'orders[0].note'],
    ];
    for (const [o, code, field] of cases) {
      const r = await api('POST', `/sessions/${sid}/orders`, { orders: [o] });
      assert.equal(r.body.code, code, JSON.stringify(r.body));
      assert.equal(r.body.field, field);
    }
    assert.equal((await api('POST', `/sessions/${sid}/orders`, { orders: [{ prosumer: 'ghost', side: 'bid', qtyWh: 1, limitPrice: 1 }] })).status, 404);
    // Amend (cancel + new) and withdraw before the gate.
    const amended = await api('PUT', `/sessions/${sid}/orders/${c3bid}`, { prosumer: 'c3', side: 'bid', qtyWh: 900, limitPrice: 400 });
    assert.equal(amended.status, 201, JSON.stringify(amended.body));
    c3bid = amended.body.id;
    const extra = await api('POST', `/sessions/${sid}/orders`, { orders: [{ prosumer: 'c3', side: 'bid', qtyWh: 100, limitPrice: 10 }] });
    assert.equal((await api('DELETE', `/sessions/${sid}/orders/${extra.body[0].id}?prosumer=c3`)).status, 204);
  });

  const held: Record<string, bigint> = {};
  it('clears at gate closure: the price and trades posted to the contract hash to what anyone recomputes', async () => {
    assert.equal((await api('POST', `/sessions/${sid}/clear`)).body.code, 'GF_MARKET_WRONG_STATE', 'not before the gate');
    const v0 = (await api('GET', `/sessions/${sid}`)).body;
    await L.advanceTime(Math.ceil((Date.parse(v0.gateClosure) - (await L.chainTime()) * 1000) / 1000) + 1);
    assert.equal((await api('POST', `/sessions/${sid}/orders`, { orders: [{ prosumer: 'c3', side: 'bid', qtyWh: 10, limitPrice: 10 }] })).body.code, 'GF_MARKET_GATE_CLOSED');
    const c = await api('POST', `/sessions/${sid}/clear`);
    assert.equal(c.status, 200, JSON.stringify(c.body));
    assert.ok(c.body.trades > 0 && c.body.volumeWh > 0, JSON.stringify(c.body));
    const chain = await L.call<{ state: bigint; clearingPrice: bigint; tradeCount: bigint }>('MarketSession', 'session', [sid]);
    assert.equal(chain.state, 3n, 'Cleared on chain: the result hash matched');
    assert.equal(chain.clearingPrice, BigInt(c.body.price));
    const v = (await api('GET', `/sessions/${sid}`)).body;
    assert.equal(v.state, 'cleared');
    assert.ok(v.curves.supply.length > 0 && v.curves.demand.length > 0);
    for (const t of v.trades) {
      const bid = v.book.find((o: any) => o.id === t.bid_id);
      const offer = v.book.find((o: any) => o.id === t.offer_id);
      assert.ok(t.price <= bid.limitPrice && t.price >= offer.limitPrice);
    }
    for (const id of Object.keys(wallets)) held[id] = await balance(wallets[id]!);
    // The HMI plots the two curves as steps with the clearing point, and lists the trades.
    const hmi = await fetch(`${server.url}/hmi/market/sessions/${sid}`, { headers: OPERATOR });
    assert.equal(hmi.status, 200);
    const html = await hmi.text();
    const svg = /<svg[\s\S]*<\/svg>/.exec(html)![0];
    const root = parseXml(svg);
    const all: XElement[] = [];
    const walk = (e: XElement) => (all.push(e), elementsOf(e).forEach(walk));
    walk(root);
    const named = (prefix: string) => all.find((e) => e.attrs.some((a) => a.local === 'data-name' && a.value.startsWith(prefix)))!;
    const pointsOf = (e: XElement) => e.attrs.find((a) => a.local === 'points')!.value.split(' ').length;
    assert.equal(pointsOf(named('supply')), 2 * v.curves.supply.length + 1, 'one step per offer');
    assert.equal(pointsOf(named('demand')), 2 * v.curves.demand.length + 1, 'one step per bid');
    assert.ok(svg.includes(`cleared ${c.body.volumeWh / 1000} kWh at ${c.body.price}`), 'the clearing point is labelled');
    assert.equal((html.match(/<tr>/g) ?? []).length, 1 + v.trades.length + 1 + v.book.length, 'a row per trade and per order, plus headers');
    const overview = await (await fetch(`${server.url}/hmi/`, { headers: OPERATOR })).text();
    assert.ok(overview.includes(`href="/hmi/market/sessions/${sid}"`));
    assert.equal((await fetch(`${server.url}/hmi/market/sessions/99999999999`, { headers: OPERATOR })).status, 404);
  });

  it('settles from metered delivery: sellers paid for what they delivered, shortfalls penalised, green rewarded, every balance checked', async () => {
    const v = (await api('GET', `/sessions/${sid}`)).body;
    const start = Date.parse(v.slotStart);
    // Metered delivery comes in through the readings import: s1 delivers all it sold (and more), s2 only half.
    const sold = (seller: string) => v.trades.filter((t: any) => v.book.find((o: any) => o.id === t.offer_id).prosumer === seller).reduce((a: number, t: any) => a + t.qty_wh, 0);
    const csv = `ts,meter,value\n${new Date(start).toISOString()},m-s1,${sold('s1') + 50}\n${new Date(start).toISOString()},m-s2,${Math.floor(sold('s2') / 2)}\n`;
    const imported = await fetch(`${server.url}/api/readings?unit=Wh&quantity=energyExport&resolution=15m`, { method: 'POST', headers: { ...OPERATOR,  'content-type': 'text/csv' }, body: csv });
    assert.equal(imported.status, 201, await imported.text());
    assert.equal((await api('POST', `/sessions/${sid}/settle`)).body.code, 'GF_MARKET_WRONG_STATE', 'not during delivery');
    await L.advanceTime(Math.ceil((Date.parse(v.slotEnd) - (await L.chainTime()) * 1000) / 1000) + 1);
    const s = await api('POST', `/sessions/${sid}/settle`);
    assert.equal(s.status, 200, JSON.stringify(s.body));
    const after = (await api('GET', `/sessions/${sid}`)).body;
    assert.equal(after.state, 'settled');
    // Expected flows from the settled trades, against the balances before settlement plus escrow and collateral returned.
    const owner = (id: number) => after.book.find((o: any) => o.id === id).prosumer as string;
    const delta: Record<string, bigint> = Object.fromEntries(Object.keys(wallets).map((k) => [k, 0n]));
    for (const t of after.trades) {
      delta[owner(t.offer_id)]! += BigInt(t.paid) - BigInt(t.penalty);
      delta[owner(t.bid_id)]! += BigInt(t.penalty) + BigInt(t.green_reward);
      if (owner(t.offer_id) === 's2') assert.ok(t.delivered_wh < t.qty_wh && t.penalty > 0, 's2 fell short and paid for it');
      if (owner(t.offer_id) === 's1') assert.equal(t.delivered_wh, t.qty_wh);
      assert.ok(t.green_reward > 0, 'green offers reward their buyers');
    }
    for (const id of Object.keys(wallets)) {
      // Escrow (bids) and collateral (offers) locked at submission come back, less what was paid.
      const locked: bigint = after.book.filter((o: any) => o.prosumer === id).reduce((a: bigint, o: any) => a + (o.side === 'bid' ? (BigInt(o.qtyWh) * BigInt(o.limitPrice)) / 1000n : (BigInt(o.qtyWh) * 100n) / 1000n), 0n);
      const paidAsBuyer: bigint = after.trades.filter((t: any) => owner(t.bid_id) === id).reduce((a: bigint, t: any) => a + BigInt(t.paid), 0n);
      assert.equal(await balance(wallets[id]!), held[id]! + locked - paidAsBuyer + delta[id]!, `balance of ${id}`);
    }
    assert.equal(await L.call('MarketSession', 'held', []), await L.call('MarketSession', 'rewardPool', []), 'only the reward pool stays in the contract');
  });

  it('shows each prosumer its trades, deliveries and token flows, and the session history', async () => {
    const p = (await api('GET', '/prosumers/s2')).body;
    assert.equal(p.wallet, wallets.s2);
    assert.ok(p.trades.length > 0 && p.trades.every((t: any) => t.delivered_wh !== null));
    assert.ok(p.tokenFlows.length >= 3, 'issued, collateral out, leftovers and payment in');
    const h = (await api('GET', '/sessions')).body;
    assert.ok(h.some((s: any) => s.id === sid && s.state === 'settled'));
    assert.equal((await api('GET', '/sessions/12')).status, 404);
    assert.equal((await api('GET', '/prosumers/nobody')).status, 404);
  });

  it('the market job opens, clears and settles sessions on its own as chain time passes', async () => {
    const scheduler = server.host.resolve(SchedulerToken);
    const state = async (id: number) => (await api('GET', `/sessions/${id}`)).body.state as string;
    const tick = async () => {
      const before = (await scheduler.jobs('p2p-market.tick'))[0]?.lastFinishedAt?.getTime() ?? 0;
      await scheduler.now('p2p-market.tick');
      for (let i = 0; i < 300; i++) {
        const j = (await scheduler.jobs('p2p-market.tick'))[0];
        if (j?.lastFinishedAt && j.lastFinishedAt.getTime() > before) {
          assert.equal(j.failCount, 0, j.failReason ?? '');
          return;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error('the market job did not run');
    };
    await tick();
    const open = (await api('GET', '/sessions')).body.filter((x: any) => x.state === 'open').map((x: any) => x.id as number).sort((a: number, b: number) => a - b);
    assert.ok(open.length >= 1);
    const next = open[0];
    // Past its gate: the job clears it (nothing or something, either way on chain).
    await L.advanceTime(next - 5 * 60 - (await L.chainTime()) + 1);
    await tick();
    assert.equal(await state(next), 'cleared');
    // Past its end and the settle delay: the job settles it.
    await L.advanceTime(next + 15 * 60 + 30 * 60 - (await L.chainTime()) + 1);
    await tick();
    assert.equal(await state(next), 'settled');
  });
});
