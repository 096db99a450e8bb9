import assert from 'node:assert/strict';
import { openTestLedger, tokens, type TestLedger } from '../adapters/ledger/testing/harness.js';
import type { Address, LedgerReceipt } from '../core/index.js';
import { clearingResultHash, nextBookHash, ZERO_HASH } from './hashes.js';

/** Every contract function, its access control and its failure cases, on the embedded EVM. */

let t: TestLedger;
const L = () => t.ledger;
const send = (contract: string, method: string, args: unknown[], from?: Address): Promise<LedgerReceipt> =>
  L().send(contract, method, args, from ? { from } : {});
const call = <T = unknown>(contract: string, method: string, args: unknown[] = []): Promise<T> => L().call<T>(contract, method, args);
const balance = (a: Address) => call<bigint>('EnergyToken', 'balanceOf', [a]);

async function reverts(p: Promise<unknown>, name: string, args?: Record<string, unknown>): Promise<void> {
  await assert.rejects(p, (e: { code?: string; data?: { revert?: string; args?: Record<string, unknown> }; message?: string }) => {
    assert.equal(e.code, 'GF_LEDGER_REVERTED', e.message);
    assert.equal(e.data?.revert, name, e.message);
    if (args) for (const [k, v] of Object.entries(args)) assert.equal(e.data?.args?.[k], v, `${name}.${k}`);
    return true;
  });
}

const bytes32 = (s: string) => `0x${Buffer.from(s).toString('hex').padEnd(64, '0')}`;
const ev = (r: LedgerReceipt, name: string) => r.events.filter((e) => e.event === name);
enum Role { None, Prosumer, Aggregator, Dso }

let op: Address;
let agg: Address;
let agg2: Address;
let pro: Address;
let pro2: Address;
let outsider: Address;
let dso: Address;

let payments = 0;
async function fund(to: Address, amount: bigint) {
  await send('EnergyToken', 'issue', [to, amount, bytes32(`pay-${++payments}`)]);
}
async function approve(from: Address, spender: string, amount: bigint) {
  await send('EnergyToken', 'approve', [L().addressOf(spender), amount], from);
}

describe('contracts on the embedded EVM', function () {
  this.timeout(120_000);

  before(async () => {
    t = await openTestLedger();
    op = L().operator;
    const w = await Promise.all(['agg', 'agg2', 'pro', 'pro2', 'outsider', 'dso'].map((l) => L().createWallet(l)));
    [agg, agg2, pro, pro2, outsider, dso] = w as [Address, Address, Address, Address, Address, Address];
  });
  after(async () => t?.close());

  describe('EnergyToken', () => {
    it('has its configured metadata and the operator as admin and issuer', async () => {
      assert.equal(await call('EnergyToken', 'name'), 'Test Energy');
      assert.equal(await call('EnergyToken', 'decimals'), 3n);
      assert.equal(await call('EnergyToken', 'whPerToken'), 1000n);
      const issuer = await call<string>('EnergyToken', 'ISSUER_ROLE');
      assert.equal(await call('EnergyToken', 'hasRole', [issuer, op]), true);
      assert.equal(await call('EnergyToken', 'hasRole', [issuer, pro]), false);
    });

    it('issue: the issuer mints against a payment reference; nobody else can; zero is refused', async () => {
      const r = await send('EnergyToken', 'issue', [pro, tokens(100), bytes32('invoice-1')]);
      assert.deepEqual(ev(r, 'Issued')[0]!.args, { to: pro, amount: String(tokens(100)), paymentRef: bytes32('invoice-1') });
      assert.equal(await balance(pro), tokens(100));
      await reverts(send('EnergyToken', 'issue', [pro, tokens(1), bytes32('x')], pro), 'AccessControlUnauthorizedAccount', { account: pro });
      await reverts(send('EnergyToken', 'issue', [pro, 0, bytes32('x')]), 'ZeroAmount');
    });

    it('a payment reference mints once: a repeated issue against it is refused, in a batch too', async () => {
      assert.equal(await call('EnergyToken', 'paymentRefUsed', [bytes32('invoice-1')]), true);
      await reverts(send('EnergyToken', 'issue', [pro, tokens(100), bytes32('invoice-1')]), 'PaymentRefUsed', { paymentRef: bytes32('invoice-1') });
      await reverts(send('EnergyToken', 'issueBatch', [[pro2], [1], bytes32('invoice-1')]), 'PaymentRefUsed');
      // Concurrent issues against one fresh reference: exactly one mints.
      const before = await balance(pro2);
      const results = await Promise.allSettled(Array.from({ length: 8 }, () => send('EnergyToken', 'issue', [pro2, 7, bytes32('invoice-2')])));
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      assert.equal(await balance(pro2), before + 7n);
      await send('EnergyToken', 'redeem', [7, bytes32('payout-once')], pro2);
      assert.equal(await call('EnergyToken', 'payoutRefUsed', [pro2, bytes32('payout-once')]), true);
      await reverts(send('EnergyToken', 'redeem', [1, bytes32('payout-once')], pro2), 'PayoutRefUsed', { holder: pro2 });
    });

    it('issueBatch: bounded, lengths must match', async () => {
      await send('EnergyToken', 'issueBatch', [[agg, agg2, pro2], [tokens(1000), tokens(1000), tokens(100)], bytes32('batch')]);
      assert.equal(await balance(agg), tokens(1000));
      await reverts(send('EnergyToken', 'issueBatch', [[agg], [1, 2], bytes32('b')]), 'LengthMismatch');
      const many = Array.from({ length: 501 }, () => agg);
      await reverts(send('EnergyToken', 'issueBatch', [many, many.map(() => 1), bytes32('b')]), 'BatchTooLarge');
      await reverts(send('EnergyToken', 'issueBatch', [[agg], [1], bytes32('b')], agg), 'AccessControlUnauthorizedAccount');
    });

    it('redeem: a holder sells tokens back (burnt); not more than it holds', async () => {
      const supply = await call<bigint>('EnergyToken', 'totalSupply');
      const r = await send('EnergyToken', 'redeem', [tokens(10), bytes32('payout-1')], pro);
      assert.equal(ev(r, 'Redeemed')[0]!.args.amount, String(tokens(10)));
      assert.equal(await call('EnergyToken', 'totalSupply'), supply - tokens(10));
      await reverts(send('EnergyToken', 'redeem', [tokens(1e6), bytes32('p')], pro), 'ERC20InsufficientBalance', { sender: pro });
      await reverts(send('EnergyToken', 'redeem', [0, bytes32('p')], pro), 'ZeroAmount');
    });

    it('transfer, transferBatch, approve and transferFrom with their failure cases', async () => {
      await send('EnergyToken', 'transfer', [outsider, tokens(5)], pro);
      await send('EnergyToken', 'transferBatch', [[outsider, dso], [tokens(1), tokens(2)]], pro);
      assert.equal(await balance(outsider), tokens(6));
      assert.equal(await balance(dso), tokens(2));
      await reverts(send('EnergyToken', 'transferBatch', [[outsider], [1, 1]], pro), 'LengthMismatch');
      await reverts(send('EnergyToken', 'transfer', [pro, tokens(7)], outsider), 'ERC20InsufficientBalance');
      await send('EnergyToken', 'approve', [dso, tokens(3)], outsider);
      await reverts(send('EnergyToken', 'transferFrom', [outsider, dso, tokens(4)], dso), 'ERC20InsufficientAllowance');
      await send('EnergyToken', 'transferFrom', [outsider, dso, tokens(3)], dso);
      assert.equal(await balance(dso), tokens(5));
    });
  });

  describe('ParticipantRegistry', () => {
    it('register: registrar only; roles, meters and aggregators recorded', async () => {
      const r = await send('ParticipantRegistry', 'register', [agg, Role.Aggregator, bytes32(''), '0x0000000000000000000000000000000000000000']);
      assert.equal(ev(r, 'Registered')[0]!.args.wallet, agg);
      await send('ParticipantRegistry', 'registerBatch', [
        [agg2, pro, pro2, dso],
        [Role.Aggregator, Role.Prosumer, Role.Prosumer, Role.Dso],
        [bytes32(''), bytes32('meter-pro'), bytes32('meter-pro2'), bytes32('')],
        ['0x0000000000000000000000000000000000000000', agg, agg, '0x0000000000000000000000000000000000000000'],
      ]);
      assert.equal(await call('ParticipantRegistry', 'roleOf', [pro]), BigInt(Role.Prosumer));
      assert.equal(await call('ParticipantRegistry', 'aggregatorOf', [pro]), agg);
      const p = await call<{ meterId: string; active: boolean }>('ParticipantRegistry', 'participant', [pro]);
      assert.equal(p.meterId, bytes32('meter-pro'));
      assert.equal(p.active, true);
      assert.equal(await call('ParticipantRegistry', 'activeCount'), 5n);
      await reverts(send('ParticipantRegistry', 'register', [outsider, Role.Prosumer, bytes32(''), agg], agg), 'AccessControlUnauthorizedAccount');
    });

    it('refuses duplicates, role None, the zero address, a non-aggregator as aggregator, mismatched batches', async () => {
      await reverts(send('ParticipantRegistry', 'register', [pro, Role.Prosumer, bytes32(''), agg]), 'AlreadyRegistered', { wallet: pro });
      await reverts(send('ParticipantRegistry', 'register', [outsider, Role.None, bytes32(''), agg]), 'InvalidRole');
      await reverts(send('ParticipantRegistry', 'register', ['0x0000000000000000000000000000000000000000', Role.Prosumer, bytes32(''), agg]), 'ZeroAddress');
      await reverts(send('ParticipantRegistry', 'register', [outsider, Role.Prosumer, bytes32(''), pro2]), 'NotAnAggregator', { aggregator: pro2 });
      await reverts(send('ParticipantRegistry', 'registerBatch', [[outsider], [Role.Prosumer, Role.Prosumer], [bytes32('')], [agg]]), 'LengthMismatch');
    });

    it('setMeter, setAggregator and deregister, registrar only, registered wallets only', async () => {
      await send('ParticipantRegistry', 'setMeter', [pro2, bytes32('meter-new')]);
      assert.equal((await call<{ meterId: string }>('ParticipantRegistry', 'participant', [pro2])).meterId, bytes32('meter-new'));
      await send('ParticipantRegistry', 'setAggregator', [pro2, agg2]);
      assert.equal(await call('ParticipantRegistry', 'aggregatorOf', [pro2]), agg2);
      await reverts(send('ParticipantRegistry', 'setAggregator', [pro2, dso]), 'NotAnAggregator');
      await send('ParticipantRegistry', 'setAggregator', [pro2, agg]);
      await reverts(send('ParticipantRegistry', 'setMeter', [outsider, bytes32('m')]), 'NotRegistered');
      await reverts(send('ParticipantRegistry', 'setMeter', [pro2, bytes32('m')], pro2), 'AccessControlUnauthorizedAccount');
      await send('ParticipantRegistry', 'register', [outsider, Role.Prosumer, bytes32('m-out'), agg]);
      await send('ParticipantRegistry', 'deregister', [outsider]);
      assert.equal(await call('ParticipantRegistry', 'roleOf', [outsider]), 0n);
      await reverts(send('ParticipantRegistry', 'deregister', [outsider]), 'NotRegistered');
      await reverts(send('ParticipantRegistry', 'deregister', [pro], pro), 'AccessControlUnauthorizedAccount');
    });
  });

  describe('FlexibilityContract', () => {
    let now: number;
    let terms: Record<string, unknown>;
    let id: bigint;
    const day = (ts: number) => ts - (ts % 86400);
    /** `t`, or just after the next UTC midnight when [t, t + len) would cross one (a signal lies within one day's window). */
    const sameDay = (t: number, len: number) => (t % 86400) + len <= 86400 ? t : day(t) + 86400 + 60;
    /** Until chain time passes `t` (plus a margin). */
    const advancePast = async (t: number) => L().advanceTime(Math.max(0, t - (await L().chainTime())) + 100);
    let e1End = 0;

    before(async () => {
      now = await L().chainTime();
      terms = {
        baselineHash: bytes32('baseline-curve-v1'),
        validFrom: now,
        validUntil: now + 30 * 86400,
        windowStartMinute: 0,
        windowEndMinute: 1440,
        toleranceBp: 1000,
        maxFlexWh: 10_000,
        incentivePerKwh: tokens(0.2),
        penaltyPerKwh: tokens(0.5),
      };
      await approve(agg, 'FlexibilityContract', tokens(1000));
      await approve(pro, 'FlexibilityContract', tokens(1000));
    });

    it('propose: a registered aggregator, to one of its prosumers, with sane terms', async () => {
      await reverts(send('FlexibilityContract', 'propose', [pro, terms, 0], dso), 'NotAggregator');
      await reverts(send('FlexibilityContract', 'propose', [pro, terms, 0], agg2), 'NotProsumerOfAggregator');
      await reverts(send('FlexibilityContract', 'propose', [pro, { ...terms, validUntil: now }, 0], agg), 'InvalidTerms', { field: 'validUntil' });
      await reverts(send('FlexibilityContract', 'propose', [pro, { ...terms, windowStartMinute: 600, windowEndMinute: 600 }, 0], agg), 'InvalidTerms', { field: 'window' });
      await reverts(send('FlexibilityContract', 'propose', [pro, { ...terms, toleranceBp: 10001 }, 0], agg), 'InvalidTerms', { field: 'toleranceBp' });
      await reverts(send('FlexibilityContract', 'propose', [pro, { ...terms, maxFlexWh: 0 }, 0], agg), 'InvalidTerms', { field: 'maxFlexWh' });
      const r = await send('FlexibilityContract', 'propose', [pro, terms, tokens(1)], agg);
      id = BigInt(ev(r, 'AgreementProposed')[0]!.args.id as string);
      assert.equal(ev(r, 'PoolFunded')[0]!.args.amount, String(tokens(1)));
      const a = await call<{ status: bigint; pool: bigint; terms: { baselineHash: string } }>('FlexibilityContract', 'agreement', [id]);
      assert.equal(a.status, 1n);
      assert.equal(a.pool, tokens(1));
      assert.equal(a.terms.baselineHash, bytes32('baseline-curve-v1'));
    });

    it('injectSignal before acceptance is refused; accept is for the prosumer only, once', async () => {
      await reverts(send('FlexibilityContract', 'injectSignal', [id, bytes32('e0'), now + 60, now + 120, 100, bytes32('s')], agg), 'WrongStatus');
      await reverts(send('FlexibilityContract', 'accept', [id, 0], pro2), 'NotParty');
      await send('FlexibilityContract', 'accept', [id, tokens(2)], pro);
      await reverts(send('FlexibilityContract', 'accept', [id, 0], pro), 'WrongStatus');
      await reverts(send('FlexibilityContract', 'agreement', [999], pro), 'UnknownAgreement');
    });

    it('fund: the aggregator only, not zero', async () => {
      await reverts(send('FlexibilityContract', 'fund', [id, tokens(1)], pro), 'NotParty');
      await reverts(send('FlexibilityContract', 'fund', [id, 0], agg), 'ZeroAmount');
      await send('FlexibilityContract', 'fund', [id, tokens(9)], agg);
      assert.equal((await call<{ pool: bigint }>('FlexibilityContract', 'agreement', [id])).pool, tokens(10));
    });

    it('injectSignal: inside the agreement, the daily window and the flexibility limit; reserves the reward', async () => {
      const start = sameDay(now + 600, 3600);
      e1End = start + 3600;
      await reverts(send('FlexibilityContract', 'injectSignal', [id, bytes32('e1'), start, start + 3600, 100, bytes32('s')], pro), 'NotParty');
      await reverts(send('FlexibilityContract', 'injectSignal', [id, bytes32('e1'), now - 100, now + 100, 100, bytes32('s')], agg), 'OutsideAgreement');
      await reverts(send('FlexibilityContract', 'injectSignal', [id, bytes32('e1'), start, start + 3600, 20_000, bytes32('s')], agg), 'TooMuchFlexibility');
      await reverts(send('FlexibilityContract', 'injectSignal', [id, bytes32('e1'), start, start + 3600, 0, bytes32('s')], agg), 'TooMuchFlexibility');
      // a reward larger than the pool: 10,000 Wh at 0.2/kWh = 2 tokens fits; raise the rate on a new agreement to see the refusal below
      const r = await send('FlexibilityContract', 'injectSignal', [id, bytes32('e1'), start, start + 3600, 10_000, bytes32('signal-1')], agg);
      assert.equal(ev(r, 'SignalInjected')[0]!.args.requestedWh, '10000');
      assert.equal((await call<{ pool: bigint }>('FlexibilityContract', 'agreement', [id])).pool, tokens(8));
      await reverts(send('FlexibilityContract', 'injectSignal', [id, bytes32('e1'), start, start + 3600, 100, bytes32('s')], agg), 'DuplicateEvent');
      assert.equal((await call<{ reserved: bigint }>('FlexibilityContract', 'drEvent', [id, bytes32('e1')])).reserved, tokens(2));
    });

    it('the daily window is enforced and a pool too small is refused', async () => {
      const narrow = { ...terms, windowStartMinute: 17 * 60, windowEndMinute: 19 * 60, incentivePerKwh: tokens(1000) };
      const r = await send('FlexibilityContract', 'propose', [pro, narrow, tokens(1)], agg);
      const id2 = BigInt(ev(r, 'AgreementProposed')[0]!.args.id as string);
      await send('FlexibilityContract', 'accept', [id2, 0], pro);
      const d = day(now) + 86400;
      await reverts(send('FlexibilityContract', 'injectSignal', [id2, bytes32('w'), d + 16 * 3600, d + 18 * 3600, 1, bytes32('s')], agg), 'OutsideWindow');
      await reverts(send('FlexibilityContract', 'injectSignal', [id2, bytes32('w'), d + 17 * 3600, d + 18 * 3600, 10, bytes32('s')], agg), 'InsufficientRewardPool');
      await send('FlexibilityContract', 'injectSignal', [id2, bytes32('w'), d + 17 * 3600, d + 19 * 3600, 1, bytes32('s')], agg);
    });

    it('postVerification: verifier only, after the event, once', async () => {
      await reverts(send('FlexibilityContract', 'postVerification', [id, bytes32('e1'), 9000, 50_000, 41_000, bytes32('ev')], agg), 'AccessControlUnauthorizedAccount');
      await reverts(send('FlexibilityContract', 'postVerification', [id, bytes32('nope'), 9000, 0, 0, bytes32('ev')]), 'UnknownEvent');
      await reverts(send('FlexibilityContract', 'postVerification', [id, bytes32('e1'), 9000, 0, 0, bytes32('ev')]), 'EventNotOver');
      await reverts(send('FlexibilityContract', 'settle', [id, bytes32('e1')], pro), 'NotVerified');
      await advancePast(e1End);
      await send('FlexibilityContract', 'postVerification', [id, bytes32('e1'), 9000, 50_000, 41_000, bytes32('evidence')]);
      await reverts(send('FlexibilityContract', 'postVerification', [id, bytes32('e1'), 9000, 0, 0, bytes32('ev')]), 'AlreadyVerified');
    });

    it('settle: anyone, once; within tolerance pays the reward and no penalty', async () => {
      const r = await send('FlexibilityContract', 'settle', [id, bytes32('e1')], outsider);
      // 9,000 of 10,000 Wh is inside the 10 % band: reward 9 kWh x 0.2 = 1.8, no penalty
      assert.deepEqual(ev(r, 'Settled')[0]!.args, { id: String(id), eventId: bytes32('e1'), reward: String(tokens(1.8)), penalty: '0' });
      await reverts(send('FlexibilityContract', 'settle', [id, bytes32('e1')], outsider), 'AlreadySettled');
      assert.equal(await call('FlexibilityContract', 'credits', [pro]), tokens(1.8));
      assert.equal((await call<{ pool: bigint }>('FlexibilityContract', 'agreement', [id])).pool, tokens(8.2));
      const before = await balance(pro);
      await send('FlexibilityContract', 'claim', [], pro);
      assert.equal(await balance(pro), before + tokens(1.8));
      await reverts(send('FlexibilityContract', 'claim', [], pro), 'NothingToClaim');
    });

    it('a shortfall below the band costs a penalty from collateral, capped at the collateral', async () => {
      const start = sameDay((await L().chainTime()) + 60, 600);
      await send('FlexibilityContract', 'injectSignal', [id, bytes32('e2'), start, start + 600, 10_000, bytes32('s2')], agg);
      await send('FlexibilityContract', 'injectSignal', [id, bytes32('e3'), start, start + 600, 10_000, bytes32('s3')], agg);
      await advancePast(start + 600);
      await send('FlexibilityContract', 'postVerification', [id, bytes32('e2'), 5000, 0, 0, bytes32('ev')]);
      await send('FlexibilityContract', 'postVerification', [id, bytes32('e3'), 0, 0, 0, bytes32('ev')]);
      const pure = await call<{ reward: bigint; penalty: bigint }>('FlexibilityContract', 'outcome', [terms, 10_000, 5000]);
      assert.deepEqual(pure, { reward: tokens(1), penalty: tokens(2) }); // (9,000 - 5,000) Wh x 0.5
      const r2 = await send('FlexibilityContract', 'settle', [id, bytes32('e2')]);
      assert.equal(ev(r2, 'Settled')[0]!.args.penalty, String(tokens(2)));
      const r3 = await send('FlexibilityContract', 'settle', [id, bytes32('e3')]);
      assert.equal(ev(r3, 'Settled')[0]!.args.penalty, '0'); // 4.5 due, collateral already spent
      const a = await call<{ collateral: bigint; openEvents: bigint }>('FlexibilityContract', 'agreement', [id]);
      assert.equal(a.collateral, 0n);
      assert.equal(a.openEvents, 0n);
    });

    it('withdrawPool, terminate and withdrawCollateral with their guards', async () => {
      await reverts(send('FlexibilityContract', 'withdrawPool', [id, tokens(1)], pro), 'NotParty');
      await reverts(send('FlexibilityContract', 'withdrawPool', [id, tokens(1e6)], agg), 'InsufficientRewardPool');
      const pool = (await call<{ pool: bigint }>('FlexibilityContract', 'agreement', [id])).pool;
      await send('FlexibilityContract', 'withdrawPool', [id, pool], agg);
      await reverts(send('FlexibilityContract', 'withdrawCollateral', [id], pro), 'WrongStatus');
      const start = (await L().chainTime()) + 60;
      await send('FlexibilityContract', 'fund', [id, tokens(1)], agg);
      await send('FlexibilityContract', 'injectSignal', [id, bytes32('e4'), start, start + 60, 100, bytes32('s4')], agg);
      await reverts(send('FlexibilityContract', 'terminate', [id], pro), 'OpenEvents');
      await reverts(send('FlexibilityContract', 'terminate', [id], outsider), 'NotParty');
      await L().advanceTime(200);
      await send('FlexibilityContract', 'postVerification', [id, bytes32('e4'), 100, 0, 0, bytes32('ev')]);
      await send('FlexibilityContract', 'settle', [id, bytes32('e4')]);
      await send('FlexibilityContract', 'terminate', [id], pro);
      await reverts(send('FlexibilityContract', 'terminate', [id], agg), 'WrongStatus');
      await reverts(send('FlexibilityContract', 'fund', [id, 1], agg), 'WrongStatus');
      await reverts(send('FlexibilityContract', 'withdrawCollateral', [id], pro), 'NothingToClaim');
    });

    it('holds exactly the tokens it owes', async () => {
      assert.equal(await balance(L().addressOf('FlexibilityContract')), await call<bigint>('FlexibilityContract', 'held'));
    });
  });

  describe('MarketSession', () => {
    let now: number;
    let sid: bigint;
    const cap = tokens(1);
    const openArgs = (id: bigint, n: number) => [id, n + 600, n + 900, n + 1800, cap, tokens(0.1), tokens(0.05)];

    before(async () => {
      for (const w of [pro, pro2, agg]) await approve(w, 'MarketSession', tokens(10_000));
      await fund(pro, tokens(50));
      await fund(pro2, tokens(50));
      await approve(op, 'MarketSession', tokens(100));
      await fund(op, tokens(100));
    });

    it('openSession: operator only, no duplicates, times in order', async () => {
      now = await L().chainTime();
      sid = BigInt(now - (now % 900) + 9000);
      await reverts(send('MarketSession', 'openSession', openArgs(sid, now), pro), 'AccessControlUnauthorizedAccount');
      await reverts(send('MarketSession', 'openSession', [sid, now - 10, now + 900, now + 1800, cap, 0, 0]), 'InvalidSession', { field: 'gateClosure' });
      await reverts(send('MarketSession', 'openSession', [sid, now + 600, now + 500, now + 1800, cap, 0, 0]), 'InvalidSession', { field: 'deliveryStart' });
      await reverts(send('MarketSession', 'openSession', [sid, now + 600, now + 900, now + 900, cap, 0, 0]), 'InvalidSession', { field: 'deliveryEnd' });
      await reverts(send('MarketSession', 'openSession', [sid, now + 600, now + 900, now + 1800, 0, 0, 0]), 'InvalidSession', { field: 'priceCap' });
      await send('MarketSession', 'openSession', openArgs(sid, now));
      await reverts(send('MarketSession', 'openSession', openArgs(sid, now)), 'SessionExists');
    });

    it('fundRewards: tokens into the green reward pool, once per reference; zero refused', async () => {
      await send('MarketSession', 'fundRewards', [tokens(60), bytes32('pool-1')]);
      await reverts(send('MarketSession', 'fundRewards', [tokens(40), bytes32('pool-1')]), 'RewardRefUsed', { ref: bytes32('pool-1') });
      await send('MarketSession', 'fundRewards', [tokens(40), bytes32('pool-2')]);
      assert.equal(await call('MarketSession', 'rewardPool'), tokens(100));
      await reverts(send('MarketSession', 'fundRewards', [0, bytes32('pool-3')]), 'ZeroAmount');
    });

    let bid1: bigint;
    let bid2: bigint;
    let off1: bigint;
    let off2: bigint;
    const book: string[] = [ZERO_HASH];
    const orderId = (r: LedgerReceipt) => BigInt(ev(r, 'OrderSubmitted')[0]!.args.orderId as string);

    it('submitBid / submitOffer: escrow and collateral taken; unregistered, over the cap, zero or green bids refused', async () => {
      const before = await balance(pro);
      let r = await send('MarketSession', 'submitBid', [sid, 4000, tokens(0.3)], pro);
      bid1 = orderId(r);
      assert.equal(ev(r, 'OrderSubmitted')[0]!.args.locked, String(tokens(1.2)));
      assert.equal(await balance(pro), before - tokens(1.2));
      book.push(nextBookHash(book.at(-1)!, { orderId: Number(bid1), owner: pro, isBid: true, green: false, qtyWh: 4000, limitPrice: tokens(0.3) }));
      r = await send('MarketSession', 'submitOffer', [sid, 3000, tokens(0.1), true], pro2);
      off1 = orderId(r);
      assert.equal(ev(r, 'OrderSubmitted')[0]!.args.locked, String(tokens(0.3))); // 3 kWh x 0.1 penalty rate
      book.push(nextBookHash(book.at(-1)!, { orderId: Number(off1), owner: pro2, isBid: false, green: true, qtyWh: 3000, limitPrice: tokens(0.1) }));
      await reverts(send('MarketSession', 'submitBid', [sid, 1000, tokens(0.3)], dso), 'NotRegistered');
      await reverts(send('MarketSession', 'submitBid', [sid, 1000, tokens(2)], pro), 'PriceAboveCap');
      await reverts(send('MarketSession', 'submitBid', [sid, 0, tokens(0.3)], pro), 'InvalidOrder', { field: 'qtyWh' });
      await reverts(send('MarketSession', 'submitBid', [sid + 1n, 1000, tokens(0.3)], pro), 'WrongState');
      await reverts(send('MarketSession', 'submitBid', [sid, 1_000_000, tokens(1)], pro), 'ERC20InsufficientBalance');
    });

    it('submitOrdersFor: a broker the owner authorised, nobody else', async () => {
      const input = [{ owner: pro, isBid: true, green: false, qtyWh: 2000, limitPrice: tokens(0.2) }];
      await reverts(send('MarketSession', 'submitOrdersFor', [sid, input], agg), 'NotAuthorised');
      await send('MarketSession', 'setBroker', [agg, true], pro);
      assert.equal(await call('MarketSession', 'isBroker', [pro, agg]), true);
      const r = await send('MarketSession', 'submitOrdersFor', [sid, [...input, { owner: agg, isBid: false, green: false, qtyWh: 1000, limitPrice: tokens(0.25) }]], agg).catch((e) => e);
      assert.equal(r.data?.revert, 'NotAuthorised'); // agg never authorised itself as its own broker
      await send('MarketSession', 'setBroker', [agg, true], agg);
      const ok = await send('MarketSession', 'submitOrdersFor', [sid, [...input, { owner: agg, isBid: false, green: false, qtyWh: 1000, limitPrice: tokens(0.25) }]], agg);
      const ids = ev(ok, 'OrderSubmitted').map((e) => BigInt(e.args.orderId as string));
      [bid2, off2] = [ids[0]!, ids[1]!];
      book.push(nextBookHash(book.at(-1)!, { orderId: Number(bid2), owner: pro, isBid: true, green: false, qtyWh: 2000, limitPrice: tokens(0.2) }));
      book.push(nextBookHash(book.at(-1)!, { orderId: Number(off2), owner: agg, isBid: false, green: false, qtyWh: 1000, limitPrice: tokens(0.25) }));
    });

    it('cancelOrder: owner or broker, before gate closure, refunds at once', async () => {
      const r = await send('MarketSession', 'submitBid', [sid, 1000, tokens(0.5)], pro);
      const extra = orderId(r);
      book.push(nextBookHash(book.at(-1)!, { orderId: Number(extra), owner: pro, isBid: true, green: false, qtyWh: 1000, limitPrice: tokens(0.5) }));
      await reverts(send('MarketSession', 'cancelOrder', [extra], pro2), 'NotAuthorised');
      const before = await balance(pro);
      await send('MarketSession', 'cancelOrder', [extra], pro);
      book.push(nextBookHash(book.at(-1)!, { cancel: Number(extra) }));
      assert.equal(await balance(pro), before + tokens(0.5));
      await reverts(send('MarketSession', 'cancelOrder', [extra], pro), 'InvalidOrder', { field: 'cancelled' });
      await reverts(send('MarketSession', 'cancelOrder', [99999], pro2), 'UnknownOrder');
      assert.equal((await call<{ bookHash: string }>('MarketSession', 'session', [sid])).bookHash, book.at(-1));
    });

    it('one side per session: an owner with live bids cannot offer (nor the reverse), checked before escrow', async () => {
      const before = await balance(pro);
      await reverts(send('MarketSession', 'submitOffer', [sid, 1000, tokens(0.1), false], pro), 'BothSides', { owner: pro });
      await reverts(send('MarketSession', 'submitBid', [sid, 1000, tokens(0.1)], pro2), 'BothSides', { owner: pro2 });
      // In a broker's batch too: the whole batch is refused.
      await reverts(send('MarketSession', 'submitOrdersFor', [sid, [{ owner: pro, isBid: false, green: false, qtyWh: 10, limitPrice: 1 }]], agg), 'BothSides');
      assert.equal(await balance(pro), before, 'nothing escrowed');
      assert.deepEqual(await call('MarketSession', 'sideOf', [sid, pro]), { side: 1n, live: 2n });
      assert.deepEqual(await call('MarketSession', 'sideOf', [sid, pro2]), { side: 2n, live: 1n });
    });

    it('postClearing: after gate closure, for exactly this book; late bids refused', async () => {
      const price = tokens(0.25);
      await reverts(send('MarketSession', 'postClearing', [sid, price, book.at(-1), ZERO_HASH, 1]), 'GateOpen');
      await L().advanceTime(650);
      await reverts(send('MarketSession', 'submitBid', [sid, 1000, tokens(0.3)], pro), 'GateClosed');
      await reverts(send('MarketSession', 'cancelOrder', [bid1], pro), 'GateClosed');
      await reverts(send('MarketSession', 'postClearing', [sid, price, book.at(-2), ZERO_HASH, 1]), 'BookMismatch');
      await reverts(send('MarketSession', 'postClearing', [sid, tokens(2), book.at(-1), ZERO_HASH, 1]), 'PriceAboveCap');
      await reverts(send('MarketSession', 'postClearing', [sid, price, book.at(-1), ZERO_HASH, 1], pro), 'AccessControlUnauthorizedAccount');
    });

    it('addTrades: trades within limits and quantities, hashing to the posted result', async () => {
      const price = tokens(0.25);
      const trades = [
        { bidId: Number(bid1), offerId: Number(off1), qtyWh: 3000, price },
        { bidId: Number(bid1), offerId: Number(off2), qtyWh: 1000, price },
      ];
      await send('MarketSession', 'postClearing', [sid, price, book.at(-1), clearingResultHash(price, trades), trades.length]);
      await reverts(send('MarketSession', 'addTrades', [sid, [{ bidId: Number(bid2), offerId: Number(off1), qtyWh: 1000, price }]]), 'InvalidTrade', { reason: 'price' });
      await reverts(send('MarketSession', 'addTrades', [sid, [{ ...trades[0]!, price: tokens(0.05) }]]), 'InvalidTrade', { reason: 'price' });
      await reverts(send('MarketSession', 'addTrades', [sid, [{ bidId: Number(off1), offerId: Number(off1), qtyWh: 1000, price }]]), 'InvalidTrade', { reason: 'bid' });
      await reverts(send('MarketSession', 'addTrades', [sid, [{ bidId: Number(bid1), offerId: Number(off1), qtyWh: 5000, price }]]), 'InvalidTrade', { reason: 'bid overfilled' });
      await reverts(send('MarketSession', 'addTrades', [sid, [...trades, trades[0]!]]), 'TooManyTrades');
      await reverts(send('MarketSession', 'addTrades', [sid, [trades[0]!, { ...trades[1]!, qtyWh: 999 }]]), 'ResultMismatch');
      await reverts(send('MarketSession', 'settle', [sid, []]), 'WrongState');
      await send('MarketSession', 'addTrades', [sid, [trades[0]!]]);
      const r = await send('MarketSession', 'addTrades', [sid, [trades[1]!]]);
      assert.equal(ev(r, 'SessionCleared').length, 1);
      assert.equal((await call<{ state: bigint }>('MarketSession', 'session', [sid])).state, 3n);
    });

    it('settle: after delivery, operator only, once per trade; pays, penalises, rewards green', async () => {
      await reverts(send('MarketSession', 'settle', [sid, [{ tradeId: 0, deliveredWh: 3000 }]]), 'DeliveryNotOver');
      await L().advanceTime(1200);
      await reverts(send('MarketSession', 'settle', [sid, [{ tradeId: 0, deliveredWh: 3000 }]], pro), 'AccessControlUnauthorizedAccount');
      await reverts(send('MarketSession', 'settle', [sid, [{ tradeId: 5, deliveredWh: 3000 }]]), 'UnknownTrade');
      const r = await send('MarketSession', 'settle', [sid, [{ tradeId: 0, deliveredWh: 2000 }]]);
      // 2 of 3 kWh delivered at 0.25: paid 0.5; 1 kWh short x 0.1 = 0.1 penalty; green 2 kWh x 0.05 = 0.1
      assert.deepEqual(ev(r, 'TradeSettled')[0]!.args, {
        sessionId: String(sid), tradeId: '0', deliveredWh: '2000', paid: String(tokens(0.5)), penalty: String(tokens(0.1)), greenReward: String(tokens(0.1)),
      });
      await reverts(send('MarketSession', 'settle', [sid, [{ tradeId: 0, deliveredWh: 3000 }]]), 'AlreadySettled');
      await reverts(send('MarketSession', 'withdraw', [[bid1]], pro), 'WrongState');
      const r2 = await send('MarketSession', 'settle', [sid, [{ tradeId: 1, deliveredWh: 5000 }]]);
      assert.equal(ev(r2, 'TradeSettled')[0]!.args.deliveredWh, '1000'); // capped at the matched quantity
      assert.equal(ev(r2, 'SessionSettled').length, 1);
    });

    it('withdraw and claim: owners only, once; the contract holds exactly what it owes', async () => {
      await reverts(send('MarketSession', 'withdraw', [[bid1]], pro2), 'NotAuthorised');
      const before = await balance(pro);
      await send('MarketSession', 'withdraw', [[bid1, bid2]], pro);
      // bid1 escrowed 1.2, paid 0.5 + 0.25; bid2 (unmatched) escrowed 0.4
      assert.equal(await balance(pro), before + tokens(1.2 - 0.75 + 0.4));
      await reverts(send('MarketSession', 'withdraw', [[bid1]], pro), 'AlreadyWithdrawn');
      assert.equal(await call('MarketSession', 'credits', [pro]), tokens(0.2)); // penalty 0.1 + green 0.1
      assert.equal(await call('MarketSession', 'credits', [pro2]), tokens(0.5));
      await send('MarketSession', 'claim', [], pro);
      await send('MarketSession', 'claim', [], pro2);
      await reverts(send('MarketSession', 'claim', [], pro2), 'NothingToClaim');
      await send('MarketSession', 'withdraw', [[off1]], pro2);
      await send('MarketSession', 'withdraw', [[off2]], agg);
      assert.equal(await balance(L().addressOf('MarketSession')), await call<bigint>('MarketSession', 'held'));
      assert.equal(await call('MarketSession', 'held'), (await call<bigint>('MarketSession', 'rewardPool')) + (await call<bigint>('MarketSession', 'credits', [agg])));
    });

    it('dispute: a registered participant before delivery stops settlement; the admin upholds or voids', async () => {
      now = await L().chainTime();
      const s2 = sid + 900n;
      await send('MarketSession', 'openSession', openArgs(s2, now));
      const r = await send('MarketSession', 'submitBid', [s2, 1000, tokens(0.4)], pro);
      const b = orderId(r);
      const o = orderId(await send('MarketSession', 'submitOffer', [s2, 1000, tokens(0.1), false], pro2));
      const session = await call<{ bookHash: string }>('MarketSession', 'session', [s2]);
      await L().advanceTime(650);
      const trades = [{ bidId: Number(b), offerId: Number(o), qtyWh: 1000, price: tokens(0.4) }];
      await send('MarketSession', 'postClearing', [s2, tokens(0.4), session.bookHash, clearingResultHash(tokens(0.4), trades), 1]);
      await send('MarketSession', 'addTrades', [s2, trades]);
      await reverts(send('MarketSession', 'dispute', [s2, bytes32('mine')], outsider), 'NotRegistered');
      await send('MarketSession', 'dispute', [s2, bytes32('mine')], pro);
      await reverts(send('MarketSession', 'resolveDispute', [s2, true], pro), 'AccessControlUnauthorizedAccount');
      await L().advanceTime(1200);
      await reverts(send('MarketSession', 'settle', [s2, [{ tradeId: 0, deliveredWh: 1000 }]]), 'WrongState');
      await send('MarketSession', 'resolveDispute', [s2, true]);
      const before = await balance(pro);
      await send('MarketSession', 'withdraw', [[b]], pro);
      assert.equal(await balance(pro), before + tokens(0.4)); // voided: the whole escrow back
      await reverts(send('MarketSession', 'dispute', [s2, bytes32('late')], pro), 'WrongState');
    });

    it('cancelSession: the operator voids a session that is open or stuck clearing; every escrow comes back', async () => {
      now = await L().chainTime();
      const s3 = sid + 1800n;
      await send('MarketSession', 'openSession', openArgs(s3, now));
      const b = orderId(await send('MarketSession', 'submitBid', [s3, 1000, tokens(0.4)], pro));
      const o = orderId(await send('MarketSession', 'submitOffer', [s3, 2000, tokens(0.1), false], pro2));
      // After withdrawing its only offer an owner may switch sides.
      const sw = await L().createWallet('switcher');
      await send('ParticipantRegistry', 'register', [sw, Role.Prosumer, bytes32('m-sw'), agg]);
      await fund(sw, tokens(10));
      await approve(sw, 'MarketSession', tokens(10));
      const x = orderId(await send('MarketSession', 'submitOffer', [s3, 1000, tokens(0.1), false], sw));
      await reverts(send('MarketSession', 'submitBid', [s3, 500, tokens(0.2)], sw), 'BothSides');
      await send('MarketSession', 'cancelOrder', [x], sw);
      const swBid = orderId(await send('MarketSession', 'submitBid', [s3, 500, tokens(0.2)], sw));
      assert.deepEqual(await call('MarketSession', 'sideOf', [s3, sw]), { side: 1n, live: 1n });
      // amendOrder replaces in one step: a refused amendment leaves the original, a good one swaps escrow.
      const held0 = await call<bigint>('MarketSession', 'held');
      await reverts(send('MarketSession', 'amendOrder', [swBid, 500, tokens(2)], sw), 'PriceAboveCap');
      await reverts(send('MarketSession', 'amendOrder', [swBid, 0, tokens(0.2)], sw), 'InvalidOrder', { field: 'qtyWh' });
      await reverts(send('MarketSession', 'amendOrder', [swBid, 600, tokens(0.2)], pro2), 'NotAuthorised');
      assert.equal((await call<{ cancelled: boolean }>('MarketSession', 'order', [swBid])).cancelled, false);
      const h0 = (await call<{ bookHash: string }>('MarketSession', 'session', [s3])).bookHash;
      const am = await send('MarketSession', 'amendOrder', [swBid, 1000, tokens(0.3)], sw);
      const swBid2 = orderId(am);
      assert.equal(ev(am, 'OrderCancelled')[0]!.args.orderId, String(swBid));
      assert.equal(await call('MarketSession', 'held'), held0 - tokens(0.1) + tokens(0.3));
      const h1 = nextBookHash(nextBookHash(h0, { cancel: Number(swBid) }), { orderId: Number(swBid2), owner: sw, isBid: true, green: false, qtyWh: 1000, limitPrice: tokens(0.3) });
      assert.equal((await call<{ bookHash: string }>('MarketSession', 'session', [s3])).bookHash, h1);
      assert.deepEqual(await call('MarketSession', 'sideOf', [s3, sw]), { side: 1n, live: 1n });
      await reverts(send('MarketSession', 'amendOrder', [swBid, 10, 1], sw), 'InvalidOrder', { field: 'cancelled' });
      const session = await call<{ bookHash: string }>('MarketSession', 'session', [s3]);
      await L().advanceTime(650);
      // A clearing whose trades cannot be posted leaves the session in Clearing ...
      await send('MarketSession', 'postClearing', [s3, tokens(0.4), session.bookHash, bytes32('not-these-trades'), 1]);
      await reverts(send('MarketSession', 'addTrades', [s3, [{ bidId: Number(b), offerId: Number(o), qtyWh: 1000, price: tokens(0.4) }]]), 'ResultMismatch');
      await reverts(send('MarketSession', 'cancelSession', [s3], pro), 'AccessControlUnauthorizedAccount');
      // ... from which the operator cancels it: voided, everything withdrawable.
      const r = await send('MarketSession', 'cancelSession', [s3]);
      assert.equal(ev(r, 'SessionCancelled').length, 1);
      assert.equal((await call<{ state: bigint }>('MarketSession', 'session', [s3])).state, 6n);
      await reverts(send('MarketSession', 'cancelSession', [s3]), 'WrongState');
      const [bp, bp2] = [await balance(pro), await balance(pro2)];
      await send('MarketSession', 'withdraw', [[b]], pro);
      await send('MarketSession', 'withdraw', [[o]], pro2);
      assert.equal(await balance(pro), bp + tokens(0.4));
      assert.equal(await balance(pro2), bp2 + tokens(0.2));
      await reverts(send('MarketSession', 'cancelSession', [sid]), 'WrongState'); // settled sessions are past that
    });
  });
});
