/**
 * The LevelDB key layout (docs/design.md, "Storage"). Keys are bytes; every key starts with an
 * ASCII prefix that names its keyspace:
 *
 * - `log/<index: 8-byte big-endian>`: one Raft log entry. Big-endian so LevelDB's byte order is
 *   index order.
 * - `meta/cluster`: cluster id, node id, storage format version (checked at open).
 * - `meta/hardstate`, `meta/conf`, `meta/snapshot`: Raft hard state, membership, snapshot metadata.
 * - `meta/logstart`: the compaction point, i.e. index and term of the entry just before the first
 *   stored entry (etcd-io/raft keeps it as a dummy entry); `firstIndex() = logstart.index + 1`.
 * - `meta/restoring`: present only while `replaceKvState` is replacing the KV data.
 * - `kv/<key>`: one live key of the state machine.
 * - `kv-meta/appliedIndex`, `kv-meta/revision`, `kv-meta/clockMs`: the state machine's position
 *   and its replicated clock (which drives session expiry).
 * - `session/<clientId as UTF-8>`: one client session.
 */
import { RecordFormatError } from './record-codec.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

/** The bytes of an ASCII key or prefix. */
const ascii = (s: string): Uint8Array => encoder.encode(s);

/** Key prefixes, as bytes. */
export const Prefix = {
  log: ascii('log/'),
  meta: ascii('meta/'),
  kv: ascii('kv/'),
  kvMeta: ascii('kv-meta/'),
  session: ascii('session/'),
} as const;

/** Fixed keys of the small records. */
export const MetaKey = {
  cluster: ascii('meta/cluster'),
  hardState: ascii('meta/hardstate'),
  conf: ascii('meta/conf'),
  snapshot: ascii('meta/snapshot'),
  logStart: ascii('meta/logstart'),
  restoring: ascii('meta/restoring'),
  /** Never written: the empty range `compactRange` is run on to force a memtable flush. */
  barrier: ascii('meta/~barrier'),
  appliedIndex: ascii('kv-meta/appliedIndex'),
  revision: ascii('kv-meta/revision'),
  clockMs: ascii('kv-meta/clockMs'),
} as const;

/** Length of a log key: the prefix and an 8-byte index. */
const LOG_KEY_BYTES = Prefix.log.length + 8;

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

/** The key of the log entry at `index`. */
export function logKey(index: number): Uint8Array {
  if (!Number.isSafeInteger(index) || index < 0) throw new RangeError(`log index must be a non-negative safe integer, got ${index}`);
  const out = new Uint8Array(LOG_KEY_BYTES);
  out.set(Prefix.log, 0);
  const view = new DataView(out.buffer);
  view.setUint32(Prefix.log.length, Math.floor(index / 0x1_0000_0000));
  view.setUint32(Prefix.log.length + 4, index >>> 0);
  return out;
}

/** The index in a log key. Throws `RecordFormatError` if the key is not a well-formed log key. */
export function logKeyIndex(key: Uint8Array): number {
  if (key.length !== LOG_KEY_BYTES || !startsWith(key, Prefix.log)) {
    throw new RecordFormatError(`malformed log key of ${key.length} bytes (expected ${LOG_KEY_BYTES})`);
  }
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const hi = view.getUint32(Prefix.log.length);
  const lo = view.getUint32(Prefix.log.length + 4);
  const index = hi * 0x1_0000_0000 + lo;
  if (index > Number.MAX_SAFE_INTEGER) throw new RecordFormatError(`log key index exceeds 2^53 - 1`);
  return index;
}

/** The key of a state machine key. */
export function kvKey(key: Uint8Array): Uint8Array {
  return concat(Prefix.kv, key);
}

/** The user key inside a `kv/` key. */
export function kvKeyUserKey(key: Uint8Array): Uint8Array {
  return key.slice(Prefix.kv.length);
}

/** The key of a client session. */
export function sessionKey(clientId: string): Uint8Array {
  return concat(Prefix.session, encoder.encode(clientId));
}

/** The client id inside a `session/` key. Throws `RecordFormatError` on invalid UTF-8. */
export function sessionKeyClientId(key: Uint8Array): string {
  try {
    return decoder.decode(key.subarray(Prefix.session.length));
  } catch {
    throw new RecordFormatError('session key holds invalid UTF-8');
  }
}

/** True if `key` starts with `prefix`. */
export function startsWith(key: Uint8Array, prefix: Uint8Array): boolean {
  if (key.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (key[i] !== prefix[i]) return false;
  return true;
}

/** The LevelDB range `{ gte, lt }` holding exactly the keys that start with `prefix`. */
export function prefixRange(prefix: Uint8Array): { gte: Uint8Array; lt: Uint8Array } {
  const upper = prefix.slice();
  // Every prefix here ends in '/', so incrementing the last byte never overflows.
  upper[upper.length - 1] = (upper[upper.length - 1] ?? 0) + 1;
  return { gte: prefix, lt: upper };
}

/**
 * A readable name for a key in error messages: ASCII keys as text, the log index for log keys,
 * and non-printable bytes as `\xNN`.
 */
export function describeKey(key: Uint8Array): string {
  if (key.length === LOG_KEY_BYTES && startsWith(key, Prefix.log)) {
    try {
      return `log/${logKeyIndex(key)}`;
    } catch {
      // Fall through to the byte rendering.
    }
  }
  let out = '';
  for (const byte of key) {
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x5c ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
  }
  return out;
}
