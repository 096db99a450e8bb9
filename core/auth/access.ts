import type { Context, Middleware, Next } from 'koa';
import { defineErrors, GfError } from '../errors.js';
import { createToken } from '../di.js';

/**
 * Who may call what. Every route a plugin mounts declares its rule as the first middleware of the route
 * (`r.get('/x', access.roles(['prosumer']), handler)`); the kernel refuses to mount a route that declares
 * nothing, checks the rule after the route matched and before its handler runs, and lists every rule in the
 * route table (`GET /api/auth/routes`, docs/security.md).
 */

export const ROLES = ['operator', 'dso', 'aggregator', 'prosumer'] as const;
export type Role = (typeof ROLES)[number];
export const isRole = (v: unknown): v is Role => typeof v === 'string' && (ROLES as readonly string[]).includes(v);

/** The caller, from a verified credential. */
export interface Principal {
  partyId: string;
  role: Role;
  /** How the caller proved who it is. */
  via: 'token' | 'session' | 'api-token';
  /** The token's id (`jti`) or the session id, for the audit trail and revocation. */
  credentialId: string;
}

/** An object a rule protects; `may()` answers whether a principal may act on it. */
export type ObjectKind = 'party' | 'site' | 'meter' | 'device';
export interface ObjectRef {
  kind: ObjectKind;
  id: string;
}

/** What the kernel asks on every protected request (provided by the kernel `parties` plugin). */
export interface Authorizer {
  /** The caller of this request, or undefined when it presents no credential; a bad credential throws 401. */
  authenticate(ctx: Context): Promise<Principal | undefined>;
  /** Whether `p` may act on `o` (operator: always; a prosumer: its own; an aggregator: its portfolio's; a DSO: its grid's). */
  may(p: Principal, o: ObjectRef): Promise<boolean>;
  /** The ids of objects of `kind` the principal may see, or 'all' (for filtering lists). */
  visible(p: Principal, kind: ObjectKind): Promise<ReadonlySet<string> | 'all'>;
  /** Appends a write to the audit trail (who, what, when, the request id); awaited before the answer is sent. */
  record(e: { partyId: string | null; role: string | null; method: string; route: string; path: string; status: number; requestId: string }): Promise<void>;
}

export const AuthorizerToken = createToken<Authorizer>('parties.authorizer');

export const AuthErrors = defineErrors({
  GF_AUTH_UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  GF_AUTH_INVALID_TOKEN: { status: 401, title: 'Invalid credential' },
  GF_AUTH_FORBIDDEN: { status: 403, title: 'Role not allowed' },
  GF_AUTH_NOT_FOUND: { status: 404, title: 'Not found' },
  GF_AUTH_INVALID_CLIENT: { status: 401, title: 'Client authentication failed' },
  GF_AUTH_TOKEN_REQUEST: { status: 400, title: 'Invalid token request' },
  GF_AUTH_THROTTLED: { status: 429, title: 'Too many attempts' },
  GF_AUTH_CSRF: { status: 403, title: 'Missing or wrong CSRF token' },
  GF_PARTY_INVALID: { status: 400, title: 'Invalid party' },
  GF_PARTY_CONFLICT: { status: 409, title: 'Party conflict' },
  GF_PARTY_UNKNOWN: { status: 404, title: 'Unknown party' },
  GF_HTTP_ROUTE_UNDECLARED: { status: 500, title: 'Route declares no access rule' },
});

export type AccessRule =
  | { kind: 'public'; why: string }
  | { kind: 'protocol'; protocol: string }
  | { kind: 'roles'; roles: readonly Role[]; owner?: string };

/** The request as an ownership rule sees it (path parameters, query, parsed body). */
export type RuleContext = Context & { params: Record<string, string> };
type Owns = (ctx: RuleContext) => ObjectRef | readonly (ObjectRef | undefined)[] | undefined;

const RULE = Symbol.for('gridflex.access-rule');
type Tagged = Middleware & { [RULE]: AccessRule };

declare module 'koa' {
  interface DefaultState {
    /** Set by the kernel for every plugin route: resolves the caller once per request. */
    auth?: { authorizer: Authorizer; principal(): Promise<Principal | undefined> };
    /** The caller, once a `roles` rule let it through. */
    caller?: Principal;
  }
}

function tag(rule: AccessRule, mw: Middleware): Tagged {
  return Object.assign(mw, { [RULE]: rule }) as Tagged;
}

/** The rule a middleware declares, if it is one of ours. */
export function ruleOf(mw: unknown): AccessRule | undefined {
  return typeof mw === 'function' ? (mw as Partial<Tagged>)[RULE] : undefined;
}

/** The request's caller (after the kernel resolved it), or undefined. */
export async function callerOf(ctx: Context): Promise<Principal | undefined> {
  return ctx.state.caller ?? (await ctx.state.auth?.principal());
}

function unauthenticated(ctx: Context): GfError {
  ctx.set('WWW-Authenticate', 'Bearer realm="gridflex"');
  return new GfError(AuthErrors.GF_AUTH_UNAUTHENTICATED, `${ctx.method} ${ctx.path} needs a credential: Authorization: Bearer <token from POST /api/auth/token> or an HMI session`);
}

export const access = {
  /** Anyone, signed in or not (say why: health probes, the login page, a protocol's discovery document). */
  public(why: string): Middleware {
    return tag({ kind: 'public', why }, (_ctx, next) => next());
  },
  /** The route authenticates by its own standard (OpenADR 3.1 bearer tokens, OpenADR 2.0b registration and TLS). */
  protocol(protocol: string): Middleware {
    return tag({ kind: 'protocol', protocol }, (_ctx, next) => next());
  },
  /**
   * Signed-in parties with one of `roles` (the operator always may); `owns` names the objects the request acts on,
   * each of which the caller must be allowed ({@link Authorizer.may}); refused as 404 so existence is not revealed.
   * `owner` says the ownership rule in words for the route table.
   */
  roles(roles: readonly Role[], opts: { owns?: Owns; owner?: string } = {}): Middleware {
    const allowed = new Set<Role>(['operator', ...roles]);
    const rule: AccessRule = { kind: 'roles', roles: [...allowed], ...(opts.owns ? { owner: opts.owner ?? 'owns the named objects' } : {}) };
    return tag(rule, async (ctx: Context, next: Next) => {
      const auth = ctx.state.auth;
      if (!auth) throw new Error('access rule ran outside the kernel (no ctx.state.auth)');
      const p = await auth.principal();
      if (!p) throw unauthenticated(ctx);
      if (!allowed.has(p.role)) {
        throw new GfError(AuthErrors.GF_AUTH_FORBIDDEN, `${ctx.method} ${ctx.path} is for ${[...allowed].join(', ')}; you are ${p.role} '${p.partyId}'`, { data: { role: p.role, allowed: [...allowed] } });
      }
      if (opts.owns && p.role !== 'operator') {
        const got = opts.owns(ctx as RuleContext);
        for (const o of Array.isArray(got) ? got : [got]) {
          if (o === undefined || typeof o.id !== 'string' || o.id === '') continue;
          if (!(await auth.authorizer.may(p, o))) {
            throw new GfError(AuthErrors.GF_AUTH_NOT_FOUND, `no ${o.kind} '${o.id}' that ${p.role} '${p.partyId}' may act on`, { data: { kind: o.kind, id: o.id } });
          }
        }
      }
      ctx.state.caller = p;
      return next();
    });
  },
  /** Any signed-in party. */
  signedIn(): Middleware {
    return access.roles(['dso', 'aggregator', 'prosumer']);
  },
};

/** `ObjectRef` builders for `owns`, tolerant of missing or non-string values (validation comes later, in the handler). */
export const ref = {
  party: (id: unknown): ObjectRef | undefined => (typeof id === 'string' ? { kind: 'party', id } : undefined),
  meter: (id: unknown): ObjectRef | undefined => (typeof id === 'string' ? { kind: 'meter', id } : undefined),
  device: (id: unknown): ObjectRef | undefined => (typeof id === 'string' ? { kind: 'device', id } : undefined),
  site: (id: unknown): ObjectRef | undefined => (typeof id === 'string' ? { kind: 'site', id } : undefined),
  /** The meters a query names: every `meter` parameter, and the members of its `group` when `groups` are given. */
  meters: (q: Record<string, unknown>, groups: Record<string, readonly string[]> = {}): (ObjectRef | undefined)[] =>
    [...([] as unknown[]).concat(q.meter ?? []), ...(typeof q.group === 'string' ? (groups[q.group] ?? []) : [])].map(ref.meter),
};

/** One row of the route table. */
export interface RouteRule {
  plugin: string;
  methods: string[];
  path: string;
  rule: AccessRule;
}

interface LayerLike {
  methods: string[];
  path: string | RegExp;
  stack: unknown[];
}

/**
 * The rules of a mounted router's routes (`prefix` + path); throws GF_HTTP_ROUTE_UNDECLARED naming every route
 * whose first middleware is not an access rule.
 */
export function routeRules(plugin: string, prefix: string, router: { stack: unknown[] }): RouteRule[] {
  const out: RouteRule[] = [];
  const undeclared: string[] = [];
  for (const raw of router.stack as LayerLike[]) {
    const methods = raw.methods.filter((m) => m !== 'HEAD');
    if (methods.length === 0) continue; // router.use(): middleware, not a route
    const p = `${prefix === '/' ? '' : prefix}${String(raw.path)}`.replace(/(.)\/$/, '$1');
    const rule = ruleOf(raw.stack[0]);
    if (!rule) undeclared.push(`${methods.join('|')} ${p}`);
    else out.push({ plugin, methods, path: p, rule });
  }
  if (undeclared.length > 0) {
    throw new GfError(AuthErrors.GF_HTTP_ROUTE_UNDECLARED, `plugin '${plugin}' mounts routes without an access rule: ${undeclared.join(', ')} (start each route with access.public/protocol/roles)`, {
      data: { plugin, routes: undeclared },
    });
  }
  return out;
}

/** The rule in words, for the table in docs/security.md and `GET /api/auth/routes`. */
export function describeRule(r: AccessRule): string {
  if (r.kind === 'public') return `public (${r.why})`;
  if (r.kind === 'protocol') return `by protocol: ${r.protocol}`;
  return `${r.roles.join(', ')}${r.owner ? `; ${r.owner}` : ''}`;
}
