import { createToken, type Token } from '../di.js';
import { defineErrors } from '../errors.js';

/**
 * The ledger port: Solidity contracts on an Ethereum JSON-RPC chain (the embedded EVM by default,
 * Hyperledger Besu in production). Money and tokens move only here; storage keeps a mirror of the
 * contracts' events for queries, rebuilt from the chain when lost. Contracts and methods are named as in
 * `contracts/src` (typed ABIs are in `contracts/_generated` for callers that want them).
 */
export type Address = `0x${string}`;

/** One decoded contract event. Integers are decimal strings (JSON-safe); bytes and addresses are 0x-hex. */
export interface LedgerEventRecord {
  contract: string;
  event: string;
  args: Record<string, unknown>;
  blockNumber: number;
  logIndex: number;
  txHash: string;
}

export interface MirroredEvent extends LedgerEventRecord {
  id: number;
  blockTime: number;
}

export interface LedgerReceipt {
  txHash: string;
  blockNumber: number;
  gasUsed: bigint;
  events: LedgerEventRecord[];
}

export interface SendOptions {
  /** The sending account: the operator (default) or a wallet this ledger holds the key of. */
  from?: Address;
}

export interface EventQuery {
  contract?: string;
  event?: string;
  /** Events whose args have these values (strings compared as given, addresses lower-case). */
  where?: Record<string, string>;
  afterId?: number;
  limit?: number;
}

export interface WalletInfo {
  address: Address;
  label: string;
  createdAt: string;
}

export interface Ledger {
  readonly chainId: number;
  /** The platform operator's account (admin, issuer, registrar, verifier, market operator). */
  readonly operator: Address;
  /** True on the embedded EVM (time can be advanced; the chain is rebuilt from its journal at start). */
  readonly embedded: boolean;
  addressOf(contract: string): Address;
  /** Sends a state-changing call, waits for its receipt and returns its decoded events; reverts become GF_LEDGER_REVERTED. */
  send(contract: string, method: string, args: readonly unknown[], opts?: SendOptions): Promise<LedgerReceipt>;
  /** Several sends from one account, signed and submitted back to back (nonce order), each awaited. */
  sendMany(calls: readonly { contract: string; method: string; args: readonly unknown[] }[], opts?: SendOptions): Promise<LedgerReceipt[]>;
  /** A read-only call; integers come back as bigint, structs as objects keyed by field name. */
  call<T = unknown>(contract: string, method: string, args: readonly unknown[], opts?: SendOptions): Promise<T>;
  /** Creates a custodial wallet whose key the ledger keeps (encrypted) in storage. */
  createWallet(label: string): Promise<Address>;
  wallets(): Promise<WalletInfo[]>;
  /**
   * The clock contracts see (seconds): the timestamp the next block will carry. It moves with the wall clock
   * while the chain is idle (it is not the last block's time) and never goes back behind a block. Gates read it.
   */
  chainTime(): Promise<number>;
  /** Embedded EVM only: moves the chain clock forward (tests and demos); elsewhere GF_LEDGER_UNSUPPORTED. */
  advanceTime(seconds: number): Promise<void>;
  /** Events from the mirror, in chain order. */
  events(query?: EventQuery): Promise<MirroredEvent[]>;
  /** Indexes new chain events into the mirror; returns how many were added. */
  syncMirror(): Promise<number>;
  /** Drops the mirror and re-indexes it from block 0. */
  rebuildMirror(onProgress?: (block: number, head: number) => void): Promise<number>;
}

export const LedgerToken: Token<Ledger> = createToken<Ledger>('kernel.ledger');

export const LedgerErrors = defineErrors({
  GF_LEDGER_REVERTED: { status: 409, title: 'Ledger transaction reverted' },
  GF_LEDGER_UNKNOWN_CONTRACT: { status: 400, title: 'Unknown contract or method' },
  GF_LEDGER_BAD_ARGUMENT: { status: 400, title: 'Invalid contract call argument' },
  GF_LEDGER_UNAVAILABLE: { status: 503, title: 'Ledger unavailable' },
  GF_LEDGER_TIMEOUT: { status: 504, title: 'Ledger receipt timeout' },
  GF_LEDGER_UNKNOWN_WALLET: { status: 400, title: 'No key held for this account' },
  GF_LEDGER_UNSUPPORTED: { status: 501, title: 'Not supported by this ledger' },
  GF_LEDGER_CONFIG: { status: 500, title: 'Ledger misconfigured' },
  GF_LEDGER_REPLAY_MISMATCH: { status: 500, title: 'Embedded ledger journal does not replay' },
});
