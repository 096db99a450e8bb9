import { Type, type Static } from 'typebox';

/** The `pv-degradation` plugin's config: one schema, its type derived from it. */
export const PvConfig = Type.Object({
  defaultSite: Type.Optional(Type.Object({
    latitude: Type.Number({ minimum: -90, maximum: 90 }),
    longitude: Type.Number({ minimum: -180, maximum: 180 }),
  }, { additionalProperties: false, description: 'Where PV systems are unless `sites` says otherwise.' })),
  sites: Type.Record(Type.String(), Type.Object({
    latitude: Type.Number({ minimum: -90, maximum: 90 }),
    longitude: Type.Number({ minimum: -180, maximum: 180 }),
  }, { additionalProperties: false }), { default: {}, description: 'Latitude and longitude per PV meter.' }),
  groups: Type.Record(Type.String(), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }), { default: {}, description: 'Named fleets of PV meters (request them with group=NAME).' }),
  rules: Type.Object({
    rateLimit: Type.Number({ default: -1.5, description: 'Flag systems degrading faster (%/year, negative).' }),
    rateCiLimit: Type.Number({ default: 1, description: '…when the 95 % interval also lies below minus this.' }),
    fleetShare: Type.Number({ minimum: 0, maximum: 1, default: 0.85, description: 'Flag systems whose recent PR is below this share of the fleet median.' }),
  }, { additionalProperties: false, default: {} }),
}, { additionalProperties: false });
export type PvConfig = Static<typeof PvConfig>;
