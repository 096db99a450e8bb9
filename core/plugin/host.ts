import type Router from '@koa/router';
import semver from 'semver';
import { createToken, registerValue, resolveToken, type DependencyContainer, type Token } from '../di.js';
import { GfError, KernelErrors, isGfError } from '../errors.js';
import { validateWithSchema, type ConfigViolation } from '../config/validate.js';
import type { Logger } from '../log.js';
import {
  depToken,
  describeDefinitionProblems,
  type AnyPlugin,
  type CommandContext,
  type DepMap,
  type ProvideMap,
  type ExtensionPoint,
  type ExtensionReader,
  type KernelInfo,
  type RegisterContext,
  type StartContext,
} from './define.js';

export type PluginState = 'planned' | 'registered' | 'starting' | 'started' | 'failed' | 'stopping' | 'stopped';

export interface PluginStatus {
  id: string;
  version: string;
  description: string | undefined;
  /** The plugins whose services this one uses (required, or optional and loaded). */
  dependsOn: readonly string[];
  state: PluginState;
  error: { code: string; message: string } | undefined;
}

/** A mounted router with its owner, for the HTTP layer. */
export interface Mount {
  pluginId: string;
  prefix: string;
  router: Router;
}

/** A value the kernel itself provides to plugins (the metrics registry, ...). */
export interface KernelService {
  token: Token<unknown>;
  value: unknown;
}

export interface HostOptions {
  plugins: readonly AnyPlugin[];
  /** Raw config per plugin id (validated and defaulted by the host). */
  configs?: Readonly<Record<string, unknown>>;
  root: DependencyContainer;
  log: Logger;
  kernel: KernelInfo;
  /** The running kernel's version, checked against each manifest's `kernel` range. */
  kernelVersion: string;
  /** Services the kernel provides (plugins may depend on them like on any plugin's). */
  services?: readonly KernelService[];
  /** Default time a plugin's `start` may take (ms). */
  startTimeoutMs?: number;
  /** Time a plugin's stop hooks may take before the host moves on (ms). */
  stopTimeoutMs?: number;
}

/** A boot problem found while planning; `gridflex config check` prints all of them. */
export interface BootProblem {
  code: string;
  plugin: string;
  message: string;
  violations?: ConfigViolation[];
}

export interface PlanOptions {
  kernelVersion: string;
  /** Token keys the kernel provides. */
  kernelTokens?: ReadonlySet<symbol>;
}

export interface Plan {
  /** Start order (dependencies first, stable on declaration order). */
  order: string[];
  configs: Map<string, unknown>;
  /** Plugin ids each plugin depends on. */
  dependsOn: Map<string, string[]>;
  problems: BootProblem[];
}

interface Slot {
  def: AnyPlugin;
  config: unknown;
  state: PluginState;
  error: GfError | undefined;
  /** Whether start ran (so its stop hooks may hold resources). */
  started: boolean;
  stopHooks: (() => Promise<void> | void)[];
  deps: Record<string, unknown> | undefined;
  /** What register returned, for start. */
  registered: unknown;
  provided: Record<string, unknown> | undefined;
  abort: AbortController;
  log: Logger;
}

/** The root token under which the host itself can be resolved (for `/api/plugins`). */
export const PluginHostToken: Token<PluginHost> = createToken<PluginHost>('kernel.pluginHost');

/** Names a plain JS plugin may read on `deps` without having declared them (awaiting, serialising, inspecting). */
const HARMLESS_KEYS = new Set(['then', 'toJSON', 'constructor', 'inspect']);

/**
 * Plans, registers, starts and stops plugins. A plugin declares the services it needs (`deps`, tokens) and those its
 * `start` returns (`provides`); the host orders starts so every provider starts before its dependants and hands each
 * plugin the values it declared, nothing else. Config is validated (defaults applied) before `register`, the
 * plugins' own `validate` rules run after every plugin registered (so they can check extension-point entries),
 * and `start` runs in order under a timeout. Stop hooks run in reverse.
 */
export class PluginHost implements ExtensionReader {
  private readonly slots = new Map<string, Slot>();
  private order: string[] = [];
  private dependsOn = new Map<string, string[]>();
  private readonly points = new Map<string, { owner: string; point: ExtensionPoint<unknown>; entries: Map<string, unknown> }>();
  private readonly pendingContributions: { from: string; point: ExtensionPoint<unknown>; entryId: string; entry: unknown }[] = [];
  private readonly readinessChecks: { plugin: string; name: string; check: () => Promise<void> }[] = [];
  readonly mounts: Mount[] = [];
  private readonly opts: Required<Pick<HostOptions, 'startTimeoutMs' | 'stopTimeoutMs'>> & HostOptions;
  private phase: 'new' | 'registered' | 'booted' = 'new';

  constructor(opts: HostOptions) {
    this.opts = { startTimeoutMs: 30_000, stopTimeoutMs: 10_000, ...opts };
  }

  /**
   * Every problem visible without running plugin code: invalid definitions, duplicate ids, kernel version
   * mismatches, services provided twice, missing or cyclic dependencies, invalid configs. Defaults are applied
   * to copies of the configs.
   */
  static plan(plugins: readonly AnyPlugin[], configs: Readonly<Record<string, unknown>>, opts: PlanOptions): Plan {
    const problems: BootProblem[] = [];
    const byId = new Map<string, AnyPlugin>();
    for (const def of plugins) {
      const defProblems = describeDefinitionProblems(def);
      const id = typeof def?.manifest?.id === 'string' ? def.manifest.id : '(unnamed)';
      if (defProblems.length > 0) {
        problems.push({ code: KernelErrors.GF_PLUGIN_INVALID_DEFINITION, plugin: id, message: `plugin ${id}: ${defProblems.join('; ')}` });
        continue;
      }
      if (byId.has(id)) {
        problems.push({ code: KernelErrors.GF_PLUGIN_DUPLICATE_ID, plugin: id, message: `plugin id '${id}' is defined twice` });
        continue;
      }
      const range = def.manifest.kernel;
      if (range !== undefined && (semver.validRange(range) === null || !semver.satisfies(opts.kernelVersion, range, { includePrerelease: true }))) {
        problems.push({
          code: KernelErrors.GF_PLUGIN_KERNEL_VERSION,
          plugin: id,
          message:
            semver.validRange(range) === null
              ? `plugin '${id}' declares kernel '${range}', which is not a semver range`
              : `plugin '${id}' is written for kernel ${range}; this is kernel ${opts.kernelVersion}`,
        });
        continue;
      }
      byId.set(id, def);
    }
    // Who provides each service.
    const provider = new Map<symbol, string>();
    for (const [id, def] of byId) {
      for (const token of Object.values((def.provides ?? {}) as ProvideMap)) {
        const owner = provider.get(token.key);
        if (owner !== undefined || opts.kernelTokens?.has(token.key)) {
          problems.push({
            code: KernelErrors.GF_PLUGIN_TOKEN_CONFLICT,
            plugin: id,
            message: `plugin '${id}' provides ${token.name}, already provided by ${owner === undefined ? 'the kernel' : `'${owner}'`}`,
          });
          continue;
        }
        provider.set(token.key, id);
      }
    }
    const dependsOn = new Map<string, string[]>();
    for (const [id, def] of byId) {
      const needs = new Set<string>();
      for (const [name, spec] of Object.entries((def.deps ?? {}) as DepMap)) {
        const token = depToken(spec);
        const owner = provider.get(token.key);
        if (owner === id) {
          problems.push({ code: KernelErrors.GF_PLUGIN_DEPENDENCY_CYCLE, plugin: id, message: `plugin '${id}' depends on ${token.name}, which it provides itself` });
        } else if (owner !== undefined) needs.add(owner);
        else if (!opts.kernelTokens?.has(token.key) && !('optional' in spec)) {
          problems.push({
            code: KernelErrors.GF_PLUGIN_MISSING_DEPENDENCY,
            plugin: id,
            message: `plugin '${id}' needs ${token.name} (deps.${name}), which no loaded plugin provides`,
          });
        }
      }
      dependsOn.set(id, [...needs]);
    }
    const { order, cycle } = topoOrder([...byId.keys()], dependsOn);
    if (cycle) {
      problems.push({
        code: KernelErrors.GF_PLUGIN_DEPENDENCY_CYCLE,
        plugin: cycle[0]!,
        message: `plugins depend on each other in a cycle: ${cycle.join(' -> ')}`,
      });
    }
    const validated = new Map<string, unknown>();
    for (const [id, def] of byId) {
      const raw = configs[id] === undefined ? {} : structuredClone(configs[id]);
      if (def.config) {
        const violations = validateWithSchema(def.config, raw, `plugins.${id}.config`);
        if (violations.length > 0) problems.push(configProblem(id, violations));
      }
      validated.set(id, raw);
    }
    return { order, configs: validated, dependsOn, problems };
  }

  /**
   * Plans, registers every plugin and settles the extension points, then runs each plugin's `validate`: every
   * problem a boot would meet before any `start` (what `gridflex config check` reports). No plugin does I/O.
   */
  check(): BootProblem[] {
    if (this.phase !== 'new') throw new Error('host already checked or booted');
    const plan = PluginHost.plan(this.opts.plugins, this.opts.configs ?? {}, {
      kernelVersion: this.opts.kernelVersion,
      kernelTokens: new Set((this.opts.services ?? []).map((s) => s.token.key)),
    });
    if (plan.problems.length > 0) return plan.problems;
    this.order = plan.order;
    this.dependsOn = plan.dependsOn;
    const byId = new Map(this.opts.plugins.map((p) => [p.manifest.id, p]));
    for (const id of this.order) {
      this.slots.set(id, {
        def: byId.get(id)!,
        config: plan.configs.get(id),
        state: 'planned',
        error: undefined,
        started: false,
        stopHooks: [],
        deps: undefined,
        registered: undefined,
        provided: undefined,
        abort: new AbortController(),
        log: this.opts.log.child({ plugin: id }),
      });
    }
    registerValue(this.opts.root, PluginHostToken, this);
    for (const s of this.opts.services ?? []) registerValue(this.opts.root, s.token, s.value);
    this.phase = 'registered';
    const problems: BootProblem[] = [];
    for (const id of this.order) {
      const p = this.registerOne(this.slots.get(id)!);
      if (p) return [p];
    }
    problems.push(...this.settleContributions());
    if (problems.length > 0) return problems;
    for (const id of this.order) {
      const slot = this.slots.get(id)!;
      if (!slot.def.validate) continue;
      try {
        const violations = slot.def.validate(slot.config, this).map((v) => ({ path: `plugins.${id}.config.${v.path}`, message: v.message }));
        if (violations.length > 0) problems.push(configProblem(id, violations));
      } catch (e) {
        problems.push({ code: KernelErrors.GF_PLUGIN_INVALID_CONFIG, plugin: id, message: `plugin '${id}' config check failed: ${errMessage(e)}` });
      }
    }
    return problems;
  }

  /** Checks, registers and starts every plugin; throws the first problem as a coded error. */
  async boot(): Promise<void> {
    const problems = this.check();
    if (problems.length > 0) {
      const first = problems[0]!;
      throw new GfError(first.code, first.message, { data: { plugin: first.plugin, violations: first.violations, problems } });
    }
    this.phase = 'booted';
    for (const id of this.order) {
      try {
        await this.startOne(this.slots.get(id)!);
      } catch (e) {
        await this.stop();
        throw e;
      }
    }
  }

  private registerOne(slot: Slot): BootProblem | undefined {
    const id = slot.def.manifest.id;
    let open = true;
    const late = (what: string) => {
      if (!open) throw new GfError(KernelErrors.GF_PLUGIN_LATE_CALL, `plugin '${id}' called ${what} after register returned; it would have no effect`, { data: { plugin: id, call: what } });
    };
    const ctx: RegisterContext<unknown> = {
      pluginId: id,
      config: slot.config,
      kernel: this.opts.kernel,
      log: slot.log,
      openExtensionPoint: (point) => {
        late('openExtensionPoint');
        if (!point.id.startsWith(`${id}.`)) {
          throw new GfError(KernelErrors.GF_PLUGIN_EXTENSION_POINT, `plugin '${id}' may only open extension points named '${id}.<name>', not '${point.id}'`, {
            data: { plugin: id, point: point.id },
          });
        }
        if (this.points.has(point.id)) {
          throw new GfError(KernelErrors.GF_PLUGIN_EXTENSION_POINT, `extension point '${point.id}' is opened twice`, { data: { plugin: id, point: point.id } });
        }
        this.points.set(point.id, { owner: id, point: point as ExtensionPoint<unknown>, entries: new Map() });
      },
      contribute: (point, entryId, entry) => {
        late('contribute');
        this.pendingContributions.push({ from: id, point: point as ExtensionPoint<unknown>, entryId, entry });
      },
    };
    try {
      slot.registered = slot.def.register?.(ctx);
      slot.state = 'registered';
      return undefined;
    } catch (e) {
      slot.state = 'failed';
      const err = isGfError(e)
        ? e
        : new GfError(KernelErrors.GF_PLUGIN_REGISTER_FAILED, `plugin '${id}' failed in register: ${errMessage(e)}`, { cause: e, data: { plugin: id } });
      slot.error = err;
      return { code: err.code, plugin: id, message: err.message };
    } finally {
      open = false;
    }
  }

  private settleContributions(): BootProblem[] {
    const problems: BootProblem[] = [];
    for (const c of this.pendingContributions) {
      const open = this.points.get(c.point.id);
      const problem = (message: string) => problems.push({ code: KernelErrors.GF_PLUGIN_EXTENSION_POINT, plugin: c.from, message });
      if (!open) {
        problem(`plugin '${c.from}' contributes '${c.entryId}' to extension point '${c.point.id}', which no loaded plugin opens`);
        continue;
      }
      if (open.entries.has(c.entryId)) {
        problem(`plugin '${c.from}' contributes '${c.entryId}' to '${c.point.id}' twice or over another plugin's entry`);
        continue;
      }
      const why = open.point.validate?.(c.entry);
      if (why) {
        problem(`plugin '${c.from}' entry '${c.entryId}' for '${c.point.id}' is invalid: ${why}`);
        continue;
      }
      open.entries.set(c.entryId, c.entry);
    }
    return problems;
  }

  extensions<T>(point: ExtensionPoint<T>): ReadonlyMap<string, T> {
    const open = this.points.get(point.id);
    if (!open) throw new GfError(KernelErrors.GF_PLUGIN_EXTENSION_POINT, `extension point '${point.id}' is not open`);
    return open.entries as ReadonlyMap<string, T>;
  }

  /** The declared dependencies' values, behind a guard: reading an undeclared name throws. */
  private depsOf(slot: Slot): Record<string, unknown> {
    const id = slot.def.manifest.id;
    const values: Record<string, unknown> = {};
    for (const [name, spec] of Object.entries((slot.def.deps ?? {}) as DepMap)) {
      const token = depToken(spec);
      values[name] = this.opts.root.isRegistered(token.key, true) ? resolveToken(this.opts.root, token) : undefined;
    }
    Object.freeze(values);
    return new Proxy(values, {
      get(target, prop, receiver) {
        if (typeof prop === 'symbol' || prop in target || HARMLESS_KEYS.has(prop)) return Reflect.get(target, prop, receiver);
        throw new GfError(KernelErrors.GF_PLUGIN_UNDECLARED_DEPENDENCY, `plugin '${id}' reads deps.${prop}, which it does not declare in deps`, { data: { plugin: id, dependency: prop } });
      },
    });
  }

  private async startOne(slot: Slot): Promise<void> {
    const id = slot.def.manifest.id;
    slot.deps = this.depsOf(slot);
    if (!slot.def.start) {
      slot.provided = {};
      slot.state = 'started';
      return;
    }
    slot.state = 'starting';
    let open = true;
    const late = (what: string) => {
      if (!open) throw new GfError(KernelErrors.GF_PLUGIN_LATE_CALL, `plugin '${id}' called ${what} after its start resolved`, { data: { plugin: id, call: what } });
    };
    const ctx: StartContext<unknown> = {
      pluginId: id,
      config: slot.config,
      kernel: this.opts.kernel,
      log: slot.log,
      deps: slot.deps as StartContext<unknown>['deps'],
      registered: slot.registered,
      signal: slot.abort.signal,
      extensions: (p) => this.extensions(p),
      mount: (prefix, router) => {
        late('mount');
        const norm = normalisePrefix(prefix);
        const clash = this.mounts.find((m) => m.prefix === norm);
        if (clash) {
          throw new GfError(KernelErrors.GF_PLUGIN_ROUTE_CONFLICT, `plugin '${id}' mounts '${norm}', already mounted by '${clash.pluginId}'`, {
            data: { plugin: id, prefix: norm, owner: clash.pluginId },
          });
        }
        this.mounts.push({ pluginId: id, prefix: norm, router });
      },
      readiness: (name, check) => {
        late('readiness');
        this.readinessChecks.push({ plugin: id, name, check });
      },
      onStop: (fn) => {
        late('onStop');
        slot.stopHooks.push(fn);
      },
    };
    const timeoutMs = slot.def.manifest.startTimeoutMs ?? this.opts.startTimeoutMs;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        // Reject before aborting: a start that resolves on abort must not win the race.
        reject(new GfError(KernelErrors.GF_PLUGIN_START_TIMEOUT, `plugin '${id}' did not start within ${timeoutMs} ms`, { data: { plugin: id, timeoutMs } }));
        slot.abort.abort(new Error('start timed out'));
      }, timeoutMs);
    });
    const t0 = Date.now();
    slot.started = true;
    try {
      const returned = await Promise.race([slot.def.start(ctx), timeout]);
      slot.provided = this.checkProvided(slot, returned);
      for (const [name, token] of Object.entries(slot.def.provides ?? {})) registerValue(this.opts.root, token as Token<unknown>, slot.provided[name]);
      slot.state = 'started';
      slot.log.debug({ ms: Date.now() - t0 }, 'plugin started');
    } catch (e) {
      slot.state = 'failed';
      slot.error =
        isGfError(e) && (e.code === KernelErrors.GF_PLUGIN_START_TIMEOUT || e.code === KernelErrors.GF_PLUGIN_PROVIDES_MISMATCH)
          ? e
          : new GfError(KernelErrors.GF_PLUGIN_START_FAILED, `plugin '${id}' failed to start: ${errMessage(e)}`, {
              cause: e,
              data: { plugin: id, ...(isGfError(e) ? { causeCode: e.code } : {}) },
            });
      throw slot.error;
    } finally {
      open = false;
      clearTimeout(timer);
    }
  }

  /** What start returned must be exactly the declared `provides`, each with a value. */
  private checkProvided(slot: Slot, returned: unknown): Record<string, unknown> {
    const id = slot.def.manifest.id;
    const want = Object.keys(slot.def.provides ?? {});
    const got = returned === undefined || returned === null ? {} : (returned as Record<string, unknown>);
    if (typeof got !== 'object') throw new GfError(KernelErrors.GF_PLUGIN_PROVIDES_MISMATCH, `plugin '${id}' start returned ${typeof got}; it must return its provides or nothing`, { data: { plugin: id } });
    const missing = want.filter((k) => got[k] === undefined);
    const extra = Object.keys(got).filter((k) => !want.includes(k));
    if (missing.length > 0 || extra.length > 0) {
      throw new GfError(
        KernelErrors.GF_PLUGIN_PROVIDES_MISMATCH,
        `plugin '${id}' start must return exactly its provides (${want.join(', ') || 'none'})${missing.length ? `; missing: ${missing.join(', ')}` : ''}${extra.length ? `; not declared: ${extra.join(', ')}` : ''}`,
        { data: { plugin: id, missing, extra } },
      );
    }
    return Object.freeze({ ...got });
  }

  /** Runs the stop hooks of every plugin whose start ran, in reverse. Never throws; failures are logged. */
  async stop(): Promise<void> {
    for (const id of [...this.order].reverse()) {
      const slot = this.slots.get(id)!;
      // A plugin whose start failed or timed out may hold half-open resources: run its hooks too.
      if (!slot.started || slot.state === 'stopped' || slot.state === 'stopping') continue;
      const wasFailed = slot.state === 'failed';
      slot.state = 'stopping';
      slot.abort.abort(new Error('host stopping'));
      for (const hook of slot.stopHooks.reverse()) {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            Promise.resolve().then(hook),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`stop did not finish within ${this.opts.stopTimeoutMs} ms`)), this.opts.stopTimeoutMs);
            }),
          ]);
        } catch (e) {
          slot.log.error({ err: e }, 'plugin failed to stop cleanly');
        } finally {
          clearTimeout(timer);
        }
      }
      slot.stopHooks = [];
      slot.state = wasFailed ? 'failed' : 'stopped';
    }
  }

  status(): PluginStatus[] {
    const ids = this.order.length > 0 ? this.order : this.opts.plugins.map((p) => p.manifest.id);
    return ids.map((id) => {
      const slot = this.slots.get(id);
      const def = slot?.def ?? this.opts.plugins.find((p) => p.manifest.id === id)!;
      return {
        id,
        version: def.manifest.version,
        description: def.manifest.description,
        dependsOn: this.dependsOn.get(id) ?? [],
        state: slot?.state ?? 'planned',
        error: slot?.error ? { code: slot.error.code, message: slot.error.message } : undefined,
      };
    });
  }

  allStarted(): boolean {
    return this.order.length > 0 && this.order.every((id) => this.slots.get(id)!.state === 'started');
  }

  /** Runs every readiness check; returns the failures by `plugin.name`. */
  async readiness(): Promise<Record<string, string>> {
    const failures: Record<string, string> = {};
    await Promise.all(
      this.readinessChecks.map(async (r) => {
        try {
          await r.check();
        } catch (e) {
          failures[`${r.plugin}.${r.name}`] = errMessage(e);
        }
      }),
    );
    return failures;
  }

  /** The started plugin's values, for its CLI commands. */
  commandContext(id: string): CommandContext<unknown> {
    const slot = this.slots.get(id);
    if (!slot || slot.state !== 'started') throw new Error(`plugin ${id} is not started`);
    return { pluginId: id, config: slot.config, kernel: this.opts.kernel, log: slot.log, deps: slot.deps as CommandContext<unknown>['deps'], provided: slot.provided as CommandContext<unknown>['provided'] };
  }

  /** The plugins `id` needs, transitively (required and optional dependencies that are loaded), itself included. */
  static closure(plugins: readonly AnyPlugin[], id: string, opts: PlanOptions): AnyPlugin[] {
    const { dependsOn } = PluginHost.plan(plugins, {}, opts);
    const need = new Set<string>();
    const visit = (x: string) => {
      if (need.has(x)) return;
      need.add(x);
      for (const r of dependsOn.get(x) ?? []) visit(r);
    };
    visit(id);
    return plugins.filter((p) => need.has(p.manifest.id));
  }

  /** Resolves a provided service from the root container (after boot). */
  resolve<T>(token: Token<T>): T {
    return resolveToken(this.opts.root, token);
  }
}

function configProblem(id: string, violations: ConfigViolation[]): BootProblem {
  return {
    code: KernelErrors.GF_PLUGIN_INVALID_CONFIG,
    plugin: id,
    message: `plugin '${id}' config is invalid: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}`,
    violations,
  };
}

/** Kahn's algorithm, stable on declaration order; on a cycle, returns one cycle's path. */
function topoOrder(ids: string[], dependsOn: Map<string, string[]>): { order: string[]; cycle: string[] | undefined } {
  const order: string[] = [];
  const done = new Set<string>();
  for (;;) {
    const next = ids.find((id) => !done.has(id) && (dependsOn.get(id) ?? []).every((d) => done.has(d)));
    if (next === undefined) break;
    order.push(next);
    done.add(next);
  }
  if (order.length === ids.length) return { order, cycle: undefined };
  return { order, cycle: findCycle(dependsOn, ids.filter((id) => !done.has(id))) };
}

function findCycle(dependsOn: Map<string, string[]>, remaining: string[]): string[] {
  const rem = new Set(remaining);
  const path: string[] = [];
  const seen = new Map<string, number>();
  let cur: string | undefined = remaining[0]!;
  while (cur !== undefined && !seen.has(cur)) {
    seen.set(cur, path.length);
    path.push(cur);
    cur = (dependsOn.get(cur) ?? []).find((r) => rem.has(r));
  }
  if (cur === undefined) return path;
  return [...path.slice(seen.get(cur)!), cur];
}

function normalisePrefix(p: string): string {
  const s = `/${p}`.replace(/\/+/g, '/').replace(/\/$/, '');
  return s === '' ? '/' : s;
}

export function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
