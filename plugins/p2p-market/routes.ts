import { GfError, Router } from '../../core/index.js';
import { MarketErrors } from './errors.js';
import type { MarketService, OrderInput } from './market.js';

function bad(field: string, message: string): GfError {
  return new GfError(MarketErrors.GF_MARKET_BAD_REQUEST, message, { data: { field } });
}

function obj(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw bad('body', 'send a JSON object');
  return body as Record<string, unknown>;
}

function int(v: unknown, field: string): bigint {
  if (typeof v === 'string' && /^\d{1,30}$/.test(v)) return BigInt(v);
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  throw bad(field, `${field} must be a whole number (token base units), as a number or a decimal string`);
}

function sessionId(raw: string): number {
  if (!/^\d{1,12}$/.test(raw)) throw new GfError(MarketErrors.GF_MARKET_UNKNOWN_SESSION, `'${raw}' is not a session id (its slot start, epoch seconds)`, { data: { session: raw } });
  return Number(raw);
}

/** `/api/market`: prosumers, tokens, sessions, orders, clearing, settlement and the HMI views. */
export function marketRouter(m: () => MarketService): Router {
  const r = new Router();
  r.post('/prosumers', async (ctx) => {
    const b = obj(ctx.request.body);
    for (const k of Object.keys(b)) if (!['id', 'meterId', 'wallet', 'rules'].includes(k)) throw bad(k, `unknown field '${k}' (id, meterId, wallet, rules)`);
    if (b.rules !== undefined && (typeof b.rules !== 'object' || b.rules === null || Array.isArray(b.rules))) throw bad('rules', 'rules must be an object');
    ctx.status = 201;
    ctx.body = await m().register({ id: String(b.id ?? ''), meterId: String(b.meterId ?? ''), ...(typeof b.wallet === 'string' ? { wallet: b.wallet } : {}), ...(b.rules ? { rules: b.rules as never } : {}) });
  });
  r.get('/prosumers/:id', async (ctx) => {
    ctx.body = await m().position(ctx.params.id!);
  });
  r.post('/prosumers/:id/tokens/:action', async (ctx) => {
    const b = obj(ctx.request.body);
    const amount = int(b.amount, 'amount');
    const ref = typeof b.reference === 'string' && b.reference.length > 0 && b.reference.length <= 200 ? b.reference : undefined;
    if (!ref) throw bad('reference', 'reference (the payment or payout reference) is required');
    if (ctx.params.action === 'buy') ctx.body = await m().buyTokens(ctx.params.id!, amount, ref);
    else if (ctx.params.action === 'sell') ctx.body = await m().sellTokens(ctx.params.id!, amount, ref);
    else throw bad('action', 'tokens/buy or tokens/sell');
  });
  r.post('/rewards', async (ctx) => {
    const b = obj(ctx.request.body);
    const ref = typeof b.reference === 'string' && b.reference ? b.reference : 'reward-pool';
    ctx.body = await m().fundRewards(int(b.amount, 'amount'), ref);
  });
  r.get('/sessions', async (ctx) => {
    ctx.body = await m().sessions();
  });
  r.post('/sessions/open', async (ctx) => {
    ctx.body = { opened: await m().ensureSessions() };
  });
  r.get('/sessions/:id', async (ctx) => {
    ctx.body = await m().view(sessionId(ctx.params.id!));
  });
  r.post('/sessions/:id/orders', async (ctx) => {
    const b = obj(ctx.request.body);
    if (!Array.isArray(b.orders)) throw bad('orders', 'orders must be an array of {prosumer, side, qtyWh, limitPrice}');
    const orders = (b.orders as unknown[]).map((o, i) => {
      const x = obj(o);
      for (const k of Object.keys(x)) if (!['prosumer', 'side', 'qtyWh', 'limitPrice'].includes(k)) throw bad(`orders[${i}].${k}`, `unknown field '${k}'`);
      return { prosumer: String(x.prosumer ?? ''), side: x.side, qtyWh: x.qtyWh, limitPrice: x.limitPrice } as OrderInput;
    });
    ctx.status = 201;
    ctx.body = await m().submit(sessionId(ctx.params.id!), orders);
  });
  r.delete('/sessions/:id/orders/:order', async (ctx) => {
    const prosumer = typeof ctx.query.prosumer === 'string' ? ctx.query.prosumer : '';
    if (!/^\d{1,10}$/.test(ctx.params.order!)) throw bad('order', 'order ids are whole numbers');
    await m().cancel(Number(ctx.params.order), prosumer);
    ctx.status = 204;
  });
  /** Amendment before gate closure: the order is withdrawn and a new one submitted (it loses its place). */
  r.put('/sessions/:id/orders/:order', async (ctx) => {
    const b = obj(ctx.request.body);
    if (!/^\d{1,10}$/.test(ctx.params.order!)) throw bad('order', 'order ids are whole numbers');
    const sid = sessionId(ctx.params.id!);
    const input = { prosumer: String(b.prosumer ?? ''), side: b.side, qtyWh: b.qtyWh, limitPrice: b.limitPrice } as OrderInput;
    await m().cancel(Number(ctx.params.order), input.prosumer);
    ctx.status = 201;
    ctx.body = (await m().submit(sid, [input]))[0];
  });
  r.post('/sessions/:id/clear', async (ctx) => {
    ctx.body = await m().clear(sessionId(ctx.params.id!));
  });
  r.post('/sessions/:id/settle', async (ctx) => {
    ctx.body = await m().settle(sessionId(ctx.params.id!));
  });
  return r;
}
