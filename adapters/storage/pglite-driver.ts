import path from 'node:path';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { acquireDataDirLock, type DataDirLock } from '../../core/index.js';
import type { DriverTx, QueryResult, SqlDriver } from './driver.js';

/**
 * The embedded engine: PostgreSQL compiled to WASM (PGlite), persisted under `<dataDir>/pglite`.
 * One process owns the folder (data-folder lock). PGlite serialises queries on its one connection.
 */
export class PgliteDriver implements SqlDriver {
  readonly engine = 'pglite' as const;

  private constructor(
    readonly db: PGlite,
    private readonly lock: DataDirLock | undefined,
  ) {}

  /** Opens (creating on first use) the engine in `dataDir`; `memory` opens a throwaway in-memory one. */
  static async open(dataDir: string | 'memory', command = 'gridflex'): Promise<PgliteDriver> {
    if (dataDir === 'memory') return new PgliteDriver(await PGlite.create(), undefined);
    const lock = acquireDataDirLock(dataDir, command);
    try {
      const db = await PGlite.create(path.join(path.resolve(dataDir), 'pglite'));
      return new PgliteDriver(db, lock);
    } catch (e) {
      lock.release();
      throw e;
    }
  }

  /** The lock, so the server can record its URL in it. */
  get dataDirLock(): DataDirLock | undefined {
    return this.lock;
  }

  async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    const r = await this.db.query<R>(sql, params as unknown[]);
    return { rows: r.rows, rowCount: Math.max(r.affectedRows ?? 0, r.rows.length) };
  }

  async queryArrays(sql: string, params: readonly unknown[] = []): Promise<unknown[][]> {
    const r = await this.db.query<unknown[]>(sql, params as unknown[], { rowMode: 'array' });
    return r.rows;
  }

  async exec(sql: string): Promise<void> {
    await this.db.exec(sql);
  }

  transaction<T>(fn: (tx: DriverTx) => Promise<T>): Promise<T> {
    return this.db.transaction(async (tx) => fn(wrapTx(tx)));
  }

  async copyCsv(table: string, columns: readonly string[], csv: string): Promise<void> {
    await this.db.query(copySql(table, columns), [], { blob: new Blob([csv]) });
  }

  /**
   * A node-postgres look-alike over PGlite's one connection. A query without parameters may hold
   * several statements (as pg's simple protocol allows), so it goes through `exec`.
   */
  pgCompatiblePool() {
    const run = async (text: string, params?: unknown[]) => {
      if (!params || params.length === 0) {
        const results = await this.db.exec(text);
        const last = results[results.length - 1];
        return { rows: last?.rows ?? [], rowCount: Math.max(last?.affectedRows ?? 0, last?.rows.length ?? 0) };
      }
      const r = await this.db.query(text, params);
      return { rows: r.rows as any[], rowCount: Math.max(r.affectedRows ?? 0, r.rows.length) };
    };
    return {
      query: run,
      connect: async () => ({ query: run, release: () => undefined }),
      end: async () => undefined,
      on: () => undefined,
    };
  }

  async close(): Promise<void> {
    try {
      if (!this.db.closed) await this.db.close();
    } finally {
      this.lock?.release();
    }
  }
}

function copySql(table: string, columns: readonly string[]): string {
  return `COPY ${table} (${columns.join(', ')}) FROM '/dev/blob' WITH (FORMAT csv)`;
}

function wrapTx(tx: Transaction): DriverTx {
  return {
    async query<R>(sql: string, params: readonly unknown[] = []) {
      const r = await tx.query<R>(sql, params as unknown[]);
      return { rows: r.rows, rowCount: Math.max(r.affectedRows ?? 0, r.rows.length) };
    },
    async exec(sql: string) {
      await tx.exec(sql);
    },
    async copyCsv(table, columns, csv) {
      await tx.query(copySql(table, columns), [], { blob: new Blob([csv]) });
    },
  };
}
