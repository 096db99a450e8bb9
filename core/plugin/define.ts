import type Router from '@koa/router';
import type { Static, TSchema } from 'typebox';
import type { ConfigViolation } from '../config/validate.js';
import type { Logger } from '../log.js';
import type { Token } from '../di.js';
import { GfError, KernelErrors } from '../errors.js';

/** A JSON Schema (draft 2020-12 subset understood by ajv) for a plugin's config. */
export type JsonSchema = Record<string, unknown>;

/** Facts every plugin may read: where data lives and which database, if any. */
export interface KernelInfo {
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  /** Random per process: tells this process's jobs and log lines from another's on the same database. */
  readonly instanceId: string;
}

export interface PluginManifest {
  /** `^[a-z][a-z0-9-]{0,62}$`; also the prefix of its extension points and job names. */
  readonly id: string;
  /** Semantic version of the plugin. */
  readonly version: string;
  /**
   * The kernel versions this plugin is written for, as a semver range (`^0.2.0`). The host refuses to boot a
   * plugin whose range does not include the running kernel (Fastify's `checkVersion`); absent means any.
   */
  readonly kernel?: string;
  /** One sentence for `gridflex plugins` and the README. */
  readonly description?: string;
  /** Overrides the host's start timeout for this plugin (ms). */
  readonly startTimeoutMs?: number;
}

/** A dependency the plugin can run without: its value is `undefined` when no loaded plugin provides it. */
export interface OptionalDep<T> {
  readonly optional: Token<T>;
}

/** Marks a dependency as optional (the plugin still starts after its provider when one is loaded). */
export function optional<T>(token: Token<T>): OptionalDep<T> {
  return Object.freeze({ optional: token });
}

export type DepSpec = Token<any> | OptionalDep<any>;
/** What a plugin needs, by the name it reads it under: `{ storage: StorageToken, weather: optional(WeatherToken) }`. */
export type DepMap = Readonly<Record<string, DepSpec>>;
/** What a plugin's start returns to its dependants, by name: `{ ledger: LedgerToken }`. */
export type ProvideMap = Readonly<Record<string, Token<any>>>;

/** The value type a token carries (its phantom field is optional, so `undefined` is dropped). */
export type TokenValue<X> = X extends Token<infer T> ? Exclude<T, undefined> : never;
export type DepValues<D extends DepMap> = {
  readonly [K in keyof D]: D[K] extends OptionalDep<infer T> ? Exclude<T, undefined> | undefined : TokenValue<D[K]>;
};
export type ProvideValues<P extends ProvideMap> = { [K in keyof P]: TokenValue<P[K]> };

/** The token behind a dependency spec. */
export function depToken(spec: DepSpec): Token<unknown> {
  return 'optional' in spec ? spec.optional : spec;
}

/**
 * A typed slot that one plugin opens and others fill with named entries (forecasting models,
 * clearing algorithms, ...). Its id is `'<openerPluginId>.<name>'`.
 */
export interface ExtensionPoint<T> {
  readonly id: string;
  /** Optional check run on every contributed entry (a refusal names the entry). */
  readonly validate?: (entry: T) => string | undefined;
  readonly __type?: T;
}

export function defineExtensionPoint<T>(id: string, validate?: (entry: T) => string | undefined): ExtensionPoint<T> {
  if (!/^[a-z][a-z0-9-]*\.[a-zA-Z][a-zA-Z0-9-]*$/.test(id)) {
    throw new GfError(KernelErrors.GF_PLUGIN_EXTENSION_POINT, `extension point id '${id}' must be '<pluginId>.<name>'`);
  }
  return Object.freeze(validate ? { id, validate } : { id });
}

/** Reads the entries of an extension point (after every plugin has registered). */
export interface ExtensionReader {
  /** The entries of an extension point, in contribution order. */
  extensions<T>(point: ExtensionPoint<T>): ReadonlyMap<string, T>;
}

/** What every phase of a plugin sees. */
export interface PluginContext<C> {
  readonly pluginId: string;
  /** The plugin's config, validated against its schema with defaults applied. */
  readonly config: C;
  readonly kernel: KernelInfo;
  /** A child logger that adds `plugin` to every line. */
  readonly log: Logger;
}

/**
 * What `register` may do: declare extension points and contribute to them. No I/O, no values. Calling these after
 * `register` returned throws `GF_PLUGIN_LATE_CALL` (a late contribution would otherwise be lost).
 */
export interface RegisterContext<C> extends PluginContext<C> {
  /** Opens an extension point this plugin owns (its id starts with this plugin's id). */
  openExtensionPoint<T>(point: ExtensionPoint<T>): void;
  /** Adds a named entry to another (or this) plugin's extension point. */
  contribute<T>(point: ExtensionPoint<T>, entryId: string, entry: T): void;
}

/**
 * What `start` sees: its dependencies' values, the extension points' entries, and the calls that wire it to the
 * server. `mount`, `readiness` and `onStop` throw `GF_PLUGIN_LATE_CALL` once `start` has resolved.
 */
export interface StartContext<C, D extends DepMap = DepMap, R = unknown> extends PluginContext<C>, ExtensionReader {
  /** The values of the declared dependencies; reading a name that was not declared throws. */
  readonly deps: DepValues<D>;
  /** What this plugin's `register` returned (state its contributions share with `start`), else `undefined`. */
  readonly registered: R;
  /** Aborted when the host gives up waiting for `start` (timeout) or shuts down. */
  readonly signal: AbortSignal;
  /** Mounts a router under a path prefix (for example `/api/forecasting`); routes answer once the server is ready. */
  mount(prefix: string, router: Router): void;
  /** Adds a readiness check shown on `/ready`. */
  readiness(name: string, check: () => Promise<void>): void;
  /** Runs `fn` when the host stops this plugin (in reverse order of registration; failures are logged). */
  onStop(fn: () => Promise<void> | void): void;
}

/** Where a plugin command writes. */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

/** What a plugin command sees: the started plugin's config, dependencies and what its start provided. */
export interface CommandContext<C, D extends DepMap = DepMap, P extends ProvideMap = ProvideMap> extends PluginContext<C> {
  readonly deps: DepValues<D>;
  readonly provided: ProvideValues<P>;
}

/**
 * A `gridflex <name> …` command a plugin adds. The CLI boots the plugin and what it depends on
 * (no HTTP), runs the command with the plugin's started values, and stops them again.
 */
export interface PluginCommand<C = any, D extends DepMap = DepMap, P extends ProvideMap = ProvideMap> {
  /** One line for `gridflex --help`. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly usage: string;
  /** Resolves to the exit code. Usage errors: throw GF_CLI_USAGE. */
  run?(args: string[], ctx: CommandContext<C, D, P>, io: CommandIo): Promise<number>;
  /**
   * Work that needs no plugin booted (e.g. evaluating a file): tried first, with every argument (the kernel's
   * `--config`/`--data` included, as they mean nothing here); resolve `undefined` to fall through to `run`.
   */
  runStandalone?(args: string[], io: CommandIo): Promise<number | undefined>;
  /**
   * Used instead of refusing when a server holds the embedded data folder: do the work through that
   * server's HTTP API. Without it the command is refused (GF_STORAGE_LOCKED).
   */
  runRemote?(args: string[], serverUrl: string, io: CommandIo): Promise<number>;
}

/** A config rule a schema cannot say (cross-field, or against extension-point entries); run by boot and `config check`. */
export type ConfigCheck<C> = (config: C, ctx: ExtensionReader) => ConfigViolation[];

export interface PluginDefinition<C = any, D extends DepMap = DepMap, P extends ProvideMap = ProvideMap, R = unknown> {
  readonly manifest: PluginManifest;
  /** JSON Schema of the config (write it with TypeBox so the type follows); defaults are applied before `register`. */
  readonly config?: JsonSchema;
  /** Services this plugin needs, each a token some other plugin provides (or the kernel), or `optional(token)`. */
  readonly deps?: D;
  /** Services this plugin's `start` returns, by name. */
  readonly provides?: P;
  /** Rules on the config beyond its schema; paths are relative to the plugin's config (`defaultModel`). */
  readonly validate?: ConfigCheck<NoInfer<C>>;
  /** Commands this plugin adds to the CLI, by name. */
  readonly commands?: Readonly<Record<string, PluginCommand<NoInfer<C>, NoInfer<D>, NoInfer<P>>>>;
  /**
   * Wiring only: extension points and contributions. What it returns (for example the state a contributed entry
   * reads, filled in by `start`) reaches `start` as `ctx.registered`.
   */
  register?(ctx: RegisterContext<C>): R;
  /** I/O begins here: returns the values of `provides` (every one of them). */
  start?(ctx: StartContext<C, D, NoInfer<R>>): Promise<ProvideValues<P> | void>;
}

/** A definition as the host handles it, whatever its type parameters. */
export type AnyPlugin = PluginDefinition<any, any, any, any>;

const ID = /^[a-z][a-z0-9-]{0,62}$/;
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/** The definition shape with the config type taken from a TypeBox schema. */
export interface TypedPluginDefinition<S extends TSchema, D extends DepMap, P extends ProvideMap, R> extends Omit<PluginDefinition<Static<S>, D, P, R>, 'config'> {
  readonly config: S;
}

/**
 * Checks a plugin's shape and returns it frozen. A plugin is a value, not a side effect. With a TypeBox `config`
 * schema, the config type is derived from it (one shape, written once).
 */
export function definePlugin<S extends TSchema, D extends DepMap = {}, P extends ProvideMap = {}, R = undefined>(def: TypedPluginDefinition<S, D, P, R>): PluginDefinition<Static<S>, D, P, R>;
export function definePlugin<C = Record<string, never>, D extends DepMap = {}, P extends ProvideMap = {}, R = undefined>(def: PluginDefinition<C, D, P, R>): PluginDefinition<C, D, P, R>;
export function definePlugin(def: AnyPlugin): AnyPlugin {
  const problems = describeDefinitionProblems(def);
  if (problems.length > 0) {
    const id = typeof def?.manifest?.id === 'string' ? def.manifest.id : '(unnamed)';
    throw new GfError(KernelErrors.GF_PLUGIN_INVALID_DEFINITION, `plugin ${id}: ${problems.join('; ')}`, { data: { plugin: id, problems } });
  }
  return Object.freeze({ ...def, manifest: Object.freeze({ ...def.manifest }) });
}

const isToken = (t: unknown): t is Token<unknown> => typeof t === 'object' && t !== null && typeof (t as Token<unknown>).key === 'symbol';

export function describeDefinitionProblems(def: unknown): string[] {
  const problems: string[] = [];
  if (typeof def !== 'object' || def === null) return ['definition is not an object'];
  const d = def as Partial<AnyPlugin> & { manifest?: Record<string, unknown> };
  const m = d.manifest;
  if (typeof m !== 'object' || m === null) return ['manifest is missing'];
  if (typeof m.id !== 'string' || !ID.test(m.id)) problems.push(`manifest.id must match ${ID}`);
  if (typeof m.version !== 'string' || !SEMVER.test(m.version)) problems.push('manifest.version must be a semantic version');
  if (m.kernel !== undefined && typeof m.kernel !== 'string') problems.push('manifest.kernel must be a semver range');
  if ('requires' in m || 'config' in m) problems.push("manifest.requires and manifest.config are gone: declare 'deps' (tokens) and 'config' beside the manifest");
  if (d.config !== undefined && (typeof d.config !== 'object' || d.config === null)) problems.push('config must be a JSON Schema object');
  for (const [what, map] of [['deps', d.deps], ['provides', d.provides]] as const) {
    if (map === undefined) continue;
    if (typeof map !== 'object' || map === null) {
      problems.push(`${what} must be an object of tokens`);
      continue;
    }
    for (const [name, spec] of Object.entries(map)) {
      const token = what === 'deps' && typeof spec === 'object' && spec !== null && 'optional' in spec ? (spec as OptionalDep<unknown>).optional : spec;
      if (!isToken(token)) problems.push(`${what}.${name} must be a token${what === 'deps' ? ' or optional(token)' : ''}`);
    }
  }
  if (d.register !== undefined && typeof d.register !== 'function') problems.push('register must be a function');
  if (d.start !== undefined && typeof d.start !== 'function') problems.push('start must be a function');
  if (d.validate !== undefined && typeof d.validate !== 'function') problems.push('validate must be a function');
  if ('stop' in d) problems.push("stop is gone: register cleanup with ctx.onStop() in start");
  if (d.provides && Object.keys(d.provides).length > 0 && typeof d.start !== 'function') problems.push('a plugin that provides services needs a start that returns them');
  return problems;
}
