import { access, ref, GfError, KernelErrors, Router, invalidParam as bad, isQuantity, oneParam as one, type Quantity, type Storage } from '../../core/index.js';
import { parseResolution } from '../meter-data/api.js';
import type { ForecastService, ForecastRequest } from './service.js';

/** Parses a forecast request from query parameters, naming what is wrong. */
export function forecastRequest(q: Record<string, string | string[] | undefined>, groups: Record<string, string[]>, defaultModel: string, now: number): ForecastRequest {
  const known = ['meter', 'group', 'aggregate', 'quantity', 'resolution', 'horizon', 'kind', 'model', 'at'];
  for (const k of Object.keys(q)) if (!known.includes(k)) throw bad(k, `unknown query parameter '${k}' (${known.join(', ')})`);
  let meters = ([] as string[]).concat(q.meter ?? []);
  const group = one(q, 'group');
  if (group !== undefined) {
    const g = groups[group];
    if (!g) throw bad('group', `no group '${group}' (configured: ${Object.keys(groups).join(', ') || 'none'})`);
    meters = [...new Set([...meters, ...g])];
  }
  if (meters.length === 0 || meters.length > 2000) throw bad('meter', 'give 1 to 2,000 meters (meter=…, or group=…)');
  const quantity = one(q, 'quantity') ?? 'energyImport';
  if (!isQuantity(quantity)) throw bad('quantity', `quantity '${quantity}' is unknown`);
  const res = parseResolution(one(q, 'resolution') ?? '30m');
  if (res === undefined || ![300, 600, 900, 1800, 3600].includes(res)) throw bad('resolution', 'resolution must be 5m, 10m, 15m, 30m or 60m');
  const h = /^(\d{1,3})h$/.exec(one(q, 'horizon') ?? '24h');
  const horizonHours = h ? Number(h[1]) : NaN;
  if (!(horizonHours >= 1 && horizonHours <= 168)) throw bad('horizon', 'horizon must be 1h to 168h');
  const kind = one(q, 'kind') ?? 'day-ahead';
  if (kind !== 'day-ahead' && kind !== 'intraday') throw bad('kind', 'kind must be day-ahead or intraday');
  const atRaw = one(q, 'at');
  const at = atRaw === undefined ? now : Date.parse(atRaw);
  if (Number.isNaN(at)) throw bad('at', 'at must be an ISO 8601 date-time');
  const agg = one(q, 'aggregate');
  if (agg !== undefined && agg !== 'true' && agg !== 'false') throw bad('aggregate', 'aggregate must be true or false');
  return { meters, aggregate: agg === 'true', quantity: quantity as Quantity, resolutionS: res, horizonHours, kind, at, model: one(q, 'model') ?? defaultModel };
}

/** `/api/forecasts`: on-demand forecasts, the models, and the latest scheduled ones. */
export function forecastRouter(service: () => ForecastService, storage: () => Storage, groups: Record<string, string[]>, defaultModel: string, models: () => { id: string; version: string; description: string }[]): Router {
  const r = new Router();
  const own = { owns: (ctx: { query: Record<string, unknown> }) => ref.meters(ctx.query, groups), owner: 'the meters (and groups) asked for are its own or its portfolio\'s' };
  r.get('/', access.roles(['aggregator', 'prosumer', 'dso'], own), async (ctx) => {
    ctx.body = await service().forecast(forecastRequest(ctx.query, groups, defaultModel, Date.now()));
  });
  r.get('/models', access.signedIn(), (ctx) => {
    ctx.body = models();
  });
  r.get('/latest', access.roles(['aggregator', 'prosumer', 'dso'], own), async (ctx) => {
    const meter = one(ctx.query, 'meter');
    const kind = one(ctx.query, 'kind') ?? 'intraday';
    if (!meter) throw bad('meter', 'meter is required');
    if (kind !== 'day-ahead' && kind !== 'intraday') throw bad('kind', 'kind must be day-ahead or intraday');
    const { rows } = await storage().query<{ body: unknown }>('SELECT body FROM fc_latest WHERE kind = $1 AND meter_id = $2', [kind, meter]);
    if (!rows[0]) throw new GfError(KernelErrors.GF_HTTP_NOT_FOUND, `no scheduled ${kind} forecast for ${meter} yet`, { data: { meter } });
    ctx.body = rows[0].body; // jsonb comes back parsed
  });
  return r;
}
