import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createToken, definePlugin, GfError, LedgerErrors, LedgerToken, StorageToken, type Logger } from '../../core/index.js';
import { EVM_VERSION, SOLC_VERSION } from '../../contracts/_generated/index.js';
import { EmbeddedChain, HttpJsonRpc, RemoteChain, type Chain } from './chain.js';
import { ledgerCommand } from './commands.js';
import { LedgerService } from './ledger.js';
import { ledgerMigrations } from './migrations.js';
import { ledgerRouter } from './routes.js';
import { isPrivateKey, randomPrivateKey, TxSigner, type Hex } from './signer.js';
import { WalletStore } from './wallets.js';

export interface LedgerConfig {
  rpcUrl: string;
  chainId: number;
  operatorKey: string;
  walletKey: string;
  gasPrice: string;
  maxGas: number;
  receiptTimeoutMs: number;
  receiptPollMs: number;
  rpcTimeoutMs: number;
  blockGasLimit: number;
  token: { name: string; symbol: string; decimals: number; whPerToken: number };
  contracts: Record<string, string>;
  exposeRpc: boolean;
}

const Holder = createToken<{ ledger?: LedgerService }>('ledger.holder');

/** A secret from config, or from a file in the data folder created (mode 0600) on first use. */
function secretFile(dataDir: string, name: string, make: () => string): string {
  const dir = path.join(dataDir, 'ledger');
  const file = path.join(dir, name);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const v = make();
  writeFileSync(file, `${v}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(file, 0o600);
  return v;
}

async function openChain(cfg: LedgerConfig, storage: import('../../core/index.js').Storage, log: Logger): Promise<Chain> {
  if (cfg.rpcUrl) return new RemoteChain(new HttpJsonRpc(cfg.rpcUrl, cfg.rpcTimeoutMs));
  return EmbeddedChain.open(storage, { chainId: cfg.chainId, hardfork: EVM_VERSION, blockGasLimit: cfg.blockGasLimit }, log, (done, total) =>
    log.info({ done, total }, 'replaying embedded ledger journal'),
  );
}

/**
 * The ledger: gridflex's contracts on the embedded EVM (default, state journaled in storage) or on any
 * Ethereum JSON-RPC node such as Hyperledger Besu (`LEDGER_RPC_URL`). Exposes `LedgerToken`.
 */
export const ledgerPlugin = definePlugin<LedgerConfig>({
  manifest: {
    id: 'ledger',
    version: '0.1.0',
    requires: ['storage'],
    description: 'Solidity contracts (energy token, registry, flexibility agreements, market sessions) on an embedded EVM or Besu',
    startTimeoutMs: 300_000,
    config: {
      type: 'object',
      additionalProperties: false,
      properties: {
        rpcUrl: { type: 'string', default: '', pattern: '^(https?://.+)?$', description: 'JSON-RPC URL of Besu or another Ethereum node (env LEDGER_RPC_URL); empty: the embedded EVM.' },
        chainId: { type: 'integer', minimum: 1, default: 1337, description: 'The chain id transactions are signed for; checked against the node.' },
        operatorKey: {
          type: 'string',
          default: '',
          pattern: '^(0x[0-9a-fA-F]{64})?$',
          description: "The operator's private key (env LEDGER_OPERATOR_KEY). Required with rpcUrl; on the embedded EVM a key is generated into <dataDir>/ledger/operator.key.",
        },
        walletKey: { type: 'string', default: '', pattern: '^([0-9a-fA-F]{64})?$', description: 'AES-256 key (hex) encrypting custodial wallet keys; generated into <dataDir>/ledger/wallet.key when empty.' },
        gasPrice: { type: 'string', default: '0', pattern: '^[0-9]{1,30}$', description: 'Gas price in wei for legacy transactions (0 on free-gas networks).' },
        maxGas: { type: 'integer', minimum: 21000, default: 25_000_000, description: 'Upper bound of the gas limit of one transaction.' },
        receiptTimeoutMs: { type: 'integer', minimum: 100, default: 60_000, description: 'How long to wait for a receipt.' },
        receiptPollMs: { type: 'integer', minimum: 10, default: 250, description: 'Receipt polling interval on a remote node.' },
        rpcTimeoutMs: { type: 'integer', minimum: 100, default: 30_000, description: 'Timeout of one JSON-RPC request to a remote node.' },
        blockGasLimit: { type: 'integer', minimum: 1_000_000, default: 60_000_000, description: 'Embedded EVM block gas limit. At least twice maxGas: a block using more than half of it would raise the base fee above zero and stop free-gas transactions.' },
        token: {
          type: 'object',
          additionalProperties: false,
          default: {},
          description: 'EnergyToken parameters (used when it is first deployed).',
          properties: {
            name: { type: 'string', minLength: 1, default: 'gridflex Energy Token' },
            symbol: { type: 'string', minLength: 1, maxLength: 11, default: 'GFE' },
            decimals: { type: 'integer', minimum: 0, maximum: 18, default: 3 },
            whPerToken: { type: 'integer', minimum: 1, default: 1000, description: 'Watt-hours one whole token stands for.' },
          },
        },
        contracts: {
          type: 'object',
          default: {},
          additionalProperties: false,
          description: 'Addresses of contracts already deployed (production); the others are deployed at first start.',
          properties: Object.fromEntries(
            ['EnergyToken', 'ParticipantRegistry', 'FlexibilityContract', 'MarketSession'].map((n) => [n, { type: 'string', pattern: '^0x[0-9a-fA-F]{40}$' }]),
          ),
        },
        exposeRpc: { type: 'boolean', default: true, description: 'Serve read-only JSON-RPC of the embedded EVM at POST /api/ledger/rpc (for auditors and other nodes).' },
      },
    },
  },
  commands: { ledger: ledgerCommand },
  register(ctx) {
    const holder: { ledger?: LedgerService } = {};
    ctx.provide(Holder, () => holder);
    const get = () => {
      if (!holder.ledger) throw new GfError(LedgerErrors.GF_LEDGER_UNAVAILABLE, 'the ledger is not started');
      return holder.ledger;
    };
    ctx.expose(LedgerToken, get);
    ctx.mount('/api/ledger', ledgerRouter(() => holder.ledger, ctx.config.exposeRpc));
    ctx.readiness('ledger', async () => {
      await get().chainTime();
    });
  },
  async start(ctx) {
    const cfg = ctx.config;
    if (!cfg.rpcUrl && cfg.maxGas * 2 > cfg.blockGasLimit) {
      throw new GfError(LedgerErrors.GF_LEDGER_CONFIG, `plugins.ledger.config.maxGas (${cfg.maxGas}) must be at most half of blockGasLimit (${cfg.blockGasLimit}) on the embedded EVM, or the base fee rises above zero`, {
        data: { key: 'plugins.ledger.config.maxGas' },
      });
    }
    const storage = ctx.resolve(StorageToken);
    await storage.migrate('ledger', ledgerMigrations);
    let operatorKey = cfg.operatorKey;
    if (!operatorKey) {
      if (cfg.rpcUrl) {
        throw new GfError(LedgerErrors.GF_LEDGER_CONFIG, 'plugins.ledger.config.operatorKey (or LEDGER_OPERATOR_KEY) is required with rpcUrl', {
          data: { key: 'plugins.ledger.config.operatorKey' },
        });
      }
      operatorKey = secretFile(ctx.kernel.dataDir, 'operator.key', randomPrivateKey);
    }
    if (!isPrivateKey(operatorKey)) throw new GfError(LedgerErrors.GF_LEDGER_CONFIG, 'the operator key is not a valid secp256k1 private key');
    const walletKey = cfg.walletKey || secretFile(ctx.kernel.dataDir, 'wallet.key', () => randomPrivateKey().slice(2));
    const chain = await openChain(cfg, storage, ctx.log);
    const ledger = new LedgerService(
      chain,
      storage,
      new TxSigner(operatorKey as Hex),
      new WalletStore(storage, Buffer.from(walletKey, 'hex')),
      {
        chainId: cfg.chainId,
        gasPrice: BigInt(cfg.gasPrice),
        maxGas: BigInt(cfg.maxGas),
        receiptTimeoutMs: cfg.receiptTimeoutMs,
        receiptPollMs: chain.embedded ? 1 : cfg.receiptPollMs,
        token: cfg.token,
        addresses: cfg.contracts,
      },
      ctx.log,
    );
    await ledger.init();
    await ledger.syncMirror();
    ctx.resolve(Holder).ledger = ledger;
    ctx.log.info({ chainId: cfg.chainId, embedded: chain.embedded, operator: ledger.operator, solc: SOLC_VERSION, evm: EVM_VERSION }, 'ledger ready');
  },
  async stop(ctx) {
    const holder = ctx.resolve(Holder);
    await holder.ledger?.close();
    holder.ledger = undefined;
  },
});

export default ledgerPlugin;
