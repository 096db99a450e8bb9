import type Router from '@koa/router';
import type { Logger } from '../log.js';
import type { DependencyContainer, Token } from '../di.js';
import { GfError, KernelErrors } from '../errors.js';

/** A JSON Schema (draft 2020-12 subset understood by ajv) for a plugin's config. */
export type JsonSchema = Record<string, unknown>;

/** Facts every plugin may read: where data lives and which database, if any. */
export interface KernelInfo {
  readonly dataDir: string;
  readonly databaseUrl: string | undefined;
  /** True when running under tests or CI-like conditions that want fast timers. */
  readonly instanceId: string;
}

export interface PluginManifest {
  /** `^[a-z][a-z0-9-]{0,62}$`; also the prefix of its extension points and job names. */
  readonly id: string;
  /** Semantic version of the plugin. */
  readonly version: string;
  /** Ids of plugins that must be loaded and started before this one. */
  readonly requires?: readonly string[];
  /** JSON Schema of the plugin's config; defaults are applied before `register`. */
  readonly config?: JsonSchema;
  /** One sentence for `gridflex plugins` and the README. */
  readonly description?: string;
  /** Overrides the host's start timeout for this plugin (ms). */
  readonly startTimeoutMs?: number;
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

/** What every phase of a plugin sees. */
export interface PluginContext<C> {
  readonly pluginId: string;
  /** The plugin's config, validated against its schema with defaults applied. */
  readonly config: C;
  readonly kernel: KernelInfo;
  /** A child logger that adds `plugin` to every line. */
  readonly log: Logger;
  /** The plugin's own child container: what is registered here stays private. */
  readonly container: DependencyContainer;
  /**
   * Resolves a token: the plugin's own, or one exposed by a plugin registered earlier (one in
   * `requires`). Ports such as storage may be taken in `register` and used from `start` on.
   */
  resolve<T>(token: Token<T>): T;
}

/** What `register` may do: wiring only, no I/O. */
export interface RegisterContext<C> extends PluginContext<C> {
  /** Provides a token to every plugin (registered in the root container). */
  expose<T>(token: Token<T>, factory: (resolve: <U>(t: Token<U>) => U) => T): void;
  /** Provides a token to this plugin only. */
  provide<T>(token: Token<T>, factory: (resolve: <U>(t: Token<U>) => U) => T): void;
  /** Opens an extension point this plugin owns (its id starts with this plugin's id). */
  openExtensionPoint<T>(point: ExtensionPoint<T>): void;
  /** Adds a named entry to another (or this) plugin's extension point. */
  contribute<T>(point: ExtensionPoint<T>, entryId: string, entry: T): void;
  /** Mounts a router under a path prefix (for example `/api/forecasting`). */
  mount(prefix: string, router: Router): void;
  /** Adds a readiness check shown on `/ready`. */
  readiness(name: string, check: () => Promise<void>): void;
}

/** What `start` and `stop` see: the wiring is done, I/O may begin. */
export interface StartContext<C> extends PluginContext<C> {
  /** The entries of an extension point, in contribution order. */
  extensions<T>(point: ExtensionPoint<T>): ReadonlyMap<string, T>;
  /** Aborted when the host gives up waiting for `start` (timeout) or shuts down. */
  readonly signal: AbortSignal;
}

/** Where a plugin command writes. */
export interface CommandIo {
  out(line: string): void;
  err(line: string): void;
}

/**
 * A `gridflex <name> …` command a plugin adds. The CLI boots the plugin and what it requires
 * (no HTTP), runs the command with the plugin's started context, and stops them again.
 */
export interface PluginCommand<C = Record<string, unknown>> {
  /** One line for `gridflex --help`. */
  readonly summary: string;
  /** The full `--help` text. */
  readonly usage: string;
  /** Resolves to the exit code. Usage errors: throw GF_CLI_USAGE. */
  run(args: string[], ctx: StartContext<C>, io: CommandIo): Promise<number>;
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

export interface PluginDefinition<C = Record<string, unknown>> {
  readonly manifest: PluginManifest;
  /** Commands this plugin adds to the CLI, by name. */
  readonly commands?: Readonly<Record<string, PluginCommand<C>>>;
  register(ctx: RegisterContext<C>): void;
  start?(ctx: StartContext<C>): Promise<void>;
  stop?(ctx: StartContext<C>): Promise<void>;
}

const ID = /^[a-z][a-z0-9-]{0,62}$/;
const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;

/** Checks a plugin's shape and returns it frozen. A plugin is a value, not a side effect. */
export function definePlugin<C = Record<string, unknown>>(def: PluginDefinition<C>): PluginDefinition<C> {
  const problems = describeDefinitionProblems(def);
  if (problems.length > 0) {
    const id = typeof def?.manifest?.id === 'string' ? def.manifest.id : '(unnamed)';
    throw new GfError(KernelErrors.GF_PLUGIN_INVALID_DEFINITION, `plugin ${id}: ${problems.join('; ')}`, { data: { plugin: id, problems } });
  }
  return Object.freeze({ ...def, manifest: Object.freeze({ ...def.manifest }) });
}

export function describeDefinitionProblems(def: unknown): string[] {
  const problems: string[] = [];
  if (typeof def !== 'object' || def === null) return ['definition is not an object'];
  const d = def as Partial<PluginDefinition<unknown>>;
  const m = d.manifest;
  if (typeof m !== 'object' || m === null) return ['manifest is missing'];
  if (typeof m.id !== 'string' || !ID.test(m.id)) problems.push(`manifest.id must match ${ID}`);
  if (typeof m.version !== 'string' || !SEMVER.test(m.version)) problems.push('manifest.version must be a semantic version');
  if (m.requires !== undefined && (!Array.isArray(m.requires) || m.requires.some((r) => typeof r !== 'string'))) {
    problems.push('manifest.requires must be an array of plugin ids');
  }
  if (m.config !== undefined && (typeof m.config !== 'object' || m.config === null)) problems.push('manifest.config must be a JSON Schema object');
  if (typeof d.register !== 'function') problems.push('register must be a function');
  if (d.start !== undefined && typeof d.start !== 'function') problems.push('start must be a function');
  if (d.stop !== undefined && typeof d.stop !== 'function') problems.push('stop must be a function');
  return problems;
}
