import { randomUUID, timingSafeEqual } from 'node:crypto';
import Koa, { type Context, type Middleware, type Next } from 'koa';
import Router from '@koa/router';
import { access, routeRules, type Authorizer, type Principal, type RouteRule } from '../auth/access.js';
import { GfError, KernelErrors } from '../errors.js';
import type { Logger } from '../log.js';
import type { Mount, PluginStatus } from '../plugin/host.js';
import { bodyParser } from './body.js';
import { checkQueryAndPath } from './input.js';
import type { Metrics } from './metrics.js';
import { PROBLEM_CONTENT_TYPE, toProblem } from './problem.js';

export type Phase = 'starting' | 'ready' | 'stopping' | 'failed';

export interface HttpAppOptions {
  log: Logger;
  metrics: Metrics;
  bodyLimitBytes: number;
  version: string;
  /** Plugin states, for `/ready`, `/metrics` and `/api/plugins`. */
  pluginStatus: () => PluginStatus[];
  /** Runs the plugins' readiness checks (storage reachable, ...); failures by name. */
  readinessChecks: () => Promise<Record<string, string>>;
  /** Bearer tokens that act as the operator (`server.apiTokens`), beside the parties' own credentials. */
  apiTokens?: readonly string[];
  /** Who may read `/metrics`: the operator (default), or anyone. */
  metricsAccess?: 'operator' | 'public';
}

export interface HttpApp {
  app: Koa;
  /**
   * Mounts the plugins' routers (after boot; until then their paths answer 503) with the authorizer their access
   * rules ask. Throws GF_HTTP_ROUTE_UNDECLARED when a route declares no rule.
   */
  mount(mounts: readonly Mount[], authorizer: Authorizer): void;
  /** Every route with its access rule (kernel and plugins), once mounted. */
  routes(): RouteRule[];
  setPhase(phase: Phase): void;
  phase(): Phase;
}

const KERNEL_PATHS = new Set(['/health', '/ready', '/metrics', '/api/plugins', '/api/routes']);
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

declare module 'koa' {
  interface DefaultState {
    requestId: string;
    xml?: unknown;
  }
}

/** The Koa app: request ids, access log, problem+json errors, metrics, body parsing, kernel routes. */
export function createHttpApp(opts: HttpAppOptions): HttpApp {
  const app = new Koa();
  app.proxy = false;
  // Errors are logged once by our middleware, with the reference id.
  app.silent = true;
  let phase: Phase = 'starting';
  /** The last "not ready" or "shutting down" refusal logged, so a probe loop logs it once. */
  let lastUnavailable: string | undefined;
  let pluginMiddleware: Middleware | undefined;
  const started = Date.now();

  app.use(async function requestContext(ctx: Context, next: Next) {
    const incoming = ctx.get('x-request-id');
    const requestId = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    const t0 = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const route = routeLabel(ctx);
      opts.metrics.requests.inc({ method: ctx.method, route, status: String(ctx.status) });
      opts.metrics.latency.observe({ method: ctx.method, route }, seconds);
      opts.log.info({ reqId: requestId, method: ctx.method, url: ctx.url, route, status: ctx.status, ms: Math.round(seconds * 1e4) / 10 }, 'request');
    }
  });

  app.use(async function problemJson(ctx: Context, next: Next) {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) {
        throw new GfError(KernelErrors.GF_HTTP_NOT_FOUND, `no route for ${ctx.method} ${ctx.path}`);
      }
    } catch (err) {
      const problem = toProblem(err, ctx.path, ctx.state.requestId);
      const line = { reqId: ctx.state.requestId, referenceId: problem.referenceId, code: problem.code, status: problem.status };
      if (problem.code === KernelErrors.GF_HTTP_NOT_READY || problem.code === KernelErrors.GF_HTTP_SHUTTING_DOWN) {
        // Expected while booting or stopping, and probed every few seconds: said once (again when it changes),
        // at info, without a stack; a readiness check failing on a ready server is a warning.
        const said = `${problem.code} ${problem.detail}`;
        if (said !== lastUnavailable) {
          lastUnavailable = said;
          if (phase === 'ready') opts.log.warn(line, problem.detail);
          else opts.log.info(line, problem.detail);
        }
      } else if (problem.status >= 500) opts.log.error({ ...line, err }, problem.detail);
      else opts.log.info(line, problem.detail);
      ctx.status = problem.status;
      ctx.type = PROBLEM_CONTENT_TYPE;
      ctx.body = problem;
      if (problem.status === 503) ctx.set('Retry-After', '1');
    }
    if (phase === 'stopping') ctx.set('Connection', 'close');
  });

  let authorizer: Authorizer | undefined;
  let table: RouteRule[] = [];
  const tokens = (opts.apiTokens ?? []).map((t) => Buffer.from(t));
  // The caller is resolved at most once per request, and only when a rule asks.
  async function resolvePrincipal(ctx: Context): Promise<Principal | undefined> {
    const bearer = tokens.length > 0 ? /^Bearer (.+)$/.exec(ctx.get('authorization'))?.[1] : undefined;
    if (bearer !== undefined) {
      const given = Buffer.from(bearer);
      if (tokens.some((t) => t.length === given.length && timingSafeEqual(t, given))) return { partyId: 'operator', role: 'operator', via: 'api-token', credentialId: 'server.apiTokens' };
    }
    if (!authorizer) throw new GfError(KernelErrors.GF_HTTP_NOT_READY, `server is ${phase}; try again shortly`);
    return authorizer.authenticate(ctx);
  }
  app.use(async function authContext(ctx: Context, next: Next) {
    let memo: Promise<Principal | undefined> | undefined;
    ctx.state.auth = {
      get authorizer(): Authorizer {
        if (!authorizer) throw new GfError(KernelErrors.GF_HTTP_NOT_READY, `server is ${phase}; try again shortly`);
        return authorizer;
      },
      principal: () => (memo ??= resolvePrincipal(ctx)),
    };
    return next();
  });

  const kernel = new Router({ sensitive: true });
  kernel.get('/health', access.public('liveness probe'), (ctx) => {
    ctx.body = { status: 'ok', phase, version: opts.version, uptimeSeconds: Math.round((Date.now() - started) / 1000) };
  });
  kernel.get('/ready', access.public('readiness probe'), async (ctx) => {
    const plugins = Object.fromEntries(opts.pluginStatus().map((p) => [p.id, p.state]));
    const checks = phase === 'ready' ? await opts.readinessChecks() : {};
    if (phase !== 'ready' || Object.keys(checks).length > 0) {
      throw new GfError(KernelErrors.GF_HTTP_NOT_READY, phase !== 'ready' ? `server is ${phase}` : `readiness checks failed: ${Object.keys(checks).join(', ')}`, {
        data: { phase, plugins, checks },
      });
    }
    ctx.body = { status: 'ready', plugins };
  });
  kernel.get('/metrics', opts.metricsAccess === 'public' ? access.public('server.metricsAccess is public') : access.roles(['operator']), async (ctx) => {
    opts.metrics.pluginState.reset();
    for (const p of opts.pluginStatus()) {
      for (const s of ['planned', 'registered', 'starting', 'started', 'failed', 'stopping', 'stopped']) {
        opts.metrics.pluginState.set({ plugin: p.id, state: s }, p.state === s ? 1 : 0);
      }
    }
    ctx.type = opts.metrics.registry.contentType;
    ctx.body = await opts.metrics.registry.metrics();
  });
  kernel.get('/api/plugins', access.signedIn(), (ctx) => {
    ctx.body = { phase, plugins: opts.pluginStatus() };
  });
  kernel.get('/api/routes', access.roles(['operator']), (ctx) => {
    ctx.body = table;
  });
  const kernelRules = routeRules('kernel', '/', kernel);
  caseSensitive(kernel);
  const parse = bodyParser(opts.bodyLimitBytes);
  // A body sent to a kernel route (none takes one) is read and dropped first, up to the body limit (413 beyond), so a
  // long answer (/metrics) is never cut off by the connection closing on an unread upload.
  app.use(async (ctx, next) => {
    if (KERNEL_PATHS.has(ctx.path) && (Number(ctx.get('content-length') || 0) > 0 || ctx.get('transfer-encoding'))) {
      let n = 0;
      for await (const chunk of ctx.req) {
        n += (chunk as Buffer).length;
        if (n > opts.bodyLimitBytes) throw new GfError(KernelErrors.GF_HTTP_BODY_TOO_LARGE, `${ctx.method} ${ctx.path} takes no body; at most ${opts.bodyLimitBytes} bytes are read`);
      }
    }
    return next();
  });
  app.use(kernel.routes());
  app.use(kernel.allowedMethods({ throw: true }));

  app.use(async function pluginRoutes(ctx: Context, next: Next) {
    if (KERNEL_PATHS.has(ctx.path)) return next();
    if (phase === 'stopping') throw new GfError(KernelErrors.GF_HTTP_SHUTTING_DOWN, 'server is shutting down');
    if (!pluginMiddleware) throw new GfError(KernelErrors.GF_HTTP_NOT_READY, `server is ${phase}; try again shortly`);
    return pluginMiddleware(ctx, next);
  });

  return {
    app,
    mount(mounts, authz) {
      const root = new Router({ sensitive: true });
      // Refuse the whole set before anything answers when one route declares no access rule.
      const rules = mounts.flatMap((m) => routeRules(m.pluginId, m.prefix, m.router));
      for (const m of mounts) {
        if (m.prefix === '/') root.use(m.router.routes());
        else root.use(m.prefix, m.router.routes());
      }
      caseSensitive(root);
      authorizer = authz;
      table = [...kernelRules, ...rules];
      const routes = root.routes();
      pluginMiddleware = async (ctx, next) => {
        const matched = root.match(ctx.path, ctx.method);
        // Bodies are parsed only for routes that exist, so a 404 or 405 never waits on an upload.
        if (matched.route) {
          // NUL and lone surrogates are refused here for every route (the body's in the parser).
          const route = matched.pathAndMethod.find((l) => l.methods.length > 0);
          checkQueryAndPath(ctx, () => (route ? route.params(ctx.path, route.captures(ctx.path)) : {}));
          // Bodies are parsed only for routes that exist, so a 404 or 405 never waits on an upload.
          if (SAFE_METHODS.has(ctx.method)) return parse(ctx, () => routes(ctx as never, next));
          // Every write is audited, refused ones included: who (if known), what, when, the outcome and the request id.
          let status = 500;
          try {
            await parse(ctx, () => routes(ctx as never, next));
            status = ctx.status;
          } catch (e) {
            status = typeof (e as { status?: unknown }).status === 'number' ? (e as { status: number }).status : 500;
            throw e;
          } finally {
            const p = ctx.state.caller ?? (await ctx.state.auth!.principal().catch(() => undefined));
            await authz.record({ partyId: p?.partyId ?? null, role: p?.role ?? null, method: ctx.method, route: routeLabel(ctx), path: ctx.path, status, requestId: ctx.state.requestId });
          }
          return;
        }
        if (matched.path.length > 0) {
          const allowed = [...new Set(matched.path.flatMap((l) => l.methods))];
          ctx.set('Allow', allowed.join(', '));
          throw new GfError(KernelErrors.GF_HTTP_METHOD_NOT_ALLOWED, `${ctx.method} is not allowed on ${ctx.path}; allowed: ${allowed.join(', ')}`);
        }
        return next();
      };
    },
    routes: () => table,
    setPhase(p) {
      phase = p;
      lastUnavailable = undefined;
    },
    phase: () => phase,
  };
}

/**
 * Paths match case-sensitively (RFC 3986), whatever options a plugin gave its own router: `/API/x` is not
 * `/api/x`, so nothing that reads a path (a plugin's own check, a log, a metric label) can disagree with the router.
 */
function caseSensitive(router: Router): void {
  for (const layer of router.stack) {
    if (layer.regexp instanceof RegExp && layer.regexp.flags.includes('i')) layer.regexp = new RegExp(layer.regexp.source, layer.regexp.flags.replace('i', ''));
  }
}

/** A concrete path a route pattern matches: every parameter (`:id`, `*rest`) given `value`, optional groups kept. */
export function samplePath(pattern: string, value = 'x'): string {
  return pattern.replace(/[{}]/g, '').replace(/[:*][A-Za-z_$][A-Za-z0-9_$]*/g, encodeURIComponent(value));
}

/** The matched route pattern (bounded cardinality), or `unmatched`. */
function routeLabel(ctx: Context): string {
  const r = (ctx as unknown as { _matchedRoute?: string | RegExp })._matchedRoute;
  if (typeof r === 'string') return r;
  return 'unmatched';
}
