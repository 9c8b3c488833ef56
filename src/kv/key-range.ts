/**
 * Turning a `KeyRange` (one key, `[key, rangeEnd)`, or a prefix) into bounds over binary strings,
 * with etcd v3's conventions.
 */
import { prefixEnd } from '../util/index.js';
import { toBinaryString } from './binary-key.js';
import type { KeyRange } from './types.js';

/** Re-exported from util, where the client shares it. */
export { prefixEnd };

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
