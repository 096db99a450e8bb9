import { access, ref, GfError, Router, invalidParam as bad, oneParam as one, type TimeSeriesStore } from '../../core/index.js';
import { DAY_MS, sumMatrices, toMatrix, type DailyMatrix } from '../forecasting/api.js';
import { parseResolution, resampleSeries } from '../meter-data/api.js';
import { BaselineErrors } from './errors.js';
import { flexibility, type AssetFlex } from './flexibility.js';
import { NEEDS_WEATHER, type BaselineContext, type BaselineMethod, type BaselineResult } from './methods.js';
import { parseWindow } from './window.js';
import type { Weather } from '../weather/api.js';

const HISTORY_DAYS = 60;

export interface BaselineDeps {
  store: () => TimeSeriesStore;
  methods: () => ReadonlyMap<string, BaselineMethod>;
  groups: Record<string, string[]>;
  holidays: ReadonlySet<number>;
  defaultMethod: string;
  assets: Record<string, AssetFlex[]>;
  weather: () => Weather | undefined;
}

/** `/api/baselines`: the baseline of a day and window per meter, group or aggregate, with a flexibility estimate. */
export function baselineRouter(deps: BaselineDeps): Router {
  const r = new Router();
  r.get('/methods', access.signedIn(), (ctx) => {
    ctx.body = [...deps.methods().values()].map((m) => ({ id: m.id, version: m.version, rule: m.rule }));
  });
  const own = { owns: (ctx: { query: Record<string, unknown> }) => ref.meters(ctx.query, deps.groups), owner: 'the meters (and groups) asked for are its own or its portfolio\'s' };
  r.get('/', access.roles(['aggregator', 'prosumer', 'dso'], own), async (ctx) => {
    const q = ctx.query;
    const known = ['meter', 'group', 'aggregate', 'date', 'window', 'method', 'resolution', 'eventDays'];
    for (const k of Object.keys(q)) if (!known.includes(k)) throw bad(k, `unknown query parameter '${k}' (${known.join(', ')})`);
    let meters = ([] as string[]).concat(q.meter ?? []);
    const group = one(q, 'group');
    if (group !== undefined) {
      if (!deps.groups[group]) throw bad('group', `no group '${group}'`);
      meters = [...new Set([...meters, ...deps.groups[group]!])];
    }
    if (meters.length === 0 || meters.length > 2000) throw bad('meter', 'give 1 to 2,000 meters (meter=…, or group=…)');
    const dateRaw = one(q, 'date');
    const date = dateRaw && /^\d{4}-\d{2}-\d{2}$/.test(dateRaw) ? Date.parse(`${dateRaw}T00:00:00Z`) : NaN;
    if (Number.isNaN(date)) throw bad('date', 'date must be YYYY-MM-DD (the event day, UTC)');
    const res = parseResolution(one(q, 'resolution') ?? '30m');
    if (res === undefined || ![300, 600, 900, 1800, 3600].includes(res)) throw bad('resolution', 'resolution must be 5m, 10m, 15m, 30m or 60m');
    const slots = 86400 / res;
    const winRaw = one(q, 'window');
    if (!winRaw) throw bad('window', 'window is required (HH:MM-HH:MM, UTC)');
    let window;
    try {
      window = parseWindow(winRaw, slots);
    } catch (e) {
      throw bad('window', (e as Error).message);
    }
    const methodId = one(q, 'method') ?? deps.defaultMethod;
    const method = deps.methods().get(methodId);
    if (!method) throw new GfError(BaselineErrors.GF_BASELINE_UNKNOWN_METHOD, `no method '${methodId}' (known: ${[...deps.methods().keys()].join(', ')})`, { data: { method: methodId } });
    const start = date - HISTORY_DAYS * DAY_MS;
    const excluded = new Set<number>();
    for (const e of (one(q, 'eventDays') ?? '').split(',').filter(Boolean)) {
      const t = /^\d{4}-\d{2}-\d{2}$/.test(e) ? Date.parse(`${e}T00:00:00Z`) : NaN;
      if (Number.isNaN(t)) throw bad('eventDays', `'${e}' is not a date`);
      if (t >= start && t < date) excluded.add(Math.round((t - start) / DAY_MS));
    }
    const agg = one(q, 'aggregate');
    if (agg !== undefined && agg !== 'true' && agg !== 'false') throw bad('aggregate', 'aggregate must be true or false');
    const stored = await deps.store().read({ meterIds: meters, quantity: 'energyImport', from: start, to: date + DAY_MS });
    const ctxB: BaselineContext = { excluded, holidays: deps.holidays };
    const day = HISTORY_DAYS;
    // Readings from the window's start on are not used (they are what the event changed).
    const cutoff = day * slots + window.startSlot;
    const temperatures = new Map<string, DailyMatrix>();
    if (NEEDS_WEATHER.has(methodId)) {
      const w = deps.weather();
      for (const id of meters) {
        const loc = w?.locationOf(id);
        const t = loc ? await w!.series(loc, 'temperature', start, date + DAY_MS) : undefined;
        if (!t || t.ts.length === 0) {
          throw new GfError(BaselineErrors.GF_BASELINE_NO_WEATHER, `${methodId} needs temperatures for ${id}: attach it to a weather location (plugins.weather.config.meters) with data`, { data: { method: methodId, meterId: id } });
        }
        const rs = resampleSeries(t.ts, t.values, 3600, res, 'mean');
        temperatures.set(id, toMatrix(rs.ts, rs.values, res, start, date + DAY_MS));
      }
    }
    const matrices: { id: string; m: DailyMatrix }[] = meters.map((id) => {
      const s = stored.filter((x) => x.meterId === id && (res % x.resolutionS === 0 || x.resolutionS % res === 0)).sort((a, b) => a.resolutionS - b.resolutionS)[0];
      if (!s) throw new GfError(BaselineErrors.GF_BASELINE_NO_HISTORY, `meter ${id} has no energyImport readings in the ${HISTORY_DAYS} days before ${dateRaw}`, { data: { meterId: id } });
      const rs = resampleSeries(s.ts, s.values, s.resolutionS, res, 'sum');
      const m = toMatrix(rs.ts, rs.values, res, start, date + DAY_MS);
      m.values.fill(NaN, cutoff);
      return { id, m };
    });
    const ctxFor = (id: string): BaselineContext => {
      const temperature = temperatures.get(id) ?? temperatures.values().next().value;
      return temperature ? { ...ctxB, temperature } : ctxB;
    };
    const present = (id: string, m: DailyMatrix, out: BaselineResult) => {
      if (out.daysUsed.length < 3) throw new GfError(BaselineErrors.GF_BASELINE_NO_HISTORY, `${id}: only ${out.daysUsed.length} eligible day(s) of history before ${dateRaw}`, { data: { meterId: id } });
      const ts: string[] = [];
      const values: number[] = [];
      for (let s = window.startSlot; s < window.endSlot; s++) {
        ts.push(new Date(date + s * res * 1000).toISOString());
        values.push(Math.round(out.baseline[s]! * 1000) / 1000);
      }
      return {
        meterId: id,
        ts,
        baseline: values,
        adjustment: out.adjustment,
        daysUsed: out.daysUsed.map((d) => new Date(start + d * DAY_MS).toISOString().slice(0, 10)),
        flexibility: flexibility(m, day, window, out.baseline, ctxB, deps.assets[id] ?? []),
      };
    };
    // A method that learns from the group computes its members together; the others one by one.
    const grouped = method.computeGroup?.(matrices.map((x) => x.m), day, window, ctxB);
    const series = matrices.map((x, i) => present(x.id, x.m, grouped ? grouped.members[i]! : method.compute(x.m, day, window, ctxFor(x.id))));
    const aggregate = () => {
      const sum = sumMatrices(matrices.map((x) => x.m));
      return present('aggregate', sum, grouped ? grouped.aggregate : method.compute(sum, day, window, ctxFor('aggregate')));
    };
    ctx.body = {
      method: method.id,
      version: method.version,
      rule: method.rule,
      date: dateRaw,
      window: winRaw,
      resolutionS: res,
      unit: 'Wh',
      series,
      ...(agg === 'true' ? { aggregate: aggregate() } : {}),
    };
  });
  return r;
}
