import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { GfError, KernelErrors } from '../errors.js';
import { validateWithSchema, type ConfigViolation } from './validate.js';

/** A plugin's entry in the config file. */
export interface PluginEntry {
  /** Loaded unless `false`. Kernel plugins (`storage`, `scheduler`, `secrets`) cannot be disabled. */
  enabled: boolean;
  /** Module path or package name for a plugin that is not in the built-in catalogue. */
  module?: string;
  /** The plugin's own config, validated against its manifest's schema. */
  config: Record<string, unknown>;
}

export interface GridflexConfig {
  server: {
    host: string;
    port: number;
    bodyLimitBytes: number;
    shutdownTimeoutMs: number;
    startTimeoutMs: number;
    headersTimeoutMs: number;
    requestTimeoutMs: number;
    keepAliveTimeoutMs: number;
    apiTokens: string[];
    metricsAccess: 'operator' | 'public';
  };
  dataDir: string;
  database: { url: string };
  log: { level: string };
  plugins: Record<string, PluginEntry>;
}

/** The root config schema; one sentence per key. */
export const rootConfigSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    server: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        host: { type: 'string', default: '127.0.0.1', description: 'Address to listen on (0.0.0.0 for every interface).' },
        port: { type: 'integer', minimum: 0, maximum: 65535, default: 8080, description: 'TCP port; 0 picks a free one.' },
        bodyLimitBytes: { type: 'integer', minimum: 1024, default: 1048576, description: 'Largest request body accepted (413 beyond).' },
        shutdownTimeoutMs: { type: 'integer', minimum: 0, default: 10000, description: 'How long in-flight requests may take to finish on shutdown.' },
        startTimeoutMs: { type: 'integer', minimum: 1, default: 30000, description: 'How long each plugin start may take.' },
        headersTimeoutMs: {
          type: 'integer',
          minimum: 100,
          maximum: 600000,
          default: 10000,
          description: 'How long a client may take to send a request line and headers; then 408 and the connection is closed (slow-header clients).',
        },
        requestTimeoutMs: {
          type: 'integer',
          minimum: 100,
          maximum: 3600000,
          default: 30000,
          description: 'How long a client may take to send a whole request, body included; then 408 and closed (slow bodies). Not the time a route takes to answer. At least headersTimeoutMs.',
        },
        keepAliveTimeoutMs: {
          type: 'integer',
          minimum: 0,
          maximum: 600000,
          default: 5000,
          description: 'How long an idle keep-alive connection is kept; announced as Keep-Alive: timeout=<s>, closed 1 s later so clients that honour the announcement close first. 0: close after each response.',
        },
        apiTokens: {
          type: 'array',
          default: [],
          items: { type: 'string', minLength: 16 },
          description: 'Static bearer tokens that act as the operator (for scripts and monitoring); parties get their own tokens at POST /api/auth/token.',
        },
        metricsAccess: { enum: ['operator', 'public'], default: 'operator', description: 'Who may read /metrics: the operator, or anyone (for a scraper on a trusted network).' },
      },
    },
    dataDir: { type: 'string', minLength: 1, default: './data', description: 'Folder of the embedded database and other local state.' },
    database: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        url: { type: 'string', default: '', description: 'postgres:// URL of a PostgreSQL server; empty for the embedded engine.' },
      },
    },
    log: {
      type: 'object',
      additionalProperties: false,
      default: {},
      properties: {
        level: { enum: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], default: 'info', description: 'Log level.' },
      },
    },
    plugins: {
      type: 'object',
      default: {},
      propertyNames: { pattern: '^[a-z][a-z0-9-]{0,62}$' },
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        properties: {
          enabled: { type: 'boolean', default: true },
          module: { type: 'string', minLength: 1 },
          config: { type: 'object', default: {} },
        },
      },
    },
  },
} as const;

/** Where config came from, to say so in errors. */
export interface LoadOptions {
  /** Config file (JSON or YAML); none means defaults plus environment. */
  file?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Values from command-line flags; applied last. */
  overrides?: { port?: number; dataDir?: string; host?: string };
  /** Base folder for relative paths (the config file's folder, else the working directory). */
  cwd?: string;
}

export interface LoadResult {
  config: GridflexConfig;
  violations: ConfigViolation[];
  source: string;
}

/**
 * Reads the config file (if any), applies environment overrides, validates it against the root
 * schema with defaults, and returns every violation (none means `config` is valid).
 *
 * Environment: `PORT`, `HOST`, `GRIDFLEX_DATA_DIR`, `DATABASE_URL`, `LOG_LEVEL`, `LEDGER_RPC_URL`, `LEDGER_OPERATOR_KEY`, `GRIDFLEX_KEK`, and for any key
 * `GRIDFLEX__<path>` with `__` between segments, e.g. `GRIDFLEX__plugins__example__config__greeting=hi`
 * (values are parsed as JSON when they parse, else taken as strings).
 */
export function loadConfig(opts: LoadOptions = {}): LoadResult {
  const env = opts.env ?? process.env;
  const cwd = opts.cwd ?? process.cwd();
  const file = opts.file ?? (env.GRIDFLEX_CONFIG || undefined);
  let raw: Record<string, unknown> = {};
  let source = 'defaults';
  if (file) {
    const abs = path.resolve(cwd, file);
    source = abs;
    raw = readConfigFile(abs);
  }
  const violations: ConfigViolation[] = [];
  applyEnv(raw, env, violations);
  if (opts.overrides?.port !== undefined) setPath(raw, ['server', 'port'], opts.overrides.port);
  if (opts.overrides?.host !== undefined) setPath(raw, ['server', 'host'], opts.overrides.host);
  if (opts.overrides?.dataDir !== undefined) setPath(raw, ['dataDir'], opts.overrides.dataDir);
  violations.push(...validateWithSchema(rootConfigSchema, raw, ''));
  const srv = (raw as { server?: { headersTimeoutMs?: number; requestTimeoutMs?: number } }).server;
  if (violations.length === 0 && srv && srv.headersTimeoutMs! > srv.requestTimeoutMs!) {
    violations.push({ path: 'server.requestTimeoutMs', message: `must be at least server.headersTimeoutMs (${srv.headersTimeoutMs})` });
  }
  const config = raw as unknown as GridflexConfig;
  if (violations.length === 0) {
    const base = file ? path.dirname(path.resolve(cwd, file)) : cwd;
    // Flags and environment name paths relative to where the command runs; the file, to itself.
    const dataFromFile = !opts.overrides?.dataDir && !env.GRIDFLEX_DATA_DIR;
    config.dataDir = path.resolve(dataFromFile ? base : cwd, config.dataDir);
    for (const entry of Object.values(config.plugins)) {
      if (entry.module && entry.module.startsWith('.')) entry.module = path.resolve(base, entry.module);
    }
  }
  return { config, violations, source };
}

/** Like `loadConfig`, but throws GF_CONFIG_INVALID listing every violation. */
export function loadConfigOrThrow(opts: LoadOptions = {}): GridflexConfig {
  const r = loadConfig(opts);
  if (r.violations.length > 0) {
    throw new GfError(KernelErrors.GF_CONFIG_INVALID, `config (${r.source}) is invalid: ${r.violations.map((v) => `${v.path} ${v.message}`).join('; ')}`, {
      data: { violations: r.violations },
    });
  }
  return r.config;
}

function readConfigFile(abs: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (e) {
    throw new GfError(KernelErrors.GF_CONFIG_UNREADABLE, `cannot read config file ${abs}: ${(e as Error).message}`, { data: { file: abs } });
  }
  let parsed: unknown;
  try {
    parsed = abs.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new GfError(KernelErrors.GF_CONFIG_UNREADABLE, `cannot parse config file ${abs}: ${(e as Error).message}`, { data: { file: abs } });
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new GfError(KernelErrors.GF_CONFIG_UNREADABLE, `config file ${abs} must hold an object at the top`, { data: { file: abs } });
  }
  return parsed as Record<string, unknown>;
}

function applyEnv(raw: Record<string, unknown>, env: NodeJS.ProcessEnv, violations: ConfigViolation[]): void {
  const simple: [string, string[], 'int' | 'string'][] = [
    ['PORT', ['server', 'port'], 'int'],
    ['HOST', ['server', 'host'], 'string'],
    ['GRIDFLEX_DATA_DIR', ['dataDir'], 'string'],
    ['DATABASE_URL', ['database', 'url'], 'string'],
    ['LOG_LEVEL', ['log', 'level'], 'string'],
    ['LEDGER_RPC_URL', ['plugins', 'ledger', 'config', 'rpcUrl'], 'string'],
    ['LEDGER_OPERATOR_KEY', ['plugins', 'ledger', 'config', 'operatorKey'], 'string'],
    ['GRIDFLEX_KEK', ['plugins', 'secrets', 'config', 'kek'], 'string'],
  ];
  for (const [name, p, kind] of simple) {
    const v = env[name];
    if (v === undefined || v === '') continue;
    if (kind === 'int') {
      if (!/^\d+$/.test(v)) {
        violations.push({ path: `env.${name}`, message: `must be a whole number, got '${v}'` });
        continue;
      }
      setPath(raw, p, Number(v));
    } else setPath(raw, p, v);
  }
  for (const [name, v] of Object.entries(env)) {
    if (!name.startsWith('GRIDFLEX__') || v === undefined) continue;
    const segs = name.slice('GRIDFLEX__'.length).split('__').filter(Boolean);
    if (segs.length === 0) continue;
    let value: unknown = v;
    try {
      value = JSON.parse(v);
    } catch {
      /* a plain string */
    }
    setPath(raw, segs, value);
  }
}

function setPath(obj: Record<string, unknown>, segs: string[], value: unknown): void {
  let cur: Record<string, unknown> = obj;
  for (const s of segs.slice(0, -1)) {
    const next = cur[s];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) cur[s] = {};
    cur = cur[s] as Record<string, unknown>;
  }
  cur[segs[segs.length - 1]!] = value;
}
