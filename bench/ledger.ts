/**
 * Ledger benchmarks (issue 6), on the embedded EVM with its journal on PGlite:
 *   - transaction signing: ours (noble) against web3's Transaction class
 *   - token transfers/s: one per transaction (one sender; ten senders side by side) and batched (transferBatch)
 *   - bid submissions/s: one per transaction (ten bidders side by side) and batched (submitOrdersFor)
 *   - gas per matched trade in settlement, and the time to clear and settle a session of 1,000 matched trades
 *   - start-up replay of the journal
 */
import { Common, Transaction } from 'web3-eth-accounts';
import { openTestLedger, tokens, type TestLedger } from '../adapters/ledger/testing/harness.js';
import { randomPrivateKey, TxSigner } from '../adapters/ledger/signer.js';
import type { Address } from '../core/index.js';
import { clearingResultHash } from '../contracts/hashes.js';
import type { Row } from './openadr3.js';

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
const progress = (m: string) => process.stderr.write(`bench: ${m}\n`);
const ZERO32 = `0x${'0'.repeat(64)}`;
const NONE = '0x0000000000000000000000000000000000000000';

function signing(rows: Row[]) {
  const key = randomPrivateKey();
  const signer = new TxSigner(key);
  const tx = { nonce: 7n, gasPrice: 0n, gas: 100_000n, to: signer.address, data: `0xa9059cbb${'00'.repeat(64)}` as const, chainId: 1337 };
  const N = 2000;
  let t0 = performance.now();
  for (let i = 0; i < N; i++) signer.sign({ ...tx, nonce: BigInt(i) });
  const ours = N / ((performance.now() - t0) / 1000);
  const common = Common.custom({ chainId: 1337, networkId: 1337 }, { hardfork: 'istanbul' });
  const k = Buffer.from(key.slice(2), 'hex');
  t0 = performance.now();
  for (let i = 0; i < N / 4; i++) Transaction.fromTxData({ ...tx, gasLimit: tx.gas, nonce: BigInt(i) }, { common }).sign(k);
  const theirs = N / 4 / ((performance.now() - t0) / 1000);
  rows.push({ what: 'ledger: transaction signing, ours (noble secp256k1) / web3-eth-accounts Transaction', result: `${fmt(ours)} / ${fmt(theirs)} signatures/s` });
  progress(`signing: ours ${fmt(ours)}/s, web3 ${fmt(theirs)}/s`);
}

async function rate(n: number, fn: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return n / ((performance.now() - t0) / 1000);
}

export async function benchLedger(): Promise<Row[]> {
  const rows: Row[] = [];
  signing(rows);
  let t: TestLedger = await openTestLedger();
  try {
    const L = t.ledger;
    const senders: Address[] = [];
    for (let i = 0; i < 10; i++) senders.push(await L.createWallet(`s${i}`));
    const sink = await L.createWallet('sink');
    await L.send('EnergyToken', 'issueBatch', [senders, senders.map(() => tokens(1e6)), ZERO32]);

    const one = await rate(500, async () => {
      for (let i = 0; i < 500; i++) await L.send('EnergyToken', 'transfer', [sink, 1], { from: senders[0] });
    });
    const ten = await rate(1000, () => Promise.all(senders.map(async (s) => {
      for (let i = 0; i < 100; i++) await L.send('EnergyToken', 'transfer', [sink, 1], { from: s });
    })).then(() => undefined));
    const batched = await rate(20 * 200, async () => {
      for (let i = 0; i < 20; i++) {
        await L.send('EnergyToken', 'transferBatch', [Array.from({ length: 200 }, () => sink), Array.from({ length: 200 }, () => 1)], { from: senders[1] });
      }
    });
    rows.push({
      what: 'ledger: token transfers on the embedded EVM, one per transaction (1 sender awaited in turn / 10 senders side by side) / batched (transferBatch of 200)',
      result: `${fmt(one)} / ${fmt(ten)} tx/s / ${fmt(batched)} transfers/s`,
      target: 'naive web3 sends ≈ 90/s: batch',
    });
    progress(`transfers: ${fmt(one)}/s one sender, ${fmt(ten)}/s ten senders, ${fmt(batched)}/s batched`);

    // Bids: 10 bidders one per transaction, then a broker batching 100 orders per transaction.
    const market = L.addressOf('MarketSession');
    await L.send('ParticipantRegistry', 'registerBatch', [senders, senders.map(() => 1), senders.map(() => ZERO32), senders.map(() => NONE)]);
    for (const s of senders) {
      await L.send('EnergyToken', 'approve', [market, 10n ** 30n], { from: s });
      await L.send('MarketSession', 'setBroker', [L.operator, true], { from: s });
    }
    let now = await L.chainTime();
    const sid = BigInt(now);
    await L.send('MarketSession', 'openSession', [sid, now + 3600, now + 3600, now + 4500, tokens(1), tokens(0.1), 0]);
    const bidsOne = await rate(1000, () => Promise.all(senders.map(async (s) => {
      for (let i = 0; i < 100; i++) await L.send('MarketSession', 'submitBid', [sid, 1000, tokens(0.2)], { from: s });
    })).then(() => undefined));
    const bidsBatched = await rate(20 * 100, async () => {
      for (let b = 0; b < 20; b++) {
        await L.send('MarketSession', 'submitOrdersFor', [sid, Array.from({ length: 100 }, (_, i) => ({ owner: senders[i % 10], isBid: true, green: false, qtyWh: 1000, limitPrice: tokens(0.2) }))]);
      }
    });
    rows.push({
      what: 'ledger: bid submissions (escrow included), one per transaction (10 bidders side by side) / batched by a broker (submitOrdersFor, 100 a transaction)',
      result: `${fmt(bidsOne)} bids/s / ${fmt(bidsBatched)} bids/s`,
    });
    progress(`bids: ${fmt(bidsOne)}/s one per tx, ${fmt(bidsBatched)}/s batched`);

    // A session of 1,000 matched trades: 100 buyers and 100 sellers, 10 orders each.
    const buyers: Address[] = [];
    const sellers: Address[] = [];
    for (let i = 0; i < 100; i++) buyers.push(await L.createWallet(`b${i}`));
    for (let i = 0; i < 100; i++) sellers.push(await L.createWallet(`o${i}`));
    const all = [...buyers, ...sellers];
    await L.send('ParticipantRegistry', 'registerBatch', [all, all.map(() => 1), all.map(() => ZERO32), all.map(() => NONE)]);
    await L.send('EnergyToken', 'issueBatch', [all, all.map(() => tokens(1000)), `0x${'2'.repeat(64)}`]); // payment references mint once
    for (const a of all) {
      await L.send('EnergyToken', 'approve', [market, 10n ** 30n], { from: a });
      await L.send('MarketSession', 'setBroker', [L.operator, true], { from: a });
    }
    now = await L.chainTime();
    const s2 = sid + 1n;
    await L.send('MarketSession', 'openSession', [s2, now + 600, now + 600, now + 1500, tokens(1), tokens(0.1), tokens(0.01)]);
    await L.send('EnergyToken', 'approve', [market, 10n ** 30n]);
    await L.send('EnergyToken', 'issue', [L.operator, tokens(1000), `0x${'3'.repeat(64)}`]);
    await L.send('MarketSession', 'fundRewards', [tokens(1000), ZERO32]);
    const bidIds: number[] = [];
    const offerIds: number[] = [];
    for (let b = 0; b < 10; b++) {
      const r = await L.send('MarketSession', 'submitOrdersFor', [s2, buyers.map((owner) => ({ owner, isBid: true, green: false, qtyWh: 2000, limitPrice: tokens(0.3) }))]);
      bidIds.push(...r.events.filter((e) => e.event === 'OrderSubmitted').map((e) => Number(e.args.orderId)));
      const o = await L.send('MarketSession', 'submitOrdersFor', [s2, sellers.map((owner) => ({ owner, isBid: false, green: b % 2 === 0, qtyWh: 2000, limitPrice: tokens(0.1) }))]);
      offerIds.push(...o.events.filter((e) => e.event === 'OrderSubmitted').map((e) => Number(e.args.orderId)));
    }
    await L.advanceTime(700);
    const price = tokens(0.2);
    const trades = bidIds.map((bidId, i) => ({ bidId, offerId: offerIds[i]!, qtyWh: 2000, price }));
    const book = (await L.call<{ bookHash: string }>('MarketSession', 'session', [s2])).bookHash;
    const BATCH = 250;
    let gasClear = 0n;
    let gasSettle = 0n;
    const t0 = performance.now();
    gasClear += (await L.send('MarketSession', 'postClearing', [s2, price, book, clearingResultHash(price, trades), trades.length])).gasUsed;
    for (let i = 0; i < trades.length; i += BATCH) gasClear += (await L.send('MarketSession', 'addTrades', [s2, trades.slice(i, i + BATCH)])).gasUsed;
    const tClear = performance.now() - t0;
    await L.advanceTime(1000);
    const t1 = performance.now();
    for (let i = 0; i < trades.length; i += BATCH) {
      const deliveries = trades.slice(i, i + BATCH).map((_, k) => ({ tradeId: i + k, deliveredWh: (i + k) % 4 === 0 ? 1500 : 2000 }));
      gasSettle += (await L.send('MarketSession', 'settle', [s2, deliveries])).gasUsed;
    }
    const tSettle = performance.now() - t1;
    rows.push({
      what: `ledger: gas per matched trade, clearing (postClearing + addTrades in batches of ${BATCH}) / settlement (settle in batches of ${BATCH})`,
      result: `${fmt(Number(gasClear) / trades.length)} / ${fmt(Number(gasSettle) / trades.length)} gas`,
    });
    rows.push({
      what: 'ledger: a session of 1,000 matched trades on the embedded EVM, clearing posted / settled from metered delivery',
      result: `${fmt(tClear)} ms / ${fmt(tSettle)} ms`,
    });
    progress(`1,000 trades: clear ${fmt(tClear)} ms (${fmt(Number(gasClear) / 1000)} gas/trade), settle ${fmt(tSettle)} ms (${fmt(Number(gasSettle) / 1000)} gas/trade)`);

    const blocks = Number(BigInt((await L.rpc.request({ method: 'eth_blockNumber' })) as string));
    const t2 = performance.now();
    t = await t.restart();
    const tReplay = performance.now() - t2;
    rows.push({ what: `ledger: restart of the embedded EVM (storage reopened, ${fmt(blocks)} journaled blocks replayed)`, result: `${fmt(tReplay)} ms (${fmt(blocks / (tReplay / 1000))} blocks/s)` });
    progress(`replay ${blocks} blocks: ${fmt(tReplay)} ms`);
  } finally {
    await t.close();
  }
  return rows;
}
