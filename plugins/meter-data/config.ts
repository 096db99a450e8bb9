import { Type, type Static } from 'typebox';

/** The `meter-data` plugin's config: one schema, its type derived from it. */
export const MeterDataConfig = Type.Object({
  tokens: Type.Array(Type.String({ minLength: 16 }), { default: [], description: 'Bearer tokens accepted by POST /api/readings; empty: no token needed (the server listens on loopback by default).' }),
}, { additionalProperties: false });
export type MeterDataConfig = Static<typeof MeterDataConfig>;
