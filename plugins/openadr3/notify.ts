import type { SqlClient } from '../../core/index.js';
import { NOTIFICATION_LABEL, type ObjectRow, type ObjectStore } from './objects.js';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE';

/** One matching callback of one subscription (a subscription may list several). */
interface Match {
  id: string;
  client_id: string;
  targets: string[];
  role: 'bl' | 'ven' | null;
  url: string;
  /** Sealed, as stored in the subscription body; copied into the outbox as it is. */
  bearer: string | null;
}

/**
 * The spec's `notification` object as JSON, for webhooks and MQTT alike: the object as this
 * subscriber may see it, and its visible targets when it has any.
 */
export function notificationJson(op: Operation, row: ObjectRow, object: Record<string, unknown>): string {
  const targets = (object as { targets?: string[] | null }).targets;
  return JSON.stringify({ objectType: row.object_type, operation: op, object, ...(targets ? { targets } : {}) });
}

/** The program an object belongs to, for subscriptions limited to one program. */
function programOf(row: ObjectRow): string | null {
  if (row.object_type === 'PROGRAM') return row.id;
  if (row.object_type === 'EVENT') return row.parent_id;
  return row.program_id;
}

/**
 * Finds the subscriptions an object change concerns and queues one notification per callback URL,
 * in the caller's transaction. What a VEN subscriber may see follows the same rules as its reads
 * (Definition §Object Privacy): its own ven/resource/report/subscription objects; programs and events
 * untargeted, or targeted at (subscription targets ∩ targets granted to it), with target hiding.
 */
export async function enqueueNotifications(
  db: SqlClient,
  store: ObjectStore,
  op: Operation,
  row: ObjectRow,
  represent: (row: ObjectRow, visible?: readonly string[]) => Record<string, unknown>,
): Promise<number> {
  const program = programOf(row);
  // The callbacks whose objects and operations match, straight from SQL (one row per callback URL).
  const subs = await db.query<Match>(
    `SELECT DISTINCT ON (o.id, oo->>'callbackUrl') o.id, o.client_id, o.targets, c.role, oo->>'callbackUrl' AS url, oo->>'bearerToken' AS bearer
     FROM oa3_objects o
     CROSS JOIN LATERAL jsonb_array_elements(o.body->'objectOperations') oo
     LEFT JOIN oa3_clients c ON c.client_id = o.client_id
     WHERE o.object_type = 'SUBSCRIPTION' AND (o.program_id IS NULL OR o.program_id = $1)
       AND oo->'objects' ? $2 AND oo->'operations' ? $3`,
    [program, row.object_type, op],
  );
  if (subs.rows.length === 0) return 0;
  const granted = new Map<string, string[]>();
  // One payload per visibility class (all BL subscribers share one), stored once.
  const payloadIndex = new Map<string, number>();
  const payloads: string[] = [];
  const which: number[] = [];
  const ids: string[] = [];
  const clients: string[] = [];
  const urls: string[] = [];
  const bearers: (string | null)[] = [];
  for (const sub of subs.rows) {
    let visible: string[] | undefined;
    if (sub.role !== 'bl') {
      if (row.object_type === 'PROGRAM' || row.object_type === 'EVENT') {
        if (row.targets.length > 0) {
          if (!granted.has(sub.client_id)) granted.set(sub.client_id, await store.grantedTargets(sub.client_id, db));
          const effective = sub.targets.filter((t) => granted.get(sub.client_id)!.includes(t));
          if (!row.targets.some((t) => effective.includes(t))) continue;
          visible = effective;
        } else visible = [];
      } else if (row.client_id !== sub.client_id) continue;
    }
    const key = visible ? visible.join('\u0000') : '\u0001bl';
    let index = payloadIndex.get(key);
    if (index === undefined) {
      // A subscription's representation holds its bearer tokens: its notification is stored sealed (opened to send).
      const json = notificationJson(op, row, represent(row, visible));
      index = payloads.push(row.object_type === 'SUBSCRIPTION' ? store.secrets.seal(json, NOTIFICATION_LABEL) : json) - 1;
      payloadIndex.set(key, index);
    }
    which.push(index + 1);
    ids.push(sub.id);
    clients.push(sub.client_id);
    urls.push(sub.url);
    bearers.push(sub.bearer);
  }
  if (ids.length === 0) return 0;
  const now = Date.now();
  await db.query(
    `WITH n AS (
       INSERT INTO oa3_notifications (payload, created_ms) SELECT p, $7 FROM unnest($1::text[]) WITH ORDINALITY AS t(p, k) ORDER BY k RETURNING id),
     numbered AS (SELECT id, row_number() OVER (ORDER BY id) AS k FROM n)
     INSERT INTO oa3_outbox (notification_id, subscription_id, client_id, callback_url, bearer_token, next_attempt_ms, created_ms)
     SELECT numbered.id, s, c, u, b, $7, $7
     FROM unnest($2::int[], $3::text[], $4::text[], $5::text[], $6::text[]) AS t(w, s, c, u, b) JOIN numbered ON numbered.k = t.w`,
    [payloads, which, ids, clients, urls, bearers, now],
  );
  return ids.length;
}
