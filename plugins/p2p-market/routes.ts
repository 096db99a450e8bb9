import { createHash, timingSafeEqual } from 'node:crypto';
import { access, GfError, ref, Router, validBody, type RuleContext } from '../../core/index.js';
import { MarketErrors } from './errors.js';
import type { MarketService, OrderInput } from './market.js';

function bad(field: string, message: string): GfError {
  return new GfError(MarketErrors.GF_MARKET_BAD_REQUEST, message, { data: { field } });
}

/** Token amounts in base units: a whole number, or a decimal string for amounts beyond 2^53. */
const AMOUNT = { anyOf: [{ type: 'integer', minimum: 0 }, { type: 'string', pattern: '^\\d{1,30}$' }] };
const REFERENCE = { type: 'string', minLength: 1, maxLength: 200 };
const object = (properties: Record<string, unknown>, required: string[] = []) => ({ type: 'object', additionalProperties: false, required, properties });
const ORDER = object({ prosumer: {}, side: {}, qtyWh: {}, limitPrice: {} }); // values checked by the service, naming the field
const SCHEMAS = {
  prosumer: object({ id: { type: 'string' }, meterId: { type: 'string' }, wallet: { type: 'string' }, rules: { type: 'object' } }, ['id', 'meterId']),
  tokens: object({ amount: AMOUNT, reference: REFERENCE }, ['amount', 'reference']),
  rewards: object({ amount: AMOUNT, reference: REFERENCE }, ['amount', 'reference']),
  orders: object({ orders: { type: 'array', items: ORDER } }, ['orders']),
  order: ORDER,
};
const body = <T = Record<string, unknown>>(raw: unknown, schema: Record<string, unknown>): T => validBody<T>(raw, schema, MarketErrors.GF_MARKET_BAD_REQUEST);

function int(v: number | string, field: string): bigint {
  if (typeof v === 'number' && !Number.isSafeInteger(v)) throw bad(field, `${field} is beyond 2^53: send it as a decimal string`);
  return BigInt(v);
}

function sessionId(raw: string): number {
  if (!/^\d{1,12}$/.test(raw)) throw new GfError(MarketErrors.GF_MARKET_UNKNOWN_SESSION, `'${raw}' is not a session id (its slot start, epoch seconds)`, { data: { session: raw } });
  return Number(raw);
}

/** The header that carries the payment provider's credential (minting). */
export const PAYMENT_PROVIDER_HEADER = 'x-payment-provider-token';

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Minting (tokens/buy, rewards) is the payment provider's (or operator's) action: the request must carry one
 * of `paymentProviderTokens` in X-Payment-Provider-Token (compared in constant time); with none configured
 * nobody mints over HTTP. Separate from `server.apiTokens`, which any API client holds.
 */
function requirePaymentProvider(ctx: { get(header: string): string }, tokens: readonly Buffer[]): void {
  const given = ctx.get(PAYMENT_PROVIDER_HEADER);
  const d = digest(given);
  if (given && tokens.some((t) => timingSafeEqual(t, d))) return;
  throw new GfError(
    MarketErrors.GF_MARKET_UNAUTHORIZED,
    tokens.length === 0
      ? 'minting is off: no payment-provider credential is configured (plugins.p2p-market.config.paymentProviderTokens)'
      : `minting needs the payment provider's credential in the X-Payment-Provider-Token header`,
    { data: { header: 'X-Payment-Provider-Token' } },
  );
}

/** `/api/market`: prosumers, tokens, sessions, orders, clearing, settlement and the HMI views. */
export function marketRouter(m: () => MarketService, paymentProviderTokens: readonly string[] = []): Router {
  const r = new Router();
  const minters = paymentProviderTokens.map(digest);
  const self = (id: (c: RuleContext) => unknown) => ({ owns: (c: RuleContext) => ref.party(id(c)), owner: 'the prosumer is itself, or in its portfolio' });
  const body0 = (c: RuleContext) => (c.request.body && typeof c.request.body === 'object' ? (c.request.body as Record<string, unknown>) : {});
  r.post('/prosumers', access.roles(['prosumer', 'aggregator'], { owns: (c) => [ref.party(body0(c).id), ref.meter(body0(c).meterId)], owner: 'the prosumer is itself (or in its portfolio) and the meter is at its site' }), async (ctx) => {
    const b = body<{ id: string; meterId: string; wallet?: string; rules?: object }>(ctx.request.body, SCHEMAS.prosumer);
    ctx.status = 201;
    ctx.body = await m().register({ id: b.id, meterId: b.meterId, ...(b.wallet !== undefined ? { wallet: b.wallet } : {}), ...(b.rules ? { rules: b.rules as never } : {}) });
  });
  r.get('/prosumers/:id', access.roles(['prosumer', 'aggregator'], self((c) => c.params.id)), async (ctx) => {
    ctx.body = await m().position(ctx.params.id!);
  });
  // Minting: the operator, and with the payment provider's credential; a prosumer may only sell (burn) its own tokens.
  r.post('/prosumers/:id/tokens/buy', access.roles(['operator']), async (ctx) => {
    requirePaymentProvider(ctx, minters);
    const b = body<{ amount: number | string; reference: string }>(ctx.request.body, SCHEMAS.tokens);
    ctx.body = await m().buyTokens(ctx.params.id!, int(b.amount, 'amount'), b.reference);
  });
  r.post('/prosumers/:id/tokens/sell', access.roles(['prosumer', 'aggregator'], self((c) => c.params.id)), async (ctx) => {
    const b = body<{ amount: number | string; reference: string }>(ctx.request.body, SCHEMAS.tokens);
    ctx.body = await m().sellTokens(ctx.params.id!, int(b.amount, 'amount'), b.reference);
  });
  r.post('/rewards', access.roles(['operator']), async (ctx) => {
    requirePaymentProvider(ctx, minters);
    const b = body<{ amount: number | string; reference: string }>(ctx.request.body, SCHEMAS.rewards);
    ctx.body = await m().fundRewards(int(b.amount, 'amount'), b.reference);
  });
  r.get('/sessions', access.signedIn(), async (ctx) => {
    ctx.body = await m().sessions();
  });
  r.post('/sessions/open', access.roles(['operator']), async (ctx) => {
    ctx.body = { opened: await m().ensureSessions() };
  });
  r.get('/sessions/:id', access.signedIn(), async (ctx) => {
    ctx.body = await m().view(sessionId(ctx.params.id!));
  });
  r.post('/sessions/:id/orders', access.roles(['prosumer', 'aggregator'], { owns: (c) => (Array.isArray(body0(c).orders) ? (body0(c).orders as unknown[]) : []).map((o) => ref.party((o as Record<string, unknown> | null)?.prosumer)), owner: 'every order\'s prosumer is itself, or in its portfolio' }), async (ctx) => {
    const b = body<{ orders: Record<string, unknown>[] }>(ctx.request.body, SCHEMAS.orders);
    const orders = b.orders.map((x) => ({ prosumer: String(x.prosumer ?? ''), side: x.side, qtyWh: x.qtyWh, limitPrice: x.limitPrice }) as OrderInput);
    ctx.status = 201;
    ctx.body = await m().submit(sessionId(ctx.params.id!), orders);
  });
  r.delete('/sessions/:id/orders/:order', access.roles(['prosumer', 'aggregator'], self((c) => c.query.prosumer)), async (ctx) => {
    const prosumer = typeof ctx.query.prosumer === 'string' ? ctx.query.prosumer : '';
    if (!/^\d{1,10}$/.test(ctx.params.order!)) throw bad('order', 'order ids are whole numbers');
    await m().cancel(Number(ctx.params.order), prosumer);
    ctx.status = 204;
  });
  /** Amendment before gate closure: checked first, then replaced in one step (the new order loses its place). */
  r.put('/sessions/:id/orders/:order', access.roles(['prosumer', 'aggregator'], self((c) => body0(c).prosumer)), async (ctx) => {
    const b = body(ctx.request.body, SCHEMAS.order);
    if (!/^\d{1,10}$/.test(ctx.params.order!)) throw bad('order', 'order ids are whole numbers');
    const sid = sessionId(ctx.params.id!);
    const input = { prosumer: String(b.prosumer ?? ''), side: b.side, qtyWh: b.qtyWh, limitPrice: b.limitPrice } as OrderInput;
    ctx.status = 201;
    ctx.body = await m().amend(sid, Number(ctx.params.order), input);
  });
  r.post('/sessions/:id/clear', access.roles(['operator']), async (ctx) => {
    ctx.body = await m().clear(sessionId(ctx.params.id!));
  });
  /** Voids a session that is open or whose clearing cannot complete; every escrow goes back. */
  r.post('/sessions/:id/cancel', access.roles(['operator']), async (ctx) => {
    ctx.body = await m().cancelSession(sessionId(ctx.params.id!));
  });
  r.post('/sessions/:id/settle', access.roles(['operator']), async (ctx) => {
    ctx.body = await m().settle(sessionId(ctx.params.id!));
  });
  return r;
}
