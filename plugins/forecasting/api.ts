/** What other plugins may use of forecasting: the model contract, its extension point, the day × slot tools. */
import { createToken, defineExtensionPoint, type Token } from '../../core/index.js';
import type { ForecastModel } from './models.js';
import type { ForecastRequest, ForecastResult } from './service.js';

/** Contribute a `ForecastModel` here (entry id = model id) to offer it to the API, the jobs and evaluate. */
export const ForecastModels = defineExtensionPoint<ForecastModel<any>>('forecasting.models', (m) =>
  typeof m?.train === 'function' && typeof m?.predictDay === 'function' && typeof m?.id === 'string' ? undefined : 'a model needs id, train and predictDay',
);
export type { ForecastModel, TrainOptions } from './models.js';
export { persistence, seasonalNaive, similarDay, randomForestModel } from './models.js';
export { DAY_MS, toMatrix, resample, row, at, sumMatrices, weekday, dayMean, emptyMatrix, type DailyMatrix } from './profiles.js';
export { metrics, median, quantile, type Metrics } from './metrics.js';
export { HistForest, mulberry32, type ForestOptions } from './forest.js';
export { loadWideCsv, type WideData } from './load.js';
export { cosZenith, clearSkyGhi, clearSkyMean, darkness, type Site } from '../../core/domain/solar.js';
export type { ForecastRequest, ForecastResult, ForecastSeries } from './service.js';

/** Forecasts from stored readings, for other plugins (the market's automatic bidding and price signal). */
export interface Forecaster {
  forecast(req: ForecastRequest): Promise<ForecastResult>;
}
export const ForecastToken: Token<Forecaster> = createToken<Forecaster>('forecasting.forecaster');
