import { keccak_256 } from '@noble/hashes/sha3';
import { bytesToHex, hexToBytes } from '@noble/hashes/utils';
import { encodeParameters } from 'web3-eth-abi';

/**
 * The hashes MarketSession chains on chain, recomputed off chain: any node rebuilds the order book from
 * the contract's events and checks the operator's clearing against them (see MarketSession.sol).
 */
export const ZERO_HASH = `0x${'0'.repeat(64)}`;

function keccak(encoded: string): string {
  return `0x${bytesToHex(keccak_256(hexToBytes(encoded.slice(2))))}`;
}

export interface BookEntry {
  orderId: number;
  owner: string;
  isBid: boolean;
  green: boolean;
  qtyWh: bigint | number;
  limitPrice: bigint | number;
}

/** One step of the order-book hash: an order submitted, or (`cancel`) an order withdrawn. */
export function nextBookHash(prev: string, step: BookEntry | { cancel: number }): string {
  if ('cancel' in step) return keccak(encodeParameters(['bytes32', 'uint32', 'string'], [prev, step.cancel, 'cancel']));
  return keccak(
    encodeParameters(
      ['bytes32', 'uint32', 'address', 'bool', 'bool', 'uint64', 'uint128'],
      [prev, step.orderId, step.owner, step.isBid, step.green, step.qtyWh, step.limitPrice],
    ),
  );
}

export interface TradeEntry {
  bidId: number;
  offerId: number;
  qtyWh: bigint | number;
  /** The trade's price (the uniform price for a uniform clearing). */
  price: bigint | number;
}

/** The result hash `postClearing` commits to: keccak256(abi.encode(price, chained trades hash)). */
export function clearingResultHash(price: bigint | number, trades: readonly TradeEntry[]): string {
  let h = ZERO_HASH;
  for (const t of trades) h = keccak(encodeParameters(['bytes32', 'uint32', 'uint32', 'uint64', 'uint120'], [h, t.bidId, t.offerId, t.qtyWh, t.price]));
  return keccak(encodeParameters(['uint128', 'bytes32'], [price, h]));
}
