import { definePlugin, SecretsToken, StorageToken } from '../../core/index.js';
import { Oa3Config } from './config.js';
import { Oa3Token } from './api.js';
import { clientsCommand } from './commands.js';
import { ClientRegistry, TokenService } from './auth.js';
import { oa3Migrations } from './migrations.js';
import { ObjectStore } from './objects.js';
import { EmbeddedBroker, ExternalBrokerPublisher, publishChange, type Publisher } from './mqtt.js';
import { WebhookDispatcher } from './outbox.js';
import { buildRouter, represent, type RouteDeps } from './routes.js';
import { Oa3Bridge } from './bridge.js';

export { Oa3Config } from './config.js';

/**
 * OpenADR 3.1.0 VTN: programs, events, vens, resources and reports over REST with OAuth2
 * client-credentials tokens and the spec's object privacy. See README.md for what is not built yet.
 */
export const openadr3Plugin = definePlugin({
  manifest: {
    id: 'openadr3',
    version: '0.2.0',
    kernel: '^0.2.0',
    description: 'OpenADR 3.1.0 VTN (REST, OAuth2 client credentials, object privacy)',
  },
  config: Oa3Config,
  deps: { storage: StorageToken, secrets: SecretsToken },
  provides: { openadr3: Oa3Token },
  commands: { clients: clientsCommand },
  async start(ctx) {
    const { storage, secrets } = ctx.deps;
    await storage.migrate('openadr3', oa3Migrations);
    const clients = new ClientRegistry(storage);
    const tokens = new TokenService(storage, secrets, ctx.config.tokenTtlSeconds, ctx.config.externalAuth);
    const dispatcher = new WebhookDispatcher(storage, secrets, ctx.config.webhooks, ctx.log);
    const store = new ObjectStore(storage, secrets);
    await tokens.init();
    const sealed = await store.sealStoredBearers();
    if (sealed > 0) ctx.log.info({ sealed }, 'sealed webhook bearer tokens stored in clear by an earlier version');
    await clients.seed(ctx.config.clients);
    let publisher: Publisher | undefined;
    let uris: string[] = [];
    const m = ctx.config.mqtt;
    if (m.enabled) {
      if (m.brokerUrl) {
        publisher = await ExternalBrokerPublisher.connect(m.brokerUrl, m.brokerUsername, m.brokerPassword);
        uris = m.publicUris.length ? m.publicUris : [m.brokerUrl];
      } else {
        const broker = await EmbeddedBroker.start({ host: m.host, port: m.port, tokens, storage, log: ctx.log });
        publisher = broker;
        uris = m.publicUris.length ? m.publicUris : [`mqtt://${m.host === '0.0.0.0' ? '127.0.0.1' : m.host}:${broker.port}`];
      }
      const p = publisher;
      ctx.onStop(() => p.close());
    }
    let bridge: Oa3Bridge | undefined;
    const deps: RouteDeps = {
      store,
      clients,
      tokens,
      basePath: ctx.config.basePath,
      publicUrl: ctx.config.publicUrl,
      webhooks: ctx.config.webhooks,
      committed: (op, row, queued) => {
        if (queued > 0) dispatcher.wake();
        if (publisher) {
          publishChange(storage, publisher, op, row, represent).catch((err) => ctx.log.warn({ err, objectId: row.id }, 'MQTT publish failed'));
        }
        bridge?.notify(op, row);
      },
      mqtt: () => (publisher ? { uris } : undefined),
    };
    bridge = new Oa3Bridge(deps, storage);
    ctx.mount(ctx.config.basePath, buildRouter(deps));
    // Notifications queued before a restart are delivered now.
    dispatcher.start();
    ctx.onStop(() => dispatcher.stop());
    return { openadr3: { clients, bridge } };
  },
});

export default openadr3Plugin;
