import type { SqlClient } from '../../core/index.js';
import type { ObjectType } from '../../standards/openadr3/types.js';
import type { ObjectRow, ObjectStore } from './objects.js';

export type Operation = 'CREATE' | 'UPDATE' | 'DELETE';

interface SubscriptionRow {
  id: string;
  client_id: string;
  program_id: string | null;
  targets: string[];
  body: { objectOperations: { objects: ObjectType[]; operations: string[]; callbackUrl: string; bearerToken?: string | null }[] };
  role: 'bl' | 'ven' | null;
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
  const subs = await db.query<SubscriptionRow>(
    `SELECT o.id, o.client_id, o.program_id, o.targets, o.body, c.role FROM oa3_objects o LEFT JOIN oa3_clients c ON c.client_id = o.client_id
     WHERE o.object_type = 'SUBSCRIPTION' AND (o.program_id IS NULL OR o.program_id = $1)
       AND EXISTS (SELECT 1 FROM jsonb_array_elements(o.body->'objectOperations') oo WHERE oo->'objects' ? $2 AND oo->'operations' ? $3)`,
    [program, row.object_type, op],
  );
  const granted = new Map<string, string[]>();
  const payloadCache = new Map<string, string>();
  const ids: string[] = [];
  const clients: string[] = [];
  const urls: string[] = [];
  const bearers: (string | null)[] = [];
  const payloads: string[] = [];
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
    // One payload per visibility class (all BL subscribers share one), not one per subscriber.
    const cacheKey = visible ? visible.join('\u0000') : '\u0001bl';
    let cached = payloadCache.get(cacheKey);
    if (!cached) {
      const object = represent(row, visible);
      const targets = (object as { targets?: string[] | null }).targets ?? null;
      cached = JSON.stringify({ objectType: row.object_type, operation: op, object, ...(targets ? { targets } : {}) });
      payloadCache.set(cacheKey, cached);
    }
    const seen = new Set<string>();
    for (const oo of sub.body.objectOperations) {
      if (!oo.objects.includes(row.object_type) || !oo.operations.includes(op) || seen.has(oo.callbackUrl)) continue;
      seen.add(oo.callbackUrl);
      ids.push(sub.id);
      clients.push(sub.client_id);
      urls.push(oo.callbackUrl);
      bearers.push(oo.bearerToken ?? null);
      payloads.push(cached);
    }
  }
  if (ids.length === 0) return 0;
  const now = Date.now();
  await db.query(
    `INSERT INTO oa3_outbox (subscription_id, client_id, callback_url, bearer_token, payload, next_attempt_ms, created_ms)
     SELECT s, c, u, b, p::jsonb, $6, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS t(s, c, u, b, p)`,
    [ids, clients, urls, bearers, payloads, now],
  );
  return ids.length;
}
