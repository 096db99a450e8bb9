import { createHash } from 'node:crypto';
import { GfError, KernelErrors, type Migration, type SqlClient, type Storage } from '../../core/index.js';
import type { SqlDriver } from './driver.js';
import { kernelMigrations } from './kernel-migrations.js';
import { SqlTimeSeriesStore } from './timeseries.js';

const MIGRATION_LOCK = 7_346_201; // advisory lock key shared by every gridflex process on one database

/** The storage port over a SQL driver; the same code for PGlite and PostgreSQL (one dialect). */
export class SqlStorage implements Storage {
  readonly readings: SqlTimeSeriesStore;

  constructor(readonly driver: SqlDriver) {
    this.readings = new SqlTimeSeriesStore(driver);
  }

  /** Opens storage on a driver and brings the kernel schema up to date. */
  static async open(driver: SqlDriver): Promise<SqlStorage> {
    const s = new SqlStorage(driver);
    try {
      await s.migrate('kernel', kernelMigrations);
    } catch (e) {
      await driver.close();
      throw e;
    }
    return s;
  }

  get engine() {
    return this.driver.engine;
  }

  get crossProcessNotify(): boolean {
    return this.driver.engine === 'postgres';
  }

  pgCompatiblePool() {
    return this.driver.pgCompatiblePool();
  }

  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]) {
    return this.driver.query<R>(sql, params);
  }

  exec(sql: string) {
    return this.driver.exec(sql);
  }

  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T> {
    return this.driver.transaction(fn);
  }

  async ping(): Promise<void> {
    try {
      await this.driver.query('SELECT 1');
    } catch (e) {
      throw new GfError(KernelErrors.GF_STORAGE_UNAVAILABLE, `storage (${this.engine}) does not answer: ${(e as Error).message}`, { cause: e });
    }
  }

  async migrate(owner: string, migrations: readonly Migration[]): Promise<{ applied: number[] }> {
    const sorted = [...migrations].sort((a, b) => a.version - b.version);
    for (let i = 0; i < sorted.length; i++) {
      const m = sorted[i]!;
      if (!Number.isInteger(m.version) || m.version < 1 || (i > 0 && sorted[i - 1]!.version === m.version)) {
        throw new GfError(KernelErrors.GF_STORAGE_MIGRATION_FAILED, `${owner}: migration versions must be distinct positive integers (got ${m.version})`, {
          data: { owner, version: m.version },
        });
      }
    }
    await this.driver.exec(`
      CREATE TABLE IF NOT EXISTS gf_migrations (
        owner text NOT NULL, version integer NOT NULL, name text NOT NULL, checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (owner, version))`);
    const applied: number[] = [];
    for (const m of sorted) {
      const checksum = createHash('sha256').update(m.up).digest('hex');
      await this.driver.transaction(async (tx) => {
        // Two processes starting on one database apply each migration once.
        await tx.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
        const prev = await tx.query<{ checksum: string }>('SELECT checksum FROM gf_migrations WHERE owner = $1 AND version = $2', [owner, m.version]);
        if (prev.rows[0]) {
          if (prev.rows[0].checksum !== checksum) {
            throw new GfError(
              KernelErrors.GF_STORAGE_MIGRATION_FAILED,
              `${owner} migration ${m.version} (${m.name}) was changed after it was applied; add a new version instead`,
              { data: { owner, version: m.version } },
            );
          }
          return;
        }
        try {
          await tx.exec(m.up);
        } catch (e) {
          throw new GfError(KernelErrors.GF_STORAGE_MIGRATION_FAILED, `${owner} migration ${m.version} (${m.name}) failed: ${(e as Error).message}`, {
            cause: e,
            data: { owner, version: m.version },
          });
        }
        await tx.query('INSERT INTO gf_migrations (owner, version, name, checksum) VALUES ($1, $2, $3, $4)', [owner, m.version, m.name, checksum]);
        applied.push(m.version);
      });
    }
    return { applied };
  }

  close(): Promise<void> {
    return this.driver.close();
  }
}
