import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createLogger, SecretBox, type Address } from '../../../core/index.js';
import { openStorage, type SqlStorage } from '../../storage/index.js';
import { EmbeddedChain, type Chain } from '../chain.js';
import { LedgerService } from '../ledger.js';
import { ledgerMigrations } from '../migrations.js';
import { TxSigner, type Hex } from '../signer.js';
import { WalletStore } from '../wallets.js';

export const TEST_OPERATOR_KEY = '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d' as Hex;
/** The key-encryption key custodial keys are sealed under in these tests. */
export const TEST_SECRETS = new SecretBox(Buffer.alloc(32, 7));
export const silentLog = createLogger({ level: 'silent' });

export interface TestLedger {
  ledger: LedgerService;
  storage: SqlStorage;
  dir: string;
  /** Stops the ledger and storage as a process exit would, then opens both again on the same folder. */
  restart(): Promise<TestLedger>;
  close(): Promise<void>;
}

export async function buildLedger(storage: SqlStorage, chain: Chain, chainId = 1337, operatorKey: Hex = TEST_OPERATOR_KEY): Promise<LedgerService> {
  const ledger = new LedgerService(
    chain,
    storage,
    new TxSigner(operatorKey),
    new WalletStore(storage, TEST_SECRETS),
    {
      chainId,
      gasPrice: 0n,
      maxGas: 25_000_000n,
      receiptTimeoutMs: 10_000,
      receiptPollMs: chain.embedded ? 1 : 20,
      token: { name: 'Test Energy', symbol: 'TE', decimals: 3, whPerToken: 1000 },
      addresses: {},
    },
    silentLog,
  );
  await ledger.init();
  return ledger;
}

/** An embedded-EVM ledger on PGlite in a temporary folder (the real stack, nothing mocked). */
export async function openTestLedger(dir = mkdtempSync(path.join(tmpdir(), 'gf-ledger-'))): Promise<TestLedger> {
  const storage = await openStorage({ dataDir: dir, databaseUrl: undefined });
  let ledger: LedgerService;
  try {
    await storage.migrate('ledger', ledgerMigrations);
    const chain = await EmbeddedChain.open(storage, { chainId: 1337, hardfork: 'cancun', blockGasLimit: 60_000_000 }, silentLog);
    ledger = await buildLedger(storage, chain);
  } catch (e) {
    await storage.close();
    throw e;
  }
  const t: TestLedger = {
    ledger,
    storage,
    dir,
    async restart() {
      await ledger.close();
      await storage.close();
      return openTestLedger(dir);
    },
    async close() {
      await ledger.close();
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return t;
}

/** Token amounts in base units (3 decimals): tokens(1.5) = 1500n. */
export const tokens = (n: number): bigint => BigInt(Math.round(n * 1000));

export type { Address };
