import type { Context } from 'koa';
import { access, compileSchema, GfError, Router, type JsonSchema, type SqlClient } from '../../core/index.js';
import {
  blResourceRequestSchema,
  blVenRequestSchema,
  clientCredentialRequestSchema,
  eventRequestSchema,
  objectIdSchema,
  programRequestSchema,
  reportRequestSchema,
  subscriptionRequestSchema,
  venResourceRequestSchema,
  venVenRequestSchema,
} from '../../standards/openadr3/schemas.js';
import { eventEndMs, normalizeNowStarts } from '../../standards/openadr3/time.js';
import type { ObjectType, Scope } from '../../standards/openadr3/types.js';
import type { ClientRegistry, Principal, TokenService } from './auth.js';
import { Oa3Errors } from './errors.js';
import { enqueueNotifications, type Operation } from './notify.js';
import { newObjectId, Where, type ObjectRow, type ObjectStore } from './objects.js';
import { topics } from './mqtt.js';
import { echoChallenge, type WebhookPolicy } from './webhooks.js';

export interface RouteDeps {
  store: ObjectStore;
  clients: ClientRegistry;
  tokens: TokenService;
  basePath: string;
  /** Absolute base URL for `/auth/server` (else taken from the request). */
  publicUrl: string | undefined;
  webhooks: WebhookPolicy;
  /** Called after a change and its webhook notifications commit (wakes delivery, publishes MQTT). */
  committed: (op: Operation, row: ObjectRow, queuedWebhooks: number) => void;
  /** The MQTT binding for GET /notifiers, when enabled. */
  mqtt: () => { uris: string[] } | undefined;
}

const OBJECT_ID = new RegExp(objectIdSchema.pattern);
const METADATA_KEYS = new Set(['id', 'createdDateTime', 'modificationDateTime', 'objectType']);
const MAX_LIMIT = 50;

declare module 'koa' {
  interface DefaultState {
    principal?: Principal;
  }
}

/** Validates `body` against a schema and returns the known top-level properties only. */
function parseBody(schema: JsonSchema & { properties: Record<string, unknown> }, raw: unknown, what: string): Record<string, unknown> {
  if (raw === undefined) throw new GfError(Oa3Errors.GF_OA3_BAD_REQUEST, `${what}: a JSON body is required`);
  // The User Guide writes the "now" start as 0001-01-01 (not RFC 3339); it is stored as 0001-01-01T00:00:00Z.
  const body = normalizeNowStarts(raw);
  const validate = compileSchema(schema);
  if (!validate(body)) {
    const errors = (validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message ?? 'is invalid'}`);
    throw new GfError(Oa3Errors.GF_OA3_BAD_REQUEST, `${what}: ${errors.join('; ')}`, { data: { errors } });
  }
  // Definition §POST and PUT: metadata in a request is ignored; unknown properties MAY be ignored.
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body as Record<string, unknown>)) {
    if (k in schema.properties && !METADATA_KEYS.has(k)) out[k] = v;
  }
  return out;
}

interface Query {
  skip: number;
  limit: number;
  targets: string[] | undefined;
  /** A repeatable parameter (also comma-separated), or undefined. */
  all(name: string): string[] | undefined;
  one(name: string): string | undefined;
  bool(name: string): boolean | undefined;
}

/** Query parameters: `targets` may repeat; the rest are single; skip/limit bounded (limit ≤ 50). */
function parseQuery(ctx: Context): Query {
  const q = ctx.query;
  const one = (name: string): string | undefined => {
    const v = q[name];
    if (Array.isArray(v)) throw new GfError(Oa3Errors.GF_OA3_BAD_REQUEST, `query parameter '${name}' may appear once`);
    return v;
  };
  const int = (name: string, min: number, max: number, dflt: number): number => {
    const v = one(name);
    if (v === undefined) return dflt;
    if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) {
      throw new GfError(Oa3Errors.GF_OA3_BAD_REQUEST, `query parameter '${name}' must be an integer ${min}..${max}, got '${v}'`, { data: { field: name } });
    }
    return Number(v);
  };
  const all = (name: string): string[] | undefined => {
    const raw = q[name];
    return raw === undefined ? undefined : (Array.isArray(raw) ? raw : [raw]).flatMap((t) => t.split(',')).filter((t) => t !== '');
  };
  const targets = all('targets');
  if (targets?.some((t) => t.length > 128)) throw new GfError(Oa3Errors.GF_OA3_BAD_REQUEST, 'a target is at most 128 characters');
  return {
    skip: int('skip', 0, 2147483647, 0),
    limit: int('limit', 0, MAX_LIMIT, MAX_LIMIT),
    targets,
    all,
    one,
    bool(name) {
      const v = one(name);
      if (v === undefined) return undefined;
      if (v !== 'true' && v !== 'false') throw new GfError(Oa3Errors.GF_OA3_BAD_REQUEST, `query parameter '${name}' must be true or false`);
      return v === 'true';
    },
  };
}

function requireId(value: string | undefined, name: string): string {
  if (!value || !OBJECT_ID.test(value) || value.length > 128) throw new GfError(Oa3Errors.GF_OA3_BAD_REQUEST, `${name} must be an objectID`);
  return value;
}

function principal(ctx: Context): Principal {
  return ctx.state.principal!;
}

function requireScope(ctx: Context, ...anyOf: Scope[]): Principal {
  const p = principal(ctx);
  if (!anyOf.some((s) => p.scopes.has(s))) {
    throw new GfError(Oa3Errors.GF_OA3_FORBIDDEN, `this operation needs scope ${anyOf.join(' or ')}`, { data: { required: anyOf } });
  }
  return p;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The wire representation: metadata, then the stored request fields, then the rule columns. */
export function represent(row: ObjectRow, visibleTargets?: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {
    id: row.id,
    createdDateTime: iso(row.created_ms),
    modificationDateTime: iso(row.modified_ms),
    // 3.1.0 conflict: objectMetadata says VEN/RESOURCE, BlVenRequest says BL_VEN_REQUEST; we emit
    // the metadata value, as implementations in the field do (docs/openadr3.md).
    objectType: row.object_type,
    ...row.body,
  };
  if (row.object_type === 'VEN' || row.object_type === 'RESOURCE' || row.object_type === 'REPORT' || row.object_type === 'SUBSCRIPTION') out.clientID = row.client_id;
  if (row.object_type !== 'REPORT') {
    // Target hiding (Definition §Object Privacy), for programs and events only: a VEN sees only the
    // targets it asked for and was granted. Its own ven and resource objects show their targets.
    const hide = visibleTargets && (row.object_type === 'PROGRAM' || row.object_type === 'EVENT');
    const t = hide ? row.targets.filter((x) => visibleTargets.includes(x)) : row.targets;
    out.targets = t.length > 0 ? t : null;
  }
  return out;
}

/** The rules of one object type: where it lives, who reads it, who writes it. */
interface Kind {
  type: ObjectType;
  path: string;
  /** Programs and events are filtered by targets for VENs; the others by owner (clientID). */
  targeted: boolean;
  writeScope: Scope;
}

const KINDS: Kind[] = [
  { type: 'PROGRAM', path: 'programs', targeted: true, writeScope: 'write_programs' },
  { type: 'EVENT', path: 'events', targeted: true, writeScope: 'write_events' },
  { type: 'VEN', path: 'vens', targeted: false, writeScope: 'write_vens' },
  { type: 'RESOURCE', path: 'resources', targeted: false, writeScope: 'write_vens' },
  { type: 'REPORT', path: 'reports', targeted: false, writeScope: 'write_reports' },
  { type: 'SUBSCRIPTION', path: 'subscriptions', targeted: false, writeScope: 'write_subscriptions' },
];

/** BL owns nothing and sees everything; a VEN only objects carrying its clientID (§VEN created object privacy). */
function ownedBy(p: Principal): Where {
  return p.scopes.has('read_all') ? new Where() : new Where().add((v) => `client_id = ${v(p.clientId)}`);
}

/** Programs and events a VEN may see through `targets`: untargeted ones, or ones carrying one of them. */
export function visibleThrough(targets: readonly string[]): Where {
  return new Where().add((v) => `(cardinality(targets) = 0 OR targets && ${v(targets)}::text[])`);
}

/** Programs and events a caller may refer to in a write: BL any; a VEN through every target BL granted it. */
async function grantedScope(deps: RouteDeps, p: Principal): Promise<Where> {
  return p.scopes.has('read_all') ? new Where() : visibleThrough(await deps.store.grantedTargets(p.clientId));
}

/**
 * The read privacy of a kind for this caller, as SQL, plus the targets a VEN may see in responses.
 * BL (read_all) sees everything; a VEN sees its own ven/resource/report objects, and programs and
 * events without targets or whose targets meet (requested ∩ granted).
 */
async function readScope(ctx: Context, deps: RouteDeps, kind: Kind, requested: string[] | undefined): Promise<{ where: Where; visible?: string[] }> {
  const p = requireScope(ctx, 'read_all', kind.targeted ? 'read_targets' : 'read_ven_objects');
  if (p.scopes.has('read_all') || !kind.targeted) {
    const where = ownedBy(p);
    if (requested?.length) where.add((v) => `targets && ${v(requested)}::text[]`);
    return { where };
  }
  const granted = await deps.store.grantedTargets(p.clientId);
  const effective = (requested ?? []).filter((t) => granted.includes(t));
  return { where: visibleThrough(effective), visible: effective };
}

/** The 3.1 VTN authenticates by its own OAuth2 bearer tokens (Definition §Security), not the platform's. */
const OA3 = access.protocol('OpenADR 3.1 bearer token (BL or VEN client of the openadr3 plugin), object privacy per client');
const OA3_PUBLIC = access.protocol('OpenADR 3.1 token discovery and endpoint (client credentials)');

export function buildRouter(deps: RouteDeps): Router {
  const r = new Router();

  // ---- auth (no token needed) ----
  r.get('/auth/server', OA3_PUBLIC, (ctx) => {
    const base = deps.publicUrl ?? `${ctx.protocol}://${ctx.host}`;
    ctx.body = { tokenURL: deps.tokens.external?.tokenUrl ?? `${base}${deps.basePath}/auth/token` };
  });

  r.post('/auth/token', OA3_PUBLIC, async (ctx) => {
    // Definition §Token endpoint discovery: with an external server, this endpoint may answer 501.
    if (deps.tokens.external) throw new GfError(Oa3Errors.GF_OA3_NOT_IMPLEMENTED, `this VTN takes tokens from ${deps.tokens.external.tokenUrl}; see GET /auth/server`);
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    // RFC 6749 §2.3.1: credentials may come in an HTTP Basic header instead of the body.
    const basic = /^Basic\s+(.+)$/i.exec(ctx.get('authorization'));
    if (basic) {
      const [id, secret] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':').map((s) => decodeURIComponent(s ?? ''));
      body.client_id ??= id;
      body.client_secret ??= secret;
    }
    const validate = compileSchema(clientCredentialRequestSchema);
    if (!validate(body)) {
      throw new GfError(Oa3Errors.GF_OA3_TOKEN_REQUEST, `token request: ${(validate.errors ?? []).map((e) => `${e.instancePath || '(body)'} ${e.message}`).join('; ')}`, {
        data: { error: 'invalid_request', error_description: 'grant_type, client_id and client_secret are required' },
      });
    }
    if (body.grant_type !== 'client_credentials') {
      throw new GfError(Oa3Errors.GF_OA3_TOKEN_REQUEST, `grant_type '${String(body.grant_type)}' is not supported`, {
        data: { error: 'unsupported_grant_type', error_description: 'only client_credentials is supported' },
      });
    }
    const client = await deps.clients.verify(String(body.client_id), String(body.client_secret));
    if (!client) {
      ctx.set('WWW-Authenticate', 'Basic realm="gridflex"');
      throw new GfError(Oa3Errors.GF_OA3_INVALID_CLIENT, 'unknown client or wrong secret', { data: { error: 'invalid_client', error_description: 'client authentication failed' } });
    }
    ctx.set('Cache-Control', 'no-store');
    ctx.body = await deps.tokens.issue(client, typeof body.scope === 'string' ? body.scope : undefined);
  });

  // ---- everything else needs a bearer token ----
  r.use(async (ctx, next) => {
    if (ctx.path.startsWith(`${deps.basePath}/auth/`)) return next();
    const m = /^Bearer\s+(\S+)$/i.exec(ctx.get('authorization'));
    if (!m) {
      ctx.set('WWW-Authenticate', 'Bearer realm="gridflex"');
      throw new GfError(Oa3Errors.GF_OA3_UNAUTHORIZED, 'an Authorization: Bearer token is required (see GET /auth/server)');
    }
    try {
      ctx.state.principal = await deps.tokens.verify(m[1]!);
    } catch (e) {
      ctx.set('WWW-Authenticate', 'Bearer realm="gridflex", error="invalid_token"');
      throw e;
    }
    return next();
  });

  // ---- notifiers (Definition §Notifications via Additional Protocols) ----
  // Any authenticated client may list the bindings: a VEN needs them to find the broker (the spec's
  // read_all would hide MQTT from VENs; docs/openadr3.md).
  r.get('/notifiers', OA3, (ctx) => {
    const m = deps.mqtt();
    ctx.body = {
      WEBHOOK: true,
      ...(m ? { MQTT: { URIS: m.uris, serialization: 'JSON', authentication: { method: 'OAUTH2_BEARER_TOKEN', username: '{clientID}' } } } : {}),
    };
  });
  const mqttOn = () => {
    if (!deps.mqtt()) throw new GfError(Oa3Errors.GF_OA3_NOT_FOUND, 'the MQTT notifier is not enabled on this VTN');
  };
  const blTopics: [string, string, boolean][] = [
    ['/notifiers/mqtt/topics/programs', 'programs', true],
    ['/notifiers/mqtt/topics/events', 'events', true],
    ['/notifiers/mqtt/topics/reports', 'reports', true],
    ['/notifiers/mqtt/topics/subscriptions', 'subscriptions', true],
    ['/notifiers/mqtt/topics/vens', 'vens', true],
    ['/notifiers/mqtt/topics/resources', 'resources', true],
  ];
  for (const [route, base, withCreate] of blTopics) {
    r.get(route, OA3, (ctx) => {
      mqttOn();
      requireScope(ctx, 'read_all', 'read_bl');
      ctx.body = topics.of(base, withCreate);
    });
  }
  r.get('/notifiers/mqtt/topics/programs/:programID', OA3, async (ctx) => {
    mqttOn();
    requireScope(ctx, 'read_all');
    const id = requireId(ctx.params.programID, 'programID');
    if (!(await deps.store.get('PROGRAM', id))) throw notFound(KINDS[0]!, id);
    ctx.body = topics.of(`programs/${id}`, false);
  });
  r.get('/notifiers/mqtt/topics/programs/:programID/events', OA3, async (ctx) => {
    mqttOn();
    requireScope(ctx, 'read_all');
    const id = requireId(ctx.params.programID, 'programID');
    if (!(await deps.store.get('PROGRAM', id))) throw notFound(KINDS[0]!, id);
    ctx.body = topics.of(`programs/${id}/events`, true);
  });
  for (const [suffix, withCreate] of [['', false], ['/events', true], ['/programs', true], ['/resources', true]] as const) {
    r.get(`/notifiers/mqtt/topics/vens/:venID${suffix}`, OA3, async (ctx) => {
      mqttOn();
      const p = requireScope(ctx, 'read_all', 'read_ven_objects');
      const id = requireId(ctx.params.venID, 'venID');
      if (!(await deps.store.get('VEN', id, ownedBy(p)))) throw notFound(KINDS[2]!, id);
      ctx.body = topics.of(`vens/${id}${suffix}`, withCreate);
    });
  }

  for (const kind of KINDS) {
    r.get(`/${kind.path}`, OA3, async (ctx) => {
      const q = parseQuery(ctx);
      const { where, visible } = await readScope(ctx, deps, kind, q.targets);
      addListFilters(kind, q, where);
      const rows = await deps.store.list(kind.type, where, q.skip, q.limit);
      ctx.body = rows.map((row) => represent(row, visible));
    });

    r.get(`/${kind.path}/:id`, OA3, async (ctx) => {
      const id = requireId(ctx.params.id, 'id');
      const q = parseQuery(ctx);
      const { where, visible } = await readScope(ctx, deps, kind, q.targets);
      const row = await deps.store.get(kind.type, id, where);
      if (!row) throw notFound(kind, id);
      ctx.body = represent(row, visible);
    });

    r.post(`/${kind.path}`, OA3, async (ctx) => {
      const p = requireScope(ctx, kind.writeScope);
      const row = await buildRow(ctx, deps, kind, p, undefined);
      const saved = await write(deps, 'CREATE', (db) => deps.store.insert(row, db));
      ctx.status = 201;
      ctx.body = represent(saved, p.scopes.has('read_all') ? undefined : []);
    });

    r.put(`/${kind.path}/:id`, OA3, async (ctx) => {
      const p = requireScope(ctx, kind.writeScope);
      const existing = await ownedRow(ctx, deps, kind, p);
      const row = await buildRow(ctx, deps, kind, p, existing);
      const saved = await write(deps, 'UPDATE', (db) => deps.store.update({ ...existing, ...row }, db));
      ctx.body = represent(saved, p.scopes.has('read_all') ? undefined : []);
    });

    r.delete(`/${kind.path}/:id`, OA3, async (ctx) => {
      const p = requireScope(ctx, kind.writeScope);
      const existing = await ownedRow(ctx, deps, kind, p);
      await write(deps, 'DELETE', async (db) => {
        await deps.store.delete(existing, db);
        return existing;
      });
      ctx.body = represent(existing, p.scopes.has('read_all') ? undefined : []);
    });
  }

  return r;
}

/** A change and the notifications it causes commit together; then the dispatcher is woken. */
export async function write(deps: Pick<RouteDeps, 'store' | 'committed'>, op: Operation, change: (db: SqlClient) => Promise<ObjectRow>): Promise<ObjectRow> {
  let queued = 0;
  const row = await deps.store.transaction(async (db) => {
    const saved = await change(db);
    queued = await enqueueNotifications(db, deps.store, op, saved, represent);
    return saved;
  });
  deps.committed(op, row, queued);
  return row;
}

function notFound(kind: Kind, id: string): GfError {
  return new GfError(Oa3Errors.GF_OA3_NOT_FOUND, `no ${kind.type.toLowerCase()} ${id} visible to this client`);
}

/** The row a write targets: BL any; a VEN only its own (others do not exist for it: 404). */
async function ownedRow(ctx: Context, deps: RouteDeps, kind: Kind, p: Principal): Promise<ObjectRow> {
  const id = requireId(ctx.params.id, 'id');
  const row = await deps.store.get(kind.type, id, ownedBy(p));
  if (!row) throw notFound(kind, id);
  return row;
}

function addListFilters(kind: Kind, q: Query, where: Where): void {
  const eq = (param: string, column: string) => {
    const v = q.one(param);
    if (v !== undefined) where.add((p) => `${column} = ${p(v)}`);
  };
  switch (kind.type) {
    case 'EVENT': {
      eq('programID', 'parent_id');
      // `active=true`: leave out events that have ended (an event with no known end has not).
      if (q.bool('active')) where.add((p) => `(end_ms IS NULL OR end_ms > ${p(Date.now())})`);
      break;
    }
    case 'REPORT':
      eq('programID', 'program_id');
      eq('eventID', 'parent_id');
      eq('clientName', "body->>'clientName'");
      break;
    case 'VEN':
      eq('venName', 'name');
      break;
    case 'RESOURCE':
      eq('resourceName', 'name');
      eq('venID', 'parent_id');
      break;
    case 'SUBSCRIPTION': {
      eq('programID', 'program_id');
      eq('clientName', 'name');
      const raw = q.all('objects');
      if (raw) {
        const bad = raw.filter((o) => !['PROGRAM', 'EVENT', 'REPORT', 'SUBSCRIPTION', 'VEN', 'RESOURCE'].includes(o));
        if (bad.length) throw new GfError(Oa3Errors.GF_OA3_BAD_REQUEST, `objects must be object types, got ${bad.join(', ')}`, { data: { field: 'objects' } });
        where.add((p) => `EXISTS (SELECT 1 FROM jsonb_array_elements(body->'objectOperations') oo WHERE oo->'objects' ?| ${p(raw)}::text[])`);
      }
      break;
    }
    default:
  }
}

/** Validates a write and turns it into a row, applying who may set owner and targets. */
async function buildRow(ctx: Context, deps: RouteDeps, kind: Kind, p: Principal, existing: ObjectRow | undefined): Promise<Omit<ObjectRow, 'created_ms' | 'modified_ms'>> {
  const isBl = p.scopes.has('read_all');
  const raw = ctx.request.body;
  const base = { id: existing?.id ?? newObjectId(), object_type: kind.type, program_id: null, end_ms: null } as const;
  switch (kind.type) {
    case 'PROGRAM': {
      const body = parseBody(programRequestSchema, raw, 'program');
      const { targets, ...rest } = body;
      return { ...base, client_id: null, name: String(body.programName), parent_id: null, targets: (targets as string[] | null) ?? [], body: rest };
    }
    case 'EVENT': {
      const body = parseBody(eventRequestSchema, raw, 'event');
      const programId = String(body.programID);
      if (!(await deps.store.get('PROGRAM', programId))) throw new GfError(Oa3Errors.GF_OA3_BAD_REQUEST, `programID ${programId} names no program`, { data: { field: 'programID' } });
      const { targets, ...rest } = body;
      return {
        ...base,
        client_id: null,
        name: (body.eventName as string | null) ?? null,
        parent_id: programId,
        program_id: programId,
        end_ms: eventEndMs(body as Parameters<typeof eventEndMs>[0]),
        targets: (targets as string[] | null) ?? [],
        body: rest,
      };
    }
    case 'VEN': {
      const objectType = (raw as { objectType?: unknown } | undefined)?.objectType;
      if (!isBl && objectType === 'BL_VEN_REQUEST') throw new GfError(Oa3Errors.GF_OA3_FORBIDDEN, 'only BL may set clientID or targets on a ven (send VEN_VEN_REQUEST)');
      if (isBl) {
        const body = parseBody(blVenRequestSchema, raw, 'ven');
        const { targets, clientID, ...rest } = body;
        return { ...base, client_id: String(clientID), name: String(body.venName), parent_id: null, targets: (targets as string[] | null) ?? [], body: rest };
      }
      const body = parseBody(venVenRequestSchema, raw, 'ven');
      // A VEN's ven is its own, and keeps whatever targets BL granted it.
      return { ...base, client_id: p.clientId, name: String(body.venName), parent_id: null, targets: existing?.targets ?? [], body };
    }
    case 'RESOURCE': {
      const objectType = (raw as { objectType?: unknown } | undefined)?.objectType;
      if (!isBl && objectType === 'BL_RESOURCE_REQUEST') throw new GfError(Oa3Errors.GF_OA3_FORBIDDEN, 'only BL may set clientID or targets on a resource (send VEN_RESOURCE_REQUEST)');
      const body = isBl ? parseBody(blResourceRequestSchema, raw, 'resource') : parseBody(venResourceRequestSchema, raw, 'resource');
      const venId = String(body.venID);
      const ven = await deps.store.get('VEN', venId, ownedBy(p));
      if (!ven) throw new GfError(Oa3Errors.GF_OA3_BAD_REQUEST, `venID ${venId} names no ven ${isBl ? '' : 'of this client'}`.trim(), { data: { field: 'venID' } });
      const { targets, clientID, ...rest } = body;
      return {
        ...base,
        client_id: isBl ? String(clientID) : p.clientId,
        name: String(body.resourceName),
        parent_id: venId,
        targets: isBl ? ((targets as string[] | null) ?? []) : (existing?.targets ?? []),
        body: rest,
      };
    }
    case 'REPORT': {
      const body = parseBody(reportRequestSchema, raw, 'report');
      const eventId = String(body.eventID);
      // A VEN reports only on an event it may see: untargeted, or targeted at what BL granted it.
      const event = await deps.store.get('EVENT', eventId, await grantedScope(deps, p));
      if (!event) throw new GfError(Oa3Errors.GF_OA3_BAD_REQUEST, `eventID ${eventId} names no event visible to this client`, { data: { field: 'eventID' } });
      return { ...base, client_id: p.clientId, name: (body.reportName as string | null) ?? null, parent_id: eventId, program_id: event.program_id, targets: [], body };
    }
    case 'SUBSCRIPTION': {
      const body = parseBody(subscriptionRequestSchema, raw, 'subscription');
      const programId = body.programID === undefined ? null : String(body.programID);
      if (programId) {
        // A VEN may subscribe to a program it may see: untargeted, or targeted at what it was granted.
        if (!(await deps.store.get('PROGRAM', programId, await grantedScope(deps, p)))) {
          throw new GfError(Oa3Errors.GF_OA3_BAD_REQUEST, `programID ${programId} names no program visible to this client`, { data: { field: 'programID' } });
        }
      }
      // Definition §Webhooks: every callback must answer the echo challenge before the subscription exists.
      const ops = body.objectOperations as { callbackUrl: string; bearerToken?: string | null }[];
      const checked = new Set<string>();
      for (const oo of ops) {
        if (checked.has(oo.callbackUrl)) continue;
        checked.add(oo.callbackUrl);
        await echoChallenge(oo.callbackUrl, oo.bearerToken, deps.webhooks);
      }
      const { targets, ...rest } = body;
      return { ...base, client_id: p.clientId, name: String(body.clientName), parent_id: null, program_id: programId, targets: (targets as string[] | null) ?? [], body: rest };
    }
    default:
      throw new Error(`unhandled kind ${kind.type}`);
  }
}
