import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PartiesToken } from '../auth/plugin.js';
import { CATALOGUE, loadPluginModule } from '../catalogue.js';
import { loadConfigOrThrow, type GridflexConfig } from '../config/config.js';
import type { Token } from '../di.js';
import { createLogger, type Logger } from '../log.js';
import { depToken, type AnyPlugin } from '../plugin/define.js';
import { startServer, type RunningServer } from '../server.js';

export interface TestHostOptions {
  /** Built-in plugins to load by id (`storage`, `scheduler`, `secrets` and `parties` always are); the providers of their required dependencies come along. */
  plugins?: readonly string[];
  /** Plugins given as values (fixtures, third-party style). */
  extraPlugins?: readonly AnyPlugin[];
  /** Config per plugin id. */
  config?: Readonly<Record<string, Record<string, unknown>>>;
  /** Root config changes (server keys, log level...), applied after the defaults. */
  root?: (config: GridflexConfig) => void;
  /** A data folder to use (kept); by default a fresh one, removed by `close()`. */
  dataDir?: string;
  log?: Logger;
}

export interface TestHost extends RunningServer {
  /** The data folder (fresh unless given). */
  dataDir: string;
  /** A service a started plugin provides. */
  resolve<T>(token: Token<T>): T;
  /** Headers that make a request the operator's (a fresh operator access token). */
  operator: { authorization: string };
  /** Headers carrying an access token of party `id` (which must exist). */
  as(partyId: string): Promise<{ authorization: string }>;
  /** Stops the server and removes the data folder it made. */
  close(): Promise<void>;
}

/** The built-in plugins `ids` and the `extra` plugins need (required dependencies' providers, transitively), from the catalogue. */
async function withRequiredProviders(ids: readonly string[], extra: readonly AnyPlugin[]): Promise<Set<string>> {
  const defs = new Map<string, AnyPlugin>();
  for (const [id, entry] of Object.entries(CATALOGUE)) defs.set(id, await loadPluginModule(entry.module, true));
  const provider = new Map<symbol, string>();
  for (const [id, def] of defs) for (const t of Object.values((def.provides ?? {}) as Record<string, Token<unknown>>)) provider.set(t.key, id);
  const want = new Set<string>();
  const needsOf = (def: AnyPlugin) => {
    for (const spec of Object.values((def.deps ?? {}) as Record<string, object>)) {
      if (!('optional' in spec)) {
        const owner = provider.get(depToken(spec as Token<unknown>).key);
        if (owner) visit(owner);
      }
    }
  };
  const visit = (id: string) => {
    if (want.has(id)) return;
    const def = defs.get(id);
    if (!def) throw new Error(`startTestHost: no built-in plugin '${id}' (known: ${[...defs.keys()].join(', ')})`);
    want.add(id);
    needsOf(def);
  };
  for (const id of ids) visit(id);
  for (const def of extra) needsOf(def);
  return want;
}

/**
 * Boots a real server for a test with only the plugins it names (and what they require), on a fresh embedded data
 * folder (or PostgreSQL when the config says so), HTTP on a free loopback port, logging silenced. Nothing is
 * mocked: it is `startServer` with a smaller config.
 */
export async function startTestHost(opts: TestHostOptions = {}): Promise<TestHost> {
  const own = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? path.join(mkdtempSync(path.join(os.tmpdir(), 'gf-test-')), 'data');
  const config = loadConfigOrThrow({ env: {}, overrides: { port: 0, dataDir } });
  const wanted = await withRequiredProviders(opts.plugins ?? [], opts.extraPlugins ?? []);
  for (const [id, entry] of Object.entries(CATALOGUE)) {
    if (entry.kernel) continue;
    config.plugins[id] = { enabled: wanted.has(id), config: {} };
  }
  for (const [id, c] of Object.entries(opts.config ?? {})) {
    if (!config.plugins[id] && !opts.extraPlugins?.some((p) => p.manifest.id === id) && !CATALOGUE[id]) throw new Error(`startTestHost: config for unknown plugin '${id}'`);
    config.plugins[id] = { enabled: true, ...config.plugins[id], config: c };
  }
  opts.root?.(config);
  let server: RunningServer;
  try {
    server = await startServer({ config, log: opts.log ?? createLogger({ level: 'silent' }), ...(opts.extraPlugins ? { extraPlugins: opts.extraPlugins } : {}) });
  } catch (e) {
    if (own) rmSync(path.dirname(dataDir), { recursive: true, force: true });
    throw e;
  }
  const parties = server.host.resolve(PartiesToken);
  const as = async (partyId: string) => ({ authorization: `Bearer ${(await parties.issue(await parties.party(partyId))).access_token}` });
  return {
    ...server,
    dataDir,
    operator: await as('operator'),
    as,
    resolve: (token) => server.host.resolve(token),
    async close() {
      await server.close();
      if (own) rmSync(path.dirname(dataDir), { recursive: true, force: true });
    },
  };
}
