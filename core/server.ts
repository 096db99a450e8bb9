export { VERSION } from './kernel.js';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolvePlugins } from './catalogue.js';
import type { GridflexConfig } from './config/config.js';
import { createRootContainer } from './di.js';
import { GfError, KernelErrors } from './errors.js';
import { readDataDirLock } from './datadir-lock.js';
import { AuthorizerToken } from './auth/access.js';
import { createHttpApp, type HttpApp } from './http/app.js';
import { Metrics } from './http/metrics.js';
import { kernelServices, VERSION } from './kernel.js';
import { createLogger, type Logger } from './log.js';
import type { AnyPlugin } from './plugin/define.js';
import { PluginHost } from './plugin/host.js';
import { removeServerInfo, writeServerInfo } from './server-info.js';

export interface ServerOptions {
  config: GridflexConfig;
  log?: Logger;
  /** Plugins given as values (tests, embedding), in addition to those the config loads. */
  extraPlugins?: readonly AnyPlugin[];
  /** Called once the port is open, before plugins boot (so `/health` answers during boot). */
  onListening?: (url: string) => void;
}

export interface RunningServer {
  url: string;
  port: number;
  host: PluginHost;
  http: HttpApp;
  log: Logger;
  /** Graceful stop: refuse new work, let in-flight requests finish, stop plugins in reverse. */
  close(): Promise<void>;
}

/**
 * The listener's timeouts, set deliberately (Node's defaults let a slow body hold a connection for 300 s):
 * headers and whole-request deadlines (408 and closed), checked often enough to be near their value, and the
 * idle keep-alive time. Node closes an idle socket 1 s after the `Keep-Alive: timeout` it announces, and its
 * client agent and undici drop theirs 1 s before it, so a client that honours the announcement never reuses a
 * socket the server is closing.
 */
export function serverOptions(s: GridflexConfig['server']): http.ServerOptions {
  return {
    headersTimeout: s.headersTimeoutMs,
    requestTimeout: s.requestTimeoutMs,
    keepAliveTimeout: s.keepAliveTimeoutMs,
    connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(Math.min(s.headersTimeoutMs, s.requestTimeoutMs) / 4))),
  };
}

/**
 * Boots gridflex: opens the port first (liveness during boot), then plans, registers and starts the
 * plugins, mounts their routes and turns ready. A boot failure closes everything and rethrows.
 */
export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const { config } = opts;
  const log = opts.log ?? createLogger({ level: config.log.level });
  const resolved = await resolvePlugins(config, opts.extraPlugins);
  if (resolved.problems.length > 0) {
    const first = resolved.problems[0]!;
    throw new GfError(first.code, first.message, { data: { plugin: first.plugin, problems: resolved.problems } });
  }
  if (!config.database.url) {
    // Fail before opening the port when another process holds the embedded engine's folder.
    const holder = readDataDirLock(config.dataDir);
    if (holder) {
      throw new GfError(KernelErrors.GF_STORAGE_LOCKED, `data folder ${config.dataDir} is in use by gridflex (pid ${holder.pid}); stop it or pass another --data folder`, {
        data: { dataDir: config.dataDir, pid: holder.pid },
      });
    }
  }
  const metrics = new Metrics();
  const host = new PluginHost({
    plugins: resolved.plugins,
    configs: resolved.configs,
    root: createRootContainer(),
    log,
    kernelVersion: VERSION,
    services: kernelServices(metrics.registry),
    kernel: {
      dataDir: config.dataDir,
      databaseUrl: config.database.url || undefined,
      instanceId: randomBytes(4).toString('hex'),
    },
    startTimeoutMs: config.server.startTimeoutMs,
  });
  const app = createHttpApp({
    log,
    metrics,
    bodyLimitBytes: config.server.bodyLimitBytes,
    apiTokens: config.server.apiTokens,
    metricsAccess: config.server.metricsAccess,
    version: VERSION,
    pluginStatus: () => host.status(),
    readinessChecks: () => host.readiness(),
  });
  const server = http.createServer(serverOptions(config.server), app.app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.server.port, config.server.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = config.server.host === '0.0.0.0' || config.server.host === '::' ? '127.0.0.1' : config.server.host;
  const url = `http://${shownHost.includes(':') ? `[${shownHost}]` : shownHost}:${port}`;
  log.info({ url }, 'listening');
  opts.onListening?.(url);

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      app.setPhase('stopping');
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), config.server.shutdownTimeoutMs);
      await drained;
      clearTimeout(timer);
      await host.stop();
      removeServerInfo(config.dataDir);
      log.info('stopped');
    })();
    return closing;
  };

  const t0 = Date.now();
  try {
    await host.boot();
  } catch (e) {
    app.setPhase('failed');
    log.error({ err: e }, 'boot failed');
    await close();
    throw e;
  }
  app.mount(host.mounts, host.resolve(AuthorizerToken));
  app.setPhase('ready');
  writeServerInfo(config.dataDir, { pid: process.pid, url, startedAt: new Date().toISOString() });
  log.info({ ms: Date.now() - t0, plugins: host.status().map((p) => p.id) }, 'ready');
  return { url, port, host, http: app, log, close };
}
