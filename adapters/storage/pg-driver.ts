import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { DriverTx, QueryResult, SqlDriver } from './driver.js';

// bigint (int8) as a JS number where it fits; our int8 columns hold epoch ms and counts.
pg.types.setTypeParser(20, (v: string) => Number(v));

/** A PostgreSQL server reached by URL (`DATABASE_URL`), through a connection pool. */
export class PgDriver implements SqlDriver {
  readonly engine = 'postgres' as const;

  private constructor(readonly pool: pg.Pool) {}

  static async open(url: string, poolSize = 10): Promise<PgDriver> {
    const pool = new pg.Pool({ connectionString: url, max: poolSize, connectionTimeoutMillis: 10_000 });
    // A dropped idle connection must not crash the process; the pool replaces it. A connection lost
    // while checked out (a server restart, an administrator's terminate) emits 'error' on the client
    // itself, which with no listener would crash the process: the query in flight rejects anyway.
    pool.on('error', () => undefined);
    pool.on('connect', (client) => client.on('error', () => undefined));
    const c = await pool.connect();
    c.release();
    return new PgDriver(pool);
  }

  async query<R>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<R>> {
    const r = await this.pool.query(sql, params as unknown[]);
    return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
  }

  async queryArrays(sql: string, params: readonly unknown[] = []): Promise<unknown[][]> {
    const r = await this.pool.query({ text: sql, values: params as unknown[], rowMode: 'array' });
    return r.rows as unknown[][];
  }

  async exec(sql: string): Promise<void> {
    await this.pool.query(sql);
  }

  async transaction<T>(fn: (tx: DriverTx) => Promise<T>): Promise<T> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const out = await fn(wrapClient(client));
      await client.query('COMMIT');
      return out;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  async copyCsv(table: string, columns: readonly string[], csv: string): Promise<void> {
    const client = await this.pool.connect();
    try {
      await copyInto(client, table, columns, csv);
    } finally {
      client.release();
    }
  }

  pgCompatiblePool() {
    // Callers share the pool; ending it stays the driver's job.
    const pool = this.pool;
    return {
      query: (text: string, params?: unknown[]) => pool.query(text, params),
      connect: () => pool.connect(),
      end: async () => undefined,
      on: (event: string, listener: (...args: any[]) => void) => pool.on(event as 'error', listener),
    };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}

async function copyInto(client: pg.PoolClient, table: string, columns: readonly string[], csv: string): Promise<void> {
  const stream = client.query(copyFrom(`COPY ${table} (${columns.join(', ')}) FROM STDIN WITH (FORMAT csv)`));
  await pipeline(Readable.from([csv]), stream);
}

function wrapClient(client: pg.PoolClient): DriverTx {
  return {
    async query<R>(sql: string, params: readonly unknown[] = []) {
      const r = await client.query(sql, params as unknown[]);
      return { rows: r.rows as R[], rowCount: r.rowCount ?? 0 };
    },
    async exec(sql: string) {
      await client.query(sql);
    },
    copyCsv: (table, columns, csv) => copyInto(client, table, columns, csv),
  };
}
