import { defineErrors } from '../../core/index.js';

/** Error codes of the forecasting plugin (listed in its README). */
export const ForecastErrors = defineErrors({
  GF_FORECAST_BAD_INPUT: { status: 400, title: 'Forecast input invalid' },
  GF_FORECAST_UNKNOWN_MODEL: { status: 400, title: 'Unknown forecasting model' },
  GF_FORECAST_NO_HISTORY: { status: 422, title: 'Not enough history to forecast' },
});
