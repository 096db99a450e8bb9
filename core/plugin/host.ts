import Router from '@koa/router';
import { createToken, registerFactory, resolveToken, type DependencyContainer, type Token } from '../di.js';
import { GfError, KernelErrors, isGfError } from '../errors.js';
import { validateWithSchema, type ConfigViolation } from '../config/validate.js';
import type { Logger } from '../log.js';
import {
  describeDefinitionProblems,
  type ExtensionPoint,
  type KernelInfo,
  type PluginDefinition,
  type RegisterContext,
  type StartContext,
} from './define.js';

export type PluginState = 'planned' | 'registered' | 'starting' | 'started' | 'failed' | 'stopping' | 'stopped';

export interface PluginStatus {
  id: string;
  version: string;
  description: string | undefined;
  requires: readonly string[];
  state: PluginState;
  error: { code: string; message: string } | undefined;
}

/** A mounted router with its owner, for the HTTP layer. */
export interface Mount {
  pluginId: string;
  prefix: string;
  router: Router;
}

export interface HostOptions {
  plugins: readonly PluginDefinition<any>[];
  /** Raw config per plugin id (validated and defaulted by the host). */
  configs?: Readonly<Record<string, unknown>>;
  root: DependencyContainer;
  log: Logger;
  kernel: KernelInfo;
  /** Default time a plugin's `start` may take (ms). */
  startTimeoutMs?: number;
  /** Time a plugin's `stop` may take before the host moves on (ms). */
  stopTimeoutMs?: number;
}

/** A boot problem found while planning; `gridflex config check` prints all of them. */
export interface BootProblem {
  code: string;
  plugin: string;
  message: string;
  violations?: ConfigViolation[];
}

interface Slot {
  def: PluginDefinition<any>;
  config: unknown;
  container: DependencyContainer;
  state: PluginState;
  error: GfError | undefined;
  ctx: StartContext<unknown> | undefined;
  abort: AbortController;
}

/** The root token under which the host itself can be resolved (for `/api/plugins`). */
export const PluginHostToken: Token<PluginHost> = createToken<PluginHost>('kernel.pluginHost');

/**
 * Plans, registers, starts and stops plugins. Boot order follows `requires`; config is validated
 * (defaults applied) before `register`; `start` runs in order under a timeout; `stop` runs in
 * reverse order of the starts that succeeded.
 */
export class PluginHost {
  private readonly slots = new Map<string, Slot>();
  private order: string[] = [];
  private readonly points = new Map<string, { owner: string; point: ExtensionPoint<unknown>; entries: Map<string, unknown> }>();
  private readonly pendingContributions: { from: string; point: ExtensionPoint<unknown>; entryId: string; entry: unknown }[] = [];
  private readonly exposedBy = new Map<symbol, string>();
  private readonly readinessChecks: { plugin: string; name: string; check: () => Promise<void> }[] = [];
  readonly mounts: Mount[] = [];
  private readonly opts: Required<Pick<HostOptions, 'startTimeoutMs' | 'stopTimeoutMs'>> & HostOptions;
  private booted = false;

  constructor(opts: HostOptions) {
    this.opts = { startTimeoutMs: 30_000, stopTimeoutMs: 10_000, ...opts };
  }

  /**
   * Every problem that would stop boot, without running any plugin code: invalid definitions,
   * duplicate ids, missing or cyclic requires, invalid configs. Config defaults are applied to copies.
   */
  static plan(plugins: readonly PluginDefinition<any>[], configs: Readonly<Record<string, unknown>> = {}): {
    order: string[];
    configs: Map<string, unknown>;
    problems: BootProblem[];
  } {
    const problems: BootProblem[] = [];
    const byId = new Map<string, PluginDefinition<any>>();
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
      byId.set(id, def);
    }
    for (const [id, def] of byId) {
      for (const req of def.manifest.requires ?? []) {
        if (!byId.has(req)) {
          problems.push({
            code: KernelErrors.GF_PLUGIN_MISSING_REQUIRE,
            plugin: id,
            message: `plugin '${id}' requires '${req}', which is not loaded`,
          });
        }
      }
    }
    const { order, cycle } = topoOrder(byId);
    if (cycle) {
      problems.push({
        code: KernelErrors.GF_PLUGIN_REQUIRE_CYCLE,
        plugin: cycle[0]!,
        message: `plugins require each other in a cycle: ${cycle.join(' -> ')}`,
      });
    }
    const validated = new Map<string, unknown>();
    for (const [id, def] of byId) {
      const raw = configs[id] === undefined ? {} : structuredClone(configs[id]);
      if (def.manifest.config) {
        const violations = validateWithSchema(def.manifest.config, raw, `plugins.${id}.config`);
        if (violations.length > 0) {
          problems.push({
            code: KernelErrors.GF_PLUGIN_INVALID_CONFIG,
            plugin: id,
            message: `plugin '${id}' config is invalid: ${violations.map((v) => `${v.path} ${v.message}`).join('; ')}`,
            violations,
          });
        }
      }
      validated.set(id, raw);
    }
    return { order, configs: validated, problems };
  }

  /** Plans, registers and starts every plugin; throws the first problem as a coded error. */
  async boot(): Promise<void> {
    if (this.booted) throw new Error('host already booted');
    this.booted = true;
    const plan = PluginHost.plan(this.opts.plugins, this.opts.configs);
    if (plan.problems.length > 0) {
      const first = plan.problems[0]!;
      throw new GfError(first.code, first.message, {
        data: { plugin: first.plugin, violations: first.violations, problems: plan.problems },
      });
    }
    this.order = plan.order;
    const byId = new Map(this.opts.plugins.map((p) => [p.manifest.id, p]));
    for (const id of this.order) {
      this.slots.set(id, {
        def: byId.get(id)!,
        config: plan.configs.get(id),
        container: this.opts.root.createChildContainer(),
        state: 'planned',
        error: undefined,
        ctx: undefined,
        abort: new AbortController(),
      });
    }
    registerFactory(this.opts.root, PluginHostToken, () => this);

    for (const id of this.order) this.registerOne(this.slots.get(id)!);
    this.settleContributions();

    for (const id of this.order) {
      const slot = this.slots.get(id)!;
      try {
        await this.startOne(slot);
      } catch (e) {
        await this.stop();
        throw e;
      }
    }
  }

  private registerOne(slot: Slot): void {
    const id = slot.def.manifest.id;
    const log = this.opts.log.child({ plugin: id });
    const resolveIn = (c: DependencyContainer) => <U>(t: Token<U>): U => resolveToken(c, t);
    // What register, start and stop all see.
    const base = { pluginId: id, config: slot.config, kernel: this.opts.kernel, log, container: slot.container, resolve: resolveIn(slot.container) };
    const ctx: RegisterContext<unknown> = {
      ...base,
      expose: (token, factory) => {
        const owner = this.exposedBy.get(token.key);
        if (owner !== undefined) {
          throw new GfError(KernelErrors.GF_PLUGIN_TOKEN_CONFLICT, `plugin '${id}' exposes token ${token.name}, already exposed by '${owner}'`, {
            data: { plugin: id, token: token.name, owner },
          });
        }
        this.exposedBy.set(token.key, id);
        // Resolved against the exposing plugin's own container, so its private tokens are reachable.
        registerFactory(this.opts.root, token, () => factory(resolveIn(slot.container)));
      },
      provide: (token, factory) => registerFactory(slot.container, token, () => factory(resolveIn(slot.container))),
      openExtensionPoint: (point) => {
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
        this.pendingContributions.push({ from: id, point: point as ExtensionPoint<unknown>, entryId, entry });
      },
      mount: (prefix, router) => {
        const norm = normalisePrefix(prefix);
        const clash = this.mounts.find((m) => m.prefix === norm);
        if (clash) {
          throw new GfError(KernelErrors.GF_PLUGIN_ROUTE_CONFLICT, `plugin '${id}' mounts '${norm}', already mounted by '${clash.pluginId}'`, {
            data: { plugin: id, prefix: norm, owner: clash.pluginId },
          });
        }
        this.mounts.push({ pluginId: id, prefix: norm, router });
      },
      readiness: (name, check) => this.readinessChecks.push({ plugin: id, name, check }),
    };
    try {
      slot.def.register(ctx);
      slot.state = 'registered';
    } catch (e) {
      slot.state = 'failed';
      const err = isGfError(e)
        ? e
        : new GfError(KernelErrors.GF_PLUGIN_REGISTER_FAILED, `plugin '${id}' failed in register: ${errMessage(e)}`, { cause: e, data: { plugin: id } });
      slot.error = err;
      throw err;
    }
    slot.ctx = {
      ...base,
      extensions: (p) => this.entriesOf(p),
      signal: slot.abort.signal,
    };
  }

  private settleContributions(): void {
    for (const c of this.pendingContributions) {
      const open = this.points.get(c.point.id);
      if (!open) {
        throw new GfError(KernelErrors.GF_PLUGIN_EXTENSION_POINT, `plugin '${c.from}' contributes '${c.entryId}' to extension point '${c.point.id}', which no loaded plugin opens`, {
          data: { plugin: c.from, point: c.point.id },
        });
      }
      if (open.entries.has(c.entryId)) {
        throw new GfError(KernelErrors.GF_PLUGIN_EXTENSION_POINT, `plugin '${c.from}' contributes '${c.entryId}' to '${c.point.id}' twice or over another plugin's entry`, {
          data: { plugin: c.from, point: c.point.id, entry: c.entryId },
        });
      }
      const why = open.point.validate?.(c.entry);
      if (why) {
        throw new GfError(KernelErrors.GF_PLUGIN_EXTENSION_POINT, `plugin '${c.from}' entry '${c.entryId}' for '${c.point.id}' is invalid: ${why}`, {
          data: { plugin: c.from, point: c.point.id, entry: c.entryId },
        });
      }
      open.entries.set(c.entryId, c.entry);
    }
  }

  private entriesOf<T>(point: ExtensionPoint<T>): ReadonlyMap<string, T> {
    const open = this.points.get(point.id);
    if (!open) throw new GfError(KernelErrors.GF_PLUGIN_EXTENSION_POINT, `extension point '${point.id}' is not open`);
    return open.entries as ReadonlyMap<string, T>;
  }

  private async startOne(slot: Slot): Promise<void> {
    const id = slot.def.manifest.id;
    if (!slot.def.start) {
      slot.state = 'started';
      return;
    }
    slot.state = 'starting';
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
    try {
      await Promise.race([slot.def.start(slot.ctx!), timeout]);
      slot.state = 'started';
      slot.ctx!.log.debug({ ms: Date.now() - t0 }, 'plugin started');
    } catch (e) {
      slot.state = 'failed';
      slot.error = isGfError(e) && e.code === KernelErrors.GF_PLUGIN_START_TIMEOUT
        ? e
        : new GfError(KernelErrors.GF_PLUGIN_START_FAILED, `plugin '${id}' failed to start: ${errMessage(e)}`, {
            cause: e,
            data: { plugin: id, ...(isGfError(e) ? { causeCode: e.code } : {}) },
          });
      throw slot.error;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops started plugins in reverse start order. Never throws; failures are logged and recorded. */
  async stop(): Promise<void> {
    for (const id of [...this.order].reverse()) {
      const slot = this.slots.get(id)!;
      // A plugin whose start failed or timed out may hold half-open resources: stop it too.
      const needsStop = slot.state === 'started' || (slot.state === 'failed' && slot.ctx !== undefined && slot.error?.code !== KernelErrors.GF_PLUGIN_REGISTER_FAILED);
      if (!needsStop) continue;
      const wasFailed = slot.state === 'failed';
      slot.state = 'stopping';
      slot.abort.abort(new Error('host stopping'));
      if (slot.def.stop) {
        let timer: NodeJS.Timeout | undefined;
        try {
          await Promise.race([
            slot.def.stop(slot.ctx!),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`stop did not finish within ${this.opts.stopTimeoutMs} ms`)), this.opts.stopTimeoutMs);
            }),
          ]);
        } catch (e) {
          slot.ctx!.log.error({ err: e }, 'plugin failed to stop cleanly');
        } finally {
          clearTimeout(timer);
        }
      }
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
        requires: def.manifest.requires ?? [],
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

  /** The started context of a plugin (for plugin CLI commands). */
  contextOf(id: string): StartContext<unknown> {
    const ctx = this.slots.get(id)?.ctx;
    if (!ctx) throw new Error(`plugin ${id} is not registered`);
    return ctx;
  }

  /** The plugins `id` needs, transitively, in definition order, itself last. */
  static closure(plugins: readonly PluginDefinition<any>[], id: string): PluginDefinition<any>[] {
    const byId = new Map(plugins.map((p) => [p.manifest.id, p]));
    const need = new Set<string>();
    const visit = (x: string) => {
      if (need.has(x) || !byId.has(x)) return;
      need.add(x);
      for (const r of byId.get(x)!.manifest.requires ?? []) visit(r);
    };
    visit(id);
    return plugins.filter((p) => need.has(p.manifest.id));
  }

  /** Resolves an exposed token from the root container. */
  resolve<T>(token: Token<T>): T {
    return resolveToken(this.opts.root, token);
  }
}

/** Kahn's algorithm, stable on declaration order; on a cycle, returns one cycle's path. */
function topoOrder(byId: Map<string, PluginDefinition<any>>): { order: string[]; cycle: string[] | undefined } {
  const ids = [...byId.keys()];
  const indeg = new Map(ids.map((id) => [id, 0]));
  for (const id of ids) {
    for (const r of byId.get(id)!.manifest.requires ?? []) if (byId.has(r)) indeg.set(id, indeg.get(id)! + 1);
  }
  const order: string[] = [];
  const done = new Set<string>();
  let progressed = true;
  while (progressed) {
    progressed = false;
    for (const id of ids) {
      if (done.has(id) || indeg.get(id)! > 0) continue;
      order.push(id);
      done.add(id);
      progressed = true;
      for (const other of ids) {
        if (!done.has(other) && (byId.get(other)!.manifest.requires ?? []).includes(id)) indeg.set(other, indeg.get(other)! - 1);
      }
      break; // restart from the first id so order stays stable by declaration
    }
  }
  if (order.length === ids.length) return { order, cycle: undefined };
  return { order, cycle: findCycle(byId, ids.filter((id) => !done.has(id))) };
}

function findCycle(byId: Map<string, PluginDefinition<any>>, remaining: string[]): string[] {
  const rem = new Set(remaining);
  const start = remaining[0]!;
  const path: string[] = [];
  const seen = new Map<string, number>();
  let cur: string | undefined = start;
  while (cur !== undefined && !seen.has(cur)) {
    seen.set(cur, path.length);
    path.push(cur);
    cur = (byId.get(cur)!.manifest.requires ?? []).find((r) => rem.has(r));
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
