import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { definePlugin, LedgerErrors, GfError, LedgerToken, StorageToken, type ConfigViolation, type Logger, type Storage } from '../../core/index.js';
import { LedgerConfig } from './config.js';
import { EVM_VERSION, SOLC_VERSION } from '../../contracts/_generated/index.js';
import { EmbeddedChain, HttpJsonRpc, RemoteChain, type Chain } from './chain.js';
import { ledgerCommand } from './commands.js';
import { LedgerService } from './ledger.js';
import { ledgerMigrations } from './migrations.js';
import { ledgerRouter } from './routes.js';
import { isPrivateKey, randomPrivateKey, TxSigner, type Hex } from './signer.js';
import { WalletStore } from './wallets.js';

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

async function openChain(cfg: LedgerConfig, storage: Storage, log: Logger): Promise<Chain> {
  if (cfg.rpcUrl) return new RemoteChain(new HttpJsonRpc(cfg.rpcUrl, cfg.rpcTimeoutMs));
  return EmbeddedChain.open(storage, { chainId: cfg.chainId, hardfork: EVM_VERSION, blockGasLimit: cfg.blockGasLimit }, log, (done, total) =>
    log.info({ done, total }, 'replaying embedded ledger journal'),
  );
}

/**
 * The ledger: gridflex's contracts on the embedded EVM (default, state journaled in storage) or on any
 * Ethereum JSON-RPC node such as Hyperledger Besu (`LEDGER_RPC_URL`). Exposes `LedgerToken`.
 */
export { LedgerConfig } from './config.js';

export const ledgerPlugin = definePlugin({
  manifest: {
    id: 'ledger',
    version: '0.2.0',
    kernel: '^0.2.0',
    description: 'Solidity contracts (energy token, registry, flexibility agreements, market sessions) on an embedded EVM or Besu',
    startTimeoutMs: 300_000,
  },
  config: LedgerConfig,
  deps: { storage: StorageToken },
  provides: { ledger: LedgerToken },
  validate: (cfg) => {
    const problems: ConfigViolation[] = [];
    if (!cfg.rpcUrl && cfg.maxGas * 2 > cfg.blockGasLimit) {
      problems.push({ path: 'maxGas', message: `(${cfg.maxGas}) must be at most half of blockGasLimit (${cfg.blockGasLimit}) on the embedded EVM, or the base fee rises above zero` });
    }
    if (cfg.rpcUrl && !cfg.operatorKey) problems.push({ path: 'operatorKey', message: '(or LEDGER_OPERATOR_KEY) is required with rpcUrl' });
    return problems;
  },
  commands: { ledger: ledgerCommand },
  async start(ctx) {
    const cfg = ctx.config;
    const { storage } = ctx.deps;
    await storage.migrate('ledger', ledgerMigrations);
    // validate() has refused a remote node without an operator key.
    const operatorKey = cfg.operatorKey || secretFile(ctx.kernel.dataDir, 'operator.key', randomPrivateKey);
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
    ctx.onStop(() => ledger.close());
    await ledger.syncMirror();
    ctx.mount('/api/ledger', ledgerRouter(ledger, cfg.exposeRpc));
    ctx.readiness('ledger', async () => {
      await ledger.chainTime();
    });
    ctx.log.info({ chainId: cfg.chainId, embedded: chain.embedded, operator: ledger.operator, solc: SOLC_VERSION, evm: EVM_VERSION }, 'ledger ready');
    return { ledger };
  },
});

export default ledgerPlugin;
