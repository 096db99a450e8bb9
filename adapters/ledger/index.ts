import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { definePlugin, LedgerErrors, GfError, LedgerToken, SecretBox, SecretsToken, StorageToken, type ConfigViolation, type Logger, type Storage } from '../../core/index.js';
import { LedgerConfig } from './config.js';
import { EVM_VERSION, SOLC_VERSION } from '../../contracts/_generated/index.js';
import { EmbeddedChain, HttpJsonRpc, RemoteChain, type Chain } from './chain.js';
import { ledgerCommand } from './commands.js';
import { LedgerService } from './ledger.js';
import { ledgerMigrations } from './migrations.js';
import { ledgerRouter } from './routes.js';
import { isPrivateKey, randomPrivateKey, TxSigner, type Hex } from './signer.js';
import { WalletStore } from './wallets.js';

const OPERATOR_LABEL = 'ledger/operator_key';

/**
 * The embedded EVM's operator key: generated at first start and kept in `ledger_meta`, sealed under the kernel's
 * key-encryption key. Earlier versions kept it in clear in `<dataDir>/ledger/operator.key`: that key is sealed into
 * the database, and the file removed once the database holds it.
 */
async function embeddedOperatorKey(storage: Storage, secrets: SecretBox, dataDir: string, log: Logger): Promise<string> {
  const file = path.join(dataDir, 'ledger', 'operator.key');
  const read = async () => (await storage.query<{ value: string }>(`SELECT value FROM ledger_meta WHERE key = 'operator_key'`)).rows[0]?.value;
  let sealed = await read();
  if (!sealed) {
    const legacy = existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
    const key = legacy ?? randomPrivateKey();
    await storage.query(`INSERT INTO ledger_meta (key, value) VALUES ('operator_key', $1) ON CONFLICT (key) DO NOTHING`, [secrets.seal(Buffer.from(key.replace(/^0x/, ''), 'hex'), OPERATOR_LABEL)]);
    sealed = (await read())!;
    if (legacy) log.info({ file }, 'sealed the operator key kept in clear by an earlier version into the database');
  }
  const key = `0x${secrets.open(sealed, OPERATOR_LABEL).toString('hex')}`;
  // The database holds it now (committed above): the file in clear goes.
  if (existsSync(file)) rmSync(file);
  return key;
}

/**
 * The wallet master key of earlier versions (custodial keys were encrypted under it; now under the KEK): from config
 * or its file, needed only to seal those keys again. The file is removed once no key needs it.
 */
async function migrateWallets(wallets: WalletStore, cfg: LedgerConfig, dataDir: string, log: Logger): Promise<void> {
  const file = path.join(dataDir, 'ledger', 'wallet.key');
  const hex = cfg.walletKey || (existsSync(file) ? readFileSync(file, 'utf8').trim() : '');
  const n = await wallets.migrateLegacy(hex ? Buffer.from(hex, 'hex') : undefined);
  if (n > 0) log.info({ wallets: n }, 'sealed custodial keys under the key-encryption key (they were under the old wallet master key)');
  if (existsSync(file)) rmSync(file);
  if (cfg.walletKey) log.warn('plugins.ledger.config.walletKey is no longer used (custodial keys are sealed under the KEK): remove it');
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
  deps: { storage: StorageToken, secrets: SecretsToken },
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
    const { storage, secrets } = ctx.deps;
    await storage.migrate('ledger', ledgerMigrations);
    // validate() has refused a remote node without an operator key.
    const operatorKey = cfg.operatorKey || (await embeddedOperatorKey(storage, secrets, ctx.kernel.dataDir, ctx.log));
    if (!isPrivateKey(operatorKey)) throw new GfError(LedgerErrors.GF_LEDGER_CONFIG, 'the operator key is not a valid secp256k1 private key');
    const wallets = new WalletStore(storage, secrets);
    await migrateWallets(wallets, cfg, ctx.kernel.dataDir, ctx.log);
    const chain = await openChain(cfg, storage, ctx.log);
    const ledger = new LedgerService(
      chain,
      storage,
      new TxSigner(operatorKey as Hex),
      wallets,
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
