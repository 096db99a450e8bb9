import { hostname } from 'node:os';
import { Type } from 'typebox';
import { definePlugin, SchedulerToken, StorageToken } from '../../core/index.js';
import { AgendaScheduler } from './agenda-scheduler.js';

export { AgendaScheduler } from './agenda-scheduler.js';

export const SchedulerConfig = Type.Object(
  {
    processEveryMs: Type.Integer({ minimum: 50, default: 5000, description: 'How often to look for due jobs (ms).' }),
    lockLifetimeMs: Type.Integer({ minimum: 1000, default: 600000, description: 'After this long a job lock held by a vanished process expires (ms).' }),
    maxConcurrency: Type.Integer({ minimum: 1, default: 20, description: 'Jobs running at once in this process.' }),
  },
  { additionalProperties: false },
);

/**
 * Kernel plugin `scheduler`: durable jobs (agenda 6) on the kernel's database, provided as
 * `SchedulerToken`. Plugins define handlers and schedules from their own `start`.
 */
export const schedulerPlugin = definePlugin({
  manifest: {
    id: 'scheduler',
    version: '0.2.0',
    kernel: '^0.2.0',
    description: 'Durable recurring and one-off jobs (agenda) that run once across processes',
  },
  config: SchedulerConfig,
  deps: { storage: StorageToken },
  provides: { scheduler: SchedulerToken },
  async start(ctx) {
    const scheduler = new AgendaScheduler(ctx.deps.storage, {
      ...ctx.config,
      instanceName: `${hostname()}:${process.pid}:${ctx.kernel.instanceId}`,
      log: ctx.log,
    });
    await scheduler.start();
    ctx.onStop(() => scheduler.stop());
    return { scheduler };
  },
});

export default schedulerPlugin;
