import { definePlugin, optional, SchedulerToken, StorageToken, type ConfigViolation, type Migration } from '../../core/index.js';
import { ForecastingConfig } from './config.js';
import { ForecastModels, ForecastToken } from './api.js';
import { forecastCommand } from './commands.js';
import { BUILTIN_MODELS } from './models.js';
import { forecastRouter } from './routes.js';
import { ForecastService } from './service.js';
import { WeatherToken } from '../weather/api.js';

const migrations: Migration[] = [
  {
    version: 1,
    name: 'latest scheduled forecasts',
    up: `CREATE TABLE fc_latest (
      kind text NOT NULL, meter_id text NOT NULL, model text NOT NULL, issued_at timestamptz NOT NULL, body jsonb NOT NULL,
      PRIMARY KEY (kind, meter_id))`,
  },
];

export { ForecastingConfig } from './config.js';

/** Day-ahead and intraday forecasts of consumption and PV per prosumer and aggregate; models on an extension point. */
export const forecastingPlugin = definePlugin({
  manifest: {
    id: 'forecasting',
    version: '0.2.0',
    kernel: '^0.2.0',
    description: 'day-ahead and intraday forecasts (seasonal-naive, similar-day, histogram random forest) with intervals',
  },
  config: ForecastingConfig,
  // Weather is optional: used for meters attached to a location when the weather plugin is loaded.
  deps: { storage: StorageToken, scheduler: SchedulerToken, weather: optional(WeatherToken) },
  provides: { forecaster: ForecastToken },
  validate: (cfg, x) => {
    const models = x.extensions(ForecastModels);
    const problems: ConfigViolation[] = [];
    if (!models.has(cfg.defaultModel)) problems.push({ path: 'defaultModel', message: `no model '${cfg.defaultModel}' (known: ${[...models.keys()].join(', ')})` });
    cfg.schedule.groups.forEach((g, i) => {
      if (!cfg.groups[g]) problems.push({ path: `schedule.groups[${i}]`, message: `no group '${g}' in groups` });
    });
    if (!/^\d+m$/.test(cfg.schedule.resolution)) problems.push({ path: 'schedule.resolution', message: `must be minutes such as 30m, got '${cfg.schedule.resolution}'` });
    return problems;
  },
  commands: { forecast: forecastCommand },
  register(ctx) {
    ctx.openExtensionPoint(ForecastModels);
    for (const m of BUILTIN_MODELS) ctx.contribute(ForecastModels, m.id, m);
  },
  async start(ctx) {
    const { storage, scheduler, weather } = ctx.deps;
    await storage.migrate('forecasting', migrations);
    const models = ctx.extensions(ForecastModels);
    const service = new ForecastService(() => storage.readings, () => models, () => weather);
    ctx.mount(
      '/api/forecasts',
      forecastRouter(() => service, () => storage, ctx.config.groups, ctx.config.defaultModel, () => [...models.values()].map((m) => ({ id: m.id, version: m.version, description: m.description }))),
    );
    const sched = ctx.config.schedule;
    // Job data may carry `at` (an ISO time) to re-issue a past forecast; by default: now.
    const run = (kind: 'day-ahead' | 'intraday') => async (job: { data: { at?: unknown }; progress(p: number): Promise<void> }) => {
      const at = typeof job.data?.at === 'string' ? Date.parse(job.data.at) : Date.now();
      let done = 0;
      for (const g of sched.groups) {
        const meters = ctx.config.groups[g] ?? [];
        const res = await service.forecast({
          meters,
          aggregate: false,
          quantity: 'energyImport',
          resolutionS: Number(/^(\d+)m$/.exec(sched.resolution)?.[1] ?? 30) * 60,
          horizonHours: sched.horizonHours,
          kind,
          at: Number.isNaN(at) ? Date.now() : at,
          model: ctx.config.defaultModel,
        });
        for (const s of res.series) {
          await storage.query(
            `INSERT INTO fc_latest (kind, meter_id, model, issued_at, body) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (kind, meter_id) DO UPDATE SET model = EXCLUDED.model, issued_at = EXCLUDED.issued_at, body = EXCLUDED.body`,
            [kind, s.meterId, res.model, res.issuedAt, JSON.stringify({ ...res, series: [s] })],
          );
        }
        await job.progress(Math.round((100 * ++done) / sched.groups.length));
      }
    };
    scheduler.define('forecasting.intraday', run('intraday'));
    scheduler.define('forecasting.day-ahead', run('day-ahead'));
    if (sched.groups.length && sched.intradayEvery) await scheduler.every(sched.intradayEvery, 'forecasting.intraday');
    if (sched.groups.length && sched.dayAheadCron) await scheduler.every(sched.dayAheadCron, 'forecasting.day-ahead');
    return { forecaster: service };
  },
});

export default forecastingPlugin;
