import { Type, type Static } from 'typebox';

/** The `forecasting` plugin's config: one schema, its type derived from it. */
export const ForecastingConfig = Type.Object({
  defaultModel: Type.String({ default: 'random-forest', description: 'Model used when a request names none.' }),
  groups: Type.Record(Type.String(), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }), { default: {}, description: 'Named sets of meters (an aggregator portfolio, a DSO feeder): request them with group=NAME.' }),
  schedule: Type.Object({
    groups: Type.Array(Type.String(), { default: [], description: 'Groups forecast by the jobs.' }),
    resolution: Type.String({ default: '30m' }),
    horizonHours: Type.Integer({ minimum: 1, maximum: 168, default: 36 }),
    intradayEvery: Type.String({ default: '10 minutes', description: 'Interval of the intraday job (empty: off).' }),
    dayAheadCron: Type.String({ default: '0 11 * * *', description: 'Cron of the day-ahead job, UTC (empty: off).' }),
  }, { additionalProperties: false, default: {}, description: 'Forecasts computed by jobs and kept as the latest per meter (GET /api/forecasts/latest).' }),
}, { additionalProperties: false });
export type ForecastingConfig = Static<typeof ForecastingConfig>;
