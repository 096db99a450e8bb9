import { createToken, definePlugin, StorageToken } from '../../core/index.js';
import { Oa3Token } from './api.js';
import { clientsCommand } from './commands.js';
import { ClientRegistry, TokenService, type ClientSeed, type ExternalAuth } from './auth.js';
import { oa3Migrations } from './migrations.js';
import { ObjectStore } from './objects.js';
import { EmbeddedBroker, ExternalBrokerPublisher, publishChange, type MqttConfig, type Publisher } from './mqtt.js';
import { WebhookDispatcher } from './outbox.js';
import { buildRouter, represent, type RouteDeps } from './routes.js';
import { Oa3Bridge } from './bridge.js';

export interface Oa3Config {
  basePath: string;
  tokenTtlSeconds: number;
  publicUrl?: string;
  clients: ClientSeed[];
  externalAuth?: ExternalAuth;
  mqtt: MqttConfig;
  webhooks: {
    allowHttpHosts: string[];
    allowPrivateHosts: string[];
    timeoutMs: number;
    maxAttempts: number;
    backoffBaseMs: number;
    backoffMaxMs: number;
    pollMs: number;
    concurrency: number;
  };
}

interface MqttState {
  publisher?: Publisher;
  uris: string[];
}

const Services = createToken<{ clients: ClientRegistry; tokens: TokenService; dispatcher: WebhookDispatcher; mqtt: MqttState }>('openadr3.services');

/**
 * OpenADR 3.1.0 VTN: programs, events, vens, resources and reports over REST with OAuth2
 * client-credentials tokens and the spec's object privacy. See README.md for what is not built yet.
 */
export const openadr3Plugin = definePlugin<Oa3Config>({
  manifest: {
    id: 'openadr3',
    version: '0.1.0',
    requires: ['storage'],
    description: 'OpenADR 3.1.0 VTN (REST, OAuth2 client credentials, object privacy)',
    config: {
      type: 'object',
      additionalProperties: false,
      properties: {
        basePath: { type: 'string', pattern: '^/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$', default: '/openadr3/3.1.0', description: 'Where the API is served.' },
        tokenTtlSeconds: { type: 'integer', minimum: 1, maximum: 86400, default: 3600, description: 'Lifetime of issued access tokens.' },
        publicUrl: { type: 'string', format: 'uri', pattern: '^https?://[^/]+$', description: 'Scheme and authority clients reach the server at (for /auth/server); the request origin when unset.' },
        externalAuth: {
          type: 'object',
          additionalProperties: false,
          required: ['jwksUrl', 'issuer', 'tokenUrl'],
          description: 'Accept tokens from an external OAuth2 authorisation server instead of issuing them (/auth/token then answers 501).',
          properties: {
            jwksUrl: { type: 'string', format: 'uri', pattern: '^https?://', description: 'Its JWKS (public keys).' },
            issuer: { type: 'string', minLength: 1, description: 'The iss its tokens carry.' },
            audience: { type: 'string', minLength: 1, description: 'The aud its tokens must carry, if any.' },
            tokenUrl: { type: 'string', format: 'uri', pattern: '^https?://', description: 'Its token endpoint, announced by /auth/server.' },
            clientIdClaim: { type: 'string', minLength: 1, default: 'client_id', description: 'The claim naming the client (sub when absent).' },
          },
        },
        mqtt: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'MQTT notifier binding (Definition §Notifications via Additional Protocols).',
          properties: {
            enabled: { type: 'boolean', default: true, description: 'Offer the MQTT binding.' },
            host: { type: 'string', default: '127.0.0.1', description: 'Embedded broker address.' },
            port: { type: 'integer', minimum: 0, maximum: 65535, default: 0, description: 'Embedded broker port; 0 (default) picks a free one, advertised by GET /notifiers. Set 1883 or another for a fixed port.' },
            brokerUrl: { type: 'string', default: '', description: 'mqtt:// or mqtts:// URL of an external broker to publish to instead (Mosquitto, EMQX).' },
            brokerUsername: { type: 'string', default: '', description: 'The VTN publisher identity on the external broker.' },
            brokerPassword: { type: 'string', default: '', description: 'Its password.' },
            publicUris: { type: 'array', items: { type: 'string', format: 'uri' }, default: [], description: 'Broker URIs to advertise; derived when empty.' },
          },
        },
        webhooks: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'Webhook notifications (Definition §Webhooks).',
          properties: {
            allowHttpHosts: { type: 'array', items: { type: 'string' }, default: [], description: 'Hosts that may receive callbacks over plain http (development, e.g. 127.0.0.1); https otherwise.' },
            allowPrivateHosts: { type: 'array', items: { type: 'string' }, default: [], description: 'Hosts exempt from the private/loopback address (SSRF) check.' },
            timeoutMs: { type: 'integer', minimum: 100, maximum: 60000, default: 10000, description: 'Per request, echo challenge and delivery.' },
            maxAttempts: { type: 'integer', minimum: 1, maximum: 100, default: 12, description: 'Deliveries tried before a notification is marked failed.' },
            backoffBaseMs: { type: 'integer', minimum: 10, default: 1000, description: 'First retry delay; doubles each attempt.' },
            backoffMaxMs: { type: 'integer', minimum: 10, default: 300000, description: 'Longest retry delay.' },
            pollMs: { type: 'integer', minimum: 10, default: 1000, description: 'How often to look for due retries.' },
            concurrency: { type: 'integer', minimum: 1, maximum: 256, default: 16, description: 'Deliveries in flight at once.' },
          },
        },
        clients: {
          type: 'array',
          default: [],
          description: 'Clients to create or update at start (tests and demos); secrets are stored hashed.',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['clientId', 'clientSecret', 'role', 'name'],
            properties: {
              clientId: { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,128}$' },
              clientSecret: { type: 'string', minLength: 8, maxLength: 4096 },
              role: { enum: ['bl', 'ven'] },
              name: { type: 'string', minLength: 1, maxLength: 128 },
            },
          },
        },
      },
    },
  },
  commands: { clients: clientsCommand },
  register(ctx) {
    const storage = ctx.resolve(StorageToken);
    const clients = new ClientRegistry(storage);
    const tokens = new TokenService(storage, ctx.config.tokenTtlSeconds, ctx.config.externalAuth);
    const dispatcher = new WebhookDispatcher(storage, ctx.config.webhooks, ctx.log);
    const mqttState: MqttState = { uris: [] };
    ctx.provide(Services, () => ({ clients, tokens, dispatcher, mqtt: mqttState }));
    let bridge: Oa3Bridge | undefined;
    const deps: RouteDeps = {
      store: new ObjectStore(storage),
      clients,
      tokens,
      basePath: ctx.config.basePath,
      publicUrl: ctx.config.publicUrl,
      webhooks: ctx.config.webhooks,
      committed: (op, row, queued) => {
        if (queued > 0) dispatcher.wake();
        const publisher = mqttState.publisher;
        if (publisher) {
          publishChange(storage, publisher, op, row, represent).catch((err) => ctx.log.warn({ err, objectId: row.id }, 'MQTT publish failed'));
        }
        bridge?.notify(op, row);
      },
      mqtt: () => (mqttState.publisher ? { uris: mqttState.uris } : undefined),
    };
    bridge = new Oa3Bridge(deps, storage);
    const theBridge = bridge;
    ctx.expose(Oa3Token, () => ({ clients, bridge: theBridge }));
    const router = buildRouter(deps);
    ctx.mount(ctx.config.basePath, router);
  },
  async start(ctx) {
    await ctx.resolve(StorageToken).migrate('openadr3', oa3Migrations);
    const { clients, tokens, dispatcher, mqtt } = ctx.resolve(Services);
    await tokens.init();
    await clients.seed(ctx.config.clients);
    const m = ctx.config.mqtt;
    if (m.enabled) {
      if (m.brokerUrl) {
        mqtt.publisher = await ExternalBrokerPublisher.connect(m.brokerUrl, m.brokerUsername, m.brokerPassword);
        mqtt.uris = m.publicUris.length ? m.publicUris : [m.brokerUrl];
      } else {
        const broker = await EmbeddedBroker.start({ host: m.host, port: m.port, tokens, storage: ctx.resolve(StorageToken), log: ctx.log });
        mqtt.publisher = broker;
        mqtt.uris = m.publicUris.length ? m.publicUris : [`mqtt://${m.host === '0.0.0.0' ? '127.0.0.1' : m.host}:${broker.port}`];
      }
    }
    // Notifications queued before a restart are delivered now.
    dispatcher.start();
  },
  async stop(ctx) {
    const { dispatcher, mqtt } = ctx.resolve(Services);
    await dispatcher.stop();
    await mqtt.publisher?.close();
    mqtt.publisher = undefined;
  },
});

export default openadr3Plugin;
