import { createToken, type Token } from '../di.js';
import type { TimeSeriesStore } from './timeseries.js';

/** A row set from a SQL query. */
export interface QueryResult<R> {
  rows: R[];
  /** Rows changed by INSERT/UPDATE/DELETE (0 for SELECT on some engines). */
  rowCount: number;
}

/** SQL in the PostgreSQL dialect, the same for the embedded engine (PGlite) and the server. */
export interface SqlClient {
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<R>>;
  /** Runs several statements with no parameters (DDL). */
  exec(sql: string): Promise<void>;
}

/** One versioned schema change. Versions are per owner (a plugin id or `kernel`), applied in order, once. */
export interface Migration {
  version: number;
  name: string;
  up: string;
}

export type StorageEngine = 'pglite' | 'postgres';

/**
 * The smallest node-postgres `Pool` surface, for libraries that speak `pg` (agenda's PostgreSQL
 * backend). On PostgreSQL it is the real pool; on the embedded engine, a look-alike over its one connection.
 */
export interface PgCompatiblePool {
  query(text: string, params?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }>;
  connect(): Promise<{ query(text: string, params?: unknown[]): Promise<{ rows: any[]; rowCount: number | null }>; release(destroy?: boolean | Error): void }>;
  end(): Promise<void>;
  on(event: string, listener: (...args: any[]) => void): unknown;
}

/** The storage port plugins use. Implementations live in `adapters/storage`. */
export interface Storage extends SqlClient {
  readonly engine: StorageEngine;
  /** Runs `fn` in one transaction; it commits when `fn` resolves and rolls back when it throws. */
  transaction<T>(fn: (tx: SqlClient) => Promise<T>): Promise<T>;
  /**
   * Applies the owner's migrations that are not applied yet, in version order, each in its own
   * transaction, serialised across processes. A migration already applied under the same version
   * with a different text is refused (edit history is a bug: add a new version).
   */
  migrate(owner: string, migrations: readonly Migration[]): Promise<{ applied: number[] }>;
  /** Throws when the engine cannot answer. */
  ping(): Promise<void>;
  /** A `pg`-compatible pool over the same database (shared; never end it). */
  pgCompatiblePool(): PgCompatiblePool;
  /** Whether LISTEN/NOTIFY reaches other processes (PostgreSQL server: yes; embedded: single process). */
  readonly crossProcessNotify: boolean;
  /** The meter-reading store. */
  readonly readings: TimeSeriesStore;
  close(): Promise<void>;
}

export const StorageToken: Token<Storage> = createToken<Storage>('kernel.storage');
