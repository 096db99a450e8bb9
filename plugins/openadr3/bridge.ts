import { GfError, type Storage } from '../../core/index.js';
import type { ObjectType } from '../../standards/openadr3/types.js';
import { Oa3Errors } from './errors.js';
import type { Operation } from './notify.js';
import { newObjectId, Where, type ObjectRow, type ObjectStore } from './objects.js';
import { visibleThrough, write, type RouteDeps } from './routes.js';

export type ChangeListener = (op: Operation, type: ObjectType, row: ObjectRow) => void;

/**
 * What another protocol front end (the OpenADR 2.0b VTN) needs from the 3.1 object store: vens it
 * registers appear as ven objects, and it sees events exactly as the 3.1 privacy rules show them to a
 * VEN client with the same clientID.
 */
export class Oa3Bridge {
  private readonly listeners = new Set<ChangeListener>();

  constructor(
    private readonly deps: Pick<RouteDeps, 'store' | 'committed'>,
    private readonly storage: Storage,
  ) {}

  /** Called by the plugin after every committed change. */
  notify(op: Operation, row: ObjectRow): void {
    for (const l of this.listeners) {
      try {
        l(op, row.object_type, row);
      } catch {
        // a listener's failure is its own
      }
    }
  }

  onChange(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The ven object named `venName` owned by `clientId`, created (through the same write path as the
   * REST API, so BL subscribers are notified) when there is none. A ven of that name owned by another
   * client is a conflict.
   */
  async ensureVen(venName: string, clientId: string): Promise<ObjectRow> {
    const r = await this.storage.query<{ id: string }>(`SELECT id FROM oa3_objects WHERE object_type = 'VEN' AND name = $1`, [venName]);
    if (r.rows[0]) {
      const row = (await this.deps.store.get('VEN', r.rows[0].id))!;
      if (row.client_id !== clientId) {
        throw new GfError(Oa3Errors.GF_OA3_CONFLICT, `venName '${venName}' belongs to another client`, { data: { field: 'venName' } });
      }
      return row;
    }
    return write(this.deps, 'CREATE', (db) =>
      this.deps.store.insert({ id: newObjectId(), object_type: 'VEN', client_id: clientId, name: venName, parent_id: null, program_id: null, end_ms: null, targets: [], body: { venName } }, db),
    );
  }

  async ven(id: string): Promise<ObjectRow | undefined> {
    return this.deps.store.get('VEN', id);
  }

  /** Targets BL granted to the client (its ven objects and their resources). */
  grantedTargets(clientId: string): Promise<string[]> {
    return this.deps.store.grantedTargets(clientId);
  }

  /**
   * Events a VEN client may read (untargeted, or targeted at a target granted to it) with their
   * programs, and the targets it may see on them (target hiding).
   */
  async eventsVisibleTo(clientId: string): Promise<{ events: ObjectRow[]; programs: Map<string, ObjectRow>; granted: string[] }> {
    const granted = await this.deps.store.grantedTargets(clientId);
    const where: Where = visibleThrough(granted);
    const events: ObjectRow[] = [];
    for (let skip = 0; ; skip += 500) {
      const page = await this.deps.store.list('EVENT', where, skip, 500);
      events.push(...page);
      if (page.length < 500) break;
    }
    const ids = [...new Set(events.map((e) => e.program_id).filter((x): x is string => !!x))];
    const rows = ids.length ? await this.deps.store.list('PROGRAM', new Where().add((v) => `id = ANY(${v(ids)}::text[])`), 0, ids.length) : [];
    const programs = new Map(rows.map((p) => [p.id, p]));
    return { events, programs, granted };
  }
}

export type { ObjectRow, ObjectStore };
