import { createToken, definePlugin, GfError, KernelErrors, StorageToken } from '../../core/index.js';
import { openStorage } from './open.js';
import type { SqlStorage } from './sql-storage.js';

export { SqlStorage } from './sql-storage.js';
export { openStorage } from './open.js';
export { PgliteDriver } from './pglite-driver.js';
export { PgDriver } from './pg-driver.js';

/** Private to this plugin: the open storage, set in start and cleared in stop. */
const OpenStorageToken = createToken<{ set(s: SqlStorage | undefined): void; get(): SqlStorage }>('storage.open');

interface StorageConfig {
  poolSize: number;
}

/**
 * Kernel plugin `storage`: opens the database (embedded PGlite in the data folder, or PostgreSQL
 * at `DATABASE_URL`), runs the kernel migrations and exposes the storage port as `StorageToken`.
 */
export const storagePlugin = definePlugin<StorageConfig>({
  manifest: {
    id: 'storage',
    version: '0.1.0',
    description: 'SQL storage and the meter-reading store (PGlite embedded, PostgreSQL by URL)',
    // First boot of the embedded engine creates its cluster (seconds on a slow disk).
    startTimeoutMs: 120_000,
    config: {
      type: 'object',
      additionalProperties: false,
      properties: {
        poolSize: { type: 'integer', minimum: 1, maximum: 200, default: 10, description: 'Connections to a PostgreSQL server.' },
      },
    },
  },
  register(ctx) {
    let storage: SqlStorage | undefined;
    const get = (): SqlStorage => {
      if (!storage) throw new GfError(KernelErrors.GF_STORAGE_UNAVAILABLE, 'storage is not open yet');
      return storage;
    };
    ctx.provide(OpenStorageToken, () => ({ set: (s: SqlStorage | undefined) => (storage = s), get }));
    // The port is resolved lazily, so plugins may take it in register and use it from start on.
    ctx.expose(StorageToken, () => new Proxy({} as SqlStorage, { get: (_t, p) => Reflect.get(get(), p, get()) }));
    ctx.readiness('database', async () => get().ping());
  },
  async start(ctx) {
    const s = await openStorage(ctx.kernel, { poolSize: ctx.config.poolSize, command: `gridflex ${process.argv[2] ?? ''}`.trim() });
    ctx.resolve(OpenStorageToken).set(s);
    ctx.log.info({ engine: s.engine }, 'storage open');
  },
  async stop(ctx) {
    const holder = ctx.resolve(OpenStorageToken);
    let s: SqlStorage | undefined;
    try {
      s = holder.get();
    } catch {
      return;
    }
    holder.set(undefined);
    await s.close();
  },
});

export default storagePlugin;
