import { secp256k1 } from '@noble/curves/secp256k1';
import { keccak_256 } from '@noble/hashes/sha3';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils';

/**
 * Legacy (type 0) Ethereum transactions with EIP-155 replay protection, signed with noble's secp256k1.
 * web3's `signTransaction` measured ~230 signatures/s here, this ~2,400/s (ADR 0004): signing is
 * what bounds throughput on a free-gas chain, so the hot path signs here. Legacy transactions with an
 * explicit gas price are what free-gas networks (Besu with min-gas-price 0, the embedded EVM) accept.
 * Tests check byte-for-byte equality with web3's signer.
 */
export type Hex = `0x${string}`;

export interface LegacyTx {
  nonce: number | bigint;
  gasPrice: bigint;
  gas: bigint;
  to?: Hex | undefined;
  value?: bigint;
  data: Hex;
  chainId: number;
}

export interface SignedTx {
  raw: Hex;
  hash: Hex;
  from: Hex;
}

export function strip0x(h: string): string {
  return h.startsWith('0x') || h.startsWith('0X') ? h.slice(2) : h;
}

export function hexBytes(h: string): Uint8Array {
  const s = strip0x(h);
  return hexToBytes(s.length % 2 ? `0${s}` : s);
}

function bigintBytes(v: bigint): Uint8Array {
  if (v < 0n) throw new RangeError('negative integer in transaction');
  if (v === 0n) return new Uint8Array(0);
  const s = v.toString(16);
  return hexToBytes(s.length % 2 ? `0${s}` : s);
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function lengthPrefix(len: number, short: number): Uint8Array {
  if (len < 56) return Uint8Array.of(short + len);
  const lb = bigintBytes(BigInt(len));
  return concat([Uint8Array.of(short + 55 + lb.length), lb], 1 + lb.length);
}

function rlpItem(b: Uint8Array): Uint8Array {
  if (b.length === 1 && b[0]! < 0x80) return b;
  const p = lengthPrefix(b.length, 0x80);
  return concat([p, b], p.length + b.length);
}

/** RLP of a list of byte strings. */
export function rlpList(items: Uint8Array[]): Uint8Array {
  const enc = items.map(rlpItem);
  const len = enc.reduce((n, e) => n + e.length, 0);
  const p = lengthPrefix(len, 0xc0);
  return concat([p, ...enc], p.length + len);
}

export function keccakHex(b: Uint8Array): Hex {
  return `0x${bytesToHex(keccak_256(b))}`;
}

/** The checksum-less lower-case address of a private key. */
export function addressOf(privateKey: Hex): Hex {
  const pub = secp256k1.getPublicKey(hexBytes(privateKey), false);
  return `0x${bytesToHex(keccak_256(pub.subarray(1)).subarray(12))}`;
}

export function randomPrivateKey(): Hex {
  return `0x${bytesToHex(secp256k1.utils.randomPrivateKey())}`;
}

export function isPrivateKey(s: string): s is Hex {
  if (!/^0x[0-9a-fA-F]{64}$/.test(s)) return false;
  const n = BigInt(s);
  return n > 0n && n < secp256k1.CURVE.n;
}

/** A key held for the life of the process: the address is derived once. */
export class TxSigner {
  readonly address: Hex;
  readonly #key: Uint8Array;

  constructor(privateKey: Hex) {
    if (!isPrivateKey(privateKey)) throw new RangeError('not a secp256k1 private key (0x + 64 hex digits)');
    this.#key = hexBytes(privateKey);
    this.address = addressOf(privateKey);
  }

  sign(tx: LegacyTx): SignedTx {
    const fields = [
      bigintBytes(BigInt(tx.nonce)),
      bigintBytes(tx.gasPrice),
      bigintBytes(tx.gas),
      tx.to ? hexBytes(tx.to) : new Uint8Array(0),
      bigintBytes(tx.value ?? 0n),
      hexBytes(tx.data),
    ];
    const chainId = BigInt(tx.chainId);
    const digest = keccak_256(rlpList([...fields, bigintBytes(chainId), new Uint8Array(0), new Uint8Array(0)]));
    const sig = secp256k1.sign(digest, this.#key, { lowS: true });
    const v = BigInt(sig.recovery) + chainId * 2n + 35n;
    const raw = rlpList([...fields, bigintBytes(v), bigintBytes(sig.r), bigintBytes(sig.s)]);
    return { raw: `0x${bytesToHex(raw)}`, hash: keccakHex(raw), from: this.address };
  }
}
