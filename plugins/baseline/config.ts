import { Type, type Static } from 'typebox';

/** The `baseline` plugin's config: one schema, its type derived from it. */
export const BaselineConfig = Type.Object({
  defaultMethod: Type.String({ default: '10-in-10' }),
  groups: Type.Record(Type.String(), Type.Array(Type.String({ minLength: 1 }), { minItems: 1 }), { default: {} }),
  holidays: Type.Array(Type.String({ pattern: '^\\d{4}-\\d{2}-\\d{2}$' }), { default: [], description: 'Public holidays (UTC dates): never weekday history.' }),
  assets: Type.Record(Type.String(), Type.Array(Type.Object({
    nature: Type.String(),
    downW: Type.Number({ minimum: 0 }),
    upW: Type.Number({ minimum: 0 }),
  }, { additionalProperties: false })), { default: {}, description: 'Controllable assets per meter, adding to the flexibility seen in its history.' }),
}, { additionalProperties: false });
export type BaselineConfig = Static<typeof BaselineConfig>;
