/**
 * Turning a `KeyRange` (one key, `[key, rangeEnd)`, or a prefix) into bounds over binary strings,
 * with etcd v3's conventions.
 */
import { toBinaryString } from './binary-key.js';
import type { KeyRange } from './types.js';

/**
 * The smallest key greater than every key that starts with `prefix` (etcd's `GetPrefixRangeEnd`):
 * the prefix with its last byte below 0xff incremented and everything after it dropped. When every
 * byte is 0xff (or the prefix is empty) no such key exists and the result is empty, which as a
 * `rangeEnd` means "to the end of the key space".
 */
export function prefixEnd(prefix: Uint8Array): Uint8Array {
  for (let i = prefix.length - 1; i >= 0; i--) {
    const byte = prefix[i] as number;
    if (byte < 0xff) {
      // A copy, never a view: `prefix` may be a Node Buffer, whose `slice` shares memory.
      const end = new Uint8Array(prefix.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  return new Uint8Array(0);
}

/** A resolved key range over binary strings. */
export type ResolvedRange =
  /** Exactly one key. */
  | { readonly kind: 'single'; readonly key: string }
  /** Every key `k` with `low <= k < high`; `high === null` means no upper bound. */
  | { readonly kind: 'span'; readonly low: string; readonly high: string | null };

/**
 * Resolves a `KeyRange`: `prefix` selects `[key, prefixEnd(key))` (all keys for an empty key); a
 * `rangeEnd` selects `[key, rangeEnd)`, where an empty `rangeEnd` means "to the end"; otherwise the
 * range is the single `key`. A `rangeEnd <= key` selects nothing, as in etcd.
 */
export function resolveRange(range: KeyRange): ResolvedRange {
  const low = toBinaryString(range.key);
  if (range.prefix === true) {
    const end = prefixEnd(range.key);
    return { kind: 'span', low, high: end.length === 0 ? null : toBinaryString(end) };
  }
  if (range.rangeEnd !== undefined) {
    return { kind: 'span', low, high: range.rangeEnd.length === 0 ? null : toBinaryString(range.rangeEnd) };
  }
  return { kind: 'single', key: low };
}
