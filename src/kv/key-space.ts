/**
 * The live key space: every key's current record in an ordered map keyed by binary string (so
 * map order is byte order), with the running total of key and value bytes that the space quota
 * is checked against. It knows nothing about revisions or commands.
 *
 * Records are stored packed (packed-record.ts), the key only as the map's own key. `get` and the
 * scans hand out fresh `KeyValue`s made from the record, so callers cannot tell the difference,
 * except that two gets of a key return different objects.
 */
import { assert } from '../util/index.js';
import type { ResolvedRange } from './key-range.js';
import { compareStrings, OrderedTree } from './ordered-tree.js';
import { packRecord as pack, unpackRecord as unpack } from './packed-record.js';
import type { PackedRecord } from './packed-record.js';
import { KeySpaceDigest } from './state-digest.js';
import type { KeyValue } from './types.js';

/** A live key found by a scan: its binary string, and its `KeyValue`, made only if asked for. */
export interface ScannedKey {
  readonly key: string;
  /** The key's packed record. */
  readonly record: PackedRecord;
  /** The key's `KeyValue` (a fresh object at each call). */
  kv(): KeyValue;
}

/** An ordered map of live keys with byte accounting. */
export class KeySpace {
  /** Live keys by binary string. */
  private readonly tree = new OrderedTree<string, PackedRecord>(undefined, compareStrings);
  /** Sum of key and value bytes over live keys. Invariant: equals the sum over `tree`. */
  private bytes = 0;
  /** The order-independent digest of the live keys, updated by every set and delete (state-digest.ts). */
  readonly digest = new KeySpaceDigest();

  /** Sum of key and value bytes over live keys. */
  get dataBytes(): number {
    return this.bytes;
  }

  /** Number of live keys. */
  get size(): number {
    return this.tree.size;
  }

  /** True if `key` (a binary string) is live. */
  has(key: string): boolean {
    return this.tree.has(key);
  }

  /** The live key `key` (a binary string), if any, as a fresh `KeyValue`. */
  get(key: string): KeyValue | undefined {
    const record = this.tree.get(key);
    return record === undefined ? undefined : unpack(key, record);
  }

  /** The packed record of the live key `key` (a binary string), if any: no `KeyValue` is made. */
  getRecord(key: string): PackedRecord | undefined {
    return this.tree.get(key);
  }

  /** Stores `kv` under `key` (its binary string), replacing any previous value. */
  set(key: string, kv: KeyValue): void {
    assert(key.length === kv.key.length, () => `key space: set under a key of ${key.length} bytes with a KeyValue of ${kv.key.length}`);
    this.setRecord(key, pack(kv));
  }

  /** Stores the packed `record` under `key` (a binary string), replacing any previous value. */
  setRecord(key: string, record: PackedRecord): void {
    const previous = this.tree.get(key);
    this.bytes += key.length + record.value.length - (previous === undefined ? 0 : key.length + previous.value.length);
    this.tree.set(key, record);
    this.digest.onSet(key, record, previous);
  }

  /** Removes `key`; false if it was not live. */
  delete(key: string): boolean {
    const record = this.tree.get(key);
    if (record === undefined) return false;
    this.tree.delete(key);
    this.bytes -= key.length + record.value.length;
    this.digest.onDelete(key, record);
    assert(this.bytes >= 0, () => `dataBytes went negative (${this.bytes})`);
    return true;
  }

  /** Calls `visit` with each live key in `range`, in byte order. */
  scan(range: ResolvedRange, visit: (key: string, kv: KeyValue) => void): void {
    this.scanWhile(range, (key, kv) => {
      visit(key, kv);
      return true;
    });
  }

  /** Calls `visit` with each live key in `range`, in byte order, until it returns false (bounded walks over a large range). */
  scanWhile(range: ResolvedRange, visit: (key: string, kv: KeyValue) => boolean): void {
    this.scanKeys(range, (found) => visit(found.key, found.kv()));
  }

  /**
   * Calls `visit` with each live key in `range`, in byte order, until it returns false; the
   * `KeyValue` is made only when the visitor asks for it (a count over a large range makes none).
   */
  scanKeys(range: ResolvedRange, visit: (found: ScannedKey) => boolean): void {
    if (range.kind === 'single') {
      const record = this.tree.get(range.key);
      if (record !== undefined) visit({ key: range.key, record, kv: () => unpack(range.key, record) });
      return;
    }
    const high = range.high ?? this.tree.maxKey();
    if (high === undefined || high < range.low) return;
    // sorted-btree stops a range walk when the callback returns `{ break }` (its typings omit it).
    const onFound = (key: string, record: PackedRecord): { break: true } | undefined => (visit({ key, record, kv: () => unpack(key, record) }) ? undefined : { break: true });
    this.tree.forRange(range.low, high, range.high === null, onFound as (key: string, record: PackedRecord) => void);
  }

  /** Every live key and its packed record in byte order, from a copy-on-write clone taken now (O(1)). */
  frozenEntries(): Iterator<[string, PackedRecord]> {
    return this.tree.clone().entries();
  }

  /** Every live key in byte order, as fresh `KeyValue`s. */
  *values(): IterableIterator<KeyValue> {
    for (const [key, record] of this.tree.entries()) yield unpack(key, record);
  }

  /**
   * A point-in-time view of every live key in byte order. It is a copy-on-write clone (O(1) now,
   * paid for by later writes), so it stays consistent however long a snapshot takes to stream,
   * and can be iterated any number of times.
   */
  snapshot(): Iterable<KeyValue> {
    const frozen = this.tree.clone();
    return {
      *[Symbol.iterator]() {
        for (const [key, record] of frozen.entries()) yield unpack(key, record);
      },
    };
  }
}
