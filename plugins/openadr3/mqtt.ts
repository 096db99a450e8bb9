import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Aedes, type Client, type Subscription } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import type { Logger, SqlClient, Storage } from '../../core/index.js';
import type { ObjectType } from '../../standards/openadr3/types.js';
import type { TokenService, Principal } from './auth.js';
import { notificationJson, type Operation } from './notify.js';
import type { ObjectRow } from './objects.js';

export interface MqttConfig {
  enabled: boolean;
  /** Embedded broker address (ignored when `brokerUrl` is set). */
  host: string;
  port: number;
  /** An external broker (Mosquitto, EMQX) to publish to instead of the embedded one. */
  brokerUrl: string;
  brokerUsername: string;
  brokerPassword: string;
  /** Broker URIs advertised by GET /notifiers (derived from host and port when empty). */
  publicUris: string[];
}

const lower = (op: Operation) => op.toLowerCase();

/** Topic names (Definition §Notifications via Additional Protocols; the names are ours, as the spec allows). */
export const topics = {
  /** `{ topics: {CREATE?, UPDATE, DELETE, ALL} }` for a topic base; CREATE only where the object set can grow. */
  of(base: string, withCreate: boolean) {
    return {
      topics: {
        ...(withCreate ? { CREATE: `${base}/create` } : {}),
        UPDATE: `${base}/update`,
        DELETE: `${base}/delete`,
        ALL: `${base}/+`,
      },
    };
  },
};

/** BL may subscribe to anything; a VEN only below `vens/{venID}/` of a ven it owns, with no wildcard in the id. */
export function venTopicVenId(topic: string): string | undefined {
  const m = /^vens\/([A-Za-z0-9_-]{1,128})(?:\/(?:events|programs|resources))?\/(?:create|update|delete|\+|#)$|^vens\/([A-Za-z0-9_-]{1,128})\/#$/.exec(topic);
  return m ? (m[1] ?? m[2]) : undefined;
}

export interface Publisher {
  publish(topic: string, payload: string): Promise<void>;
  close(): Promise<void>;
}

/**
 * The embedded broker (aedes on TCP): clients log in with username = their clientID and password =
 * an access token from /auth/token (advertised as OAUTH2_BEARER_TOKEN). Only the VTN publishes.
 * VENs may subscribe only to topics of ven objects they own.
 */
export class EmbeddedBroker implements Publisher {
  private constructor(
    private readonly broker: Aedes,
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(opts: { host: string; port: number; tokens: TokenService; storage: Storage; log: Logger }): Promise<EmbeddedBroker> {
    const principals = new WeakMap<Client, Principal>();
    const broker = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        if (!password) {
          done(Object.assign(new Error('a bearer token is the password'), { returnCode: 4 }), false);
          return;
        }
        opts.tokens.verify(password.toString('utf8')).then(
          (p) => {
            if (username !== undefined && username !== p.clientId) {
              done(Object.assign(new Error('username must be the clientID of the token'), { returnCode: 4 }), false);
              return;
            }
            principals.set(client, p);
            done(null, true);
          },
          () => done(Object.assign(new Error('invalid or expired token'), { returnCode: 4 }), false),
        );
      },
      authorizePublish: (client, _packet, cb) => cb(client ? new Error('only the VTN publishes') : null),
      authorizeSubscribe: (client: Client, sub: Subscription, cb) => {
        const p = principals.get(client);
        const deny = () => cb(null, null);
        if (!p) return deny();
        if (p.scopes.has('read_all')) return cb(null, sub);
        const venId = venTopicVenId(sub.topic);
        if (!venId) return deny();
        opts.storage
          .query<{ n: number }>("SELECT count(*)::int AS n FROM oa3_objects WHERE object_type = 'VEN' AND id = $1 AND client_id = $2", [venId, p.clientId])
          .then((r) => (r.rows[0]!.n > 0 ? cb(null, sub) : deny()), (err) => cb(err as Error));
      },
    });
    const server = createServer(broker.handle);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => resolve());
    });
    opts.log.info({ port: (server.address() as AddressInfo).port }, 'MQTT broker listening');
    return new EmbeddedBroker(broker, server, (server.address() as AddressInfo).port);
  }

  publish(topic: string, payload: string): Promise<void> {
    return new Promise((resolve, reject) =>
      this.broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos: 1, retain: false, dup: false }, (err) => (err ? reject(err) : resolve())),
    );
  }

  async close(): Promise<void> {
    await new Promise<void>((r) => this.broker.close(() => r()));
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

/** Publishing to an external broker (its ACLs are then the broker's configuration; see the README). */
export class ExternalBrokerPublisher implements Publisher {
  private constructor(private readonly client: MqttClient) {}

  static async connect(url: string, username: string, password: string): Promise<ExternalBrokerPublisher> {
    const client = await mqtt.connectAsync(url, { ...(username ? { username } : {}), ...(password ? { password } : {}), clientId: `gridflex-vtn-${process.pid}`, reconnectPeriod: 1000 });
    return new ExternalBrokerPublisher(client);
  }

  async publish(topic: string, payload: string): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: 1 });
  }

  async close(): Promise<void> {
    await this.client.endAsync();
  }
}

/**
 * Publishes an object change to its topics: the BL topics with the full object, and the VEN-scoped
 * topics (`vens/{venID}/…`) with what that ven's client may read (privacy and target hiding as for
 * reads; an MQTT subscription carries no request targets, so all granted targets apply).
 */
export async function publishChange(
  db: SqlClient,
  publisher: Publisher,
  op: Operation,
  row: ObjectRow,
  represent: (row: ObjectRow, visible?: readonly string[]) => Record<string, unknown>,
): Promise<number> {
  const msgs: [string, string][] = [];
  const note = (object: Record<string, unknown>) => notificationJson(op, row, object);
  const full = note(represent(row));
  const o = lower(op);
  const base: Record<ObjectType, string> = { PROGRAM: 'programs', EVENT: 'events', REPORT: 'reports', SUBSCRIPTION: 'subscriptions', VEN: 'vens', RESOURCE: 'resources' };
  msgs.push([`${base[row.object_type]}/${o}`, full]);
  if (row.object_type === 'PROGRAM' && op !== 'CREATE') msgs.push([`programs/${row.id}/${o}`, full]);
  if (row.object_type === 'EVENT' && row.parent_id) msgs.push([`programs/${row.parent_id}/events/${o}`, full]);
  if (row.object_type === 'VEN' && op !== 'CREATE') msgs.push([`vens/${row.id}/${o}`, full]);
  if (row.object_type === 'RESOURCE' && row.parent_id) msgs.push([`vens/${row.parent_id}/resources/${o}`, full]);
  if (row.object_type === 'PROGRAM' || row.object_type === 'EVENT') {
    const kind = row.object_type === 'PROGRAM' ? 'programs' : 'events';
    if (row.targets.length === 0) {
      // Untargeted: every ven's client may read it.
      const vens = await db.query<{ id: string }>("SELECT id FROM oa3_objects WHERE object_type = 'VEN'");
      const payload = note(represent(row, []));
      for (const v of vens.rows) msgs.push([`vens/${v.id}/${kind}/${o}`, payload]);
    } else {
      // Each ven with the targets granted to its client (through its vens and their resources), once per client.
      const vens = await db.query<{ id: string; granted: string[] }>(
        `WITH g AS MATERIALIZED (
           SELECT v.client_id, unnest(v.targets) AS t FROM oa3_objects v WHERE v.object_type = 'VEN' AND cardinality(v.targets) > 0
           UNION SELECT v.client_id, unnest(r.targets) FROM oa3_objects r JOIN oa3_objects v ON v.id = r.parent_id AND v.object_type = 'VEN'
           WHERE r.object_type = 'RESOURCE' AND cardinality(r.targets) > 0),
         agg AS (SELECT client_id, array_agg(DISTINCT t) AS granted FROM g GROUP BY client_id HAVING array_agg(t) && $1::text[])
         SELECT v.id, agg.granted FROM oa3_objects v JOIN agg ON agg.client_id = v.client_id WHERE v.object_type = 'VEN'`,
        [row.targets],
      );
      const byGrant = new Map<string, string>();
      for (const v of vens.rows) {
        const key = [...v.granted].sort().join('\u0000');
        let payload = byGrant.get(key);
        if (!payload) byGrant.set(key, (payload = note(represent(row, v.granted))));
        msgs.push([`vens/${v.id}/${kind}/${o}`, payload]);
      }
    }
  }
  for (const [topic, payload] of msgs) await publisher.publish(topic, payload);
  return msgs.length;
}

