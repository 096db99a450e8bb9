import { Type } from 'typebox';
import { definePlugin, StorageToken } from '../../core/index.js';
import { openStorage } from './open.js';

export { SqlStorage } from './sql-storage.js';
export { openStorage } from './open.js';
export { PgliteDriver } from './pglite-driver.js';
export { PgDriver } from './pg-driver.js';

export const StorageConfig = Type.Object(
  { poolSize: Type.Integer({ minimum: 1, maximum: 200, default: 10, description: 'Connections to a PostgreSQL server.' }) },
  { additionalProperties: false },
);

/**
 * Kernel plugin `storage`: opens the database (embedded PGlite in the data folder, or PostgreSQL
 * at `DATABASE_URL`), runs the kernel migrations and provides the storage port as `StorageToken`.
 */
export const storagePlugin = definePlugin({
  manifest: {
    id: 'storage',
    version: '0.2.0',
    kernel: '^0.2.0',
    description: 'SQL storage and the meter-reading store (PGlite embedded, PostgreSQL by URL)',
    // First boot of the embedded engine creates its cluster (seconds on a slow disk).
    startTimeoutMs: 120_000,
  },
  config: StorageConfig,
  provides: { storage: StorageToken },
  async start(ctx) {
    const storage = await openStorage(ctx.kernel, { poolSize: ctx.config.poolSize, command: `gridflex ${process.argv[2] ?? ''}`.trim() });
    ctx.onStop(() => storage.close());
    ctx.readiness('database', () => storage.ping());
    ctx.log.info({ engine: storage.engine }, 'storage open');
    return { storage };
  },
});

export default storagePlugin;
