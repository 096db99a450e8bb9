import { createRequire } from 'node:module';
import { GfError, LedgerErrors, type Logger, type Storage } from '../../core/index.js';
import type { Hex } from './signer.js';

/** EIP-1193-style JSON-RPC access: what both the embedded EVM and a remote node offer. */
export interface JsonRpc {
  request(args: { method: string; params?: readonly unknown[] }): Promise<unknown>;
}

/** A JSON-RPC error answer (as opposed to a transport failure): the node saw and refused the request. */
export class RpcError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly data: unknown,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** The revert data (0x-hex) carried by a JSON-RPC error, from Besu, geth or the embedded EVM. */
export function revertData(err: unknown): string | undefined {
  let d: unknown = (err as { data?: unknown })?.data;
  for (let i = 0; i < 3 && d && typeof d === 'object'; i++) d = (d as { data?: unknown }).data;
  return typeof d === 'string' && /^0x[0-9a-fA-F]*$/.test(d) ? d : undefined;
}

/** JSON-RPC over HTTP(S) to Besu or any Ethereum node. */
export class HttpJsonRpc implements JsonRpc {
  #id = 0;

  constructor(
    readonly url: string,
    private readonly timeoutMs: number,
  ) {}

  async request(args: { method: string; params?: readonly unknown[] }): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: ++this.#id, method: args.method, params: args.params ?? [] }),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (cause) {
      throw new GfError(LedgerErrors.GF_LEDGER_UNAVAILABLE, `ledger node ${this.url} unreachable: ${(cause as Error).message}`, {
        cause,
        data: { method: args.method },
      });
    }
    let body: { result?: unknown; error?: { code: number; message: string; data?: unknown } };
    try {
      body = (await res.json()) as typeof body;
    } catch (cause) {
      throw new GfError(LedgerErrors.GF_LEDGER_UNAVAILABLE, `ledger node ${this.url} answered HTTP ${res.status} without JSON-RPC`, { cause });
    }
    if (body.error) throw new RpcError(body.error.message, body.error.code, body.error.data);
    return body.result;
  }
}

/** How transactions reach a chain and what the ledger may do with its clock. */
export interface Chain {
  readonly rpc: JsonRpc;
  readonly embedded: boolean;
  chainId(): Promise<number>;
  /** The newest block the mirror may index: on the embedded EVM the newest journaled one. */
  safeHead(): Promise<number>;
  /** Submits a signed transaction; resolves with its hash once the node accepted it (and its receipt when already mined). */
  submit(raw: Hex, hash: Hex): Promise<{ hash: Hex; receipt?: unknown }>;
  /** Block timestamps (seconds) by block number. */
  blockTimes(blocks: readonly number[]): Promise<Map<number, number>>;
  /**
   * The clock contracts see (seconds): the timestamp the next block will carry, never behind the last block. On
   * the embedded EVM exactly that (we set every block's timestamp); on a remote node max(wall clock, last block).
   */
  now(): Promise<number>;
  /**
   * A read-only `eth_call` against the next block (the revert check before a send). The embedded EVM pins the
   * next block's timestamp to `now()` first, so a check of `block.timestamp` agrees with what `now()` said.
   */
  simulate(tx: Record<string, unknown>): Promise<unknown>;
  advanceTime(seconds: number): Promise<void>;
  close(): Promise<void>;
}

function isAlreadyKnown(err: unknown): boolean {
  return err instanceof RpcError && /already known|known transaction|already imported/i.test(err.message);
}

/** A remote node (Besu in production). Transport failures re-send the same signed bytes, never a new transaction. */
export class RemoteChain implements Chain {
  readonly embedded = false;

  constructor(
    readonly rpc: JsonRpc,
    private readonly retries = 3,
  ) {}

  async chainId(): Promise<number> {
    return Number(BigInt((await this.rpc.request({ method: 'eth_chainId' })) as string));
  }

  async safeHead(): Promise<number> {
    return Number(BigInt((await this.rpc.request({ method: 'eth_blockNumber' })) as string));
  }

  async blockTimes(blocks: readonly number[]): Promise<Map<number, number>> {
    const out = new Map<number, number>();
    for (const n of blocks) {
      const b = (await this.rpc.request({ method: 'eth_getBlockByNumber', params: [`0x${n.toString(16)}`, false] })) as { timestamp: string };
      out.set(n, Number(BigInt(b.timestamp)));
    }
    return out;
  }

  async submit(raw: Hex, hash: Hex): Promise<{ hash: Hex }> {
    for (let attempt = 0; ; attempt++) {
      try {
        return { hash: (await this.rpc.request({ method: 'eth_sendRawTransaction', params: [raw] })) as Hex };
      } catch (err) {
        if (isAlreadyKnown(err)) return { hash };
        if (err instanceof RpcError || attempt >= this.retries) throw err;
        await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
      }
    }
  }

  async now(): Promise<number> {
    const b = (await this.rpc.request({ method: 'eth_getBlockByNumber', params: ['latest', false] })) as { timestamp: string };
    return Math.max(Math.floor(Date.now() / 1000), Number(BigInt(b.timestamp)));
  }

  simulate(tx: Record<string, unknown>): Promise<unknown> {
    return this.rpc.request({ method: 'eth_call', params: [tx, 'pending'] });
  }

  async advanceTime(): Promise<void> {
    throw new GfError(LedgerErrors.GF_LEDGER_UNSUPPORTED, 'the chain clock can only be moved on the embedded EVM');
  }

  async close(): Promise<void> {}
}

export interface EmbeddedOptions {
  chainId: number;
  hardfork: string;
  blockGasLimit: number;
}

interface JournalRow {
  block: string | number;
  kind: 'tx' | 'mine';
  raw: string | null;
  ts: string | number;
}

const hex = (n: number | bigint) => `0x${n.toString(16)}`;

/**
 * The embedded EVM: Hardhat's in-process network (EDR), free gas, one transaction per block (automine).
 * The EVM keeps its state in memory, so every block it mines is journaled in storage (the signed
 * transaction and the block's timestamp) before the caller is answered, and at start the journal is
 * replayed, block by block with the same timestamps, to rebuild the identical chain. Block timestamps are
 * set by us (wall clock + an offset moved only by `advanceTime`), so a replay is exact.
 */
export class EmbeddedChain implements Chain {
  readonly embedded = true;
  #lastTs = 0;
  #lastBlock = 0;
  #offset = 0;
  #tail: Promise<unknown> = Promise.resolve();
  #broken: Error | undefined;

  private constructor(
    readonly rpc: JsonRpc,
    private readonly storage: Storage,
    private readonly opts: EmbeddedOptions,
  ) {}

  static async open(storage: Storage, opts: EmbeddedOptions, log: Logger, onProgress?: (done: number, total: number) => void): Promise<EmbeddedChain> {
    const meta = await storage.query<{ key: string; value: string }>('SELECT key, value FROM ledger_meta');
    const get = (k: string) => meta.rows.find((r) => r.key === k)?.value;
    let genesis = get('genesis_time');
    if (!genesis) {
      genesis = String(Math.floor(Date.now() / 1000));
      await storage.query('INSERT INTO ledger_meta (key, value) VALUES ($1, $2), ($3, $4) ON CONFLICT (key) DO NOTHING', [
        'genesis_time',
        genesis,
        'embedded_chain_id',
        String(opts.chainId),
      ]);
    }
    const recordedChain = get('embedded_chain_id');
    if (recordedChain && Number(recordedChain) !== opts.chainId) {
      throw new GfError(LedgerErrors.GF_LEDGER_CONFIG, `the embedded chain in this data folder has chainId ${recordedChain}, config says ${opts.chainId}`, {
        data: { recorded: Number(recordedChain), configured: opts.chainId },
      });
    }
    const require = createRequire(import.meta.url);
    const { createHardhatNetworkProvider } = require('hardhat/internal/hardhat-network/provider/provider') as {
      createHardhatNetworkProvider: (cfg: unknown, logger: unknown) => Promise<JsonRpc>;
    };
    const provider = await createHardhatNetworkProvider(
      {
        chainId: opts.chainId,
        networkId: opts.chainId,
        hardfork: opts.hardfork,
        blockGasLimit: opts.blockGasLimit,
        minGasPrice: 0n,
        initialBaseFeePerGas: 0,
        automine: true,
        intervalMining: 0,
        mempoolOrder: 'fifo',
        chains: new Map(),
        genesisAccounts: [],
        allowUnlimitedContractSize: false,
        throwOnTransactionFailures: false,
        throwOnCallFailures: true,
        allowBlocksWithSameTimestamp: true,
        initialDate: new Date(Number(genesis) * 1000),
        enableTransientStorage: false,
        enableRip7212: false,
      },
      { enabled: false },
    );
    const chain = new EmbeddedChain(provider, storage, opts);
    chain.#offset = Number(get('clock_offset') ?? 0);
    chain.#lastTs = Number(genesis);
    await chain.#replay(log, onProgress);
    return chain;
  }

  async #replay(log: Logger, onProgress?: (done: number, total: number) => void): Promise<void> {
    const total = Number((await this.storage.query<{ n: string }>('SELECT count(*)::text AS n FROM ledger_journal')).rows[0]!.n);
    if (total === 0) return;
    const started = Date.now();
    let done = 0;
    let after = 0;
    for (;;) {
      const { rows } = await this.storage.query<JournalRow>(
        'SELECT block, kind, raw, ts FROM ledger_journal WHERE block > $1 ORDER BY block LIMIT 2000',
        [after],
      );
      if (rows.length === 0) break;
      for (const row of rows) {
        const block = Number(row.block);
        const ts = Number(row.ts);
        if (block !== this.#lastBlock + 1) {
          throw new GfError(LedgerErrors.GF_LEDGER_REPLAY_MISMATCH, `the journal skips from block ${this.#lastBlock} to ${block}`, { data: { block } });
        }
        await this.rpc.request({ method: 'evm_setNextBlockTimestamp', params: [hex(ts)] });
        if (row.kind === 'tx') {
          await this.rpc.request({ method: 'eth_sendRawTransaction', params: [row.raw] });
        } else {
          await this.rpc.request({ method: 'evm_mine', params: [] });
        }
        this.#lastTs = ts;
        this.#lastBlock = block;
        after = block;
        done++;
        if (done % 1000 === 0) onProgress?.(done, total);
      }
    }
    const head = Number(BigInt((await this.rpc.request({ method: 'eth_blockNumber' })) as string));
    if (head !== this.#lastBlock) {
      throw new GfError(LedgerErrors.GF_LEDGER_REPLAY_MISMATCH, `the journal ends at block ${this.#lastBlock} but replaying it made ${head} blocks`, {
        data: { journal: this.#lastBlock, replayed: head },
      });
    }
    onProgress?.(done, total);
    log.info({ blocks: done, ms: Date.now() - started }, 'embedded ledger rebuilt from its journal');
  }

  async chainId(): Promise<number> {
    return this.opts.chainId;
  }

  /** Blocks may share a second (automine makes one per transaction), so chain time keeps to the wall clock. */
  #nextTs(): number {
    return Math.max(this.#lastTs, Math.floor(Date.now() / 1000) + this.#offset);
  }

  #serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#tail.then(() => {
      if (this.#broken) throw this.#broken;
      return fn();
    });
    this.#tail = run.catch(() => undefined);
    return run;
  }

  async #journal(block: number, kind: 'tx' | 'mine', raw: string | null, ts: number): Promise<void> {
    try {
      await this.storage.query('INSERT INTO ledger_journal (block, kind, raw, ts) VALUES ($1, $2, $3, $4)', [block, kind, raw, ts]);
    } catch (cause) {
      // The in-memory chain now holds a block the journal lacks: refuse further work until a restart
      // rebuilds the chain from what was acknowledged.
      this.#broken = new GfError(LedgerErrors.GF_LEDGER_UNAVAILABLE, 'embedded ledger journal write failed; restart to recover', { cause });
      throw this.#broken;
    }
    this.#lastTs = ts;
    this.#lastBlock = block;
  }

  async safeHead(): Promise<number> {
    return this.#lastBlock;
  }

  /** The timestamp the next block will get: it moves with the wall clock while the chain is idle. */
  async now(): Promise<number> {
    return this.#nextTs();
  }

  simulate(tx: Record<string, unknown>): Promise<unknown> {
    return this.#serial(async () => {
      await this.rpc.request({ method: 'evm_setNextBlockTimestamp', params: [hex(this.#nextTs())] });
      return this.rpc.request({ method: 'eth_call', params: [tx, 'pending'] });
    });
  }

  submit(raw: Hex): Promise<{ hash: Hex; receipt: unknown }> {
    return this.#serial(async () => {
      const ts = this.#nextTs();
      await this.rpc.request({ method: 'evm_setNextBlockTimestamp', params: [hex(ts)] });
      const hash = (await this.rpc.request({ method: 'eth_sendRawTransaction', params: [raw] })) as Hex;
      const receipt = (await this.rpc.request({ method: 'eth_getTransactionReceipt', params: [hash] })) as { blockNumber: string };
      await this.#journal(Number(BigInt(receipt.blockNumber)), 'tx', raw, ts);
      return { hash, receipt };
    });
  }

  /** From the journal: every block but the genesis is there with its timestamp. */
  async blockTimes(blocks: readonly number[]): Promise<Map<number, number>> {
    const { rows } = await this.storage.query<{ block: string; ts: string }>(
      'SELECT block::text, ts::text FROM ledger_journal WHERE block = ANY($1::bigint[])',
      [blocks],
    );
    return new Map(rows.map((r) => [Number(r.block), Number(r.ts)]));
  }

  advanceTime(seconds: number): Promise<void> {
    if (!Number.isInteger(seconds) || seconds < 0) {
      return Promise.reject(new GfError(LedgerErrors.GF_LEDGER_UNSUPPORTED, 'advanceTime takes a whole, non-negative number of seconds'));
    }
    return this.#serial(async () => {
      this.#offset += seconds;
      await this.storage.query(
        "INSERT INTO ledger_meta (key, value) VALUES ('clock_offset', $1) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
        [String(this.#offset)],
      );
      const ts = this.#nextTs();
      await this.rpc.request({ method: 'evm_setNextBlockTimestamp', params: [hex(ts)] });
      await this.rpc.request({ method: 'evm_mine', params: [] });
      const block = Number(BigInt((await this.rpc.request({ method: 'eth_blockNumber' })) as string));
      await this.#journal(block, 'mine', null, ts);
    });
  }

  async close(): Promise<void> {
    await this.#tail;
  }
}
