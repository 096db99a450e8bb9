/**
 * `gridflex usecases run`: executes the use case steps that have an executor against a running gridflex,
 * over HTTP only (black box), and reports per step pass / fail / skip (with why) / not implemented /
 * not automated, with timing. Executors exist for HL-UC02 (the P2P market); every object the run makes
 * carries the run's prefix.
 */
import { randomBytes } from 'node:crypto';
import type { HighLevelUseCase, LowLevelUseCase, UcStep } from './model.js';

export type Outcome = 'pass' | 'fail' | 'skip' | 'not-implemented' | 'not-automated';

export interface StepResult {
  useCase: string;
  scenario: string;
  step: string;
  number: string;
  name: string;
  outcome: Outcome;
  ms: number;
  detail?: string;
}

export interface RunOptions {
  target: string;
  token?: string;
  paymentToken?: string;
  /** Allows steps that change shared state beyond the run's own objects (cancelling a session). */
  destructive?: boolean;
  prefix?: string;
  timeoutMs?: number;
  progress?: (r: StepResult) => void;
}

/** The target cannot be tested at all (unreachable, not gridflex): one line, exit 3. */
export class TargetError extends Error {}

class Skip extends Error {}
class Fail extends Error {}

interface Answer {
  status: number;
  body: any;
  text: string;
}

class Client {
  constructor(private readonly o: RunOptions) {}
  async call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Answer> {
    const h: Record<string, string> = { accept: 'application/json', ...headers };
    if (this.o.token) h.authorization = `Bearer ${this.o.token}`;
    if (body !== undefined) h['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(new URL(path, this.o.target.endsWith('/') ? this.o.target : `${this.o.target}/`), {
        method,
        headers: h,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        redirect: 'manual',
        signal: AbortSignal.timeout(this.o.timeoutMs ?? 30_000),
      });
    } catch (e) {
      throw new Fail(`${method} ${path}: ${(e as Error).message}`);
    }
    const text = await res.text();
    let parsed: any;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    return { status: res.status, body: parsed, text };
  }
  async expect(status: number, method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<any> {
    const a = await this.call(method, path, body, headers);
    if (a.status !== status) throw new Fail(`${method} ${path} answered ${a.status}, expected ${status}: ${a.text.slice(0, 300)}`);
    return a.body;
  }
}

interface Ctx {
  c: Client;
  o: RunOptions;
  run: string;
  buyer: string;
  seller: string;
  tokens: boolean;
  session?: { id: number; gateClosure: string; slotEnd: string };
  bidId?: number;
  amendedId?: number;
  /** Orders the run placed and has not withdrawn: withdrawn at the end, so none trades in a live market. */
  open: Array<{ session: number; order: number; prosumer: string }>;
}

type Executor = (x: Ctx) => Promise<string | void>;

const AMOUNT = 1_000_000;

function check(ok: unknown, message: string): void {
  if (!ok) throw new Fail(message);
}

const mkt = '/api/market';

/** Executors of HL-UC02, by `LL-UCnn/step-id`. */
const HL_UC02: Record<string, Executor> = {
  'LL-UC01/register': async (x) => {
    for (const id of [x.buyer, x.seller]) {
      const b = await x.c.expect(201, 'POST', `${mkt}/prosumers`, { id, meterId: `${id}-meter` });
      check(b?.id === id && /^0x[0-9a-fA-F]{40}$/.test(String(b?.wallet)), `the registration answer has no wallet: ${JSON.stringify(b)}`);
    }
    return `registered ${x.buyer} and ${x.seller}`;
  },
  'LL-UC01/wallet': async (x) => {
    const b = await x.c.expect(200, 'GET', `${mkt}/prosumers/${x.buyer}`);
    check(/^0x[0-9a-fA-F]{40}$/.test(String(b?.wallet)) && /^\d+$/.test(String(b?.balance)), `no wallet with a balance: ${JSON.stringify(b)}`);
    return `wallet ${b.wallet}`;
  },
  'LL-UC01/buy-tokens': async (x) => {
    if (!x.o.paymentToken) throw new Skip('needs --payment-token (one of the market\'s paymentProviderTokens)');
    for (const id of [x.buyer, x.seller]) {
      const b = await x.c.expect(200, 'POST', `${mkt}/prosumers/${id}/tokens/buy`, { amount: String(AMOUNT), reference: `${x.run}-pay-${id}` }, { 'x-payment-provider-token': x.o.paymentToken });
      check(BigInt(b?.balance ?? -1) >= BigInt(AMOUNT), `balance after buying ${AMOUNT}: ${b?.balance}`);
    }
    x.tokens = true;
    return `${AMOUNT} tokens each`;
  },
  'LL-UC01/balance': async (x) => {
    const b = await x.c.expect(200, 'GET', `${mkt}/prosumers/${x.buyer}`);
    check(!x.tokens || BigInt(b.balance) === BigInt(AMOUNT), `balance ${b.balance}, expected ${AMOUNT}`);
    check(Array.isArray(b.orders) && Array.isArray(b.tokenFlows), 'no orders or token flows in the position');
    return `balance ${b.balance}`;
  },
  'LL-UC01/sell-tokens': async (x) => {
    if (!x.tokens) throw new Skip('no tokens were bought (buy-tokens skipped)');
    const b = await x.c.expect(200, 'POST', `${mkt}/prosumers/${x.seller}/tokens/sell`, { amount: '1', reference: `${x.run}-payout` });
    check(BigInt(b.balance) === BigInt(AMOUNT - 1), `balance after selling 1: ${b.balance}`);
  },
  'LL-UC01/duplicate': async (x) => {
    const b = await x.c.expect(409, 'POST', `${mkt}/prosumers`, { id: x.buyer, meterId: `${x.buyer}-meter` });
    check(b?.code === 'GF_MARKET_DUPLICATE', `code ${b?.code}, expected GF_MARKET_DUPLICATE`);
  },
  'LL-UC02/open-session': async (x) => {
    const b = await x.c.expect(200, 'POST', `${mkt}/sessions/open`);
    check(Array.isArray(b?.opened), `no opened list: ${JSON.stringify(b)}`);
    const list = (await x.c.expect(200, 'GET', `${mkt}/sessions`)) as Array<{ id: number; state: string }>;
    const now = Date.now();
    for (const s of list.filter((s) => s.state === 'open').sort((a, b) => b.id - a.id)) {
      const v = await x.c.expect(200, 'GET', `${mkt}/sessions/${s.id}`);
      if (Date.parse(v.gateClosure) > now + 60_000) {
        x.session = { id: s.id, gateClosure: v.gateClosure, slotEnd: v.slotEnd };
        break;
      }
    }
    check(x.session, 'no open session whose gate is more than a minute away');
    return `session ${x.session!.id}, gate ${x.session!.gateClosure} (opened now: ${b.opened.length})`;
  },
  'LL-UC02/expected-price': async (x) => {
    if (!x.session) throw new Skip('no session');
    const v = await x.c.expect(200, 'GET', `${mkt}/sessions/${x.session.id}`);
    if (v.priceSignal === null) throw new Skip('the session has no expected price: no prosumer of the target has enough history to forecast');
    check(Number.isInteger(v.priceSignal), `priceSignal ${v.priceSignal}`);
    return `expected price ${v.priceSignal}`;
  },
  'LL-UC02/price-event': async () => {
    throw new Skip('reading the PRICE event needs an OpenADR 3.1 client; the openadr3 conformance suites check the VTN');
  },
  'LL-UC02/list-sessions': async (x) => {
    if (!x.session) throw new Skip('no session');
    const list = (await x.c.expect(200, 'GET', `${mkt}/sessions`)) as Array<{ id: number }>;
    check(list.some((s) => s.id === x.session!.id), `session ${x.session.id} not listed`);
  },
  'LL-UC02/submit-orders': async (x) => {
    if (!x.session) throw new Skip('no session');
    if (!x.tokens) throw new Skip('no tokens for the escrow (buy-tokens skipped)');
    const b = await x.c.expect(201, 'POST', `${mkt}/sessions/${x.session.id}/orders`, {
      orders: [
        { prosumer: x.buyer, side: 'bid', qtyWh: 1000, limitPrice: 300 },
        { prosumer: x.seller, side: 'offer', qtyWh: 1000, limitPrice: 200 },
      ],
    });
    check(Array.isArray(b) && b.length === 2 && b[0].side === 'bid', `orders answer: ${JSON.stringify(b)}`);
    x.bidId = b[0].id;
    x.open.push({ session: x.session.id, order: b[1].id, prosumer: x.seller });
    const v = await x.c.expect(200, 'GET', `${mkt}/sessions/${x.session.id}`);
    check(v.book.some((o: { id: number }) => o.id === x.bidId), `bid ${x.bidId} not in the book`);
    return `bid ${b[0].id}, offer ${b[1].id}`;
  },
  'LL-UC02/auto-bid': async () => {
    throw new Skip('automatic orders need prosumers with autoBid and forecast history on the target');
  },
  'LL-UC02/amend': async (x) => {
    if (!x.session || x.bidId === undefined) throw new Skip('no order to amend');
    const b = await x.c.expect(201, 'PUT', `${mkt}/sessions/${x.session.id}/orders/${x.bidId}`, { prosumer: x.buyer, side: 'bid', qtyWh: 500, limitPrice: 300 });
    check(b?.qtyWh === 500 && typeof b?.id === 'number', `amendment answer: ${JSON.stringify(b)}`);
    x.amendedId = b.id;
    return `order ${x.bidId} → ${b.id}`;
  },
  'LL-UC02/withdraw': async (x) => {
    if (!x.session || x.amendedId === undefined) throw new Skip('no order to withdraw');
    await x.c.expect(204, 'DELETE', `${mkt}/sessions/${x.session.id}/orders/${x.amendedId}?prosumer=${encodeURIComponent(x.buyer)}`);
    const v = await x.c.expect(200, 'GET', `${mkt}/sessions/${x.session.id}`);
    check(!v.book.some((o: { id: number }) => o.id === x.amendedId), `order ${x.amendedId} still in the book`);
  },
  'LL-UC03/clear': async (x) => {
    if (!x.session) throw new Skip('no session');
    if (Date.parse(x.session.gateClosure) > Date.now()) throw new Skip(`the gate closes at ${x.session.gateClosure}; the target's job clears the session then`);
    await x.c.expect(200, 'POST', `${mkt}/sessions/${x.session.id}/clear`);
  },
  'LL-UC03/result': async (x) => {
    if (!x.session) throw new Skip('no session');
    const v = await x.c.expect(200, 'GET', `${mkt}/sessions/${x.session.id}`);
    check(Array.isArray(v.book) && v.curves && Array.isArray(v.trades), `session view: ${JSON.stringify(v).slice(0, 200)}`);
    return `state ${v.state}, ${v.book.length} orders`;
  },
  'LL-UC03/cancel': async (x) => {
    if (!x.session) throw new Skip('no session');
    if (!x.o.destructive) throw new Skip('voids a session other prosumers may trade in: only with --destructive');
    await x.c.expect(200, 'POST', `${mkt}/sessions/${x.session.id}/cancel`);
    const v = await x.c.expect(200, 'GET', `${mkt}/sessions/${x.session.id}`);
    check(v.state === 'voided', `state ${v.state} after cancel`);
  },
  'LL-UC04/fund-rewards': async (x) => {
    if (!x.o.paymentToken) throw new Skip("needs --payment-token (one of the market's paymentProviderTokens)");
    await x.c.expect(200, 'POST', `${mkt}/rewards`, { amount: '1000', reference: `${x.run}-rewards` }, { 'x-payment-provider-token': x.o.paymentToken });
  },
  'LL-UC04/readings': async () => {
    throw new Skip("storing readings needs one of meter-data's own tokens; settlement needs the slot to be over");
  },
  'LL-UC04/settle': async (x) => {
    if (!x.session) throw new Skip('no session');
    throw new Skip(`settles after the slot ends (${x.session.slotEnd}) plus settleDelayMinutes`);
  },
  'LL-UC04/outcome': async (x) => {
    const b = await x.c.expect(200, 'GET', `${mkt}/prosumers/${x.seller}`);
    check(Array.isArray(b.trades), 'no trades list in the position');
    return `${b.trades.length} trades, ${b.tokenFlows.length} token flows`;
  },
  'LL-UC04/ledger-events': async (x) => {
    const b = await x.c.expect(200, 'GET', '/api/ledger/events');
    check(b !== undefined, 'no body');
  },
};

const EXECUTORS: Record<string, Record<string, Executor>> = { 'HL-UC02': HL_UC02 };

/** True when some step of the use case has an executor. */
export function runnable(hl: HighLevelUseCase): boolean {
  return hl.id in EXECUTORS;
}

/** Runs the use cases' scenarios in order, one result per step. */
export async function runUseCases(hls: HighLevelUseCase[], lls: LowLevelUseCase[] | undefined, o: RunOptions): Promise<StepResult[]> {
  const c = new Client(o);
  // The target must answer as a gridflex at all before any step runs.
  let health: Answer;
  try {
    health = await c.call('GET', '/health');
  } catch (e) {
    throw new TargetError(`${o.target} cannot be reached: ${(e as Error).message}`);
  }
  if (health.status !== 200) throw new TargetError(`${o.target}/health answered ${health.status}: not a gridflex server`);
  const run = `${o.prefix ?? 'gfuc'}-${randomBytes(4).toString('hex')}`;
  const out: StepResult[] = [];
  for (const hl of hls) {
    const ex = EXECUTORS[hl.id] ?? {};
    const x: Ctx = { c, o, run, buyer: `${run}-buyer`, seller: `${run}-seller`, tokens: false, open: [] };
    for (const l of hl.useCases) {
      if (lls && !lls.includes(l)) continue;
      for (const s of l.scenarios) {
        for (const st of s.steps) {
          const r = await runStep(l, s.name, st, ex[`${l.id}/${st.id}`], x);
          o.progress?.(r);
          out.push(r);
        }
      }
    }
    for (const w of x.open) {
      await c.call('DELETE', `/api/market/sessions/${w.session}/orders/${w.order}?prosumer=${encodeURIComponent(w.prosumer)}`).catch(() => undefined);
    }
  }
  return out;
}

async function runStep(l: LowLevelUseCase, scenario: string, st: UcStep, exec: Executor | undefined, x: Ctx): Promise<StepResult> {
  const base = { useCase: l.fullId, scenario, step: st.id, number: st.number, name: st.name };
  if (st.status === 'not-implemented') return { ...base, outcome: 'not-implemented', ms: 0, ...(st.note ? { detail: st.note } : {}) };
  if (!exec) return { ...base, outcome: 'not-automated', ms: 0, detail: 'no executor for this step yet' };
  const t0 = performance.now();
  try {
    const detail = await exec(x);
    return { ...base, outcome: 'pass', ms: Math.round(performance.now() - t0), ...(detail ? { detail } : {}) };
  } catch (e) {
    const ms = Math.round(performance.now() - t0);
    if (e instanceof Skip) return { ...base, outcome: 'skip', ms, detail: e.message };
    return { ...base, outcome: 'fail', ms, detail: e instanceof Fail ? e.message : `${(e as Error).name}: ${(e as Error).message}` };
  }
}
