import { access, ref, type RuleContext, GfError, KernelErrors, Router, isQuantity, oneParam as single, type Quantity, type Storage } from '../../core/index.js';
import { MeterDataErrors } from './errors.js';
import { writeParsed } from './importer.js';
import { importOptions, type RawImportOptions } from './options.js';
import { ReadingsParser } from './parse.js';
import { parseResolution, resampleSeries } from './resample.js';

const MAX_POINTS = 200_000;

function time(v: string | undefined, name: string): number {
  const t = v === undefined ? NaN : Date.parse(v);
  if (Number.isNaN(t)) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, `query parameter ${name} must be an ISO 8601 date-time`, { data: { parameter: name } });
  return t;
}

/** Instantaneous samples: unchanged at resolution 0, else the mean of the samples in each interval. */
function sampleBuckets(ts: ArrayLike<number>, values: ArrayLike<number>, resolutionS: number): { ts: number[]; values: number[]; interpolated: boolean } {
  if (resolutionS === 0) return { ts: Array.from(ts), values: Array.from(values), interpolated: false };
  const step = resolutionS * 1000;
  const out = { ts: [] as number[], values: [] as number[], interpolated: false };
  let i = 0;
  while (i < ts.length) {
    const b = Math.floor(ts[i]! / step) * step;
    let sum = 0;
    let n = 0;
    for (; i < ts.length && ts[i]! < b + step; i++, n++) sum += values[i]!;
    out.ts.push(b);
    out.values.push(sum / n);
  }
  return out;
}

/** `/api/readings`: import (CSV or JSON body) and read back at any of the standard resolutions. */
export function readingsRouter(storage: () => Storage): Router {
  const r = new Router();
  // Imports come from the operator (a head-end gets an operator client credential).
  r.post('/', access.roles(['operator']), async (ctx) => {
    const known = ['format', 'unit', 'quantity', 'resolution', 'timezone', 'cumulative', 'map', 'meters', 'resample', 'skip-invalid', 'on-duplicate'];
    const raw: Record<string, string> = {};
    for (const k of Object.keys(ctx.query)) {
      if (!known.includes(k)) throw new GfError(MeterDataErrors.GF_IMPORT_BAD_OPTION, `unknown query parameter '${k}' (${known.join(', ')})`, { data: { option: k } });
      raw[k] = single(ctx.query, k)!;
    }
    const o = importOptions(raw as RawImportOptions);
    const parser = new ReadingsParser(o.parse);
    const body = ctx.request.body;
    if (typeof body === 'string') {
      for (const line of body.split('\n')) parser.line(line);
    } else if (body && typeof body === 'object') {
      parser.json(body);
    } else {
      throw new GfError(MeterDataErrors.GF_IMPORT_INVALID, 'send readings as text/csv or application/json', { data: {} });
    }
    const report = await writeParsed(storage().readings, parser.finish(), o.write);
    ctx.status = 201;
    ctx.body = report;
  });
  r.get('/series', access.signedIn(), async (ctx) => {
    const q = ctx.query;
    for (const k of Object.keys(q)) {
      if (!['meter', 'quantity'].includes(k)) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, `unknown query parameter '${k}' (meter, quantity)`, { data: { parameter: k } });
    }
    const meterId = single(q, 'meter');
    const quantity = single(q, 'quantity');
    if (quantity !== undefined && !isQuantity(quantity)) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, `quantity '${quantity}' is unknown`, { data: { parameter: 'quantity' } });
    const list = await storage().readings.listSeries({ ...(meterId ? { meterId } : {}), ...(quantity ? { quantity: quantity as Quantity } : {}) });
    const seen = await ctx.state.auth!.authorizer.visible(ctx.state.caller!, 'meter');
    ctx.body = list
      .filter((x) => seen === 'all' || seen.has(x.meterId))
      .map((x) => ({ meterId: x.meterId, quantity: x.quantity, resolutionS: x.resolutionS, unit: x.unit }))
      .sort((a, b) => a.meterId.localeCompare(b.meterId, 'en', { numeric: true }) || a.quantity.localeCompare(b.quantity) || a.resolutionS - b.resolutionS);
  });
  const own = { owns: (c: RuleContext) => ref.meters(c.query), owner: 'every meter asked for is at its own site, or its portfolio\'s' };
  r.get('/', access.roles(['aggregator', 'prosumer'], own), async (ctx) => {
    const q = ctx.query;
    for (const k of Object.keys(q)) {
      if (!['meter', 'quantity', 'from', 'to', 'resolution'].includes(k)) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, `unknown query parameter '${k}' (meter, quantity, from, to, resolution)`, { data: { parameter: k } });
    }
    const meters = ([] as string[]).concat(q.meter ?? []);
    if (meters.length === 0 || meters.length > 1000) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, 'give 1 to 1,000 meter parameters', { data: { parameter: 'meter' } });
    const quantity = single(q, 'quantity') ?? 'energyImport';
    if (!isQuantity(quantity)) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, `quantity '${quantity}' is unknown`, { data: { parameter: 'quantity' } });
    const from = time(single(q, 'from'), 'from');
    const to = time(single(q, 'to'), 'to');
    if (to <= from) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, 'to must be after from', { data: { parameter: 'to' } });
    const resRaw = single(q, 'resolution');
    const res = resRaw === undefined ? undefined : parseResolution(resRaw);
    if (resRaw !== undefined && (res === undefined || res <= 0 || 86400 % res !== 0)) {
      throw new GfError(KernelErrors.GF_VALIDATION_FAILED, `resolution '${resRaw}' is not a duration dividing a day`, { data: { parameter: 'resolution' } });
    }
    const stored = await storage().readings.read({ meterIds: meters, quantity: quantity as Quantity, from, to });
    // Per meter: the stored series at the requested resolution, else the finest one resampled.
    const byMeter = new Map<string, (typeof stored)[number]>();
    for (const s of stored) {
      const cur = byMeter.get(s.meterId);
      const better = !cur || (res !== undefined && s.resolutionS === res) || (cur.resolutionS !== res && s.resolutionS < cur.resolutionS);
      if (better) byMeter.set(s.meterId, s);
    }
    let points = 0;
    const series = [...byMeter.values()].map((s) => {
      const target = res ?? s.resolutionS;
      const energy = quantity.startsWith('energy');
      const rs =
        s.resolutionS === 0
          ? sampleBuckets(s.ts, s.values, target) // instantaneous samples (devices): as they are, or averaged per interval
          : target % s.resolutionS === 0 || s.resolutionS % target === 0
            ? resampleSeries(s.ts, s.values, s.resolutionS, target, energy ? 'sum' : 'mean')
            : undefined;
      if (!rs) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, `meter ${s.meterId} is stored at ${s.resolutionS}s, which does not convert to ${target}s`, { data: { parameter: 'resolution' } });
      points += rs.ts.length;
      return { meterId: s.meterId, quantity, unit: s.unit, resolutionS: target, interpolated: rs.interpolated, ts: rs.ts.map((t) => new Date(t).toISOString()), values: rs.values };
    });
    if (points > MAX_POINTS) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, `${points} points asked for; at most ${MAX_POINTS} a request (narrow the range or coarsen the resolution)`, { data: { parameter: 'to' } });
    ctx.body = { series };
  });
  return r;
}
