/**
 * The backup file format (`raftkv backup save`, scheduled backups, `raftkv backup restore`):
 *
 *   offset 0   magic "RAFTKVBK" (8 bytes)
 *   offset 8   format version, u32 big-endian (BACKUP_FORMAT_VERSION)
 *   offset 12  header length H, u32 big-endian
 *   offset 16  header: H bytes of UTF-8 JSON (`BackupHeader`)
 *   16 + H     body: the state stream (state-stream.ts: header frame, one frame per key in key
 *              order, one per client session, end frame with the record count)
 *   size - 32  SHA-256 of every byte before it
 *
 * The version comes first so that a file of another version is refused with a clear message
 * before anything else is read. The trailing checksum covers the header and the body, so a
 * truncated or damaged file is always detected; the body's end frame and the header's key count
 * are checked too. Writing is streamed (a chunk at a time) and so is reading.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { stat } from 'node:fs/promises';
import type { KeyValue, SessionRecord } from '../kv/index.js';
import { CorruptionError, FailedPreconditionError, logIndex, revision } from '../util/index.js';
import type { LogIndex, Revision } from '../util/index.js';
import { readAt, readRange, splitRecords } from './snapshot-staging.js';
import { decodeStateStream, encodeStateStream } from './state-stream.js';
import type { StateRecord } from './state-stream.js';

/** The magic bytes a backup file starts with. */
export const BACKUP_MAGIC = 'RAFTKVBK';
/** The backup format version this code writes and reads. */
export const BACKUP_FORMAT_VERSION = 1;
/** Bytes before the JSON header: magic, version, header length. */
const prefixBytes = 16;
const digestBytes = 32;
/** Largest JSON header accepted (it holds a dozen small fields). */
const headerBytesMax = 64 * 1024;

/** What a backup's header says about it. */
export interface BackupHeader {
  readonly formatVersion: number;
  /** The id of the cluster the backup was taken from ('' if it had none). */
  readonly clusterId: string;
  /** The node that produced it. */
  readonly nodeId: string;
  /** The store's revision in the backup. */
  readonly revision: Revision;
  /** The Raft log index the state is at (its applied index). */
  readonly index: LogIndex;
  /** The Raft term of the entry at `index`. */
  readonly term: number;
  /** The state machine's replicated clock at `index`. */
  readonly clockMs: number;
  /** When the backup was taken (ms since the epoch). */
  readonly createdMs: number;
  /** Number of keys in the backup. */
  readonly keyCount: number;
  /** Number of exactly-once client sessions in the backup. */
  readonly sessionCount: number;
  /**
   * True if the node confirmed with the leader (ReadIndex) before taking it, so the backup holds
   * every write acknowledged before it began; false if it was taken from local state only.
   */
  readonly linearizable: boolean;
}

/** A backup file's header and size, once fully verified. */
export interface VerifiedBackup {
  readonly header: BackupHeader;
  readonly fileBytes: number;
  /** The SHA-256 trailer, hex. */
  readonly sha256: string;
}

/** Encodes the 16-byte prefix and the JSON header. */
function encodePrefix(header: BackupHeader): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const out = Buffer.alloc(prefixBytes + json.length);
  out.write(BACKUP_MAGIC, 0, 'latin1');
  out.writeUInt32BE(header.formatVersion, 8);
  out.writeUInt32BE(json.length, 12);
  json.copy(out, prefixBytes);
  return out;
}

/**
 * Streams a backup file: prefix and header, the state stream of `records`, then the checksum.
 * Throws (before the checksum is written, so no valid file results) if the records do not
 * match the header's key and session counts.
 */
export async function* encodeBackup(header: BackupHeader, records: AsyncIterable<StateRecord> | Iterable<StateRecord>, chunkBytes: number): AsyncGenerator<Uint8Array> {
  const hash = createHash('sha256');
  const prefix = encodePrefix(header);
  hash.update(prefix);
  yield prefix;
  let keys = 0;
  let sessions = 0;
  async function* counted(): AsyncGenerator<StateRecord> {
    for await (const r of records) {
      if (r.type === 'kv') keys += 1;
      else sessions += 1;
      yield r;
    }
  }
  for await (const chunk of encodeStateStream({ appliedIndex: header.index, revision: header.revision, clockMs: header.clockMs }, counted(), chunkBytes)) {
    hash.update(chunk);
    yield chunk;
  }
  if (keys !== header.keyCount || sessions !== header.sessionCount) {
    throw new CorruptionError(`backup: the state held ${keys} keys and ${sessions} sessions, the header says ${header.keyCount} and ${header.sessionCount}`);
  }
  yield hash.digest();
}

/** Reads and checks the prefix and header of a backup file (not the body or the checksum). */
export async function readBackupHeader(path: string): Promise<{ header: BackupHeader; bodyOffset: number; fileBytes: number }> {
  const fileBytes = (await stat(path)).size;
  const what = `backup file ${path}`;
  const start = await readAt(path, 0, prefixBytes);
  if (start.length < 8 || start.subarray(0, 8).toString('latin1') !== BACKUP_MAGIC) throw new CorruptionError(`${what} is not a raftkv backup (it does not start with ${BACKUP_MAGIC})`);
  if (start.length < prefixBytes) throw new CorruptionError(`${what} is truncated (${fileBytes} bytes)`);
  const version = start.readUInt32BE(8);
  if (version !== BACKUP_FORMAT_VERSION) {
    throw new FailedPreconditionError(`${what} has backup format version ${version}; this raftkv reads version ${BACKUP_FORMAT_VERSION} only`);
  }
  const headerBytes = start.readUInt32BE(12);
  if (headerBytes > headerBytesMax) throw new CorruptionError(`${what} is corrupt: a header of ${headerBytes} bytes`);
  const bodyOffset = prefixBytes + headerBytes;
  if (fileBytes < bodyOffset + digestBytes) throw new CorruptionError(`${what} is truncated (${fileBytes} bytes)`);
  let header: BackupHeader;
  try {
    header = checkHeader(JSON.parse((await readAt(path, prefixBytes, headerBytes)).toString('utf8')) as unknown);
  } catch (e) {
    throw new CorruptionError(`${what} is corrupt: unreadable header (${e instanceof Error ? e.message : String(e)})`);
  }
  return { header, bodyOffset, fileBytes };
}

function checkHeader(value: unknown): BackupHeader {
  const v = value as Record<string, unknown>;
  const int = (name: string): number => {
    const n = v[name];
    if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) throw new Error(`${name} is not a non-negative integer`);
    return n;
  };
  const str = (name: string): string => {
    const s = v[name];
    if (typeof s !== 'string') throw new Error(`${name} is not a string`);
    return s;
  };
  return {
    formatVersion: int('formatVersion'),
    clusterId: str('clusterId'),
    nodeId: str('nodeId'),
    revision: revision(int('revision')),
    index: logIndex(int('index')),
    term: int('term'),
    clockMs: int('clockMs'),
    createdMs: int('createdMs'),
    keyCount: int('keyCount'),
    sessionCount: int('sessionCount'),
    linearizable: v['linearizable'] === true,
  };
}

/**
 * Verifies a whole backup file: format and version, header, every frame of the body, the record
 * counts, and the SHA-256 trailer. Reads it once, streamed. Throws `CorruptionError` (or
 * `FailedPreconditionError` for another format version) with a message that names the problem.
 */
export async function verifyBackupFile(path: string, onKeys?: (keys: number) => void): Promise<VerifiedBackup> {
  const { header, bodyOffset, fileBytes } = await readBackupHeader(path);
  const what = `backup file ${path}`;
  const hash: Hash = createHash('sha256');
  async function* hashed(): AsyncGenerator<Uint8Array> {
    let at = 0;
    for await (const chunk of readRange(path, fileBytes - digestBytes)) {
      hash.update(chunk);
      // The body starts after the header; the prefix and header only go into the hash.
      const end = at + chunk.length;
      if (end > bodyOffset) yield at >= bodyOffset ? chunk : chunk.subarray(bodyOffset - at);
      at = end;
    }
  }
  let keys = 0;
  let sessions = 0;
  let stream: { index: number; revision: number; clockMs: number } | null = null;
  try {
    for await (const frame of decodeStateStream(hashed(), what)) {
      if (frame.type === 'header') stream = { index: frame.appliedIndex, revision: frame.revision, clockMs: frame.clockMs };
      else if (frame.type === 'kv') {
        keys += 1;
        if (onKeys && keys % 1000 === 0) onKeys(keys);
      } else if (frame.type === 'session') sessions += 1;
    }
  } catch (e) {
    // A damaged body usually shows as a bad frame before the checksum is reached: say both.
    const digestOk = await digestMatches(path, fileBytes).catch(() => false);
    throw new CorruptionError(`${what} is corrupt or truncated${digestOk ? '' : ' (SHA-256 mismatch)'}: ${e instanceof Error ? e.message : String(e)}`);
  }
  onKeys?.(keys);
  const digest = hash.digest();
  const stored = await readAt(path, fileBytes - digestBytes, digestBytes);
  if (!digest.equals(stored)) throw new CorruptionError(`${what} is corrupt: SHA-256 mismatch (the file was damaged or truncated)`);
  if (stream === null || stream.index !== header.index || stream.revision !== header.revision || stream.clockMs !== header.clockMs) {
    throw new CorruptionError(`${what} is inconsistent: the header says index ${header.index}, the state is at ${stream?.index ?? 'none'}`);
  }
  if (keys !== header.keyCount || sessions !== header.sessionCount) {
    throw new CorruptionError(`${what} is inconsistent: ${keys} keys and ${sessions} sessions, the header says ${header.keyCount} and ${header.sessionCount}`);
  }
  return { header, fileBytes, sha256: digest.toString('hex') };
}

/** Whether the whole file's checksum holds (used to word the message of a failed verification). */
async function digestMatches(path: string, fileBytes: number): Promise<boolean> {
  const hash = createHash('sha256');
  for await (const chunk of readRange(path, fileBytes - digestBytes)) hash.update(chunk);
  return hash.digest().equals(await readAt(path, fileBytes - digestBytes, digestBytes));
}

/**
 * The state in a backup file, streamed (for `replaceKvState`). Call `verifyBackupFile` first:
 * this checks the frames again as it reads but not the checksum.
 */
export async function openBackupState(path: string): Promise<{
  header: BackupHeader;
  kvs: AsyncIterable<KeyValue>;
  sessions: AsyncIterable<SessionRecord>;
}> {
  const { header, bodyOffset, fileBytes } = await readBackupHeader(path);
  async function* body(): AsyncGenerator<Uint8Array> {
    let at = 0;
    for await (const chunk of readRange(path, fileBytes - digestBytes)) {
      const end = at + chunk.length;
      if (end > bodyOffset) yield at >= bodyOffset ? chunk : chunk.subarray(bodyOffset - at);
      at = end;
    }
  }
  const frames = decodeStateStream(body(), `backup file ${path}`);
  const first = await frames.next();
  if (first.done === true || first.value.type !== 'header') throw new CorruptionError(`backup file ${path} has no state header`);
  return { header, ...splitRecords(frames) };
}
