/**
 * Framing of the state machine's records: keys (`kv/<key>`), sessions (`session/<clientId>`), the
 * counters (`kv-meta/appliedIndex`, `kv-meta/revision`, `kv-meta/clockMs`) and the restore marker
 * (`meta/restoring`).
 *
 * The record bodies are the KV module's own codecs (`encodeKeyValue`, `encodeSession`, which carry
 * their own format version byte and check the records' invariants when decoding); storage wraps
 * them in its checksummed frame, bound to the LevelDB key, and checks that the key or client id
 * inside the body matches the LevelDB key it is stored under.
 */
import { InvalidArgumentError, logIndex, revision } from '../util/index.js';
import type { LogIndex, Revision } from '../util/index.js';
import { decodeKeyValue, decodePackedKeyValue, decodeSession, encodeKeyValue, encodeSession, fromBinaryString } from '../kv/index.js';
import type { KeyValue, PackedKeyValue, SessionRecord } from '../kv/index.js';
import { describeKey, kvKey, kvKeyUserKey, Prefix, sessionKey, sessionKeyClientId } from './keys.js';
import { ByteReader, ByteWriter, frameRecord, RecordFormatError, RecordKind, unframeRecord } from './record-codec.js';

/** What `meta/restoring` records: the state `replaceKvState` was installing when it started. */
export interface RestoreMarker {
  readonly appliedIndex: LogIndex;
  readonly revision: Revision;
  readonly clockMs: number;
}

/** Runs a KV codec decoder, reporting its `InvalidArgumentError` as a `RecordFormatError`. */
function decodeBody<T>(decode: () => T): T {
  try {
    return decode();
  } catch (e) {
    if (e instanceof InvalidArgumentError) throw new RecordFormatError(`undecodable record body: ${e.message}`);
    throw e;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Encodes a live key as the value stored under `kv/<key>`. */
export function encodeKeyValueRecord(kv: KeyValue): Uint8Array {
  return frameRecord(kvKey(kv.key), RecordKind.keyValue, encodeKeyValue(kv));
}

/** Decodes the value stored under the LevelDB key `storedKey` (which starts with `kv/`). */
export function decodeKeyValueRecord(storedKey: Uint8Array, value: Uint8Array): KeyValue {
  const kv = decodeBody(() => decodeKeyValue(unframeRecord(storedKey, RecordKind.keyValue, value)));
  if (!sameBytes(kv.key, kvKeyUserKey(storedKey))) {
    throw new RecordFormatError(`record holds key ${describeKey(kv.key)} but is stored under ${describeKey(storedKey)}`);
  }
  return kv;
}

/**
 * Decodes the value stored under `storedKey` (`kv/<key>`) straight into the key space's form,
 * with the checks of `decodeKeyValueRecord` and `keyValueProblem` (start-up load).
 */
export function decodePackedKeyValueRecord(storedKey: Uint8Array, value: Uint8Array, revisionMax: number): PackedKeyValue {
  const kv = decodeBody(() => decodePackedKeyValue(unframeRecord(storedKey, RecordKind.keyValue, value)));
  if (!isStoredUnder(kv.key, storedKey)) {
    throw new RecordFormatError(`record holds key ${describeKey(fromBinaryString(kv.key))} but is stored under ${describeKey(storedKey)}`);
  }
  if (kv.record.modRevision > revisionMax) {
    throw new RecordFormatError(`key ${describeKey(fromBinaryString(kv.key))} has modRevision ${kv.record.modRevision}, after the store's revision ${revisionMax}`);
  }
  return kv;
}

/** True if `key` (a binary string) is the user key of the LevelDB key `storedKey`. */
function isStoredUnder(key: string, storedKey: Uint8Array): boolean {
  const offset = Prefix.kv.length;
  if (storedKey.length - offset !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (storedKey[offset + i] !== key.charCodeAt(i)) return false;
  return true;
}

/** Encodes a session as the value stored under `session/<clientId>`. */
export function encodeSessionRecord(session: SessionRecord): Uint8Array {
  return frameRecord(sessionKey(session.clientId), RecordKind.session, encodeSession(session));
}

/** Decodes the value stored under the LevelDB key `storedKey` (which starts with `session/`). */
export function decodeSessionRecord(storedKey: Uint8Array, value: Uint8Array): SessionRecord {
  const session = decodeBody(() => decodeSession(unframeRecord(storedKey, RecordKind.session, value)));
  const clientId = sessionKeyClientId(storedKey);
  if (session.clientId !== clientId) {
    throw new RecordFormatError(`record holds session ${JSON.stringify(session.clientId)} but is stored under client id ${JSON.stringify(clientId)}`);
  }
  return session;
}

/** Encodes a non-negative counter (applied index, revision) stored under `key`. */
export function encodeCounter(key: Uint8Array, value: number): Uint8Array {
  return frameRecord(key, RecordKind.counter, new ByteWriter().u64(value).finish());
}

/** Decodes a counter stored under `key`. */
export function decodeCounter(key: Uint8Array, value: Uint8Array): number {
  const r = new ByteReader(unframeRecord(key, RecordKind.counter, value));
  const n = r.u64();
  r.end();
  return n;
}

/** Encodes the restore marker stored under `meta/restoring`. */
export function encodeRestoreMarker(key: Uint8Array, marker: RestoreMarker): Uint8Array {
  return frameRecord(key, RecordKind.restoring, new ByteWriter().u64(marker.appliedIndex).u64(marker.revision).u64(marker.clockMs).finish());
}

/** Decodes the restore marker. */
export function decodeRestoreMarker(key: Uint8Array, value: Uint8Array): RestoreMarker {
  const r = new ByteReader(unframeRecord(key, RecordKind.restoring, value));
  const marker = { appliedIndex: logIndex(r.u64()), revision: revision(r.u64()), clockMs: r.u64() };
  r.end();
  return marker;
}

/**
 * Why a key-value cannot be part of a state at `revisionMax`, or null: the invariants of a live
 * key (etcd's MVCC model) that the KV codec does not already check when encoding.
 */
export function keyValueProblem(kv: KeyValue, revisionMax: number): string | null {
  if (kv.key.length === 0) return 'key is empty';
  if (!Number.isSafeInteger(kv.version) || kv.version < 1) return `version ${kv.version} is not an integer >= 1`;
  if (!(kv.createRevision >= 1 && kv.createRevision <= kv.modRevision && kv.modRevision <= revisionMax)) {
    return `key ${describeKey(kv.key)} breaks 1 <= createRevision (${kv.createRevision}) <= modRevision (${kv.modRevision}) <= revision (${revisionMax})`;
  }
  return null;
}
