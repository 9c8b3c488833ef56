/**
 * The live key space: every key's current `KeyValue` in an ordered map keyed by binary string (so
 * map order is byte order), with the running total of key and value bytes that the space quota
 * is checked against. It knows nothing about revisions or commands.
 */
import { assert } from '../util/index.js';
import type { ResolvedRange } from './key-range.js';
import { compareStrings, OrderedTree } from './ordered-tree.js';
import { KeySpaceDigest } from './state-digest.js';
import type { KeyValue } from './types.js';

/** The bytes a live key counts against the quota. */
function sizeOf(kv: KeyValue): number {
  return kv.key.length + kv.value.length;
}

/** An ordered map of live keys with byte accounting. Stored `KeyValue`s are never mutated. */
export class KeySpace {
  /** Live keys by binary string. */
  private readonly tree = new OrderedTree<string, KeyValue>(undefined, compareStrings);
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

  /** The live key `key` (a binary string), if any. */
  get(key: string): KeyValue | undefined {
    return this.tree.get(key);
  }

  /** Stores `kv` under `key` (its binary string), replacing any previous value. */
  set(key: string, kv: KeyValue): void {
    const previous = this.tree.get(key);
    this.bytes += sizeOf(kv) - (previous === undefined ? 0 : sizeOf(previous));
    this.tree.set(key, kv);
    this.digest.onSet(kv, previous);
  }

  /** Removes `key`, returning what it held. */
  delete(key: string): KeyValue | undefined {
    const previous = this.tree.get(key);
    if (previous === undefined) return undefined;
    this.tree.delete(key);
    this.bytes -= sizeOf(previous);
    this.digest.onDelete(previous);
    assert(this.bytes >= 0, () => `dataBytes went negative (${this.bytes})`);
    return previous;
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
    if (range.kind === 'single') {
      const kv = this.tree.get(range.key);
      if (kv !== undefined) visit(range.key, kv);
      return;
    }
    const high = range.high ?? this.tree.maxKey();
    if (high === undefined || high < range.low) return;
    // sorted-btree stops a range walk when the callback returns `{ break }` (its typings omit it).
    const onFound = (key: string, kv: KeyValue): { break: true } | undefined => (visit(key, kv) ? undefined : { break: true });
    this.tree.forRange(range.low, high, range.high === null, onFound as (key: string, kv: KeyValue) => void);
  }

  /** Every live key in byte order. */
  values(): IterableIterator<KeyValue> {
    return this.tree.values();
  }

  /**
   * A point-in-time view of every live key in byte order. It is a copy-on-write clone (O(1) now,
   * paid for by later writes), so it stays consistent however long a snapshot takes to stream,
   * and can be iterated any number of times.
   */
  snapshot(): Iterable<KeyValue> {
    const frozen = this.tree.clone();
    return { [Symbol.iterator]: () => frozen.values() };
  }
}
