import {
  GfError,
  LedgerErrors,
  type Address,
  type EventQuery,
  type Ledger,
  type LedgerEventRecord,
  type LedgerReceipt,
  type Logger,
  type MirroredEvent,
  type SendOptions,
  type Storage,
  type WalletInfo,
} from '../../core/index.js';
import { CONTRACT_NAMES, codeHashOf, decodeEvent, decodeReturn, decodeRevert, encodeCall, encodeDeploy, functionOf, type RawLog } from './abi.js';
import { RpcError, revertData, type Chain, type JsonRpc } from './chain.js';
import { Mirror } from './mirror.js';
import { TxSigner, type Hex } from './signer.js';
import type { WalletStore } from './wallets.js';

export interface LedgerOptions {
  chainId: number;
  gasPrice: bigint;
  maxGas: bigint;
  receiptTimeoutMs: number;
  receiptPollMs: number;
  token: { name: string; symbol: string; decimals: number; whPerToken: number };
  /** Contracts already deployed elsewhere (production), by name. */
  addresses: Record<string, string>;
}

interface RawReceipt {
  status: string;
  blockNumber: string;
  gasUsed: string;
  contractAddress?: string | null;
  transactionHash: string;
  logs: RawLog[];
}

interface SenderState {
  nonce: bigint | undefined;
  tail: Promise<unknown>;
}

interface Prepared {
  contract: string;
  method: string;
  to: Hex | undefined;
  data: Hex;
}

/** The deployment order; constructor arguments depend on earlier addresses. */
const DEPLOY_ORDER = ['EnergyToken', 'ParticipantRegistry', 'FlexibilityContract', 'MarketSession'] as const;

/**
 * The ledger adapter: signs (operator key and custodial wallets), keeps nonces per sender (one queue each,
 * so concurrent sends neither collide nor reorder), estimates gas (a revert is reported before anything
 * is sent), waits for receipts, maps reverts to GF_LEDGER_REVERTED with the Solidity error decoded, deploys
 * the contracts on first start and mirrors their events into storage.
 */
export class LedgerService implements Ledger {
  readonly chainId: number;
  readonly operator: Address;
  readonly embedded: boolean;
  readonly #addresses = new Map<string, Address>();
  readonly #byAddress = new Map<string, string>();
  readonly #senders = new Map<string, SenderState>();
  readonly mirror: Mirror;

  constructor(
    private readonly chain: Chain,
    private readonly storage: Storage,
    private readonly operatorSigner: TxSigner,
    private readonly walletStore: WalletStore,
    private readonly opts: LedgerOptions,
    private readonly log: Logger,
  ) {
    this.chainId = opts.chainId;
    this.operator = operatorSigner.address;
    this.embedded = chain.embedded;
    walletStore.hold(operatorSigner);
    this.mirror = new Mirror(storage, chain.rpc, () => chain.safeHead(), (b) => chain.blockTimes(b), opts.chainId, (a) => this.#byAddress.get(a), () => [...this.#addresses.values()]);
  }

  /** The chain's JSON-RPC (read-only relay, tests). */
  get rpc(): JsonRpc {
    return this.chain.rpc;
  }

  /** Checks the chain id, then finds or deploys every contract. */
  async init(): Promise<void> {
    const actual = await this.chain.chainId();
    if (actual !== this.chainId) {
      throw new GfError(LedgerErrors.GF_LEDGER_CONFIG, `the ledger node reports chainId ${actual}, config says ${this.chainId}`, {
        data: { actual, configured: this.chainId },
      });
    }
    const { rows } = await this.storage.query<{ name: string; address: Address; code_hash: string }>(
      'SELECT name, address, code_hash FROM ledger_deployments WHERE chain_id = $1',
      [this.chainId],
    );
    for (const name of DEPLOY_ORDER) {
      const given = this.opts.addresses[name]?.toLowerCase() as Address | undefined;
      const recorded = rows.find((r) => r.name === name);
      const address = given ?? recorded?.address;
      if (address) {
        const code = (await this.chain.rpc.request({ method: 'eth_getCode', params: [address, 'latest'] })) as string;
        if (!code || code === '0x') {
          throw new GfError(LedgerErrors.GF_LEDGER_CONFIG, `${name} is recorded at ${address} but the chain has no code there (was the chain reset?)`, {
            data: { contract: name, address },
          });
        }
        if (recorded && recorded.code_hash !== codeHashOf(name)) {
          this.log.warn({ contract: name, address }, 'the deployed contract predates this build; keeping the deployed one');
        }
        this.#remember(name, address);
        continue;
      }
      const receipt = await this.#deploy(name, this.#constructorArgs(name));
      this.log.info({ contract: name, address: this.#addresses.get(name), gasUsed: receipt.gasUsed }, 'contract deployed');
    }
  }

  #constructorArgs(name: (typeof DEPLOY_ORDER)[number]): unknown[] {
    const t = this.opts.token;
    switch (name) {
      case 'EnergyToken':
        return [t.name, t.symbol, t.decimals, t.whPerToken, this.operator];
      case 'ParticipantRegistry':
        return [this.operator];
      case 'FlexibilityContract':
      case 'MarketSession':
        return [this.addressOf('EnergyToken'), this.addressOf('ParticipantRegistry'), this.operator];
    }
  }

  async #deploy(name: string, args: unknown[]): Promise<LedgerReceipt> {
    const data = encodeDeploy(name, args) as Hex;
    const [sent] = await this.#submitAll(this.operatorSigner, [{ contract: name, method: 'constructor', to: undefined, data }]);
    const hash = sent!.hash;
    const raw = (sent!.receipt as RawReceipt | undefined) ?? (await this.#receipt(hash));
    if (raw.status !== '0x1' || !raw.contractAddress) {
      throw new GfError(LedgerErrors.GF_LEDGER_CONFIG, `deploying ${name} failed (is the chain's EVM older than the contracts' target?)`, { data: { contract: name } });
    }
    const address = raw.contractAddress.toLowerCase() as Address;
    await this.storage.query(
      `INSERT INTO ledger_deployments (chain_id, name, address, code_hash, tx_hash, block_number) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (chain_id, name) DO UPDATE SET address = EXCLUDED.address, code_hash = EXCLUDED.code_hash,
         tx_hash = EXCLUDED.tx_hash, block_number = EXCLUDED.block_number, deployed_at = now()`,
      [this.chainId, name, address, codeHashOf(name), hash, Number(BigInt(raw.blockNumber))],
    );
    this.#remember(name, address);
    return this.#toReceipt(raw);
  }

  #remember(name: string, address: Address): void {
    this.#addresses.set(name, address);
    this.#byAddress.set(address, name);
  }

  addressOf(contract: string): Address {
    const a = this.#addresses.get(contract);
    if (!a) {
      throw new GfError(LedgerErrors.GF_LEDGER_UNKNOWN_CONTRACT, `no contract '${contract}' deployed (known: ${CONTRACT_NAMES.join(', ')})`, {
        data: { contract },
      });
    }
    return a;
  }

  async send(contract: string, method: string, args: readonly unknown[], opts?: SendOptions): Promise<LedgerReceipt> {
    const [r] = await this.sendMany([{ contract, method, args }], opts);
    return r!;
  }

  async sendMany(calls: readonly { contract: string; method: string; args: readonly unknown[] }[], opts: SendOptions = {}): Promise<LedgerReceipt[]> {
    const signer = opts.from ? await this.walletStore.signer(opts.from) : this.operatorSigner;
    const prepared: Prepared[] = calls.map((c) => ({
      contract: c.contract,
      method: c.method,
      to: this.addressOf(c.contract),
      data: encodeCall(c.contract, c.method, c.args) as Hex,
    }));
    const sent = await this.#submitAll(signer, prepared);
    const out: LedgerReceipt[] = [];
    for (let i = 0; i < sent.length; i++) {
      const raw = (sent[i]!.receipt as RawReceipt | undefined) ?? (await this.#receipt(sent[i]!.hash));
      if (raw.status !== '0x1') await this.#explainFailure(prepared[i]!, signer.address, raw);
      out.push(this.#toReceipt(raw));
    }
    this.mirror.poke();
    return out;
  }

  /**
   * Estimates, signs and submits in nonce order under the sender's queue. A node's refusal of a nonce
   * (another process used the key) resyncs the nonce and signs again; a transport failure re-sends the same
   * bytes (RemoteChain), so a call is never applied twice.
   */
  #submitAll(signer: TxSigner, prepared: Prepared[]): Promise<{ hash: Hex; receipt?: unknown }[]> {
    let state = this.#senders.get(signer.address);
    if (!state) {
      state = { nonce: undefined, tail: Promise.resolve() };
      this.#senders.set(signer.address, state);
    }
    const s = state;
    const run = s.tail.then(async () => {
      const hashes: { hash: Hex; receipt?: unknown }[] = [];
      for (let i = 0; i < prepared.length; i++) {
        const p = prepared[i]!;
        const gas = await this.#estimate(p, signer.address, i > 0);
        for (let attempt = 0; ; attempt++) {
          if (s.nonce === undefined) {
            s.nonce = BigInt((await this.chain.rpc.request({ method: 'eth_getTransactionCount', params: [signer.address, 'pending'] })) as string);
          }
          const tx = signer.sign({ nonce: s.nonce, gasPrice: this.opts.gasPrice, gas, to: p.to, data: p.data, chainId: this.chainId });
          try {
            hashes.push(await this.chain.submit(tx.raw, tx.hash));
            s.nonce += 1n;
            break;
          } catch (err) {
            s.nonce = undefined;
            if (err instanceof RpcError && /nonce/i.test(err.message) && attempt < 2) continue;
            throw this.#mapRpcError(err, p);
          }
        }
      }
      return hashes;
    });
    s.tail = run.catch(() => undefined);
    return run;
  }

  /**
   * The gas limit for a call, and the revert check before anything is sent. On the embedded EVM gas is free
   * and each transaction has a block to itself, so one `eth_call` checks for a revert and the limit is
   * `maxGas` (EDR's `eth_estimateGas` searches, running a large batch several times). On a remote node
   * `eth_estimateGas` gives a tight limit, which matters for packing blocks.
   */
  async #estimate(p: Prepared, from: Address, mayDependOnPrevious: boolean): Promise<bigint> {
    try {
      if (this.embedded) {
        await this.chain.simulate({ from, to: p.to, data: p.data, gas: `0x${this.opts.maxGas.toString(16)}` });
        return this.opts.maxGas;
      }
      const est = BigInt(
        (await this.chain.rpc.request({ method: 'eth_estimateGas', params: [{ from, to: p.to, data: p.data, gasPrice: '0x0' }] })) as string,
      );
      const gas = (est * 5n) / 4n + 10_000n;
      return gas > this.opts.maxGas ? this.opts.maxGas : gas;
    } catch (err) {
      // On a remote node a later call of a batch may depend on an earlier one not yet mined: send it anyway.
      if (mayDependOnPrevious && !this.embedded) return this.opts.maxGas;
      throw this.#mapRpcError(err, p);
    }
  }

  #mapRpcError(err: unknown, p: Pick<Prepared, 'contract' | 'method'>): Error {
    if (err instanceof GfError) return err;
    const revert = decodeRevert(revertData(err));
    if (revert) {
      return new GfError(LedgerErrors.GF_LEDGER_REVERTED, `${p.contract}.${p.method} reverted: ${revert.text}`, {
        data: { contract: p.contract, method: p.method, revert: revert.name, args: revert.args },
      });
    }
    if (err instanceof RpcError || /revert/i.test((err as Error)?.message ?? '')) {
      return new GfError(LedgerErrors.GF_LEDGER_REVERTED, `${p.contract}.${p.method} refused: ${(err as Error).message}`, {
        data: { contract: p.contract, method: p.method, revert: 'unknown' },
      });
    }
    return new GfError(LedgerErrors.GF_LEDGER_UNAVAILABLE, `ledger call ${p.contract}.${p.method} failed: ${(err as Error)?.message}`, { cause: err });
  }

  async #explainFailure(p: Prepared, from: Address, raw: RawReceipt): Promise<never> {
    try {
      await this.chain.rpc.request({ method: 'eth_call', params: [{ from, to: p.to, data: p.data }, raw.blockNumber] });
    } catch (err) {
      const e = this.#mapRpcError(err, p);
      if (e instanceof GfError) e.data && Object.assign(e.data, { txHash: raw.transactionHash });
      throw e;
    }
    throw new GfError(LedgerErrors.GF_LEDGER_REVERTED, `${p.contract}.${p.method} failed on chain (out of gas?)`, {
      data: { contract: p.contract, method: p.method, revert: 'unknown', txHash: raw.transactionHash },
    });
  }

  async #receipt(hash: Hex): Promise<RawReceipt> {
    const deadline = Date.now() + this.opts.receiptTimeoutMs;
    for (;;) {
      const r = (await this.chain.rpc.request({ method: 'eth_getTransactionReceipt', params: [hash] })) as RawReceipt | null;
      if (r) return r;
      if (Date.now() > deadline) {
        throw new GfError(LedgerErrors.GF_LEDGER_TIMEOUT, `no receipt for ${hash} within ${this.opts.receiptTimeoutMs} ms; it may still be mined`, {
          data: { txHash: hash },
        });
      }
      await new Promise((res) => setTimeout(res, this.opts.receiptPollMs));
    }
  }

  #toReceipt(raw: RawReceipt): LedgerReceipt {
    const events: LedgerEventRecord[] = [];
    for (const log of raw.logs) {
      const e = decodeEvent(log, (a) => this.#byAddress.get(a));
      if (e) events.push(e);
    }
    return { txHash: raw.transactionHash, blockNumber: Number(BigInt(raw.blockNumber)), gasUsed: BigInt(raw.gasUsed), events };
  }

  async call<T = unknown>(contract: string, method: string, args: readonly unknown[], opts: SendOptions = {}): Promise<T> {
    const fn = functionOf(contract, method, args.length);
    const p = { contract, method, to: this.addressOf(contract), data: encodeCall(contract, method, args) as Hex };
    let data: string;
    try {
      data = (await this.chain.rpc.request({ method: 'eth_call', params: [{ from: opts.from ?? this.operator, to: p.to, data: p.data }, 'latest'] })) as string;
    } catch (err) {
      throw this.#mapRpcError(err, p);
    }
    return decodeReturn(fn, data) as T;
  }

  createWallet(label: string): Promise<Address> {
    if (typeof label !== 'string' || label.length === 0 || label.length > 200) {
      return Promise.reject(new GfError(LedgerErrors.GF_LEDGER_BAD_ARGUMENT, 'a wallet label is 1 to 200 characters'));
    }
    return this.walletStore.create(label);
  }

  wallets(): Promise<WalletInfo[]> {
    return this.walletStore.list();
  }

  chainTime(): Promise<number> {
    return this.chain.now();
  }

  advanceTime(seconds: number): Promise<void> {
    return this.chain.advanceTime(seconds);
  }

  async events(query: EventQuery = {}): Promise<MirroredEvent[]> {
    await this.mirror.sync();
    return this.mirror.query(query);
  }

  syncMirror(): Promise<number> {
    return this.mirror.sync();
  }

  rebuildMirror(onProgress?: (block: number, head: number) => void): Promise<number> {
    return this.mirror.rebuild(onProgress);
  }

  async close(): Promise<void> {
    await Promise.all([...this.#senders.values()].map((s) => s.tail));
    await this.mirror.close();
    await this.chain.close();
  }
}
