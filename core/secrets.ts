import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Secrets the platform keeps. Two kinds:
 * - secrets a caller presents to us (OpenADR 3 client secrets, OpenADR 2.0b registration secrets) are only ever
 *   checked, so they are stored as salted scrypt hashes (`hashSecret`, `secretMatches`);
 * - secrets we must use ourselves are sealed (see below in this file).
 */

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
