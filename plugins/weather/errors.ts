import { defineErrors } from '../../core/index.js';

/** Error codes of the weather plugin (listed in its README). */
export const WeatherErrors = defineErrors({
  GF_WEATHER_SOURCE: { status: 502, title: 'Weather source failed or answered nonsense' },
  GF_WEATHER_BAD_INPUT: { status: 400, title: 'Weather data invalid' },
  GF_WEATHER_UNKNOWN_LOCATION: { status: 404, title: 'Unknown weather location' },
});
