import { access, ref, definePlugin, GfError, KernelErrors, Router, StorageToken, isQuantity, type Migration, type Quantity } from '../../core/index.js';
import { PvConfig } from './config.js';
import { ForecastModels } from '../forecasting/api.js';
import { PvErrors } from './errors.js';
import { dailyPr, judge, requireYoy } from './health.js';
import { pvClearSkyModel } from './pv-model.js';

const migrations: Migration[] = [
  {
    version: 1,
    name: 'latest degradation estimate per PV system',
    up: `CREATE TABLE pv_health (meter_id text PRIMARY KEY, rate_pct_per_year double precision NOT NULL, body jsonb NOT NULL, computed_at timestamptz NOT NULL)`,
  },
];

export { PvConfig } from './config.js';

/** Where a PV meter is: its own site, else the default one. */
const siteOf = (cfg: PvConfig) => (id: string | undefined) => (id && cfg.sites[id]) || cfg.defaultSite;

/**
 * PV health: year-on-year degradation with an uncertainty interval, under-performers flagged, and the
 * `pv-clearsky` forecasting model (contributed to forecasting.models) corrected by each system's estimate.
 */
export const pvDegradationPlugin = definePlugin({
  manifest: {
    id: 'pv-degradation',
    version: '0.2.0',
    kernel: '^0.2.0',
    description: 'PV degradation (year-on-year performance ratio), under-performance flags, clear-sky PV forecasts',
  },
  config: PvConfig,
  deps: { storage: StorageToken },
  register(ctx) {
    // The model reads each system's latest degradation rate: loaded by start, updated by GET /api/pv-health.
    const rates = new Map<string, number>();
    ctx.contribute(ForecastModels, 'pv-clearsky', pvClearSkyModel({ site: siteOf(ctx.config), degradation: (id) => (id ? rates.get(id) : undefined) }));
    return { rates };
  },
  async start(ctx) {
    const { storage } = ctx.deps;
    const { rates } = ctx.registered;
    const site = siteOf(ctx.config);
    await storage.migrate('pv-degradation', migrations);
    const { rows } = await storage.query<{ meter_id: string; rate_pct_per_year: number }>('SELECT meter_id, rate_pct_per_year FROM pv_health');
    for (const r of rows) rates.set(r.meter_id, Number(r.rate_pct_per_year));
    const r = new Router();
    const groups = ctx.config.groups as Record<string, string[]>;
    const own = { owns: (c: { query: Record<string, unknown> }) => ref.meters(c.query, groups), owner: 'the meters (and groups) asked for are its own or its portfolio\'s' };
    r.get('/', access.roles(['aggregator', 'prosumer'], own), async (http) => {
      const q = http.query;
      for (const k of Object.keys(q)) {
        if (!['meter', 'group', 'quantity', 'years'].includes(k)) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, `unknown query parameter '${k}' (meter, group, quantity, years)`, { data: { parameter: k } });
      }
      let meters = ([] as string[]).concat(q.meter ?? []);
      if (q.group !== undefined) {
        const g = typeof q.group === 'string' ? ctx.config.groups[q.group] : undefined;
        if (!g) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, `no group '${String(q.group)}'`, { data: { parameter: 'group' } });
        meters = [...new Set([...meters, ...g])];
      }
      if (meters.length === 0 || meters.length > 500) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, 'give 1 to 500 meter parameters', { data: { parameter: 'meter' } });
      const quantity = typeof q.quantity === 'string' ? q.quantity : 'energyExport';
      if (!isQuantity(quantity)) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, `quantity '${quantity}' is unknown`, { data: { parameter: 'quantity' } });
      const years = typeof q.years === 'string' ? Number(q.years) : 5;
      if (!(Number.isInteger(years) && years >= 2 && years <= 20)) throw new GfError(KernelErrors.GF_VALIDATION_FAILED, 'years must be 2 to 20', { data: { parameter: 'years' } });
      const to = Date.now();
      const results = [];
      for (const m of meters) {
        const s = site(m);
        if (!s) throw new GfError(PvErrors.GF_PV_NO_SITE, `no site for ${m}: set plugins.pv-degradation.config.sites.${m} or defaultSite`, { data: { meterId: m } });
        const days = await dailyPr(storage, m, quantity as Quantity, s, to - years * 365.25 * 86_400_000, to);
        results.push({ meterId: m, yoy: requireYoy(m, days) });
      }
      const health = judge(results, ctx.config.rules);
      for (const h of health) {
        rates.set(h.meterId, h.ratePctPerYear);
        await storage.query(
          `INSERT INTO pv_health (meter_id, rate_pct_per_year, body, computed_at) VALUES ($1, $2, $3, now())
           ON CONFLICT (meter_id) DO UPDATE SET rate_pct_per_year = EXCLUDED.rate_pct_per_year, body = EXCLUDED.body, computed_at = now()`,
          [h.meterId, h.ratePctPerYear, JSON.stringify(h)],
        );
      }
      http.body = { method: 'year-on-year performance ratio (clear days, clear-sky expected energy)', version: '1', systems: health };
    });
    ctx.mount('/api/pv-health', r);
  },
});

export default pvDegradationPlugin;
