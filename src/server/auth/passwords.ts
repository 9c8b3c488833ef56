/**
 * Password hashing with scrypt (node:crypto): a random 16-byte salt per user and the parameters
 * recorded with the hash, so they can be raised later without breaking existing users. The hash
 * is computed by the node that takes the request, before proposing: the log, snapshots and
 * backups only ever hold the hash. Comparison is constant-time (`timingSafeEqual`).
 */
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import type { PasswordHash } from '../../kv/index.js';
import { InvalidArgumentError, OverloadedError } from '../../util/index.js';

/** scrypt parameters of new hashes (OWASP's minimum for scrypt: N=2^17 is stronger but 128 MiB). */
export const scryptParameters = Object.freeze({ n: 16384, r: 8, p: 1, keyBytes: 32, saltBytes: 16 });
/** Longest password accepted, in bytes (scrypt's cost does not depend on it, but memory does). */
export const passwordBytesMax = 1024;
/**
 * Most scrypt computations running at once on a node (each takes ~16 MiB and tens of ms of CPU);
 * beyond it Authenticate is refused with OVERLOADED, so a flood of sign-ins cannot starve Raft.
 */
export const passwordChecksPendingMax = 8;

let pending = 0;

function checkPassword(password: unknown): string {
  if (typeof password !== 'string' || password === '') throw new InvalidArgumentError('password', 'must not be empty');
  if (Buffer.byteLength(password) > passwordBytesMax) throw new InvalidArgumentError('password', `is over passwordBytesMax (${passwordBytesMax} bytes)`);
  return password;
}

async function derive(password: string, salt: Uint8Array, h: { n: number; r: number; p: number }, keyBytes: number): Promise<Buffer> {
  if (pending >= passwordChecksPendingMax) throw new OverloadedError(`too many password checks in progress (passwordChecksPendingMax ${passwordChecksPendingMax})`, 100);
  pending++;
  try {
    return await new Promise<Buffer>((resolve, reject) => {
      scrypt(password, salt, keyBytes, { N: h.n, r: h.r, p: h.p, maxmem: 256 * h.n * h.r + 1024 * 1024 }, (e, key) => (e ? reject(e) : resolve(key)));
    });
  } finally {
    pending--;
  }
}

/** A new hash of `password` with a fresh random salt. */
export async function hashPassword(password: string): Promise<PasswordHash> {
  const { n, r, p, keyBytes, saltBytes } = scryptParameters;
  const salt = randomBytes(saltBytes);
  const hash = await derive(checkPassword(password), salt, { n, r, p }, keyBytes);
  return { n, r, p, salt: new Uint8Array(salt), hash: new Uint8Array(hash) };
}

/** Whether `password` matches `stored` (by the parameters stored with it), in constant time. */
export async function verifyPassword(password: string, stored: PasswordHash): Promise<boolean> {
  const candidate = await derive(checkPassword(password), stored.salt, stored, stored.hash.length);
  return candidate.length === stored.hash.length && timingSafeEqual(candidate, stored.hash);
}
