import { randomUUID } from 'node:crypto';
import Koa, { type Context, type Middleware, type Next } from 'koa';
import Router from '@koa/router';
import { GfError, KernelErrors } from '../errors.js';
import type { Logger } from '../log.js';
import type { Mount, PluginStatus } from '../plugin/host.js';
import { accessFor, authorizer, type AccessRule, type MatchedLayer } from './access.js';
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
  /** When set, routes whose access rule is `operator` (by default every write) need one of these bearer tokens. */
  apiTokens?: readonly string[];
}

/** One mounted route, as the router table lists it. */
export interface RouteInfo {
  pluginId: string;
  method: string;
  /** The route's pattern as matched (prefix included), e.g. `/api/market/prosumers/:id`. */
  path: string;
  /** The access rule the kernel applies to it. */
  access: AccessRule;
}

export interface HttpApp {
  app: Koa;
  /** Mounts the plugins' routers (after boot; until then their paths answer 503). */
  mount(mounts: readonly Mount[]): void;
  setPhase(phase: Phase): void;
  phase(): Phase;
  /** Every mounted plugin route with its access rule (empty before `mount`). */
  routes(): RouteInfo[];
}

const KERNEL_PATHS = new Set(['/health', '/ready', '/metrics', '/api/plugins']);
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
      if (problem.status >= 500) opts.log.error({ ...line, err }, problem.detail);
      else opts.log.info(line, problem.detail);
      ctx.status = problem.status;
      ctx.type = PROBLEM_CONTENT_TYPE;
      ctx.body = problem;
      if (problem.status === 503) ctx.set('Retry-After', '1');
    }
    if (phase === 'stopping') ctx.set('Connection', 'close');
  });

  const kernel = new Router({ sensitive: true });
  kernel.get('/health', (ctx) => {
    ctx.body = { status: 'ok', phase, version: opts.version, uptimeSeconds: Math.round((Date.now() - started) / 1000) };
  });
  kernel.get('/ready', async (ctx) => {
    const plugins = Object.fromEntries(opts.pluginStatus().map((p) => [p.id, p.state]));
    const checks = phase === 'ready' ? await opts.readinessChecks() : {};
    if (phase !== 'ready' || Object.keys(checks).length > 0) {
      throw new GfError(KernelErrors.GF_HTTP_NOT_READY, phase !== 'ready' ? `server is ${phase}` : `readiness checks failed: ${Object.keys(checks).join(', ')}`, {
        data: { phase, plugins, checks },
      });
    }
    ctx.body = { status: 'ready', plugins };
  });
  kernel.get('/metrics', async (ctx) => {
    opts.metrics.pluginState.reset();
    for (const p of opts.pluginStatus()) {
      for (const s of ['planned', 'registered', 'starting', 'started', 'failed', 'stopping', 'stopped']) {
        opts.metrics.pluginState.set({ plugin: p.id, state: s }, p.state === s ? 1 : 0);
      }
    }
    ctx.type = opts.metrics.registry.contentType;
    ctx.body = await opts.metrics.registry.metrics();
  });
  kernel.get('/api/plugins', (ctx) => {
    ctx.body = { phase, plugins: opts.pluginStatus() };
  });
  caseSensitive(kernel);
  app.use(kernel.routes());
  app.use(kernel.allowedMethods({ throw: true }));

  const authorize = authorizer(opts.apiTokens ?? []);
  app.use(async function pluginRoutes(ctx: Context, next: Next) {
    if (KERNEL_PATHS.has(ctx.path)) return next();
    if (phase === 'stopping') throw new GfError(KernelErrors.GF_HTTP_SHUTTING_DOWN, 'server is shutting down');
    if (!pluginMiddleware) throw new GfError(KernelErrors.GF_HTTP_NOT_READY, `server is ${phase}; try again shortly`);
    return pluginMiddleware(ctx, next);
  });

  const parse = bodyParser(opts.bodyLimitBytes);
  let table: RouteInfo[] = [];
  return {
    app,
    mount(mounts) {
      const root = new Router({ sensitive: true });
      const owners: string[] = [];
      for (const m of mounts) {
        if (m.prefix === '/') root.use(m.router.routes());
        else root.use(m.prefix, m.router.routes());
        while (owners.length < root.stack.length) owners.push(m.pluginId);
      }
      caseSensitive(root);
      table = routeTable(root, owners);
      const routes = root.routes();
      pluginMiddleware = async (ctx, next) => {
        const matched = root.match(ctx.path, ctx.method);
        if (matched.route) {
          // Authorised on the route that matched, before its body is read (an unauthorised upload is never waited on).
          authorize(ctx, accessFor(ctx.method, matched.pathAndMethod as unknown as MatchedLayer[]));
          // NUL and lone surrogates are refused here for every route (the body's in the parser).
          const route = matched.pathAndMethod.find((l) => l.methods.length > 0);
          checkQueryAndPath(ctx, () => (route ? route.params(ctx.path, route.captures(ctx.path)) : {}));
          // Bodies are parsed only for routes that exist, so a 404 or 405 never waits on an upload.
          return parse(ctx, () => routes(ctx as never, next));
        }
        if (matched.path.length > 0) {
          const allowed = [...new Set(matched.path.flatMap((l) => l.methods))];
          ctx.set('Allow', allowed.join(', '));
          throw new GfError(KernelErrors.GF_HTTP_METHOD_NOT_ALLOWED, `${ctx.method} is not allowed on ${ctx.path}; allowed: ${allowed.join(', ')}`);
        }
        return next();
      };
    },
    setPhase(p) {
      phase = p;
    },
    phase: () => phase,
    routes: () => table.map((r) => ({ ...r })),
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

/** Every route layer of the mounted root router, with its owner and the rule a request to it gets. */
function routeTable(root: Router, owners: readonly string[]): RouteInfo[] {
  const out: RouteInfo[] = [];
  root.stack.forEach((layer, i) => {
    if (layer.methods.length === 0 || typeof layer.path !== 'string') return;
    const sample = samplePath(layer.path);
    for (const method of layer.methods) {
      if (method === 'HEAD' && layer.methods.includes('GET')) continue;
      const matched = root.match(sample, method);
      out.push({ pluginId: owners[i] ?? '?', method, path: layer.path, access: accessFor(method, matched.pathAndMethod as unknown as MatchedLayer[]) });
    }
  });
  return out;
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
