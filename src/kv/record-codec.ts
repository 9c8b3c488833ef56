/**
 * Binary codecs for the state machine's durable records: a `KeyValue` (LevelDB `kv/<key>`) and a
 * `SessionRecord` (LevelDB `session/<clientId>`). Each record starts with a format version byte so
 * the layout can change without guessing. Decoding checks structure and the records' invariants
 * and throws `InvalidArgumentError` on anything else (the storage layer reports it as corruption).
 */
import { revision } from '../util/index.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { PackedRecord } from './packed-record.js';
import type { KeyValue, SessionRecord } from './types.js';

/** The format version of key-value records without a lease (the first format, kept byte-for-byte). */
const keyValueFormat = 1;
/** The format version of key-value records attached to a lease: format 1's fields, then `varint lease`. */
const leasedKeyValueFormat = 2;
/** The format version of session records. */
const sessionFormat = 1;

/** Writes a key-value's fields (no version byte); shared with the result codec. */
export function writeKeyValue(w: ByteWriter, kv: KeyValue): void {
  w.bytes(kv.key, 'key');
  w.bytes(kv.value, 'value');
  w.varint(kv.createRevision, 'createRevision');
  w.varint(kv.modRevision, 'modRevision');
  w.varint(kv.version, 'version');
}

/**
 * Reads what `writeKeyValue` wrote and checks a live key's invariants: a non-empty key, version at
 * least 1, and `1 <= createRevision <= modRevision`.
 */
export function readKeyValue(r: ByteReader): KeyValue {
  const key = r.bytes('key');
  const value = r.bytes('value');
  const { createRevision, modRevision, version } = readKeyValueMeta(r, key.length);
  return { key, value, createRevision, modRevision, version };
}

/** Reads the revisions and version that follow a key-value's key and value, checking the invariants `readKeyValue` names. */
function readKeyValueMeta(r: ByteReader, keyBytes: number): Pick<KeyValue, 'createRevision' | 'modRevision' | 'version'> {
  const createRevision = r.varint('createRevision');
  const modRevision = r.varint('modRevision');
  const version = r.varint('version');
  if (keyBytes === 0) throw r.error('key is empty');
  if (version < 1) throw r.error('version must be at least 1');
  if (createRevision < 1 || createRevision > modRevision) {
    throw r.error(`revisions must satisfy 1 <= createRevision (${createRevision}) <= modRevision (${modRevision})`);
  }
  return { createRevision: revision(createRevision), modRevision: revision(modRevision), version };
}

/** Reads the optional lease after a key-value of format `format`, then the end of the record. */
function readLease(r: ByteReader, format: number): number | undefined {
  if (format === keyValueFormat) {
    r.end();
    return undefined;
  }
  const lease = r.varint('lease');
  r.end();
  if (lease < 1) throw r.error('lease must be at least 1');
  return lease;
}

/** Reads a key-value record's format byte, refusing an unknown one. */
function readKeyValueFormat(r: ByteReader): number {
  const format = r.u8('format');
  if (format !== keyValueFormat && format !== leasedKeyValueFormat) throw r.error(`unsupported format version ${format}`);
  return format;
}

/** Encodes a key-value record. */
export function encodeKeyValue(kv: KeyValue): Uint8Array {
  const w = new ByteWriter(24 + kv.key.length + kv.value.length);
  w.u8(kv.lease === undefined ? keyValueFormat : leasedKeyValueFormat);
  writeKeyValue(w, kv);
  if (kv.lease !== undefined) w.varint(kv.lease, 'lease');
  return w.finish();
}

/** Decodes a key-value record; throws `InvalidArgumentError` (field `keyValue`) if it is malformed. */
export function decodeKeyValue(bytes: Uint8Array): KeyValue {
  const r = new ByteReader(bytes, 'keyValue');
  const format = readKeyValueFormat(r);
  const kv = readKeyValue(r);
  const lease = readLease(r, format);
  return lease === undefined ? kv : { ...kv, lease };
}

/** A decoded key-value in the key space's form: the key as a binary string, the rest packed. */
export interface PackedKeyValue {
  readonly key: string;
  readonly record: PackedRecord;
}

/**
 * Decodes a key-value record straight into the key space's form (start-up load): the same checks
 * as `decodeKeyValue`, with no `Uint8Array` made for the key or the value.
 */
export function decodePackedKeyValue(bytes: Uint8Array): PackedKeyValue {
  const r = new ByteReader(bytes, 'keyValue');
  const format = readKeyValueFormat(r);
  const key = r.binaryString('key');
  const value = r.binaryString('value');
  const { createRevision, modRevision, version } = readKeyValueMeta(r, key.length);
  return { key, record: new PackedRecord(value, createRevision, modRevision, version, readLease(r, format)) };
}

/** Encodes a session record. */
export function encodeSession(session: SessionRecord): Uint8Array {
  const w = new ByteWriter();
  w.u8(sessionFormat);
  w.string(session.clientId, 'clientId');
  w.varint(session.ackSeq, 'ackSeq');
  w.varint(session.lastSeenMs, 'lastSeenMs');
  w.varint(session.responses.length, 'responses');
  for (const response of session.responses) {
    w.varint(response.seq, 'seq');
    w.bytes(response.result, 'result');
  }
  return w.finish();
}

/**
 * Decodes a session record; throws `InvalidArgumentError` (field `session`) if it is malformed or
 * breaks the invariant that saved responses have strictly increasing seqs, all above `ackSeq`.
 */
export function decodeSession(bytes: Uint8Array): SessionRecord {
  const r = new ByteReader(bytes, 'session');
  const format = r.u8('format');
  if (format !== sessionFormat) throw r.error(`unsupported format version ${format}`);
  const clientId = r.string('clientId');
  const ackSeq = r.varint('ackSeq');
  const lastSeenMs = r.varint('lastSeenMs');
  const n = r.count('responses');
  const responses: { seq: number; result: Uint8Array }[] = [];
  let previousSeq = ackSeq;
  for (let i = 0; i < n; i++) {
    const seq = r.varint('seq');
    // Invariant: saved responses are in strictly increasing seq order, all above ackSeq.
    if (seq <= previousSeq) throw r.error(`response seq ${seq} is not above ${previousSeq}`);
    previousSeq = seq;
    responses.push({ seq, result: r.bytes('result') });
  }
  r.end();
  if (clientId.length === 0) throw r.error('clientId is empty');
  return { clientId, ackSeq, lastSeenMs, responses };
}
