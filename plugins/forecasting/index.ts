import { createToken, definePlugin, SchedulerToken, StorageToken, type Migration } from '../../core/index.js';
import { ForecastModels, ForecastToken } from './api.js';
import { forecastCommand } from './commands.js';
import { BUILTIN_MODELS, type ForecastModel } from './models.js';
import { forecastRouter } from './routes.js';
import { ForecastService } from './service.js';
import { WeatherToken } from '../weather/api.js';

export interface ForecastingConfig {
  defaultModel: string;
  groups: Record<string, string[]>;
  schedule: { groups: string[]; resolution: string; horizonHours: number; intradayEvery: string; dayAheadCron: string };
}

const migrations: Migration[] = [
  {
    version: 1,
    name: 'latest scheduled forecasts',
    up: `CREATE TABLE fc_latest (
      kind text NOT NULL, meter_id text NOT NULL, model text NOT NULL, issued_at timestamptz NOT NULL, body jsonb NOT NULL,
      PRIMARY KEY (kind, meter_id))`,
  },
];

const Services = createToken<{ service: ForecastService; models: { current: ReadonlyMap<string, ForecastModel<any>> } }>('forecasting.services');

/** Day-ahead and intraday forecasts of consumption and PV per prosumer and aggregate; models on an extension point. */
export const forecastingPlugin = definePlugin<ForecastingConfig>({
  manifest: {
    id: 'forecasting',
    version: '0.1.0',
    requires: ['storage', 'scheduler'],
    description: 'day-ahead and intraday forecasts (seasonal-naive, similar-day, histogram random forest) with intervals',
    config: {
      type: 'object',
      additionalProperties: false,
      properties: {
        defaultModel: { type: 'string', default: 'random-forest', description: 'Model used when a request names none.' },
        groups: {
          type: 'object',
          default: {},
          additionalProperties: { type: 'array', items: { type: 'string', minLength: 1 }, minItems: 1 },
          description: 'Named sets of meters (an aggregator portfolio, a DSO feeder): request them with group=NAME.',
        },
        schedule: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Forecasts computed by jobs and kept as the latest per meter (GET /api/forecasts/latest).',
          properties: {
            groups: { type: 'array', items: { type: 'string' }, default: [], description: 'Groups forecast by the jobs.' },
            resolution: { type: 'string', default: '30m' },
            horizonHours: { type: 'integer', minimum: 1, maximum: 168, default: 36 },
            intradayEvery: { type: 'string', default: '10 minutes', description: 'Interval of the intraday job (empty: off).' },
            dayAheadCron: { type: 'string', default: '0 11 * * *', description: 'Cron of the day-ahead job, UTC (empty: off).' },
          },
        },
      },
    },
  },
  commands: { forecast: forecastCommand },
  register(ctx) {
    ctx.openExtensionPoint(ForecastModels);
    for (const m of BUILTIN_MODELS) ctx.contribute(ForecastModels, m.id, m);
    // The extension point settles after every plugin registered: start() puts its final entries here.
    const models = { current: new Map() as ReadonlyMap<string, ForecastModel<any>> };
    const storage = () => ctx.resolve(StorageToken);
    // Weather is optional: used for meters attached to a location when the weather plugin is loaded.
    const weather = () => {
      try {
        return ctx.resolve(WeatherToken);
      } catch {
        return undefined;
      }
    };
    const service = new ForecastService(() => storage().readings, () => models.current, weather);
    ctx.provide(Services, () => ({ service, models }));
    ctx.expose(ForecastToken, () => service);
    ctx.mount(
      '/api/forecasts',
      forecastRouter(() => service, storage, ctx.config.groups, ctx.config.defaultModel, () => [...models.current.values()].map((m) => ({ id: m.id, version: m.version, description: m.description }))),
    );
  },
  async start(ctx) {
    const storage = ctx.resolve(StorageToken);
    await storage.migrate('forecasting', migrations);
    const { service, models } = ctx.resolve(Services);
    models.current = ctx.extensions(ForecastModels);
    service.model(ctx.config.defaultModel);
    const sched = ctx.config.schedule;
    const scheduler = ctx.resolve(SchedulerToken);
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
  },
});

export default forecastingPlugin;
