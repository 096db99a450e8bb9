import { Type, type Static } from 'typebox';

/** The `devices` plugin's config: one schema, its type derived from it. */
export const DevicesConfig = Type.Object({
  devices: Type.Array(Type.Record(Type.String(), Type.Unknown()), { default: [], description: 'Device declarations (see docs/devices.md).' }),
  ven: Type.Optional(Type.Object({
    vtnUrl: Type.String({ pattern: '^https?://', description: 'The VTN base URL, e.g. https://vtn.example/openadr3/3.1.0' }),
    clientId: Type.String({ minLength: 1 }),
    clientSecret: Type.String({ minLength: 1 }),
    venName: Type.String({ minLength: 1 }),
    notify: Type.Enum(['auto', 'mqtt', 'webhook', 'poll'], { default: 'auto' }),
    pollMs: Type.Integer({ minimum: 100, default: 30000 }),
    devices: Type.Optional(Type.Array(Type.String(), { description: 'Only these devices (default: all).' })),
  }, { additionalProperties: false, description: 'Run an OpenADR 3.1 VEN whose active events become set points on these devices.' })),
}, { additionalProperties: false });
export type DevicesConfig = Static<typeof DevicesConfig>;
