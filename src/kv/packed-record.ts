/**
 * A key's record packed for long-lived storage in memory: the value as a binary string
 * (binary-key.ts), the metadata as fields of one fixed-shape object, and no key (the holder keeps
 * it, as a binary string). A `KeyValue` with its own key and value `Uint8Array`s costs about 1.1 KB
 * per key of 256-byte value (an object, two typed arrays, two ArrayBuffers, two backing stores),
 * and GC traces all of it; a one-byte V8 string is one heap object with no pointers inside it
 * (issue 12: 1.4 GB resident per node for 1,000,000 keys). The key space and the watch history
 * hold records this way and hand out fresh `KeyValue`s made from them.
 */
import { fromBinaryString, toBinaryString } from './binary-key.js';
import type { KeyValue } from './types.js';

/** One key's record, without the key. Never mutated. */
export class PackedRecord {
  constructor(
    /** The value as a binary string. */
    readonly value: string,
    readonly createRevision: KeyValue['createRevision'],
    readonly modRevision: KeyValue['modRevision'],
    readonly version: number,
    /** The attached lease, or undefined (always assigned, so every record has one shape). */
    readonly lease: number | undefined,
  ) {}
}

/** `kv` without its key, packed. */
export function packRecord(kv: KeyValue): PackedRecord {
  return new PackedRecord(toBinaryString(kv.value), kv.createRevision, kv.modRevision, kv.version, kv.lease);
}

/** A fresh `KeyValue` for `record` stored under `key` (a binary string). */
export function unpackRecord(key: string, record: PackedRecord): KeyValue {
  const base = { key: fromBinaryString(key), value: fromBinaryString(record.value), createRevision: record.createRevision, modRevision: record.modRevision, version: record.version };
  return record.lease === undefined ? base : { ...base, lease: record.lease };
}
