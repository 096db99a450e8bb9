import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { GfError, LedgerErrors, type Address, type Storage, type WalletInfo } from '../../core/index.js';
import { randomPrivateKey, TxSigner, type Hex } from './signer.js';

/**
 * Custodial wallets: keys the platform holds for prosumers that have no wallet of their own. Each key is
 * encrypted with AES-256-GCM under the wallet master key (config, or a file in the data folder created at
 * first start with mode 0600); storage holds only ciphertexts. Signers are decrypted once and kept.
 */
export class WalletStore {
  readonly #signers = new Map<string, TxSigner>();

  constructor(
    private readonly storage: Storage,
    private readonly masterKey: Buffer,
  ) {
    if (masterKey.length !== 32) throw new GfError(LedgerErrors.GF_LEDGER_CONFIG, 'the wallet master key must be 32 bytes');
  }

  hold(signer: TxSigner): void {
    this.#signers.set(signer.address, signer);
  }

  async create(label: string): Promise<Address> {
    const key = randomPrivateKey();
    const signer = new TxSigner(key);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.masterKey, iv);
    cipher.setAAD(Buffer.from(signer.address));
    const enc = Buffer.concat([cipher.update(Buffer.from(key.slice(2), 'hex')), cipher.final()]);
    const blob = [iv, cipher.getAuthTag(), enc].map((b) => b.toString('base64')).join('.');
    await this.storage.query('INSERT INTO ledger_wallets (address, label, key_enc) VALUES ($1, $2, $3)', [signer.address, label, blob]);
    this.#signers.set(signer.address, signer);
    return signer.address;
  }

  async signer(address: string): Promise<TxSigner> {
    const a = address.toLowerCase();
    const held = this.#signers.get(a);
    if (held) return held;
    const { rows } = await this.storage.query<{ key_enc: string }>('SELECT key_enc FROM ledger_wallets WHERE address = $1', [a]);
    if (!rows[0]) throw new GfError(LedgerErrors.GF_LEDGER_UNKNOWN_WALLET, `this ledger holds no key for ${address}`, { data: { address } });
    const [iv, tag, enc] = rows[0].key_enc.split('.').map((s) => Buffer.from(s, 'base64'));
    const decipher = createDecipheriv('aes-256-gcm', this.masterKey, iv!);
    decipher.setAAD(Buffer.from(a));
    decipher.setAuthTag(tag!);
    let key: Buffer;
    try {
      key = Buffer.concat([decipher.update(enc!), decipher.final()]);
    } catch (cause) {
      throw new GfError(LedgerErrors.GF_LEDGER_CONFIG, `the key of ${address} does not decrypt: wrong wallet master key?`, { cause });
    }
    const signer = new TxSigner(`0x${key.toString('hex')}` as Hex);
    this.#signers.set(a, signer);
    return signer;
  }

  async list(): Promise<WalletInfo[]> {
    const { rows } = await this.storage.query<{ address: Address; label: string; created_at: Date | string }>(
      'SELECT address, label, created_at FROM ledger_wallets ORDER BY created_at, address',
    );
    return rows.map((r) => ({ address: r.address, label: r.label, createdAt: new Date(r.created_at).toISOString() }));
  }
}
