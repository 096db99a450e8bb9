import { Type, type Static } from 'typebox';

/** The `weather` plugin's config: one schema, its type derived from it. */
export const WeatherConfig = Type.Object({
  locations: Type.Record(Type.String(), Type.Object({
    latitude: Type.Number({ minimum: -90, maximum: 90 }),
    longitude: Type.Number({ minimum: -180, maximum: 180 }),
  }, { additionalProperties: false }), { default: {}, propertyNames: { pattern: '^[A-Za-z0-9_-]{1,100}$' }, description: 'Weather locations by id (letters, digits, _ and -).' }),
  meters: Type.Record(Type.String(), Type.String(), { default: {}, description: 'The location each meter takes its weather from.' }),
  source: Type.Object({
    url: Type.String({ default: '', pattern: '^(https?://.+)?$', description: 'Base URL of an Open-Meteo-compatible API (e.g. https://api.open-meteo.com); empty: files only.' }),
    every: Type.String({ default: '1 hour' }),
    pastDays: Type.Integer({ minimum: 0, maximum: 92, default: 2 }),
    forecastDays: Type.Integer({ minimum: 1, maximum: 16, default: 3 }),
    timeoutMs: Type.Integer({ minimum: 100, default: 15000 }),
  }, { additionalProperties: false, default: {} }),
}, { additionalProperties: false });
export type WeatherConfig = Static<typeof WeatherConfig>;
