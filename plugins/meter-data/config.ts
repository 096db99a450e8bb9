import { Type, type Static } from 'typebox';

/** The `meter-data` plugin's config: one schema, its type derived from it. */
/** No keys: imports are the operator's (server.apiTokens, or an operator client credential; docs/security.md). */
export const MeterDataConfig = Type.Object({}, { additionalProperties: false });
export type MeterDataConfig = Static<typeof MeterDataConfig>;
