/** What other plugins may use of weather: temperatures and irradiance by meter or location, hourly. */
import { createToken, type Token } from '../../core/index.js';

export interface WeatherSeries {
  /** Interval starts (ms), hourly. */
  ts: number[];
  values: number[];
}

export interface Weather {
  /** The location a meter is attached to (config `meters`), or undefined. */
  locationOf(meterId: string): string | undefined;
  /** Hourly values in [from, to): temperature in °C (the hour's start), irradiance in W/m² (the hour's mean). */
  series(locationId: string, what: 'temperature' | 'irradiance', from: number, to: number): Promise<WeatherSeries>;
}

export const WeatherToken: Token<Weather> = createToken<Weather>('weather.service');
