import type { PgCompatiblePool, QueryResult, SqlClient, StorageEngine } from '../../core/index.js';

/** What the SQL storage needs from an engine: queries, transactions and a bulk COPY. */
export interface SqlDriver extends SqlClient {
  readonly engine: StorageEngine;
  /** Rows as arrays (faster for wide reads). */
  queryArrays(sql: string, params?: readonly unknown[]): Promise<unknown[][]>;
  transaction<T>(fn: (tx: DriverTx) => Promise<T>): Promise<T>;
  /** `COPY table (columns) FROM` CSV text, outside any transaction (atomic on its own). */
  copyCsv(table: string, columns: readonly string[], csv: string): Promise<void>;
  close(): Promise<void>;
  pgCompatiblePool(): PgCompatiblePool;
}

export interface DriverTx extends SqlClient {
  copyCsv(table: string, columns: readonly string[], csv: string): Promise<void>;
}

export type { QueryResult };
