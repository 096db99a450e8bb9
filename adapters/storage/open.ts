import type { KernelInfo } from '../../core/index.js';
import { PgDriver } from './pg-driver.js';
import { PgliteDriver } from './pglite-driver.js';
import { SqlStorage } from './sql-storage.js';

/**
 * Opens the storage the kernel facts call for: PostgreSQL when a database URL is set, else the
 * embedded engine in the data folder (taking its single-process lock).
 */
export async function openStorage(kernel: Pick<KernelInfo, 'dataDir' | 'databaseUrl'>, opts: { poolSize?: number; command?: string } = {}): Promise<SqlStorage> {
  const driver = kernel.databaseUrl
    ? await PgDriver.open(kernel.databaseUrl, opts.poolSize)
    : await PgliteDriver.open(kernel.dataDir, opts.command);
  return SqlStorage.open(driver);
}
