/**
 * Authenticated backups: an HMAC-SHA256 of the whole backup file under a secret key, kept in a
 * small file next to it (`<backup>.hmac`). The SHA-256 inside a backup catches damage (a bad
 * disk, a truncated copy) but anybody can recompute it after changing a value; the HMAC cannot
 * be recomputed without the key, so `backup verify` and `backup restore` given the key refuse a
 * changed file, and refuse a file that carries no HMAC at all. What it does not catch: a backup
 * replaced, together with its `.hmac`, by an older backup signed with the same key (check the
 * header's `createdMs` and `index`), and anything done by whoever holds the key.
 *
 * The MAC file is one line, `raftkv-backup-hmac-sha256 <hex>`, so that it is easy to inspect
 * and cannot be mistaken for another format.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { CorruptionError, FailedPreconditionError } from '../util/index.js';

/** The first word of a MAC file. */
const macTag = 'raftkv-backup-hmac-sha256';
/** Shortest key accepted: the HMAC is only as strong as its key (RFC 2104 asks for the hash length). */
export const backupKeyBytesMin = 32;
/** Largest key file read (keys are short; this only stops a wrong path from being read whole). */
const keyFileBytesMax = 4096;
/** Largest MAC file read. */
const macFileBytesMax = 256;

/** Where the MAC of `backupFile` lives. */
export function backupMacPath(backupFile: string): string {
  return `${backupFile}.hmac`;
}

/**
 * Reads a key file: its bytes are the key (make one with `openssl rand -out backup.key 32`).
 * Refuses a missing, empty, short or oversized file with a message naming it.
 */
export async function readBackupKey(path: string): Promise<Buffer> {
  let size: number;
  try {
    size = (await stat(path)).size;
  } catch (e) {
    throw new FailedPreconditionError(`cannot read the HMAC key file ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (size > keyFileBytesMax) throw new FailedPreconditionError(`the HMAC key file ${path} is ${size} bytes; a key file holds at most ${keyFileBytesMax}`);
  const key = await readFile(path);
  if (key.length < backupKeyBytesMin) throw new FailedPreconditionError(`the HMAC key in ${path} is ${key.length} bytes; use at least ${backupKeyBytesMin} random bytes (openssl rand -out ${path} 32)`);
  return key;
}

/** The HMAC-SHA256 of a whole file under `key`, streamed. */
export async function fileHmac(path: string, key: Buffer): Promise<Buffer> {
  const hmac = createHmac('sha256', key);
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hmac.update(chunk as Buffer);
  return hmac.digest();
}

/** Writes `<backupFile>.hmac` for the file as it is now (atomically: a temporary file, then a rename). Returns the hex MAC. */
export async function signBackupFile(backupFile: string, key: Buffer): Promise<string> {
  const mac = (await fileHmac(backupFile, key)).toString('hex');
  const target = backupMacPath(backupFile);
  await writeFile(`${target}.tmp`, `${macTag} ${mac}\n`, { mode: 0o644 });
  await rename(`${target}.tmp`, target);
  return mac;
}

/** Removes a MAC file left from an earlier backup of the same name (a fresh unsigned backup must not look signed). */
export async function removeBackupMac(backupFile: string): Promise<void> {
  await rm(backupMacPath(backupFile), { force: true });
}

/**
 * Checks `<backupFile>.hmac` against the file under `key`. Throws `CorruptionError` if there is
 * no MAC file ("is not signed"), it is malformed, or it does not match (the file was changed, or
 * signed with another key). The comparison is constant-time.
 */
export async function verifyBackupMac(backupFile: string, key: Buffer): Promise<void> {
  const macFile = backupMacPath(backupFile);
  let text: string;
  try {
    if ((await stat(macFile)).size > macFileBytesMax) throw new CorruptionError(`${macFile} is not a raftkv backup HMAC file (too large)`);
    text = await readFile(macFile, 'utf8');
  } catch (e) {
    if (e instanceof CorruptionError) throw e;
    throw new CorruptionError(`backup file ${backupFile} is not signed: ${macFile} is missing, and an HMAC key was given`);
  }
  const m = new RegExp(`^${macTag} ([0-9a-f]{64})\\n?$`).exec(text);
  if (m === null) throw new CorruptionError(`${macFile} is not a raftkv backup HMAC file`);
  const stored = Buffer.from(m[1] ?? '', 'hex');
  const actual = await fileHmac(backupFile, key);
  if (!timingSafeEqual(stored, actual)) {
    throw new CorruptionError(`backup file ${backupFile} fails its HMAC check: it was changed after it was signed, or signed with another key`);
  }
}
