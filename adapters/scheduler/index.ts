import { hostname } from 'node:os';
import { createToken, definePlugin, GfError, KernelErrors, SchedulerToken, StorageToken, type Scheduler } from '../../core/index.js';
import { AgendaScheduler } from './agenda-scheduler.js';

export { AgendaScheduler } from './agenda-scheduler.js';

interface SchedulerConfig {
  processEveryMs: number;
  lockLifetimeMs: number;
  maxConcurrency: number;
}

const Holder = createToken<{ s?: AgendaScheduler }>('scheduler.holder');

/**
 * Kernel plugin `scheduler`: durable jobs (agenda 6) on the kernel's database, exposed as
 * `SchedulerToken`. Plugins define handlers and schedules from their own `start`.
 */
export const schedulerPlugin = definePlugin<SchedulerConfig>({
  manifest: {
    id: 'scheduler',
    version: '0.1.0',
    requires: ['storage'],
    description: 'Durable recurring and one-off jobs (agenda) that run once across processes',
    config: {
      type: 'object',
      additionalProperties: false,
      properties: {
        processEveryMs: { type: 'integer', minimum: 50, default: 5000, description: 'How often to look for due jobs (ms).' },
        lockLifetimeMs: { type: 'integer', minimum: 1000, default: 600000, description: 'After this long a job lock held by a vanished process expires (ms).' },
        maxConcurrency: { type: 'integer', minimum: 1, default: 20, description: 'Jobs running at once in this process.' },
      },
    },
  },
  register(ctx) {
    const holder: { s?: AgendaScheduler } = {};
    ctx.provide(Holder, () => holder);
    const get = (): Scheduler => {
      if (!holder.s) throw new GfError(KernelErrors.GF_STORAGE_UNAVAILABLE, 'scheduler is not started yet');
      return holder.s;
    };
    ctx.expose(SchedulerToken, () => ({
      define: (...a) => get().define(...a),
      every: (...a) => get().every(...a),
      schedule: (...a) => get().schedule(...a),
      now: (...a) => get().now(...a),
      cancel: (...a) => get().cancel(...a),
      jobs: (...a) => get().jobs(...a),
    }));
  },
  async start(ctx) {
    const s = new AgendaScheduler(ctx.resolve(StorageToken), {
      ...ctx.config,
      lockLifetimeMs: ctx.config.lockLifetimeMs,
      instanceName: `${hostname()}:${process.pid}:${ctx.kernel.instanceId}`,
      log: ctx.log,
    });
    await s.start();
    ctx.resolve(Holder).s = s;
  },
  async stop(ctx) {
    const holder = ctx.resolve(Holder);
    const s = holder.s;
    holder.s = undefined;
    await s?.stop();
  },
});

export default schedulerPlugin;
