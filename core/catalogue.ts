import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';
import type { GridflexConfig } from './config/config.js';
import { GfError, KernelErrors } from './errors.js';
import { describeDefinitionProblems, type PluginDefinition } from './plugin/define.js';
import type { BootProblem } from './plugin/host.js';

interface CatalogueEntry {
  /** Module path relative to this file (works from sources under tsx and from `dist/`). */
  module: string;
  /** Kernel plugins are always loaded. */
  kernel: boolean;
  enabledByDefault: boolean;
}

/**
 * The built-in plugins, named by module path rather than imported, so the kernel depends on no
 * adapter or plugin (dependencies point one way) and a third-party plugin loads the same way.
 */
export const CATALOGUE: Readonly<Record<string, CatalogueEntry>> = {
  storage: { module: '../adapters/storage/index.js', kernel: true, enabledByDefault: true },
  scheduler: { module: '../adapters/scheduler/index.js', kernel: true, enabledByDefault: true },
  secrets: { module: './secrets.js', kernel: true, enabledByDefault: true },
  parties: { module: './auth/plugin.js', kernel: true, enabledByDefault: true },
  ledger: { module: '../adapters/ledger/index.js', kernel: false, enabledByDefault: true },
  devices: { module: '../adapters/devices/index.js', kernel: false, enabledByDefault: true },
  openadr3: { module: '../plugins/openadr3/index.js', kernel: false, enabledByDefault: true },
  openadr2b: { module: '../plugins/openadr2b/index.js', kernel: false, enabledByDefault: true },
  'meter-data': { module: '../plugins/meter-data/index.js', kernel: false, enabledByDefault: true },
  weather: { module: '../plugins/weather/index.js', kernel: false, enabledByDefault: true },
  forecasting: { module: '../plugins/forecasting/index.js', kernel: false, enabledByDefault: true },
  baseline: { module: '../plugins/baseline/index.js', kernel: false, enabledByDefault: true },
  'pv-degradation': { module: '../plugins/pv-degradation/index.js', kernel: false, enabledByDefault: true },
  'p2p-market': { module: '../plugins/p2p-market/index.js', kernel: false, enabledByDefault: true },
  hmi: { module: '../plugins/hmi/index.js', kernel: false, enabledByDefault: true },
  demo: { module: '../plugins/demo/index.js', kernel: false, enabledByDefault: true },
  example: { module: '../plugins/example/index.js', kernel: false, enabledByDefault: false },
};

export interface ResolvedPlugins {
  plugins: PluginDefinition<any>[];
  configs: Record<string, unknown>;
  problems: BootProblem[];
}

/** Loads the plugins the config enables (kernel ones always) and collects every problem. */
export async function resolvePlugins(config: GridflexConfig, extra: readonly PluginDefinition<any>[] = []): Promise<ResolvedPlugins> {
  const problems: BootProblem[] = [];
  const plugins: PluginDefinition<any>[] = [];
  const configs: Record<string, unknown> = {};
  const wanted: { id: string; module: string; fromCatalogue: boolean }[] = [];
  for (const [id, entry] of Object.entries(CATALOGUE)) {
    const cfg = config.plugins[id];
    if (entry.kernel && cfg && cfg.enabled === false) {
      problems.push({ code: KernelErrors.GF_CONFIG_INVALID, plugin: id, message: `plugins.${id}.enabled: kernel plugin '${id}' cannot be disabled` });
    }
    if (entry.kernel || (cfg ? cfg.enabled !== false : entry.enabledByDefault)) wanted.push({ id, module: cfg?.module ?? entry.module, fromCatalogue: !cfg?.module });
  }
  for (const [id, cfg] of Object.entries(config.plugins)) {
    if (CATALOGUE[id] || extra.some((p) => p.manifest.id === id)) continue;
    if (!cfg.module) {
      problems.push({
        code: KernelErrors.GF_PLUGIN_UNKNOWN,
        plugin: id,
        message: `plugins.${id}: no built-in plugin '${id}' (known: ${Object.keys(CATALOGUE).join(', ')}); give 'module' for a third-party plugin`,
      });
      continue;
    }
    if (cfg.enabled !== false) wanted.push({ id, module: cfg.module, fromCatalogue: false });
  }
  for (const w of wanted) {
    try {
      const def = await loadPluginModule(w.module, w.fromCatalogue);
      if (def.manifest.id !== w.id) {
        problems.push({ code: KernelErrors.GF_PLUGIN_LOAD_FAILED, plugin: w.id, message: `plugins.${w.id}: module ${w.module} defines plugin '${def.manifest.id}', not '${w.id}'` });
        continue;
      }
      plugins.push(def);
    } catch (e) {
      problems.push({ code: KernelErrors.GF_PLUGIN_LOAD_FAILED, plugin: w.id, message: `plugins.${w.id}: cannot load ${w.module}: ${(e as Error).message}` });
    }
  }
  plugins.push(...extra);
  for (const p of plugins) configs[p.manifest.id] = config.plugins[p.manifest.id]?.config ?? {};
  return { plugins, configs, problems };
}

/**
 * Under tsx the kernel runs from `.ts` files; importing the `.js` URL of a source file would load a
 * second copy of every module it imports (two `core`s). Point at the file that exists instead.
 */
export function sameFileAsSources(href: string): string {
  const file = fileURLToPath(href);
  if (!existsSync(file) && file.endsWith('.js') && existsSync(`${file.slice(0, -3)}.ts`)) return `${href.slice(0, -3)}.ts`;
  return href;
}

/** Imports a plugin module and returns its definition (the default export, or the only plugin export). */
export async function loadPluginModule(specifier: string, relativeToKernel = false): Promise<PluginDefinition<any>> {
  let target = specifier;
  if (relativeToKernel) target = sameFileAsSources(new URL(specifier, import.meta.url).href);
  else if (path.isAbsolute(specifier)) target = sameFileAsSources(pathToFileURL(specifier).href);
  const mod = (await import(target)) as Record<string, unknown>;
  const candidates = [mod.default, ...Object.values(mod)].filter((v) => v && describeDefinitionProblems(v).length === 0);
  const def = candidates[0] as PluginDefinition<any> | undefined;
  if (!def) throw new GfError(KernelErrors.GF_PLUGIN_LOAD_FAILED, `${specifier} exports no plugin definition (use definePlugin and export it)`);
  return def;
}
