import { createCipheriv, createDecipheriv, createHmac, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Type, type Static } from 'typebox';
import { createToken, type Token } from './di.js';
import { GfError, KernelErrors } from './errors.js';
import { definePlugin, type PluginCommand } from './plugin/define.js';
import { StorageToken, type SqlClient, type Storage } from './ports/storage.js';
import { readServerInfo } from './server-info.js';

/*
 * Secrets the platform keeps, of two kinds:
 * - secrets a caller presents to us (OpenADR 3 client secrets, OpenADR 2.0b registration secrets) are only ever
 *   checked: they are stored as salted scrypt hashes (`hashSecret`, `secretMatches`);
 * - secrets we must use ourselves (the OpenADR 3 token-signing key, custodial wallet keys, the ledger operator
 *   key, webhook bearer tokens) are sealed: AES-256-GCM under one key-encryption key (KEK), which never enters
 *   the database. The `secrets` kernel plugin loads the KEK and provides a `SecretBox` (`SecretsToken`).
 */

// ------------------------------------------------------------------ hashed secrets

const SCRYPT_KEYLEN = 32;
/** A hash no secret matches, checked when the caller is unknown so timing does not tell which names exist. */
export const UNKNOWN_SECRET_HASH = 'scrypt$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';

function scryptAsync(secret: string, salt: Buffer, len: number): Promise<Buffer> {
  // The asynchronous form runs on libuv's thread pool: a burst of logins does not stall the event loop.
  return new Promise((resolve, reject) => scrypt(secret, salt, len, (err, key) => (err ? reject(err) : resolve(key))));
}

/** `scrypt$<salt>$<hash>` (base64url), with a fresh 16-byte salt. */
export async function hashSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  return `scrypt$${salt.toString('base64url')}$${(await scryptAsync(secret, salt, SCRYPT_KEYLEN)).toString('base64url')}`;
}

/** Whether `secret` is the one `stored` was made from (constant time in the hash comparison). */
export async function secretMatches(secret: string, stored: string): Promise<boolean> {
  const [scheme, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const want = Buffer.from(hash, 'base64url');
  if (want.length === 0) return false;
  const got = await scryptAsync(secret, Buffer.from(salt, 'base64url'), want.length);
  return timingSafeEqual(want, got);
}

// ------------------------------------------------------------------ sealed secrets

/** `gfs1.<kid>.<label>.<iv>.<tag>.<ciphertext>`, base64url fields: JSON- and SQL-safe, found by a scan. */
const SEALED = /gfs1\.([0-9a-f]{16})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]*)/g;
const LABEL = /^[A-Za-z0-9_.:/@-]{1,200}$/;
const b64 = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');

/**
 * Seals and opens secrets with one KEK (AES-256-GCM, a fresh 96-bit IV per seal). A sealed value names the KEK by
 * its id (an HMAC of the key, not the key) and carries a label saying what it is (`openadr3/oa3_keys/k1`), which is
 * authenticated with it: a value copied into another row does not open there. The key itself is not readable.
 */
export class SecretBox {
  readonly kid: string;
  readonly #key: Buffer;

  constructor(kek: Uint8Array) {
    if (kek.length !== 32) throw new GfError(KernelErrors.GF_SECRETS_KEK_INVALID, 'a key-encryption key is 32 bytes (64 hex digits)');
    this.#key = Buffer.from(kek);
    this.kid = createHmac('sha256', this.#key).update('gridflex key-encryption key id').digest('hex').slice(0, 16);
  }

  /** A new random KEK. */
  static generate(): SecretBox {
    return new SecretBox(randomBytes(32));
  }

  /** Whether `v` is a sealed value (of any KEK). */
  static isSealed(v: unknown): v is string {
    if (typeof v !== 'string') return false;
    SEALED.lastIndex = 0;
    const m = SEALED.exec(v);
    return m !== null && m.index === 0 && m[0].length === v.length;
  }

  seal(plaintext: string | Uint8Array, label: string): string {
    if (!LABEL.test(label)) throw new Error(`a secret's label is 1 to 200 of [A-Za-z0-9_.:/@-], got '${label}'`);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(`gfs1|${this.kid}|${label}`));
    const ct = Buffer.concat([cipher.update(typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext), cipher.final()]);
    return `gfs1.${this.kid}.${b64(label)}.${b64(iv)}.${b64(cipher.getAuthTag())}.${b64(ct)}`;
  }

  /** The plaintext of a value sealed under this KEK for `label`; GF_SECRETS_WRONG_KEK or GF_SECRETS_UNSEALABLE otherwise. */
  open(sealed: string, label: string): Buffer {
    const parts = parseSealed(sealed);
    if (!parts) throw new GfError(KernelErrors.GF_SECRETS_UNSEALABLE, `the value stored for ${label} is not a sealed secret`, { data: { label } });
    if (parts.label !== label) throw new GfError(KernelErrors.GF_SECRETS_UNSEALABLE, `the value stored for ${label} was sealed for ${parts.label}`, { data: { label } });
    if (parts.kid !== this.kid) {
      throw new GfError(KernelErrors.GF_SECRETS_WRONG_KEK, `the secret ${label} is sealed under KEK ${parts.kid}, not under this one (${this.kid})`, { data: { label, kid: parts.kid } });
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, parts.iv);
      decipher.setAAD(Buffer.from(`gfs1|${parts.kid}|${parts.label}`));
      decipher.setAuthTag(parts.tag);
      return Buffer.concat([decipher.update(parts.ct), decipher.final()]);
    } catch (cause) {
      throw new GfError(KernelErrors.GF_SECRETS_UNSEALABLE, `the secret ${label} does not open: it was altered`, { cause, data: { label } });
    }
  }

  openText(sealed: string, label: string): string {
    return this.open(sealed, label).toString('utf8');
  }

  /** Opens a value of this KEK and seals it again under `to`, with its own label. */
  reseal(sealed: string, to: SecretBox): string {
    const parts = parseSealed(sealed);
    if (!parts) throw new GfError(KernelErrors.GF_SECRETS_UNSEALABLE, 'not a sealed secret');
    return to.seal(this.open(sealed, parts.label), parts.label);
  }
}

function parseSealed(s: string): { kid: string; label: string; iv: Buffer; tag: Buffer; ct: Buffer } | undefined {
  if (!SecretBox.isSealed(s)) return undefined;
  const [, kid, label, iv, tag, ct] = s.split('.');
  return { kid: kid!, label: Buffer.from(label!, 'base64url').toString('utf8'), iv: Buffer.from(iv!, 'base64url'), tag: Buffer.from(tag!, 'base64url'), ct: Buffer.from(ct!, 'base64url') };
}

/** The sealing service plugins declare as a dependency (`deps: { secrets: SecretsToken }`). */
export const SecretsToken: Token<SecretBox> = createToken<SecretBox>('kernel.secrets');

// ------------------------------------------------------------------ the KEK

/** Where the KEK comes from. */
export type KekSource = { kind: 'config' } | { kind: 'file'; file: string; default: boolean };

export function kekSource(cfg: SecretsConfig, dataDir: string): KekSource {
  if (cfg.kek) return { kind: 'config' };
  if (cfg.kekFile) return { kind: 'file', file: path.resolve(dataDir, cfg.kekFile), default: false };
  return { kind: 'file', file: path.join(dataDir, 'secrets', 'kek'), default: true };
}

function kekFromHex(hex: string, where: string): Buffer {
  const t = hex.trim();
  if (!/^[0-9a-fA-F]{64}$/.test(t)) throw new GfError(KernelErrors.GF_SECRETS_KEK_INVALID, `${where} must hold 64 hex digits (a 256-bit key)`);
  return Buffer.from(t, 'hex');
}

/**
 * Reads a KEK file, refusing one that anyone but its owner may read or write (mode wider than 0600): a key that
 * others can read protects nothing. Follows a symbolic link to the file it names (mounted secrets are links).
 */
export function readKekFile(file: string): SecretBox {
  let st;
  try {
    st = statSync(file);
  } catch (e) {
    throw new GfError(KernelErrors.GF_SECRETS_KEK_INVALID, `cannot read the KEK file ${file}: ${(e as Error).message}`, { data: { file } });
  }
  if (!st.isFile()) throw new GfError(KernelErrors.GF_SECRETS_KEK_INVALID, `the KEK file ${file} is not a regular file`, { data: { file } });
  if ((st.mode & 0o077) !== 0) {
    throw new GfError(KernelErrors.GF_SECRETS_KEK_PERMISSIONS, `the KEK file ${file} has mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}: only its owner may read it (chmod 600 ${file})`, {
      data: { file, mode: (st.mode & 0o777).toString(8) },
    });
  }
  return new SecretBox(kekFromHex(readFileSync(file, 'utf8'), `the KEK file ${file}`));
}

/** Writes a KEK file (mode 0600, its folder 0700), durably: file and folder are fsynced before this returns. */
export function writeKekFile(file: string, hexKey: string): void {
  const dir = path.dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const fd = openSync(file, 'wx', 0o600);
  try {
    writeSync(fd, `${hexKey}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  fsyncDir(dir);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** A fresh KEK as hex and as a box. */
function newKek(): { hex: string; box: SecretBox } {
  const key = randomBytes(32);
  return { hex: key.toString('hex'), box: new SecretBox(key) };
}

const recordedKid = async (db: SqlClient): Promise<string | undefined> => (await db.query<{ kid: string }>('SELECT kid FROM gf_kek')).rows[0]?.kid;

/**
 * The KEK this database's secrets are sealed under, checked against the database (which records the KEK's id, never
 * the key): from config, or from its file (the default one is created at first start). A rotation that stopped
 * half way (`<file>.next` still there) is finished or abandoned here, by what the database says committed.
 */
export async function openKek(cfg: SecretsConfig, dataDir: string, storage: Storage, log: { info(o: object, m: string): void; warn(o: object, m: string): void }): Promise<SecretBox> {
  const source = kekSource(cfg, dataDir);
  const recorded = await recordedKid(storage);
  let box: SecretBox;
  if (source.kind === 'config') {
    box = new SecretBox(kekFromHex(cfg.kek, 'plugins.secrets.config.kek (GRIDFLEX_KEK)'));
  } else {
    const next = `${source.file}.next`;
    if (!existsSync(source.file)) {
      if (recorded || !source.default) {
        throw new GfError(KernelErrors.GF_SECRETS_KEK_INVALID, `the KEK file ${source.file} is missing${recorded ? ` (this database's secrets are sealed under KEK ${recorded}: restore the file)` : ''}`, { data: { file: source.file } });
      }
      const made = newKek();
      writeKekFile(source.file, made.hex);
      log.info({ file: source.file, kid: made.box.kid }, 'created the key-encryption key (back it up with the database: without it no sealed secret opens)');
    }
    box = readKekFile(source.file);
    if (existsSync(next)) {
      const pending = readKekFile(next);
      if (recorded === pending.kid) {
        // The rotation committed in the database: the new KEK replaces the old one.
        renameSync(next, source.file);
        fsyncDir(path.dirname(source.file));
        box = pending;
        log.warn({ kid: box.kid }, 'finished a key-encryption key rotation that stopped after its database commit');
      } else {
        unlinkSync(next);
        fsyncDir(path.dirname(source.file));
        log.warn({ kid: box.kid }, 'abandoned a key-encryption key rotation that stopped before its database commit');
      }
    }
  }
  if (!recorded) {
    await storage.query('INSERT INTO gf_kek (kid) VALUES ($1) ON CONFLICT DO NOTHING', [box.kid]);
    const now = await recordedKid(storage);
    if (now !== box.kid) throw wrongKek(now!, box.kid);
  } else if (recorded !== box.kid) {
    throw wrongKek(recorded, box.kid);
  }
  return box;
}

function wrongKek(recorded: string, given: string): GfError {
  return new GfError(KernelErrors.GF_SECRETS_WRONG_KEK, `this database's secrets are sealed under KEK ${recorded}, and the configured KEK is ${given}: give the KEK they were sealed with`, {
    data: { recorded, given },
  });
}

// ------------------------------------------------------------------ rotation

export interface RotationResult {
  /** Sealed values re-sealed under the new KEK. */
  resealed: number;
  /** `table.column` that held any. */
  columns: string[];
  /** Values that look sealed under the old KEK but do not open (not ours: left as they are). */
  foreign: number;
}

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

/**
 * Re-seals every sealed value in the database from `from` to `to`, in one transaction, and records `to` as the KEK.
 * It finds them by scanning every text and JSON column of every table (a sealed value names its KEK), so a secret a
 * plugin adds later is rotated with no list to keep up to date. Either all of it commits or none.
 */
export async function rotateSealed(storage: Storage, from: SecretBox, to: SecretBox): Promise<RotationResult> {
  return storage.transaction(async (db) => {
    const recorded = (await db.query<{ kid: string }>('SELECT kid FROM gf_kek FOR UPDATE')).rows[0]?.kid;
    if (recorded !== from.kid) throw wrongKek(recorded ?? '(none)', from.kid);
    const cols = await db.query<{ table_name: string; column_name: string; data_type: string }>(
      `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
       JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
       WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.data_type IN ('text', 'character varying', 'json', 'jsonb')
       ORDER BY c.table_name, c.ordinal_position`,
    );
    const byTable = new Map<string, { name: string; type: string }[]>();
    for (const c of cols.rows) byTable.set(c.table_name, [...(byTable.get(c.table_name) ?? []), { name: c.column_name, type: c.data_type }]);
    const marker = `gfs1.${from.kid}.`;
    const result: RotationResult = { resealed: 0, columns: [], foreign: 0 };
    const touched = new Set<string>();
    for (const [table, columns] of byTable) {
      const where = columns.map((c) => `${quoteIdent(c.name)}::text LIKE '%${marker}%'`).join(' OR ');
      const rows = await db.query<Record<string, string | null>>(
        `SELECT ctid::text AS gf_ctid, ${columns.map((c, i) => `${quoteIdent(c.name)}::text AS c${i}`).join(', ')} FROM ${quoteIdent(table)} WHERE ${where} FOR UPDATE`,
      );
      for (const row of rows.rows) {
        const sets: string[] = [];
        const params: unknown[] = [];
        columns.forEach((c, i) => {
          const v = row[`c${i}`];
          if (typeof v !== 'string' || !v.includes(marker)) return;
          const nv = v.replace(SEALED, (m, kid: string) => {
            if (kid !== from.kid) return m;
            try {
              const out = from.reseal(m, to);
              result.resealed++;
              return out;
            } catch {
              result.foreign++;
              return m;
            }
          });
          if (nv === v) return;
          params.push(nv);
          sets.push(`${quoteIdent(c.name)} = $${params.length}${c.type === 'jsonb' ? '::jsonb' : c.type === 'json' ? '::json' : ''}`);
          touched.add(`${table}.${c.name}`);
        });
        if (!sets.length) continue;
        params.push(row.gf_ctid);
        await db.query(`UPDATE ${quoteIdent(table)} SET ${sets.join(', ')} WHERE ctid = $${params.length}::tid`, params);
      }
    }
    await db.query('UPDATE gf_kek SET kid = $1, rotated_at = now()', [to.kid]);
    result.columns = [...touched].sort();
    return result;
  });
}

/**
 * `gridflex secrets rotate`: re-seals everything under a new KEK. With the KEK in a file: the new KEK is written to
 * `<file>.next` (fsynced) first, the database re-sealed and the new KEK id recorded in one transaction, then
 * `<file>.next` replaces the file. A crash anywhere leaves a state `openKek` completes at the next start: before the
 * commit the old KEK still opens everything, after it the new one does. With the KEK in config, the new one comes
 * from GRIDFLEX_NEW_KEK and the operator puts it in the config afterwards.
 */
export async function rotateKek(cfg: SecretsConfig, dataDir: string, storage: Storage, current: SecretBox, newHex?: string): Promise<RotationResult & { kid: string; oldKid: string; source: KekSource }> {
  const source = kekSource(cfg, dataDir);
  if (source.kind === 'config') {
    if (!newHex) throw new GfError(KernelErrors.GF_CLI_USAGE, 'the KEK comes from config (GRIDFLEX_KEK or plugins.secrets.config.kek): give the new one in GRIDFLEX_NEW_KEK (64 hex digits)');
    const to = new SecretBox(kekFromHex(newHex, 'GRIDFLEX_NEW_KEK'));
    if (to.kid === current.kid) throw new GfError(KernelErrors.GF_CLI_USAGE, 'GRIDFLEX_NEW_KEK is the current KEK');
    return { ...(await rotateSealed(storage, current, to)), kid: to.kid, oldKid: current.kid, source };
  }
  const next = `${source.file}.next`;
  const made = newHex ? { hex: newHex.trim().toLowerCase(), box: new SecretBox(kekFromHex(newHex, 'GRIDFLEX_NEW_KEK')) } : newKek();
  if (existsSync(next)) unlinkSync(next);
  writeKekFile(next, made.hex);
  const result = await rotateSealed(storage, current, made.box);
  renameSync(next, source.file);
  fsyncDir(path.dirname(source.file));
  return { ...result, kid: made.box.kid, oldKid: current.kid, source };
}

// ------------------------------------------------------------------ the kernel plugin

export const SecretsConfig = Type.Object({
  kek: Type.String({ default: '', pattern: '^([0-9a-fA-F]{64})?$', description: 'The key-encryption key, 64 hex digits (env GRIDFLEX_KEK). Empty: read from kekFile.' }),
  kekFile: Type.String({ default: '', description: 'A file holding the KEK (64 hex digits) that only its owner may read (mode 0600; wider is refused), absolute or relative to the data folder. Empty: <dataDir>/secrets/kek, created at first start.' }),
}, { additionalProperties: false });
export type SecretsConfig = Static<typeof SecretsConfig>;

const USAGE = `Usage: gridflex secrets rotate [--json]
       gridflex secrets status [--json]
       (both also take --config FILE and --data DIR)

rotate: re-seals every secret the database holds (OpenADR 3 signing key, custodial wallet keys, the ledger
operator key, webhook bearer tokens) under a new key-encryption key, in one transaction; issued tokens stay
valid, and the old KEK opens nothing afterwards. With the KEK in a file (default <dataDir>/secrets/kek) the new
one replaces it; a crash mid-way is completed at the next start. With the KEK in config (GRIDFLEX_KEK), give
the new one in GRIDFLEX_NEW_KEK and put it in the config afterwards. Stop every server on this database first.
status: the KEK's id and where it comes from.`;

const secretsCommand: PluginCommand<SecretsConfig, { storage: typeof StorageToken }, { secrets: typeof SecretsToken }> = {
  summary: 'the key-encryption key: rotate it (re-seals every stored secret), or show its status',
  usage: USAGE,
  async run(args, ctx, io) {
    const [sub, ...rest] = args;
    let json = false;
    try {
      json = parseArgs({ args: rest, options: { json: { type: 'boolean' } }, strict: true }).values.json === true;
    } catch (e) {
      throw new GfError(KernelErrors.GF_CLI_USAGE, (e as Error).message.split('\n')[0]!);
    }
    const source = kekSource(ctx.config, ctx.kernel.dataDir);
    const where = source.kind === 'config' ? 'config (GRIDFLEX_KEK)' : source.file;
    if (sub === 'status') {
      io.out(json ? JSON.stringify({ kid: ctx.provided.secrets.kid, source: where }) : `KEK ${ctx.provided.secrets.kid} from ${where}`);
      return 0;
    }
    if (sub !== 'rotate') throw new GfError(KernelErrors.GF_CLI_USAGE, sub ? `unknown secrets command '${sub}'; try rotate or status` : 'secrets needs a command: rotate or status');
    const running = readServerInfo(ctx.kernel.dataDir);
    if (running) {
      throw new GfError(KernelErrors.GF_STORAGE_LOCKED, `a server (pid ${running.pid}, ${running.url}) uses this data folder: stop it first, it holds the old KEK`, { data: { pid: running.pid } });
    }
    const r = await rotateKek(ctx.config, ctx.kernel.dataDir, ctx.deps.storage, ctx.provided.secrets, process.env.GRIDFLEX_NEW_KEK || undefined);
    if (json) io.out(JSON.stringify({ kid: r.kid, oldKid: r.oldKid, resealed: r.resealed, columns: r.columns, foreign: r.foreign }));
    else {
      io.out(`re-sealed ${r.resealed} secret(s) under KEK ${r.kid} (was ${r.oldKid})${r.columns.length ? ` in ${r.columns.join(', ')}` : ''}`);
      if (r.foreign) io.out(`${r.foreign} value(s) looked sealed but did not open under the old KEK; left as they were`);
      io.out(source.kind === 'config' ? 'Now set GRIDFLEX_KEK (or plugins.secrets.config.kek) to the value of GRIDFLEX_NEW_KEK before starting.' : `${source.file} holds the new KEK; back it up.`);
    }
    return 0;
  },
};

/**
 * The `secrets` kernel plugin: loads the KEK (config, or a 0600 file in the data folder created at first start),
 * checks it is the one the database's secrets are sealed under, and provides the `SecretBox`.
 */
export const secretsPlugin = definePlugin({
  manifest: { id: 'secrets', version: '0.2.0', kernel: '^0.2.0', description: 'Key-encryption key and sealed secrets (AES-256-GCM), gridflex secrets rotate' },
  config: SecretsConfig,
  deps: { storage: StorageToken },
  provides: { secrets: SecretsToken },
  commands: { secrets: secretsCommand },
  async start(ctx) {
    const { storage } = ctx.deps;
    await storage.migrate('secrets', [
      {
        version: 1,
        name: 'the id of the KEK the secrets are sealed under (never the key)',
        up: `CREATE TABLE gf_kek (one boolean PRIMARY KEY DEFAULT true CHECK (one), kid text NOT NULL, rotated_at timestamptz);`,
      },
    ]);
    const secrets = await openKek(ctx.config, ctx.kernel.dataDir, storage, ctx.log);
    ctx.log.info({ kid: secrets.kid }, 'secrets: key-encryption key loaded');
    return { secrets };
  },
});

export default secretsPlugin;
