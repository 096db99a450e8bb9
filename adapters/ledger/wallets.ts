import { createDecipheriv } from 'node:crypto';
import { GfError, LedgerErrors, SecretBox, type Address, type Storage, type WalletInfo } from '../../core/index.js';
import { randomPrivateKey, TxSigner, type Hex } from './signer.js';

/** The label a custodial key is sealed under: its address, so a key copied to another row does not open there. */
export const walletLabel = (address: string): string => `ledger/wallet/${address.toLowerCase()}`;

/**
 * Custodial wallets: keys the platform holds for prosumers that have no wallet of their own. Each key is sealed
 * with the kernel's key-encryption key (AES-256-GCM, the address in the label); storage holds only sealed values.
 * Signers are opened once and kept.
 */
export class WalletStore {
  readonly #signers = new Map<string, TxSigner>();

  constructor(
    private readonly storage: Storage,
    private readonly secrets: SecretBox,
  ) {}

  hold(signer: TxSigner): void {
    this.#signers.set(signer.address, signer);
  }

  async create(label: string): Promise<Address> {
    const key = randomPrivateKey();
    const signer = new TxSigner(key);
    const sealed = this.secrets.seal(Buffer.from(key.slice(2), 'hex'), walletLabel(signer.address));
    await this.storage.query('INSERT INTO ledger_wallets (address, label, key_enc) VALUES ($1, $2, $3)', [signer.address, label, sealed]);
    this.#signers.set(signer.address, signer);
    return signer.address;
  }

  async signer(address: string): Promise<TxSigner> {
    const a = address.toLowerCase();
    const held = this.#signers.get(a);
    if (held) return held;
    const { rows } = await this.storage.query<{ key_enc: string }>('SELECT key_enc FROM ledger_wallets WHERE address = $1', [a]);
    if (!rows[0]) throw new GfError(LedgerErrors.GF_LEDGER_UNKNOWN_WALLET, `this ledger holds no key for ${address}`, { data: { address } });
    if (!SecretBox.isSealed(rows[0].key_enc)) throw new GfError(LedgerErrors.GF_LEDGER_CONFIG, `the key of ${address} is still under the old wallet master key (it is sealed again when the ledger starts with that key)`);
    const key = this.secrets.open(rows[0].key_enc, walletLabel(a));
    const signer = new TxSigner(`0x${key.toString('hex')}` as Hex);
    this.#signers.set(a, signer);
    return signer;
  }

  /**
   * Seals again, under the KEK, the keys an earlier version encrypted under its own wallet master key
   * (`iv.tag.ciphertext`, base64, the address as associated data). Returns how many; none left means the old
   * master key opens nothing any more.
   */
  async migrateLegacy(legacyKey: Buffer | undefined): Promise<number> {
    const { rows } = await this.storage.query<{ address: string; key_enc: string }>(`SELECT address, key_enc FROM ledger_wallets WHERE key_enc NOT LIKE 'gfs1.%'`);
    if (rows.length === 0) return 0;
    if (!legacyKey || legacyKey.length !== 32) {
      throw new GfError(LedgerErrors.GF_LEDGER_CONFIG, `${rows.length} custodial key(s) are encrypted under the old wallet master key: give it (walletKey, or restore <dataDir>/ledger/wallet.key) for one start so they are sealed under the KEK`);
    }
    for (const r of rows) {
      const [iv, tag, enc] = r.key_enc.split('.').map((s) => Buffer.from(s, 'base64'));
      let key: Buffer;
      try {
        const decipher = createDecipheriv('aes-256-gcm', legacyKey, iv!);
        decipher.setAAD(Buffer.from(r.address));
        decipher.setAuthTag(tag!);
        key = Buffer.concat([decipher.update(enc!), decipher.final()]);
      } catch (cause) {
        throw new GfError(LedgerErrors.GF_LEDGER_CONFIG, `the key of ${r.address} does not decrypt: wrong wallet master key?`, { cause });
      }
      await this.storage.query('UPDATE ledger_wallets SET key_enc = $3 WHERE address = $1 AND key_enc = $2', [r.address, r.key_enc, this.secrets.seal(key, walletLabel(r.address))]);
    }
    return rows.length;
  }

  async list(): Promise<WalletInfo[]> {
    const { rows } = await this.storage.query<{ address: Address; label: string; created_at: Date | string }>(
      'SELECT address, label, created_at FROM ledger_wallets ORDER BY created_at, address',
    );
    return rows.map((r) => ({ address: r.address, label: r.label, createdAt: new Date(r.created_at).toISOString() }));
  }
}
