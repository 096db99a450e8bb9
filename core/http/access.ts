import { timingSafeEqual } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { GfError, KernelErrors } from '../errors.js';

/**
 * Who may call a route. The kernel decides it from the route that matched (never from a path prefix),
 * after matching and before the body is read:
 * - `public`: no kernel check; anyone, or the route authenticates its callers itself (the OpenADR VTNs'
 *   OAuth2 and 2.0b registration);
 * - `operator`: one of `server.apiTokens` as a bearer token (open while no token is configured).
 * Undeclared routes get `public` for GET, HEAD and OPTIONS and `operator` for every other method.
 */
export type AccessRule = 'public' | 'operator';

/** Strictness order: when several declarations apply, the strictest wins. */
const STRICTNESS: Record<AccessRule, number> = { public: 0, operator: 1 };

/** Symbol.for, so a plugin that brings its own copy of the kernel package still declares to this kernel. */
const ACCESS = Symbol.for('gridflex.http.access');

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

type Declared = Middleware & { [ACCESS]?: AccessRule };

/**
 * Declares a route's access rule: put it in the route's middleware (`r.post('/x', access('public'), handler)`)
 * for one route, or `r.use(access('public'))` for every route of a router. It does nothing when it runs; the
 * kernel reads it from the matched route before dispatching.
 */
export function access(rule: AccessRule): Middleware {
  if (!(rule in STRICTNESS)) throw new Error(`access: unknown rule '${String(rule)}' (known: ${Object.keys(STRICTNESS).join(', ')})`);
  const mw: Declared = (_ctx, next) => next();
  mw[ACCESS] = rule;
  return mw;
}

/** The parts of a matched @koa/router layer the kernel reads. */
export interface MatchedLayer {
  methods: string[];
  stack: readonly unknown[];
}

function declaredIn(layer: MatchedLayer): AccessRule | undefined {
  let rule: AccessRule | undefined;
  for (const fn of layer.stack) {
    const r = (fn as Declared)[ACCESS];
    if (r !== undefined && (rule === undefined || STRICTNESS[r] > STRICTNESS[rule])) rule = r;
  }
  return rule;
}

/**
 * The rule for a request whose route matched `layers` (the router's `pathAndMethod`): the route's own
 * declaration, else its router's (`use`), else the default by method. Several at one level: the strictest.
 */
export function accessFor(method: string, layers: readonly MatchedLayer[]): AccessRule {
  const strictest = (rules: (AccessRule | undefined)[]) =>
    rules.reduce<AccessRule | undefined>((a, r) => (r === undefined ? a : a === undefined || STRICTNESS[r] > STRICTNESS[a] ? r : a), undefined);
  const own = strictest(layers.filter((l) => l.methods.length > 0).map(declaredIn));
  if (own) return own;
  const router = strictest(layers.filter((l) => l.methods.length === 0).map(declaredIn));
  if (router) return router;
  return SAFE_METHODS.has(method.toUpperCase()) ? 'public' : 'operator';
}

/** Checks a request against its route's rule; throws 401 `GF_HTTP_UNAUTHORIZED` when it does not meet it. */
export function authorizer(apiTokens: readonly string[]) {
  const tokens = apiTokens.map((t) => Buffer.from(t));
  return function authorize(ctx: Context, rule: AccessRule): void {
    if (rule === 'public' || tokens.length === 0) return;
    const given = Buffer.from(/^Bearer (.+)$/.exec(ctx.get('authorization'))?.[1] ?? '');
    if (!tokens.some((t) => t.length === given.length && timingSafeEqual(t, given))) {
      ctx.set('WWW-Authenticate', 'Bearer');
      throw new GfError(KernelErrors.GF_HTTP_UNAUTHORIZED, `${ctx.method} ${ctx.path} needs Authorization: Bearer <one of server.apiTokens>`, { data: { access: rule } });
    }
  };
}
