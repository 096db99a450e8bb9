import { Type, type Static } from 'typebox';

/** The `hmi` plugin's config: one schema, its type derived from it. */
export const HmiConfig = Type.Object({}, { additionalProperties: false });
export type HmiConfig = Static<typeof HmiConfig>;
