import { Type, type Static } from 'typebox';

/** The `openadr3` plugin's config: one schema, its type derived from it. */
export const Oa3Config = Type.Object({
  basePath: Type.String({ pattern: '^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$', default: '/openadr3/3.1.0', description: 'Where the API is served.' }),
  tokenTtlSeconds: Type.Integer({ minimum: 1, maximum: 86400, default: 3600, description: 'Lifetime of issued access tokens.' }),
  publicUrl: Type.Optional(Type.String({ format: 'uri', pattern: '^https?://[^/]+$', description: 'Scheme and authority clients reach the server at (for /auth/server); the request origin when unset.' })),
  externalAuth: Type.Optional(Type.Object({
    jwksUrl: Type.String({ format: 'uri', pattern: '^https?://', description: 'Its JWKS (public keys).' }),
    issuer: Type.String({ minLength: 1, description: 'The iss its tokens carry.' }),
    audience: Type.Optional(Type.String({ minLength: 1, description: 'The aud its tokens must carry, if any.' })),
    tokenUrl: Type.String({ format: 'uri', pattern: '^https?://', description: 'Its token endpoint, announced by /auth/server.' }),
    clientIdClaim: Type.String({ minLength: 1, default: 'client_id', description: 'The claim naming the client (sub when absent).' }),
  }, { additionalProperties: false, description: 'Accept tokens from an external OAuth2 authorisation server instead of issuing them (/auth/token then answers 501).' })),
  mqtt: Type.Object({
    enabled: Type.Boolean({ default: true, description: 'Offer the MQTT binding.' }),
    host: Type.String({ default: '127.0.0.1', description: 'Embedded broker address.' }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 0, description: 'Embedded broker port; 0 (default) picks a free one, advertised by GET /notifiers. Set 1883 or another for a fixed port.' }),
    brokerUrl: Type.String({ default: '', description: 'mqtt:// or mqtts:// URL of an external broker to publish to instead (Mosquitto, EMQX).' }),
    brokerUsername: Type.String({ default: '', description: 'The VTN publisher identity on the external broker.' }),
    brokerPassword: Type.String({ default: '', description: 'Its password.' }),
    publicUris: Type.Array(Type.String({ format: 'uri' }), { default: [], description: 'Broker URIs to advertise; derived when empty.' }),
  }, { additionalProperties: false, default: {}, description: 'MQTT notifier binding (Definition §Notifications via Additional Protocols).' }),
  webhooks: Type.Object({
    allowHttpHosts: Type.Array(Type.String(), { default: [], description: 'Hosts that may receive callbacks over plain http (development, e.g. 127.0.0.1); https otherwise.' }),
    allowPrivateHosts: Type.Array(Type.String(), { default: [], description: 'Hosts exempt from the private/loopback address (SSRF) check.' }),
    timeoutMs: Type.Integer({ minimum: 100, maximum: 60000, default: 10000, description: 'Per request, echo challenge and delivery.' }),
    maxAttempts: Type.Integer({ minimum: 1, maximum: 100, default: 12, description: 'Deliveries tried before a notification is marked failed.' }),
    backoffBaseMs: Type.Integer({ minimum: 10, default: 1000, description: 'First retry delay; doubles each attempt.' }),
    backoffMaxMs: Type.Integer({ minimum: 10, default: 300000, description: 'Longest retry delay.' }),
    pollMs: Type.Integer({ minimum: 10, default: 1000, description: 'How often to look for due retries.' }),
    concurrency: Type.Integer({ minimum: 1, maximum: 256, default: 16, description: 'Deliveries in flight at once.' }),
  }, { additionalProperties: false, default: {}, description: 'Webhook notifications (Definition §Webhooks).' }),
  clients: Type.Array(Type.Object({
    clientId: Type.String({ pattern: '^[A-Za-z0-9_.-]{1,128}$' }),
    clientSecret: Type.String({ minLength: 8, maxLength: 4096 }),
    role: Type.Enum(['bl', 'ven']),
    name: Type.String({ minLength: 1, maxLength: 128 }),
  }, { additionalProperties: false }), { default: [], description: 'Clients to create or update at start (tests and demos); secrets are stored hashed.' }),
}, { additionalProperties: false });
export type Oa3Config = Static<typeof Oa3Config>;
