import { createHash } from 'node:crypto';
import { GfError, isGfError, type Address, type Ledger, type Logger, type Storage } from '../../core/index.js';
import { clearingResultHash, nextBookHash, ZERO_HASH } from '../../contracts/hashes.js';
import type { Forecaster } from '../forecasting/api.js';
import { curves, type ClearingAlgorithm, type Order } from './clearing.js';
import { MarketErrors } from './errors.js';

/** A prosumer's trading rules: its contract conditions with the platform (LL-UC01). */
export interface TradingRules {
  maxOrderWh: number;
  defaultBidPrice: number;
  defaultOfferPrice: number;
  autoBid: boolean;
  /** Its offers come from renewable sources (green energy is rewarded). */
  green: boolean;
}

export interface MarketSettings {
  slotMinutes: number;
  gateLeadMinutes: number;
  sessionsAhead: number;
  priceCap: number;
  shortfallPenaltyPerKwh: number;
  greenRewardPerKwh: number;
  offerTolerancePct: number;
  algorithm: string;
  defaultRules: TradingRules;
}

export interface OrderInput {
  prosumer: string;
  side: 'bid' | 'offer';
  qtyWh: number;
  limitPrice: number;
}

interface ProsumerRow {
  id: string;
  wallet: Address;
  meter_id: string;
  custodial: boolean;
  /** jsonb: comes back parsed from both engines. */
  rules: TradingRules;
}

interface SessionRow {
  id: string;
  slot_start: string;
  slot_end: string;
  gate_closure: string;
  state: 'open' | 'cleared' | 'settled' | 'voided';
  price_signal: number | null;
  algorithm: string | null;
  clearing: unknown;
  settlement: unknown;
}

const bytes32 = (s: string) => `0x${createHash('sha256').update(s).digest('hex')}`;

/** What a token purchase or sale answers (and answers again, unchanged, to a repeat of the same request). */
export interface TokenAnswer {
  reference: string;
  prosumer: string;
  amount: string;
  balance: string;
}

const isTrue = (v: unknown) => v === true || v === 'true';

/** MarketSession's states, as the contract numbers them. */
enum ChainState {
  None,
  Open,
  Clearing,
  Cleared,
  Settled,
  Disputed,
  Voided,
}

/** A contract refusal of an order as the market's own code (the contract holds the same rules as the service). */
function chainRefusal(e: unknown, session: number): unknown {
  if (!isGfError(e) || e.code !== 'GF_LEDGER_REVERTED') return e;
  const revert = (e.data as { revert?: string })?.revert;
  if (revert === 'BothSides') return new GfError(MarketErrors.GF_MARKET_BOTH_SIDES, `the contract refused: a prosumer already has orders of the other side in session ${session}`, { cause: e, data: { field: 'side', session } });
  if (revert === 'GateClosed') return new GfError(MarketErrors.GF_MARKET_GATE_CLOSED, `the gate of session ${session} has closed`, { cause: e, data: { session } });
  if (revert === 'ERC20InsufficientBalance') return new GfError(MarketErrors.GF_MARKET_INSUFFICIENT_TOKENS, `the contract refused: a wallet cannot escrow its bids (${(e.data as { args?: unknown }).args ? JSON.stringify((e.data as { args?: unknown }).args) : ''})`, { cause: e, data: { session } });
  if (revert === 'InvalidOrder' && (e.data as { args?: { field?: string } })?.args?.field === 'cancelled') return new GfError(MarketErrors.GF_MARKET_WRONG_STATE, 'the order was withdrawn or amended already', { cause: e, data: { session } });
  if (revert === 'WrongState') return new GfError(MarketErrors.GF_MARKET_WRONG_STATE, `session ${session} no longer takes orders`, { cause: e, data: { session } });
  return e;
}

function reused(reference: string): GfError {
  return new GfError(MarketErrors.GF_MARKET_REFERENCE_REUSED, `reference '${reference}' was already used for another request`, { data: { field: 'reference', reference } });
}
const BATCH = 200;

export interface MarketDeps {
  storage: () => Storage;
  ledger: () => Ledger;
  forecaster: () => Forecaster | undefined;
  algorithms: () => ReadonlyMap<string, ClearingAlgorithm>;
  settings: MarketSettings;
  log: Logger;
  /** Publishes the price signal of a session (the OpenADR PRICE event); failures are logged, not fatal. */
  publishPrice?: (session: { id: number; slotStart: number; slotEnd: number; price: number }) => Promise<void>;
}

/**
 * The local energy market (HL-UC02): registration with wallets, token purchase and sale, sessions per slot on
 * the MarketSession contract, bids and offers (by API and automatically from forecasts), clearing at gate
 * closure with its hash on the ledger, and settlement from metered delivery.
 */
export class MarketService {
  constructor(private readonly d: MarketDeps) {}

  private get db(): Storage {
    return this.d.storage();
  }

  private get ledger(): Ledger {
    return this.d.ledger();
  }

  // ------------------------------------------------------------ registration and tokens (LL-UC01, LL-UC05)

  async register(input: { id: string; meterId: string; wallet?: string; rules?: Partial<TradingRules> }): Promise<{ id: string; wallet: Address; meterId: string; custodial: boolean; rules: TradingRules }> {
    if (!/^[A-Za-z0-9_.:@-]{1,128}$/.test(input.id ?? '')) throw bad('id', 'id must be 1-128 letters, digits or _.:@-');
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(input.meterId ?? '')) throw bad('meterId', 'meterId must be 1-128 letters, digits, _ or -');
    const rules = { ...this.d.settings.defaultRules, ...(input.rules ?? {}) };
    checkRules(rules, this.d.settings.priceCap);
    const exists = await this.db.query('SELECT 1 FROM mkt_prosumers WHERE id = $1', [input.id]);
    if (exists.rows.length) throw new GfError(MarketErrors.GF_MARKET_DUPLICATE, `prosumer ${input.id} is already registered`, { data: { id: input.id } });
    const L = this.ledger;
    let wallet: Address;
    let custodial = false;
    if (input.wallet) {
      if (!/^0x[0-9a-fA-F]{40}$/.test(input.wallet)) throw bad('wallet', 'wallet must be a 0x-prefixed 20-byte address');
      wallet = input.wallet.toLowerCase() as Address;
    } else {
      wallet = await L.createWallet(`prosumer ${input.id}`);
      custodial = true;
    }
    await L.send('ParticipantRegistry', 'register', [wallet, 1, bytes32(input.meterId), '0x0000000000000000000000000000000000000000']);
    if (custodial) {
      // The platform submits orders for the prosumer (API and automatic bidding) and escrows from its wallet.
      await L.sendMany(
        [
          { contract: 'EnergyToken', method: 'approve', args: [L.addressOf('MarketSession'), (1n << 255n) - 1n] },
          { contract: 'MarketSession', method: 'setBroker', args: [L.operator, true] },
        ],
        { from: wallet },
      );
    }
    await this.db.query('INSERT INTO mkt_prosumers (id, wallet, meter_id, custodial, rules) VALUES ($1, $2, $3, $4, $5)', [input.id, wallet, input.meterId, custodial, JSON.stringify(rules)]);
    return { id: input.id, wallet, meterId: input.meterId, custodial, rules };
  }

  async prosumer(id: string): Promise<{ id: string; wallet: Address; meterId: string; custodial: boolean; rules: TradingRules }> {
    const { rows } = await this.db.query<ProsumerRow>('SELECT * FROM mkt_prosumers WHERE id = $1', [id]);
    const r = rows[0];
    if (!r) throw new GfError(MarketErrors.GF_MARKET_UNKNOWN_PROSUMER, `no prosumer '${id}'`, { data: { id } });
    return { id: r.id, wallet: r.wallet, meterId: r.meter_id, custodial: r.custodial, rules: r.rules };
  }

  /**
   * A prosumer buys tokens: the payment provider reports that payment `paymentRef` came in, and the tokens are
   * issued to the prosumer's wallet. A reference mints once: a repeat with the same body gets the first answer
   * (nothing minted again), one with another body GF_MARKET_REFERENCE_REUSED. The HTTP route lets only a
   * payment-provider credential in.
   */
  async buyTokens(id: string, amount: bigint, paymentRef: string): Promise<TokenAnswer> {
    const p = await this.prosumer(id);
    if (amount <= 0n) throw bad('amount', 'amount must be above zero');
    return this.once('payment', paymentRef, { action: 'buy', prosumer: id, amount: String(amount) }, async () => {
      await this.onChainOnce(
        () => this.ledger.send('EnergyToken', 'issue', [p.wallet, amount, bytes32(paymentRef)]),
        'PaymentRefUsed',
        { contract: 'EnergyToken', event: 'Issued', where: { paymentRef: bytes32(paymentRef) } },
        (args) => String(args.to).toLowerCase() === p.wallet && args.amount === String(amount),
        paymentRef,
      );
      return { reference: paymentRef, prosumer: id, amount: String(amount), balance: String(await this.ledger.call<bigint>('EnergyToken', 'balanceOf', [p.wallet])) };
    });
  }

  /** A prosumer sells tokens back: burnt from its (custodial) wallet; the operator pays out against `payoutRef` (once). */
  async sellTokens(id: string, amount: bigint, payoutRef: string): Promise<TokenAnswer> {
    const p = await this.prosumer(id);
    if (!p.custodial) throw bad('id', `${id} holds its own keys: it redeems from its wallet itself`);
    if (amount <= 0n) throw bad('amount', 'amount must be above zero');
    return this.once('payout', payoutRef, { action: 'sell', prosumer: id, amount: String(amount) }, async () => {
      await this.onChainOnce(
        () => this.ledger.send('EnergyToken', 'redeem', [amount, bytes32(payoutRef)], { from: p.wallet }),
        'PayoutRefUsed',
        { contract: 'EnergyToken', event: 'Redeemed', where: { from: p.wallet, payoutRef: bytes32(payoutRef) } },
        (args) => args.amount === String(amount),
        payoutRef,
      );
      return { reference: payoutRef, prosumer: id, amount: String(amount), balance: String(await this.ledger.call<bigint>('EnergyToken', 'balanceOf', [p.wallet])) };
    });
  }

  /** The operator tops up the green-reward pool with tokens newly issued against payment `reference` (once). */
  async fundRewards(amount: bigint, reference: string): Promise<{ reference: string; amount: string; rewardPool: string }> {
    if (amount <= 0n) throw bad('amount', 'amount must be above zero');
    const L = this.ledger;
    return this.once('payment', reference, { action: 'rewards', amount: String(amount) }, async () => {
      // Three transactions, each refused when repeated, so a retry after a crash completes without paying twice.
      await this.onChainOnce(
        () => L.send('EnergyToken', 'issue', [L.operator, amount, bytes32(reference)]),
        'PaymentRefUsed',
        { contract: 'EnergyToken', event: 'Issued', where: { paymentRef: bytes32(reference) } },
        (args) => String(args.to).toLowerCase() === L.operator.toLowerCase() && args.amount === String(amount),
        reference,
      );
      if (!(await L.call<boolean>('MarketSession', 'rewardRefUsed', [bytes32(reference)]))) {
        await L.send('EnergyToken', 'approve', [L.addressOf('MarketSession'), amount]);
        await this.onChainOnce(
          () => L.send('MarketSession', 'fundRewards', [amount, bytes32(reference)]),
          'RewardRefUsed',
          { contract: 'MarketSession', event: 'RewardsFunded', where: { ref: bytes32(reference) } },
          (args) => args.amount === String(amount),
          reference,
        );
      }
      return { reference, amount: String(amount), rewardPool: String(await L.call<bigint>('MarketSession', 'rewardPool', [])) };
    });
  }

  readonly #locks = new Map<string, Promise<unknown>>();

  /** Runs `fn` for one key at a time in this process (callers of one key queue behind each other). */
  async #serialised<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(key) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(key, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(key) === tail) this.#locks.delete(key);
    }
  }

  /**
   * A money movement keyed by its reference, applied once: the reference is claimed in `mkt_token_requests`
   * (primary key: kind and reference) before anything is sent, the answer stored when it is done. A repeat with
   * the same request gets the stored answer; a different request under the same reference is refused. A request
   * left pending (crash, timeout) is completed by the next one: the contract refuses a reference twice, so
   * `run` can always be run again.
   */
  private once<T>(kind: 'payment' | 'payout', reference: string, request: Record<string, string>, run: () => Promise<T>): Promise<T> {
    return this.#serialised(`${kind}:${reference}`, async () => {
      const req = JSON.stringify(request);
      await this.db.query("INSERT INTO mkt_token_requests (kind, reference, request, state) VALUES ($1, $2, $3::jsonb, 'pending') ON CONFLICT (kind, reference) DO NOTHING", [kind, reference, req]);
      const { rows } = await this.db.query<{ same: boolean; state: string; answer: unknown }>(
        'SELECT request = $3::jsonb AS same, state, answer FROM mkt_token_requests WHERE kind = $1 AND reference = $2',
        [kind, reference, req],
      );
      const row = rows[0]!;
      if (!row.same) throw reused(reference);
      if (row.state === 'done') return (typeof row.answer === 'string' ? JSON.parse(row.answer) : row.answer) as T;
      let answer: T;
      try {
        answer = await run();
      } catch (e) {
        // Refused before anything was sent (a revert found by the check, a market rule): the reference stays free.
        if (isGfError(e) && (e.code === 'GF_LEDGER_REVERTED' || e.code.startsWith('GF_MARKET_'))) {
          await this.db.query("DELETE FROM mkt_token_requests WHERE kind = $1 AND reference = $2 AND state = 'pending'", [kind, reference]);
        }
        throw e;
      }
      // Everyone gets the answer as stored (jsonb orders keys its own way), the first caller included.
      const done = await this.db.query<{ answer: unknown }>(
        "UPDATE mkt_token_requests SET state = 'done', answer = $3::jsonb, done_at = now() WHERE kind = $1 AND reference = $2 RETURNING answer",
        [kind, reference, JSON.stringify(answer)],
      );
      const stored = done.rows[0]!.answer;
      return (typeof stored === 'string' ? JSON.parse(stored) : stored) as T;
    });
  }

  /**
   * Sends a transaction the contract applies once per reference. When the contract says the reference was
   * already used, the recorded event must be this very request (then it was applied earlier: a crash or a
   * concurrent process); anything else under that reference is a reused reference.
   */
  private async onChainOnce(send: () => Promise<unknown>, usedError: string, query: { contract: string; event: string; where: Record<string, string> }, matches: (args: Record<string, unknown>) => boolean, reference: string): Promise<void> {
    try {
      await send();
    } catch (e) {
      if (!(isGfError(e) && (e.data as { revert?: string })?.revert === usedError)) throw e;
      const earlier = await this.ledger.events(query);
      if (!earlier.some((x) => matches(x.args))) throw reused(reference);
    }
  }

  // ------------------------------------------------------------ sessions

  slotOf(t: number): number {
    const len = this.d.settings.slotMinutes * 60;
    return Math.floor(t / len) * len;
  }

  /** Opens the sessions of the next `sessionsAhead` slots whose gate is still ahead; returns the new ones. */
  async ensureSessions(): Promise<number[]> {
    const s = this.d.settings;
    const now = await this.ledger.chainTime();
    const len = s.slotMinutes * 60;
    const opened: number[] = [];
    for (let k = 1; k <= s.sessionsAhead; k++) {
      const start = this.slotOf(now) + k * len;
      const gate = start - s.gateLeadMinutes * 60;
      if (gate <= now + 5) continue;
      const have = await this.db.query('SELECT 1 FROM mkt_sessions WHERE id = $1', [start]);
      if (have.rows.length) continue;
      try {
        await this.ledger.send('MarketSession', 'openSession', [start, gate, start, start + len, s.priceCap, s.shortfallPenaltyPerKwh, s.greenRewardPerKwh]);
      } catch (e) {
        if (!(isGfError(e) && (e.data as { revert?: string })?.revert === 'SessionExists')) throw e;
      }
      await this.db.query("INSERT INTO mkt_sessions (id, slot_start, slot_end, gate_closure, state) VALUES ($1, $2, $3, $4, 'open') ON CONFLICT (id) DO NOTHING", [start, start, start + len, gate]);
      opened.push(start);
      await this.autoBid(start).catch((err) => this.d.log.warn({ err, session: start }, 'automatic bidding failed'));
      await this.priceSignal(start).catch((err) => this.d.log.warn({ err, session: start }, 'price signal failed'));
    }
    return opened;
  }

  async session(id: number): Promise<SessionRow> {
    const { rows } = await this.db.query<SessionRow>('SELECT * FROM mkt_sessions WHERE id = $1', [id]);
    if (!rows[0]) throw new GfError(MarketErrors.GF_MARKET_UNKNOWN_SESSION, `no market session ${id}`, { data: { session: id } });
    return rows[0];
  }

  // ------------------------------------------------------------ orders (LL-UC02)

  /** Validates and submits orders for one session, in one transaction (the platform as broker). */
  async submit(sessionId: number, inputs: readonly OrderInput[], automatic = false): Promise<{ id: number; prosumer: string; side: string; qtyWh: number; limitPrice: number; green: boolean }[]> {
    const prepared = await this.prepare(sessionId, inputs, { automatic, prefix: 'orders' });
    const claims = new Map<string, { side: string; n: number; at: string }>();
    for (const [i, { p, o }] of prepared.entries()) claims.set(p.id, { side: o.side, n: (claims.get(p.id)?.n ?? 0) + 1, at: claims.get(p.id)?.at ?? `orders[${i}]` });
    await this.claimSides(sessionId, claims);
    let receipt: Awaited<ReturnType<Ledger['send']>>;
    try {
      receipt = await this.ledger.send('MarketSession', 'submitOrdersFor', [
        sessionId,
        prepared.map(({ p, o }) => ({ owner: p.wallet, isBid: o.side === 'bid', green: o.side === 'offer' && p.rules.green, qtyWh: o.qtyWh, limitPrice: o.limitPrice })),
      ]);
    } catch (e) {
      // Refused (or lost): give the sides back. Should the transaction have gone through after all, the
      // contract still holds the rule, and the reconciliation at start counts the sides again from the orders.
      await this.releaseSides(sessionId, claims);
      throw chainRefusal(e, sessionId);
    }
    const submitted = receipt.events.filter((e) => e.event === 'OrderSubmitted');
    const out = prepared.map(({ p, o }, i) => ({ id: Number(submitted[i]!.args.orderId), prosumer: p.id, side: o.side, qtyWh: o.qtyWh, limitPrice: o.limitPrice, green: o.side === 'offer' && p.rules.green }));
    await this.db.transaction(async (tx) => {
      for (const [i, r] of out.entries()) {
        // The order's place in the chain's history (block, log index) lets the clearing rebuild the book hash.
        // The reconciliation may have adopted it from the chain's events first: then only what it lacked is added.
        await tx.query(
          `INSERT INTO mkt_orders (id, session_id, prosumer, side, qty_wh, limit_price, green, automatic, submit_block, submit_log) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (id) DO UPDATE SET automatic = EXCLUDED.automatic, submit_block = EXCLUDED.submit_block, submit_log = EXCLUDED.submit_log`,
          [r.id, sessionId, r.prosumer, r.side, r.qtyWh, r.limitPrice, r.green, automatic, submitted[i]!.blockNumber, submitted[i]!.logIndex],
        );
      }
    });
    return out;
  }

  /**
   * Every check an order must pass before anything is sent: session open and before its gate, whole numbers,
   * the prosumer's limit and the cap, one side per session, escrow covered (`credit`: escrow an amendment frees),
   * offers within the forecast, and the platform authorised as broker. Fields are named `prefix[i].name`, or
   * just `name` without a prefix (one order in the body).
   */
  private async prepare(sessionId: number, inputs: readonly OrderInput[], opts: { automatic?: boolean; prefix?: string; credit?: ReadonlyMap<string, bigint> } = {}): Promise<{ p: Awaited<ReturnType<MarketService['prosumer']>>; o: OrderInput }[]> {
    const s = await this.session(sessionId);
    if (s.state !== 'open') throw new GfError(MarketErrors.GF_MARKET_WRONG_STATE, `session ${sessionId} is ${s.state}`, { data: { session: sessionId } });
    const now = await this.ledger.chainTime();
    if (now >= Number(s.gate_closure)) throw new GfError(MarketErrors.GF_MARKET_GATE_CLOSED, `the gate of session ${sessionId} closed at ${new Date(Number(s.gate_closure) * 1000).toISOString()}`, { data: { session: sessionId } });
    if (inputs.length === 0 || inputs.length > 500) throw bad(opts.prefix ?? 'orders', 'give 1 to 500 orders');
    const { rows: existing } = await this.db.query<{ prosumer: string; side: string }>('SELECT DISTINCT prosumer, side FROM mkt_orders WHERE session_id = $1 AND NOT cancelled', [sessionId]);
    const sides = new Map(existing.map((r) => [r.prosumer, r.side]));
    const escrow = new Map<string, bigint>();
    const prepared: { p: Awaited<ReturnType<MarketService['prosumer']>>; o: OrderInput }[] = [];
    for (const [i, o] of inputs.entries()) {
      const at = opts.prefix === undefined ? '' : `${opts.prefix}[${i}]`;
      const field = (name: string) => (at ? `${at}.${name}` : name);
      const say = (m: string) => (at ? `${at}: ${m}` : m);
      if (o.side !== 'bid' && o.side !== 'offer') throw bad(field('side'), 'side must be bid or offer');
      if (!Number.isSafeInteger(o.qtyWh) || o.qtyWh <= 0) throw bad(field('qtyWh'), 'qtyWh must be a whole number of Wh above zero');
      if (!Number.isSafeInteger(o.limitPrice) || o.limitPrice < 0) throw bad(field('limitPrice'), 'limitPrice must be a whole number of token base units per kWh');
      const p = await this.prosumer(o.prosumer);
      if (o.qtyWh > p.rules.maxOrderWh) throw new GfError(MarketErrors.GF_MARKET_LIMIT, say(`${o.qtyWh} Wh is above ${p.id}'s limit of ${p.rules.maxOrderWh} Wh`), { data: { field: field('qtyWh') } });
      if (o.limitPrice > this.d.settings.priceCap) throw new GfError(MarketErrors.GF_MARKET_LIMIT, say(`price ${o.limitPrice} is above the cap ${this.d.settings.priceCap}`), { data: { field: field('limitPrice') } });
      const side = sides.get(p.id);
      if (side && side !== o.side) throw new GfError(MarketErrors.GF_MARKET_BOTH_SIDES, say(`${p.id} already has ${side}s in session ${sessionId}`), { data: { field: field('side') } });
      sides.set(p.id, o.side);
      if (o.side === 'bid') {
        const need = (escrow.get(p.id) ?? 0n) + (BigInt(o.qtyWh) * BigInt(o.limitPrice)) / 1000n;
        escrow.set(p.id, need);
        const have = (await this.ledger.call<bigint>('EnergyToken', 'balanceOf', [p.wallet])) + (opts.credit?.get(p.id) ?? 0n);
        if (have < need) throw new GfError(MarketErrors.GF_MARKET_INSUFFICIENT_TOKENS, say(`${p.id} holds ${have} token units, the bids need ${need} in escrow`), { data: { field: field('qtyWh'), have: String(have), need: String(need) } });
      } else if (!opts.automatic) {
        await this.checkOfferAgainstForecast(p, sessionId, o.qtyWh, field('qtyWh'));
      }
      if (!p.custodial && !(await this.ledger.call<boolean>('MarketSession', 'isBroker', [p.wallet, this.ledger.operator]))) {
        throw new GfError(MarketErrors.GF_MARKET_LIMIT, say(`${p.id}'s wallet has not authorised the platform as its broker (MarketSession.setBroker)`), { data: { field: field('prosumer') } });
      }
      prepared.push({ p, o });
    }
    return prepared;
  }

  /**
   * Amends an order before the gate: the new quantity and limit are checked first (as a new order, with the
   * old order's escrow counted as freed), then the contract replaces the order in one transaction
   * (`amendOrder`), so an amendment that fails any check leaves the original in the book. The side stays.
   */
  async amend(sessionId: number, orderId: number, input: OrderInput): Promise<{ id: number; prosumer: string; side: string; qtyWh: number; limitPrice: number; green: boolean; replaces: number }> {
    const { rows } = await this.db.query<{ session_id: string; prosumer: string; side: string; qty_wh: string; limit_price: string; green: boolean; cancelled: boolean }>(
      'SELECT session_id, prosumer, side, qty_wh, limit_price, green, cancelled FROM mkt_orders WHERE id = $1',
      [orderId],
    );
    const old = rows[0];
    if (!old || old.prosumer !== input.prosumer || Number(old.session_id) !== sessionId) {
      throw new GfError(MarketErrors.GF_MARKET_UNKNOWN_PROSUMER, `no order ${orderId} of ${input.prosumer} in session ${sessionId}`, { data: { order: orderId } });
    }
    if (old.cancelled) throw new GfError(MarketErrors.GF_MARKET_WRONG_STATE, `order ${orderId} was withdrawn or amended already`, { data: { order: orderId } });
    if (input.side !== old.side) throw bad('side', `an amendment keeps the order's side (${old.side}): withdraw it and submit a new order instead`);
    const freed = old.side === 'bid' ? (BigInt(old.qty_wh) * BigInt(old.limit_price)) / 1000n : 0n;
    const [{ p, o }] = (await this.prepare(sessionId, [input], { credit: new Map([[old.prosumer, freed]]) })) as [{ p: Awaited<ReturnType<MarketService['prosumer']>>; o: OrderInput }];
    let receipt: Awaited<ReturnType<Ledger['send']>>;
    try {
      receipt = await this.ledger.send('MarketSession', 'amendOrder', [orderId, o.qtyWh, o.limitPrice]);
    } catch (e) {
      throw chainRefusal(e, sessionId);
    }
    const cancelled = receipt.events.find((e) => e.event === 'OrderCancelled')!;
    const submitted = receipt.events.find((e) => e.event === 'OrderSubmitted')!;
    const id = Number(submitted.args.orderId);
    await this.db.transaction(async (tx) => {
      // One live order replaced by another: the prosumer's side count stays.
      await tx.query('UPDATE mkt_orders SET cancelled = true, cancel_block = $2, cancel_log = $3 WHERE id = $1', [orderId, cancelled.blockNumber, cancelled.logIndex]);
      await tx.query(
        `INSERT INTO mkt_orders (id, session_id, prosumer, side, qty_wh, limit_price, green, automatic, submit_block, submit_log) VALUES ($1, $2, $3, $4, $5, $6, $7, false, $8, $9)
         ON CONFLICT (id) DO UPDATE SET submit_block = EXCLUDED.submit_block, submit_log = EXCLUDED.submit_log`,
        [id, sessionId, p.id, old.side, o.qtyWh, o.limitPrice, old.green, submitted.blockNumber, submitted.logIndex],
      );
    });
    return { id, prosumer: p.id, side: old.side, qtyWh: o.qtyWh, limitPrice: o.limitPrice, green: old.green, replaces: orderId };
  }

  /**
   * One side per prosumer and session, atomically: `mkt_session_sides` holds the side and the number of live
   * orders, and one upsert per prosumer (a row lock in PostgreSQL, one connection in PGlite) either takes the
   * side (no live orders), adds to it (same side) or leaves it (other side), which refuses the whole batch.
   * Two concurrent requests of one prosumer, a bid and an offer, cannot both pass.
   */
  private async claimSides(sessionId: number, claims: ReadonlyMap<string, { side: string; n: number; at: string }>): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const [prosumer, c] of claims) {
        const { rows } = await tx.query<{ side: string }>(
          `INSERT INTO mkt_session_sides (session_id, prosumer, side, live) VALUES ($1, $2, $3, $4)
           ON CONFLICT (session_id, prosumer) DO UPDATE SET
             side = CASE WHEN mkt_session_sides.live = 0 THEN EXCLUDED.side ELSE mkt_session_sides.side END,
             live = mkt_session_sides.live + CASE WHEN mkt_session_sides.live = 0 OR mkt_session_sides.side = EXCLUDED.side THEN EXCLUDED.live ELSE 0 END
           RETURNING side`,
          [sessionId, prosumer, c.side, c.n],
        );
        if (rows[0]!.side !== c.side) {
          throw new GfError(MarketErrors.GF_MARKET_BOTH_SIDES, `${c.at}: ${prosumer} already has ${rows[0]!.side}s in session ${sessionId}`, { data: { field: `${c.at}.side` } });
        }
      }
    });
  }

  private async releaseSides(sessionId: number, claims: ReadonlyMap<string, { side: string; n: number }>): Promise<void> {
    await this.db.transaction(async (tx) => {
      for (const [prosumer, c] of claims) {
        await tx.query('UPDATE mkt_session_sides SET live = GREATEST(live - $3, 0) WHERE session_id = $1 AND prosumer = $2 AND side = $4', [sessionId, prosumer, c.n, c.side]);
      }
    });
  }

  /** An offer may not exceed the forecast production of the slot plus the tolerance (when a forecast exists). */
  private async checkOfferAgainstForecast(p: { id: string; meterId: string }, sessionId: number, qtyWh: number, field: string): Promise<void> {
    const expected = await this.forecastSlot(p.meterId, 'energyExport', sessionId);
    if (expected === undefined) return;
    const allowed = Math.ceil(expected * (1 + this.d.settings.offerTolerancePct / 100));
    if (qtyWh > allowed) {
      throw new GfError(MarketErrors.GF_MARKET_OVER_FORECAST, `${field}: ${qtyWh} Wh offered, forecast production of ${p.id} for the slot is ${Math.round(expected)} Wh (+${this.d.settings.offerTolerancePct} % = ${allowed})`, {
        data: { field, forecastWh: Math.round(expected) },
      });
    }
  }

  /** The forecast energy of one meter over a session's slot, or undefined when none can be made. */
  async forecastSlot(meterId: string, quantity: 'energyImport' | 'energyExport', sessionId: number): Promise<number | undefined> {
    const f = this.d.forecaster();
    if (!f) return undefined;
    const s = await this.session(sessionId);
    const start = Number(s.slot_start) * 1000;
    const end = Number(s.slot_end) * 1000;
    try {
      const res = await f.forecast({ meters: [meterId], aggregate: false, quantity, resolutionS: 900, horizonHours: Math.max(1, Math.ceil((end - Date.now()) / 3600_000) + 1), kind: 'intraday', at: Math.min(Date.now(), start - 1), model: quantity === 'energyExport' ? 'pv-clearsky' : 'random-forest' });
      let sum = 0;
      let n = 0;
      res.series[0]!.ts.forEach((t, i) => {
        const ms = Date.parse(t);
        if (ms >= start && ms < end) {
          sum += res.series[0]!.p50[i]!;
          n++;
        }
      });
      return n ? sum : undefined;
    } catch (e) {
      if (isGfError(e)) return undefined; // no history or model: no forecast to hold the offer to
      throw e;
    }
  }

  /** Automatic bidding: prosumers with autoBid get a bid (net consumption) or an offer (net production) from their forecasts. */
  async autoBid(sessionId: number): Promise<number> {
    const { rows } = await this.db.query<ProsumerRow>("SELECT * FROM mkt_prosumers WHERE (rules->>'autoBid')::boolean");
    const orders: OrderInput[] = [];
    for (const r of rows) {
      const rules = r.rules;
      const use = await this.forecastSlot(r.meter_id, 'energyImport', sessionId);
      const gen = await this.forecastSlot(r.meter_id, 'energyExport', sessionId);
      if (use === undefined && gen === undefined) continue;
      const net = Math.round((use ?? 0) - (gen ?? 0));
      if (net === 0) continue;
      const qty = Math.min(Math.abs(net), rules.maxOrderWh);
      orders.push(net > 0 ? { prosumer: r.id, side: 'bid', qtyWh: qty, limitPrice: rules.defaultBidPrice } : { prosumer: r.id, side: 'offer', qtyWh: qty, limitPrice: rules.defaultOfferPrice });
    }
    let n = 0;
    for (let i = 0; i < orders.length; i += BATCH) {
      // A prosumer whose bid cannot be escrowed is skipped, not the whole batch.
      const ok: OrderInput[] = [];
      for (const o of orders.slice(i, i + BATCH)) {
        try {
          if (o.side === 'bid') {
            const p = await this.prosumer(o.prosumer);
            const have = await this.ledger.call<bigint>('EnergyToken', 'balanceOf', [p.wallet]);
            if (have < (BigInt(o.qtyWh) * BigInt(o.limitPrice)) / 1000n) continue;
          }
          ok.push(o);
        } catch {
          /* skip */
        }
      }
      if (ok.length) n += (await this.submit(sessionId, ok, true)).length;
    }
    return n;
  }

  /** Expected clearing price of a session from the book it would have with forecast-based orders of every prosumer. */
  async priceSignal(sessionId: number): Promise<number | null> {
    const { rows } = await this.db.query<ProsumerRow>('SELECT * FROM mkt_prosumers');
    const book: Order[] = [];
    let seq = 0;
    for (const r of rows) {
      const rules = r.rules;
      const use = (await this.forecastSlot(r.meter_id, 'energyImport', sessionId)) ?? 0;
      const gen = (await this.forecastSlot(r.meter_id, 'energyExport', sessionId)) ?? 0;
      const net = Math.round(use - gen);
      if (net > 0) book.push({ id: ++seq, owner: r.id, side: 'bid', qtyWh: net, limit: rules.defaultBidPrice, seq });
      if (net < 0) book.push({ id: ++seq, owner: r.id, side: 'offer', qtyWh: -net, limit: rules.defaultOfferPrice, seq });
    }
    const r = this.algorithm().clear(book);
    const s = await this.session(sessionId);
    await this.db.query('UPDATE mkt_sessions SET price_signal = $2 WHERE id = $1', [sessionId, r.price]);
    if (r.price !== null && this.d.publishPrice) {
      await this.d.publishPrice({ id: sessionId, slotStart: Number(s.slot_start), slotEnd: Number(s.slot_end), price: r.price });
    }
    return r.price;
  }

  async cancel(orderId: number, prosumer: string): Promise<void> {
    const { rows } = await this.db.query<{ session_id: string; prosumer: string; cancelled: boolean }>('SELECT session_id, prosumer, cancelled FROM mkt_orders WHERE id = $1', [orderId]);
    const o = rows[0];
    if (!o || o.prosumer !== prosumer) throw new GfError(MarketErrors.GF_MARKET_UNKNOWN_PROSUMER, `no order ${orderId} of ${prosumer}`, { data: { order: orderId } });
    if (o.cancelled) return;
    const s = await this.session(Number(o.session_id));
    if ((await this.ledger.chainTime()) >= Number(s.gate_closure)) throw new GfError(MarketErrors.GF_MARKET_GATE_CLOSED, `the gate of session ${s.id} has closed`, { data: { session: Number(s.id) } });
    let receipt: Awaited<ReturnType<Ledger['send']>>;
    try {
      receipt = await this.ledger.send('MarketSession', 'cancelOrder', [orderId]);
    } catch (e) {
      throw chainRefusal(e, Number(s.id));
    }
    const e = receipt.events.find((x) => x.event === 'OrderCancelled')!;
    await this.markCancelled(orderId, e.blockNumber, e.logIndex);
  }

  /** Records a cancellation (and its place in the chain's history) and gives the prosumer's side one live order back, once. */
  private async markCancelled(orderId: number, block: number, log: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ session_id: string; prosumer: string }>(
        'UPDATE mkt_orders SET cancelled = true, cancel_block = $2, cancel_log = $3 WHERE id = $1 AND NOT cancelled RETURNING session_id, prosumer',
        [orderId, block, log],
      );
      if (rows[0]) await tx.query('UPDATE mkt_session_sides SET live = GREATEST(live - 1, 0) WHERE session_id = $1 AND prosumer = $2', [rows[0].session_id, rows[0].prosumer]);
    });
  }

  // ------------------------------------------------------------ reconciliation with the chain

  /**
   * Brings the market's tables up to the chain: every MarketSession event since the last run (a watermark in
   * `mkt_meta`) is applied idempotently: sessions opened, orders submitted (an order on chain that the
   * database lacks, because the process died between the transaction and the insert, is adopted with its
   * escrow), cancellations, cancelled sessions. Run at start, and before a clearing. With `sides`, the side
   * claims of open sessions are counted again from the orders (at start, when no request is in flight).
   */
  async reconcile(opts: { sides?: boolean } = {}): Promise<{ adopted: number; cancelled: number }> {
    return this.#serialised('reconcile', async () => {
      const meta = await this.db.query<{ value: string }>("SELECT value FROM mkt_meta WHERE key = 'reconciled_event_id'");
      let after = Number(meta.rows[0]?.value ?? 0);
      const { rows: prosumers } = await this.db.query<{ id: string; wallet: string }>('SELECT id, wallet FROM mkt_prosumers');
      const byWallet = new Map(prosumers.map((p) => [p.wallet.toLowerCase(), p.id]));
      let adopted = 0;
      let cancelled = 0;
      for (;;) {
        const events = await this.ledger.events({ contract: 'MarketSession', afterId: after, limit: 2000 });
        if (events.length === 0) break;
        await this.db.transaction(async (tx) => {
          for (const e of events) {
            const a = e.args as Record<string, string | boolean>;
            if (e.event === 'SessionOpened') {
              await tx.query("INSERT INTO mkt_sessions (id, slot_start, slot_end, gate_closure, state) VALUES ($1, $2, $3, $4, 'open') ON CONFLICT (id) DO NOTHING", [
                a.sessionId, a.deliveryStart, a.deliveryEnd, a.gateClosure,
              ]);
            } else if (e.event === 'OrderSubmitted') {
              const prosumer = byWallet.get(String(a.owner).toLowerCase());
              if (!prosumer) {
                // Not one of ours (a wallet registered elsewhere): the book hash check will refuse the clearing.
                this.d.log.warn({ order: a.orderId, owner: a.owner, session: a.sessionId }, 'an order on chain from a wallet the market does not know');
                continue;
              }
              const r = await tx.query(
                `INSERT INTO mkt_orders (id, session_id, prosumer, side, qty_wh, limit_price, green, automatic, submit_block, submit_log)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, false, $8, $9)
                 ON CONFLICT (id) DO UPDATE SET submit_block = EXCLUDED.submit_block, submit_log = EXCLUDED.submit_log
                 RETURNING (xmax = 0) AS inserted`,
                [a.orderId, a.sessionId, prosumer, isTrue(a.isBid) ? 'bid' : 'offer', a.qtyWh, a.limitPrice, isTrue(a.green), e.blockNumber, e.logIndex],
              );
              if ((r.rows[0] as { inserted: boolean }).inserted) {
                adopted++;
                this.d.log.warn({ order: Number(a.orderId), prosumer, session: Number(a.sessionId) }, 'adopted an order the chain holds but the database lacked');
              }
            } else if (e.event === 'OrderCancelled') {
              const r = await tx.query('UPDATE mkt_orders SET cancelled = true, cancel_block = $2, cancel_log = $3 WHERE id = $1 AND (NOT cancelled OR cancel_block IS NULL)', [a.orderId, e.blockNumber, e.logIndex]);
              cancelled += r.rowCount;
            } else if (e.event === 'SessionCancelled') {
              await tx.query("UPDATE mkt_sessions SET state = 'voided' WHERE id = $1 AND state = 'open'", [a.sessionId]);
            }
          }
          after = events.at(-1)!.id;
          await tx.query("INSERT INTO mkt_meta (key, value) VALUES ('reconciled_event_id', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value", [String(after)]);
        });
      }
      if (opts.sides) {
        await this.db.transaction(async (tx) => {
          await tx.query("DELETE FROM mkt_session_sides WHERE session_id IN (SELECT id FROM mkt_sessions WHERE state = 'open')");
          await tx.query(
            `INSERT INTO mkt_session_sides (session_id, prosumer, side, live)
             SELECT o.session_id, o.prosumer, min(o.side), count(*) FROM mkt_orders o JOIN mkt_sessions s ON s.id = o.session_id
             WHERE s.state = 'open' AND NOT o.cancelled GROUP BY o.session_id, o.prosumer`,
          );
        });
      }
      return { adopted, cancelled };
    });
  }

  /**
   * The order-book hash of a session as the database knows its history: every submission and cancellation in
   * chain order (block, log index), chained as the contract chains them. Posting it proves that the book the
   * clearing used is the book on chain; undefined when an order's place in the history is unknown.
   */
  async bookHash(sessionId: number): Promise<string | undefined> {
    const { rows } = await this.db.query<{ id: string; wallet: string; side: string; green: boolean; qty_wh: string; limit_price: string; cancelled: boolean; submit_block: string | null; submit_log: number | null; cancel_block: string | null; cancel_log: number | null }>(
      `SELECT o.id, p.wallet, o.side, o.green, o.qty_wh, o.limit_price, o.cancelled, o.submit_block, o.submit_log, o.cancel_block, o.cancel_log
       FROM mkt_orders o JOIN mkt_prosumers p ON p.id = o.prosumer WHERE o.session_id = $1`,
      [sessionId],
    );
    const steps: { block: number; log: number; step: Parameters<typeof nextBookHash>[1] }[] = [];
    for (const r of rows) {
      if (r.submit_block === null || r.submit_log === null) return undefined;
      steps.push({ block: Number(r.submit_block), log: r.submit_log, step: { orderId: Number(r.id), owner: r.wallet, isBid: r.side === 'bid', green: r.green, qtyWh: BigInt(r.qty_wh), limitPrice: BigInt(r.limit_price) } });
      if (r.cancelled) {
        if (r.cancel_block === null || r.cancel_log === null) return undefined;
        steps.push({ block: Number(r.cancel_block), log: r.cancel_log, step: { cancel: Number(r.id) } });
      }
    }
    steps.sort((a, b) => a.block - b.block || a.log - b.log);
    return steps.reduce((h, x) => nextBookHash(h, x.step), ZERO_HASH);
  }

  // ------------------------------------------------------------ clearing (LL-UC03)

  algorithm(): ClearingAlgorithm {
    const a = this.d.algorithms().get(this.d.settings.algorithm);
    if (!a) throw new GfError(MarketErrors.GF_MARKET_BAD_REQUEST, `no clearing algorithm '${this.d.settings.algorithm}'`);
    return a;
  }

  async book(sessionId: number): Promise<Order[]> {
    const { rows } = await this.db.query<{ id: string; prosumer: string; side: 'bid' | 'offer'; qty_wh: string; limit_price: string }>(
      'SELECT id, prosumer, side, qty_wh, limit_price FROM mkt_orders WHERE session_id = $1 AND NOT cancelled ORDER BY id',
      [sessionId],
    );
    return rows.map((r) => ({ id: Number(r.id), owner: r.prosumer, side: r.side, qtyWh: Number(r.qty_wh), limit: Number(r.limit_price), seq: Number(r.id) }));
  }

  /**
   * After gate closure: clears the book and posts price, book hash, result hash and trades to the contract.
   * Recoverable: a clearing interrupted after it was posted (crash, timeout, a failed batch) is resumed from the
   * trades the contract already holds, as long as the result recomputed from the book is the one posted; a
   * clearing that cannot complete is `GF_MARKET_CLEARING_FAILED`, and `cancelSession` then voids the session and
   * returns every escrow.
   */
  async clear(sessionId: number): Promise<unknown> {
    return this.#serialised(`session:${sessionId}`, async () => {
      const s = await this.session(sessionId);
      if (s.state !== 'open') throw new GfError(MarketErrors.GF_MARKET_WRONG_STATE, `session ${sessionId} is already ${s.state}`, { data: { session: sessionId } });
      if ((await this.ledger.chainTime()) < Number(s.gate_closure)) throw new GfError(MarketErrors.GF_MARKET_WRONG_STATE, `the gate of session ${sessionId} is still open`, { data: { session: sessionId } });
      // Orders the chain holds but the database lost (a crash between the two) join the book first.
      await this.reconcile();
      const algo = this.algorithm();
      const book = await this.book(sessionId);
      const result = algo.clear(book);
      const price = result.price ?? 0;
      const trades = result.trades.map((t) => ({ bidId: t.bidId, offerId: t.offerId, qtyWh: t.qtyWh, price: t.price }));
      const resultHash = clearingResultHash(price, trades);
      let chain = await this.chainSession(sessionId);
      // The hash of the book this clearing used, from the database's own history; the contract compares it with
      // the hash it chained itself, so a book that is not the chain's is refused before anything is posted.
      const bookHash = await this.bookHash(sessionId);
      try {
        if (chain.state === ChainState.Open) {
          if (bookHash !== chain.bookHash) {
            throw new GfError(MarketErrors.GF_MARKET_BOOK_MISMATCH, `the order book of session ${sessionId} in the database is not the book on chain; nothing was posted`, {
              data: { session: sessionId, chain: chain.bookHash, database: bookHash ?? null },
            });
          }
          await this.ledger.send('MarketSession', 'postClearing', [sessionId, price, bookHash, resultHash, trades.length]);
          chain = await this.chainSession(sessionId);
        } else if (chain.state === ChainState.Voided) {
          await this.db.query("UPDATE mkt_sessions SET state = 'voided' WHERE id = $1", [sessionId]);
          throw new GfError(MarketErrors.GF_MARKET_WRONG_STATE, `session ${sessionId} was cancelled`, { data: { session: sessionId } });
        } else if (chain.state !== ChainState.Clearing && chain.state !== ChainState.Cleared) {
          throw new GfError(MarketErrors.GF_MARKET_WRONG_STATE, `session ${sessionId} is ${ChainState[chain.state]} on chain`, { data: { session: sessionId } });
        }
        if (chain.resultHash !== resultHash || chain.tradeCount !== trades.length) {
          throw new GfError(MarketErrors.GF_MARKET_CLEARING_FAILED, `the clearing posted for session ${sessionId} is not the one its book gives; cancel the session to refund every escrow`, {
            data: { session: sessionId, posted: chain.resultHash, computed: resultHash },
          });
        }
        for (let i = chain.tradesPosted; i < trades.length; i += BATCH) await this.ledger.send('MarketSession', 'addTrades', [sessionId, trades.slice(i, i + BATCH)]);
      } catch (e) {
        if (isGfError(e) && e.code === 'GF_LEDGER_REVERTED') {
          const d = e.data as { revert?: string; args?: unknown };
          if (d.revert === 'BookMismatch') {
            throw new GfError(MarketErrors.GF_MARKET_BOOK_MISMATCH, `the contract refused the clearing of session ${sessionId}: its book is not the book on chain`, { cause: e, data: { session: sessionId, args: d.args } });
          }
          throw new GfError(MarketErrors.GF_MARKET_CLEARING_FAILED, `clearing session ${sessionId} failed on chain (${d.revert}); retry, or cancel the session to refund every escrow`, {
            cause: e,
            data: { session: sessionId, revert: d.revert, args: d.args },
          });
        }
        throw e;
      }
      const summary = { algorithm: algo.id, price: result.price, volumeWh: result.volumeWh, trades: trades.length, reason: result.reason ?? null, interval: result.interval ?? null, bookHash };
      await this.db.transaction(async (tx) => {
        for (const [i, t] of result.trades.entries()) {
          await tx.query('INSERT INTO mkt_trades (session_id, idx, bid_id, offer_id, qty_wh, price) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING', [sessionId, i, t.bidId, t.offerId, t.qtyWh, t.price]);
        }
        await tx.query("UPDATE mkt_sessions SET state = 'cleared', algorithm = $2, clearing = $3 WHERE id = $1", [sessionId, algo.id, JSON.stringify(summary)]);
      });
      return summary;
    });
  }

  private async chainSession(sessionId: number): Promise<{ state: ChainState; bookHash: string; resultHash: string; tradeCount: number; tradesPosted: number }> {
    const c = await this.ledger.call<{ state: bigint; bookHash: string; resultHash: string; tradeCount: bigint; tradesPosted: bigint }>('MarketSession', 'session', [sessionId]);
    return { state: Number(c.state) as ChainState, bookHash: c.bookHash, resultHash: c.resultHash, tradeCount: Number(c.tradeCount), tradesPosted: Number(c.tradesPosted) };
  }

  /**
   * Cancels a session that is open or whose clearing cannot complete: voided on chain, and every order's escrow
   * and collateral withdrawn back to the custodial wallets (self-custody wallets withdraw themselves). Idempotent:
   * a repeat (or a retry after a crash) finishes what is left. A cleared session is disputed instead.
   */
  async cancelSession(sessionId: number): Promise<{ session: number; state: 'voided'; refunded: Record<string, string> }> {
    return this.#serialised(`session:${sessionId}`, async () => {
      const s = await this.session(sessionId);
      if (s.state === 'cleared' || s.state === 'settled') throw new GfError(MarketErrors.GF_MARKET_WRONG_STATE, `session ${sessionId} is ${s.state}: a cleared session is disputed, not cancelled`, { data: { session: sessionId } });
      if (s.state !== 'voided') {
        const chain = await this.chainSession(sessionId);
        if (chain.state === ChainState.Open || chain.state === ChainState.Clearing) await this.ledger.send('MarketSession', 'cancelSession', [sessionId]);
        else if (chain.state !== ChainState.Voided) throw new GfError(MarketErrors.GF_MARKET_WRONG_STATE, `session ${sessionId} is ${ChainState[chain.state]} on chain`, { data: { session: sessionId } });
        await this.db.query("UPDATE mkt_sessions SET state = 'voided' WHERE id = $1", [sessionId]);
      }
      const refunded: Record<string, string> = {};
      const { rows } = await this.db.query<{ id: string; prosumer: string }>('SELECT o.id, o.prosumer FROM mkt_orders o JOIN mkt_prosumers p ON p.id = o.prosumer WHERE o.session_id = $1 AND NOT o.cancelled AND p.custodial ORDER BY o.id', [sessionId]);
      const byOwner = new Map<string, number[]>();
      for (const r of rows) byOwner.set(r.prosumer, [...(byOwner.get(r.prosumer) ?? []), Number(r.id)]);
      for (const [id, orders] of byOwner) {
        const p = await this.prosumer(id);
        const open: number[] = [];
        let amount = 0n;
        for (const o of orders) {
          const c = await this.ledger.call<{ withdrawn: boolean; locked: bigint }>('MarketSession', 'order', [o]);
          if (!c.withdrawn) {
            open.push(o);
            amount += c.locked;
          }
        }
        for (let i = 0; i < open.length; i += 500) await this.ledger.send('MarketSession', 'withdraw', [open.slice(i, i + 500)], { from: p.wallet });
        refunded[id] = String(amount);
      }
      // Recorded once every escrow is back; until then the market job finishes the refunds (after a crash).
      await this.db.query('UPDATE mkt_sessions SET settlement = $2 WHERE id = $1', [sessionId, JSON.stringify({ refunded })]);
      return { session: sessionId, state: 'voided', refunded };
    });
  }

  // ------------------------------------------------------------ settlement (LL-UC04)

  /**
   * After delivery: each seller's metered export over the slot is shared over its trades pro rata to their
   * quantities (capped at each); the contract pays delivered energy at the session price, charges shortfalls
   * at the penalty rate and rewards green deliveries. Then every participant's escrow and collateral leftovers
   * are withdrawn and its credits claimed (custodial wallets; others claim themselves).
   */
  async settle(sessionId: number): Promise<unknown> {
    const s = await this.session(sessionId);
    if (s.state !== 'cleared') throw new GfError(MarketErrors.GF_MARKET_WRONG_STATE, `session ${sessionId} is ${s.state}, not cleared`, { data: { session: sessionId } });
    if ((await this.ledger.chainTime()) < Number(s.slot_end)) throw new GfError(MarketErrors.GF_MARKET_WRONG_STATE, `session ${sessionId} is still delivering`, { data: { session: sessionId } });
    const { rows: trades } = await this.db.query<{ idx: number; bid_id: string; offer_id: string; qty_wh: string }>('SELECT idx, bid_id, offer_id, qty_wh FROM mkt_trades WHERE session_id = $1 ORDER BY idx', [sessionId]);
    const { rows: orders } = await this.db.query<{ id: string; prosumer: string; side: string }>('SELECT id, prosumer, side FROM mkt_orders WHERE session_id = $1', [sessionId]);
    const owner = new Map(orders.map((o) => [Number(o.id), o.prosumer]));
    const matched = new Map<string, number>();
    for (const t of trades) matched.set(owner.get(Number(t.offer_id))!, (matched.get(owner.get(Number(t.offer_id))!) ?? 0) + Number(t.qty_wh));
    const delivered = new Map<string, number>();
    for (const seller of matched.keys()) {
      const p = await this.prosumer(seller);
      const series = await this.db.readings.read({ meterIds: [p.meterId], quantity: 'energyExport', from: Number(s.slot_start) * 1000, to: Number(s.slot_end) * 1000 });
      const best = series.sort((a, b) => a.resolutionS - b.resolutionS)[0];
      let sum = 0;
      for (let i = 0; best && i < best.values.length; i++) sum += Math.max(0, best.values[i]!);
      delivered.set(seller, sum);
    }
    const deliveries = trades.map((t) => {
      const seller = owner.get(Number(t.offer_id))!;
      const share = Math.min(1, (delivered.get(seller) ?? 0) / matched.get(seller)!);
      return { tradeId: t.idx, deliveredWh: Math.floor(Number(t.qty_wh) * share) };
    });
    const outcomes: { tradeId: number; deliveredWh: string; paid: string; penalty: string; greenReward: string }[] = [];
    for (let i = 0; i < deliveries.length; i += BATCH) {
      const r = await this.ledger.send('MarketSession', 'settle', [sessionId, deliveries.slice(i, i + BATCH)]);
      for (const e of r.events.filter((x) => x.event === 'TradeSettled')) outcomes.push({ tradeId: Number(e.args.tradeId), deliveredWh: e.args.deliveredWh as string, paid: e.args.paid as string, penalty: e.args.penalty as string, greenReward: e.args.greenReward as string });
    }
    if (deliveries.length === 0) await this.ledger.send('MarketSession', 'settle', [sessionId, []]);
    // Leftovers back to the custodial wallets, credits paid out.
    const byOwner = new Map<string, number[]>();
    for (const o of orders) byOwner.set(o.prosumer, [...(byOwner.get(o.prosumer) ?? []), Number(o.id)]);
    const { rows: cancelled } = await this.db.query<{ id: string }>('SELECT id FROM mkt_orders WHERE session_id = $1 AND cancelled', [sessionId]);
    const skip = new Set(cancelled.map((c) => Number(c.id)));
    for (const [id, ids] of byOwner) {
      const p = await this.prosumer(id);
      if (!p.custodial) continue;
      const live = ids.filter((x) => !skip.has(x));
      if (live.length) await this.ledger.send('MarketSession', 'withdraw', [live], { from: p.wallet });
      if ((await this.ledger.call<bigint>('MarketSession', 'credits', [p.wallet])) > 0n) await this.ledger.send('MarketSession', 'claim', [], { from: p.wallet });
    }
    await this.db.transaction(async (tx) => {
      for (const o of outcomes) {
        await tx.query('UPDATE mkt_trades SET delivered_wh = $3, paid = $4, penalty = $5, green_reward = $6 WHERE session_id = $1 AND idx = $2', [sessionId, o.tradeId, o.deliveredWh, o.paid, o.penalty, o.greenReward]);
      }
      await tx.query("UPDATE mkt_sessions SET state = 'settled', settlement = $2 WHERE id = $1", [sessionId, JSON.stringify({ trades: outcomes.length, sellers: Object.fromEntries(delivered) })]);
    });
    return { session: sessionId, trades: outcomes.length, delivered: Object.fromEntries(delivered) };
  }

  // ------------------------------------------------------------ HMI data

  async view(sessionId: number): Promise<unknown> {
    const s = await this.session(sessionId);
    const book = await this.book(sessionId);
    const { rows: trades } = await this.db.query('SELECT idx, bid_id, offer_id, qty_wh, price, delivered_wh, paid, penalty, green_reward FROM mkt_trades WHERE session_id = $1 ORDER BY idx', [sessionId]);
    const clearing = s.clearing;
    return {
      id: Number(s.id),
      slotStart: new Date(Number(s.slot_start) * 1000).toISOString(),
      slotEnd: new Date(Number(s.slot_end) * 1000).toISOString(),
      gateClosure: new Date(Number(s.gate_closure) * 1000).toISOString(),
      state: s.state,
      priceSignal: s.price_signal,
      book: book.map((o) => ({ id: o.id, prosumer: o.owner, side: o.side, qtyWh: o.qtyWh, limitPrice: o.limit })),
      curves: curves(book),
      clearing,
      trades: trades.map((t: Record<string, unknown>) => Object.fromEntries(Object.entries(t).map(([k, v]) => [k, v === null ? null : Number(v)]))),
    };
  }

  async sessions(limit = 50): Promise<unknown[]> {
    const { rows } = await this.db.query<SessionRow>('SELECT * FROM mkt_sessions ORDER BY id DESC LIMIT $1', [limit]);
    return rows.map((s) => ({ id: Number(s.id), slotStart: new Date(Number(s.slot_start) * 1000).toISOString(), state: s.state, priceSignal: s.price_signal, clearing: s.clearing }));
  }

  /** A prosumer's position: balance, orders, trades with deliveries and the token flows from the ledger. */
  async position(id: string): Promise<unknown> {
    const p = await this.prosumer(id);
    const balance = await this.ledger.call<bigint>('EnergyToken', 'balanceOf', [p.wallet]);
    const { rows: orders } = await this.db.query('SELECT id, session_id, side, qty_wh, limit_price, green, automatic, cancelled FROM mkt_orders WHERE prosumer = $1 ORDER BY id', [id]);
    const { rows: trades } = await this.db.query(
      `SELECT t.session_id, t.idx, t.qty_wh, t.price, t.delivered_wh, t.paid, t.penalty, t.green_reward, b.prosumer AS buyer, o.prosumer AS seller
       FROM mkt_trades t JOIN mkt_orders b ON b.id = t.bid_id JOIN mkt_orders o ON o.id = t.offer_id
       WHERE b.prosumer = $1 OR o.prosumer = $1 ORDER BY t.session_id, t.idx`,
      [id],
    );
    const flows = [
      ...(await this.ledger.events({ contract: 'EnergyToken', event: 'Transfer', where: { from: p.wallet } })),
      ...(await this.ledger.events({ contract: 'EnergyToken', event: 'Transfer', where: { to: p.wallet } })),
    ].sort((a, b) => a.id - b.id);
    return {
      id: p.id,
      wallet: p.wallet,
      meterId: p.meterId,
      rules: p.rules,
      balance: String(balance),
      orders,
      trades,
      tokenFlows: flows.map((e) => ({ at: new Date(e.blockTime * 1000).toISOString(), from: e.args.from, to: e.args.to, value: e.args.value, txHash: e.txHash })),
    };
  }
}

/** A jsonb column: PostgreSQL's driver parses it, PGlite's may hand over the text. */
function bad(field: string, message: string): GfError {
  return new GfError(MarketErrors.GF_MARKET_BAD_REQUEST, message, { data: { field } });
}

/** Every rule a prosumer's trading rules break (fields named as in the rules object); empty when they hold. */
export function rulesProblems(r: TradingRules, cap: number): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  if (!Number.isSafeInteger(r.maxOrderWh) || r.maxOrderWh <= 0) problems.push({ path: 'maxOrderWh', message: 'maxOrderWh must be a whole number above zero' });
  for (const k of ['defaultBidPrice', 'defaultOfferPrice'] as const) {
    if (!Number.isSafeInteger(r[k]) || r[k] < 0 || r[k] > cap) problems.push({ path: k, message: `${k} must be a whole number from 0 to the cap ${cap}` });
  }
  if (typeof r.autoBid !== 'boolean') problems.push({ path: 'autoBid', message: 'autoBid must be true or false' });
  if (typeof r.green !== 'boolean') problems.push({ path: 'green', message: 'green must be true or false' });
  return problems;
}

export function checkRules(r: TradingRules, cap: number): void {
  const [first] = rulesProblems(r, cap);
  if (first) throw bad(`rules.${first.path}`, first.message);
}
