import { decodeLog, decodeParameters, encodeErrorSignature, encodeEventSignature, encodeFunctionCall, encodeFunctionSignature, encodeParameters } from 'web3-eth-abi';
import { ARTIFACTS } from '../../contracts/_generated/index.js';
import { GfError, LedgerErrors, type LedgerEventRecord } from '../../core/index.js';

/** An ABI entry as solc emits it (parameters possibly nested tuples). */
export interface AbiParam {
  name: string;
  type: string;
  internalType?: string;
  indexed?: boolean;
  components?: readonly AbiParam[];
}
export interface AbiEntry {
  type: string;
  name?: string;
  inputs?: readonly AbiParam[];
  outputs?: readonly AbiParam[];
  stateMutability?: string;
  anonymous?: boolean;
}

export const CONTRACT_NAMES = Object.keys(ARTIFACTS) as (keyof typeof ARTIFACTS)[];

export function abiOf(contract: string): readonly AbiEntry[] {
  const a = (ARTIFACTS as Record<string, { abi: readonly AbiEntry[] }>)[contract];
  if (!a) throw new GfError(LedgerErrors.GF_LEDGER_UNKNOWN_CONTRACT, `no contract '${contract}' (known: ${CONTRACT_NAMES.join(', ')})`, { data: { contract } });
  return a.abi;
}

export function bytecodeOf(contract: string): string {
  abiOf(contract);
  return (ARTIFACTS as Record<string, { bytecode: string }>)[contract]!.bytecode;
}

export function codeHashOf(contract: string): string {
  abiOf(contract);
  return (ARTIFACTS as Record<string, { deployedBytecodeHash: string }>)[contract]!.deployedBytecodeHash;
}

export function functionOf(contract: string, method: string, argc: number): AbiEntry {
  const fns = abiOf(contract).filter((e) => e.type === 'function' && e.name === method);
  const fn = fns.find((f) => (f.inputs?.length ?? 0) === argc) ?? fns[0];
  if (!fn) throw new GfError(LedgerErrors.GF_LEDGER_UNKNOWN_CONTRACT, `${contract} has no function '${method}'`, { data: { contract, method } });
  if ((fn.inputs?.length ?? 0) !== argc) {
    throw new GfError(LedgerErrors.GF_LEDGER_BAD_ARGUMENT, `${contract}.${method} takes ${fn.inputs?.length ?? 0} arguments, got ${argc}`, {
      data: { contract, method },
    });
  }
  return fn;
}

export function encodeCall(contract: string, method: string, args: readonly unknown[]): string {
  const fn = functionOf(contract, method, args.length);
  try {
    return encodeFunctionCall(fn as never, args as unknown[]);
  } catch (cause) {
    throw new GfError(LedgerErrors.GF_LEDGER_BAD_ARGUMENT, `${contract}.${method}: ${(cause as Error).message}`, { cause, data: { contract, method } });
  }
}

export function encodeDeploy(contract: string, args: readonly unknown[]): string {
  const ctor = abiOf(contract).find((e) => e.type === 'constructor');
  const encoded = ctor?.inputs?.length ? encodeParameters(ctor.inputs as never, args as unknown[]).slice(2) : '';
  return bytecodeOf(contract) + encoded;
}

/** web3's decoded values as plain JS: named struct fields, arrays, bigint integers (or strings for JSON). */
export function normalise(value: unknown, param: AbiParam, json: boolean): unknown {
  if (param.type.endsWith(']')) {
    const inner = { ...param, type: param.type.slice(0, param.type.lastIndexOf('[')) };
    return (value as unknown[]).map((v) => normalise(v, inner, json));
  }
  if (param.type === 'tuple') {
    const out: Record<string, unknown> = {};
    (param.components ?? []).forEach((c, i) => {
      const v = (value as Record<string, unknown>)[c.name] ?? (value as Record<number, unknown>)[i];
      out[c.name || String(i)] = normalise(v, c, json);
    });
    return out;
  }
  if (/^u?int/.test(param.type)) return json ? String(value) : BigInt(value as bigint);
  if (param.type === 'address') return String(value).toLowerCase();
  return value;
}

export function decodeReturn(fn: AbiEntry, data: string): unknown {
  const outs = fn.outputs ?? [];
  if (outs.length === 0) return undefined;
  const decoded = decodeParameters(outs as never, data) as Record<number, unknown>;
  if (outs.length === 1) return normalise(decoded[0], outs[0]!, false);
  const out: Record<string, unknown> = {};
  outs.forEach((o, i) => (out[o.name || String(i)] = normalise(decoded[i], o, false)));
  return out;
}

interface EventDef {
  contract: string;
  entry: AbiEntry;
}
interface ErrorDef {
  contract: string;
  entry: AbiEntry;
}

const events = new Map<string, EventDef[]>();
const errors = new Map<string, ErrorDef>();
for (const name of CONTRACT_NAMES) {
  for (const e of abiOf(name)) {
    if (e.type === 'event') {
      const topic = encodeEventSignature(e as never).toLowerCase();
      const list = events.get(topic) ?? [];
      list.push({ contract: name, entry: e });
      events.set(topic, list);
    } else if (e.type === 'error') {
      errors.set(encodeErrorSignature(e as never).slice(0, 10).toLowerCase(), { contract: name, entry: e });
    }
  }
}
errors.set('0x08c379a0', { contract: '', entry: { type: 'error', name: 'Error', inputs: [{ name: 'message', type: 'string' }] } });
errors.set('0x4e487b71', { contract: '', entry: { type: 'error', name: 'Panic', inputs: [{ name: 'code', type: 'uint256' }] } });

/** Every event topic of our contracts (for eth_getLogs filters). */
export function eventTopics(): string[] {
  return [...events.keys()];
}

export interface RawLog {
  address: string;
  topics: string[];
  data: string;
  blockNumber: string;
  logIndex: string;
  transactionHash: string;
}

/** Decodes a log of one of our contracts (matched by address); undefined for anything else. */
export function decodeEvent(log: RawLog, contractAt: (address: string) => string | undefined): LedgerEventRecord | undefined {
  const contract = contractAt(log.address.toLowerCase());
  const topic0 = log.topics[0]?.toLowerCase();
  if (!contract || !topic0) return undefined;
  const def = events.get(topic0)?.find((d) => d.contract === contract) ?? events.get(topic0)?.[0];
  if (!def) return undefined;
  const inputs = def.entry.inputs ?? [];
  const decoded = decodeLog(inputs as never, log.data, log.topics.slice(1)) as Record<string, unknown>;
  const args: Record<string, unknown> = {};
  for (const p of inputs) args[p.name] = normalise(decoded[p.name], p, true);
  return {
    contract,
    event: def.entry.name!,
    args,
    blockNumber: Number(BigInt(log.blockNumber)),
    logIndex: Number(BigInt(log.logIndex)),
    txHash: log.transactionHash,
  };
}

export interface DecodedRevert {
  name: string;
  args: Record<string, unknown>;
  text: string;
}

export function decodeRevert(data: string | undefined): DecodedRevert | undefined {
  if (!data || data.length < 10) return undefined;
  const def = errors.get(data.slice(0, 10).toLowerCase());
  if (!def) return { name: 'unknown', args: { data }, text: `unrecognised revert ${data.slice(0, 10)}` };
  const inputs = def.entry.inputs ?? [];
  const decoded = inputs.length ? (decodeParameters(inputs as never, `0x${data.slice(10)}`) as Record<number, unknown>) : {};
  const args: Record<string, unknown> = {};
  inputs.forEach((p, i) => (args[p.name || String(i)] = normalise(decoded[i], p, true)));
  const text = `${def.entry.name}(${inputs.map((p) => JSON.stringify(args[p.name || ''])).join(', ')})`;
  return { name: def.entry.name!, args, text };
}

export const selectorOf = (contract: string, method: string, argc: number) => encodeFunctionSignature(functionOf(contract, method, argc) as never);
