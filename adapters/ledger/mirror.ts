import type { EventQuery, MirroredEvent, Storage } from '../../core/index.js';
import { decodeEvent, type RawLog } from './abi.js';
import type { JsonRpc } from './chain.js';

const CHUNK_BLOCKS = 5000;

/**
 * Indexes our contracts' events into `ledger_events` so queries never touch the chain. Idempotent
 * (unique by chain, block and log index) and resumable (last indexed block per chain); `rebuild` drops the
 * mirror and reads it back from block 0.
 */
export class Mirror {
  #running: Promise<number> | undefined;
  #closed = false;

  constructor(
    private readonly storage: Storage,
    private readonly rpc: JsonRpc,
    private readonly safeHead: () => Promise<number>,
    private readonly blockTimes: (blocks: readonly number[]) => Promise<Map<number, number>>,
    private readonly chainId: number,
    private readonly contractAt: (address: string) => string | undefined,
    private readonly addresses: () => string[],
  ) {}

  #timer: NodeJS.Timeout | undefined;

  /** Schedules a sync soon after a send (sends in a burst share one); queries sync for themselves anyway. */
  poke(): void {
    if (this.#closed || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.sync().catch(() => undefined);
    }, 50);
    this.#timer.unref();
  }

  /** Brings the mirror up to the chain head; concurrent callers share one run (and one more after it). */
  sync(onProgress?: (block: number, head: number) => void): Promise<number> {
    if (this.#running) {
      return this.#running.then(() => this.sync(onProgress));
    }
    this.#running = this.#sync(onProgress).finally(() => {
      this.#running = undefined;
    });
    return this.#running;
  }

  async #sync(onProgress?: (block: number, head: number) => void): Promise<number> {
    const addresses = this.addresses();
    if (addresses.length === 0) return 0;
    const head = await this.safeHead();
    const state = await this.storage.query<{ last_block: string }>('SELECT last_block::text FROM ledger_mirror_state WHERE chain_id = $1', [this.chainId]);
    let from = state.rows[0] ? Number(state.rows[0].last_block) + 1 : 0;
    if (from > head + 1) {
      // The mirror is ahead of the chain (a block mined but never journaled before a crash, or a reset
      // chain): drop what the chain no longer holds.
      await this.storage.transaction(async (tx) => {
        await tx.query('DELETE FROM ledger_events WHERE chain_id = $1 AND block_number > $2', [this.chainId, head]);
        await tx.query('UPDATE ledger_mirror_state SET last_block = $2 WHERE chain_id = $1', [this.chainId, head]);
      });
      from = head + 1;
    }
    let added = 0;
    while (from <= head) {
      const to = Math.min(head, from + CHUNK_BLOCKS - 1);
      const logs = (await this.rpc.request({
        method: 'eth_getLogs',
        params: [{ fromBlock: `0x${from.toString(16)}`, toBlock: `0x${to.toString(16)}`, address: addresses }],
      })) as RawLog[];
      const times = await this.blockTimes([...new Set(logs.map((l) => Number(BigInt(l.blockNumber))))]);
      const cols = { block: [] as number[], idx: [] as number[], time: [] as number[], tx: [] as string[], contract: [] as string[], event: [] as string[], args: [] as string[] };
      for (const l of logs) {
        const e = decodeEvent(l, this.contractAt);
        if (!e) continue;
        cols.block.push(e.blockNumber);
        cols.idx.push(e.logIndex);
        cols.time.push(times.get(e.blockNumber) ?? 0);
        cols.tx.push(e.txHash);
        cols.contract.push(e.contract);
        cols.event.push(e.event);
        cols.args.push(JSON.stringify(e.args));
      }
      added += await this.storage.transaction(async (tx) => {
        let n = 0;
        if (cols.block.length > 0) {
          const r = await tx.query(
            `INSERT INTO ledger_events (chain_id, block_number, log_index, block_time, tx_hash, contract, event, args)
             SELECT $1, * FROM unnest($2::bigint[], $3::int[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::jsonb[])
             ON CONFLICT (chain_id, block_number, log_index) DO NOTHING`,
            [this.chainId, cols.block, cols.idx, cols.time, cols.tx, cols.contract, cols.event, cols.args],
          );
          n = r.rowCount;
        }
        await tx.query(
          `INSERT INTO ledger_mirror_state (chain_id, last_block) VALUES ($1, $2)
           ON CONFLICT (chain_id) DO UPDATE SET last_block = GREATEST(ledger_mirror_state.last_block, EXCLUDED.last_block)`,
          [this.chainId, to],
        );
        return n;
      });
      onProgress?.(to, head);
      from = to + 1;
    }
    return added;
  }

  async rebuild(onProgress?: (block: number, head: number) => void): Promise<number> {
    if (this.#running) await this.#running.catch(() => undefined);
    await this.storage.transaction(async (tx) => {
      await tx.query('DELETE FROM ledger_events WHERE chain_id = $1', [this.chainId]);
      await tx.query('DELETE FROM ledger_mirror_state WHERE chain_id = $1', [this.chainId]);
    });
    return this.sync(onProgress);
  }

  async query(q: EventQuery): Promise<MirroredEvent[]> {
    const where = ['chain_id = $1'];
    const params: unknown[] = [this.chainId];
    if (q.contract) where.push(`contract = $${params.push(q.contract)}`);
    if (q.event) where.push(`event = $${params.push(q.event)}`);
    if (q.afterId !== undefined) where.push(`id > $${params.push(q.afterId)}`);
    for (const [k, v] of Object.entries(q.where ?? {})) where.push(`args->>$${params.push(k)} = $${params.push(v)}`);
    const limit = Math.min(Math.max(q.limit ?? 1000, 1), 10000);
    const { rows } = await this.storage.query<{
      id: string; block_number: string; log_index: number; block_time: string; tx_hash: string; contract: string; event: string; args: Record<string, unknown> | string;
    }>(
      `SELECT id::text, block_number::text, log_index, block_time::text, tx_hash, contract, event, args FROM ledger_events
       WHERE ${where.join(' AND ')} ORDER BY ledger_events.block_number, ledger_events.log_index LIMIT ${limit}`,
      params,
    );
    return rows.map((r) => ({
      id: Number(r.id),
      blockNumber: Number(r.block_number),
      logIndex: r.log_index,
      blockTime: Number(r.block_time),
      txHash: r.tx_hash,
      contract: r.contract,
      event: r.event,
      args: typeof r.args === 'string' ? (JSON.parse(r.args) as Record<string, unknown>) : r.args,
    }));
  }

  async close(): Promise<void> {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#running) await this.#running.catch(() => undefined);
  }
}
