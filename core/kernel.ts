import { createRequire } from 'node:module';
import client from 'prom-client';
import { MetricsRegistryToken } from './http/metrics.js';
import type { KernelService, PlanOptions } from './plugin/host.js';

/** The package version, which is also the kernel version plugins declare ranges against (from sources, package.json is one folder up; from `dist/`, two). */
export const VERSION: string = (() => {
  const req = createRequire(import.meta.url);
  for (const p of ['../package.json', '../../package.json']) {
    try {
      const pkg = req(p) as { name?: string; version: string };
      if (pkg.name === 'gridflex') return pkg.version;
    } catch {
      /* try the next */
    }
  }
  return '0.0.0';
})();

/** The services the kernel itself provides to plugins: the Prometheus registry (a fresh one outside a server). */
export function kernelServices(registry: client.Registry = new client.Registry()): KernelService[] {
  return [{ token: MetricsRegistryToken, value: registry }];
}

/** What planning needs to know about the kernel: its version and the tokens it provides. */
export const KERNEL_PLAN: PlanOptions = { kernelVersion: VERSION, kernelTokens: new Set(kernelServices().map((s) => s.token.key)) };
