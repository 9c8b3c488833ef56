/** Evaluating a transaction guard (etcd's Compare) against the key space. */
import { unreachable } from '../util/index.js';
import { compareBytes, toBinaryString } from './binary-key.js';
import { resolveRange } from './key-range.js';
import type { KeySpace } from './key-space.js';
import { compareRangeKeysMax } from './txn-limits.js';
import type { Compare, KeyValue } from './types.js';

/**
 * True if `compare` holds for `kv` (undefined when the key does not exist). Values compare as
 * bytes; version, revisions and lease as numbers. A missing key has version 0, revisions 0 and
 * lease 0 (as a key without a lease), so `createRevision = 0` is the idiom for "the key does not
 * exist". A missing key has no value at all: a value compare on it holds only for `!=` (`=`, `<`
 * and `>` are false).
 */
export function compareHolds(compare: Compare, kv: KeyValue | undefined): boolean {
  let order: number;
  if (compare.target === 'value') {
    if (kv === undefined) return compare.op === '!=';
    order = compareBytes(kv.value, compare.value as Uint8Array);
  } else if (compare.target === 'lease') {
    order = (kv?.lease ?? 0) - (compare.value as number);
  } else {
    order = (kv === undefined ? 0 : kv[compare.target]) - (compare.value as number);
  }
  switch (compare.op) {
    case '=':
      return order === 0;
    case '!=':
      return order !== 0;
    case '<':
      return order < 0;
    case '>':
      return order > 0;
    default:
      return unreachable(compare.op, 'compare operator');
  }
}

/** A compare's range held more live keys than `compareRangeKeysMax`. */
export interface CompareRangeTooLarge {
  readonly tooLarge: true;
  readonly message: string;
}

/**
 * Whether `compare` holds on `keys`. A single key: `compareHolds` on it. A range (`rangeEnd` set):
 * it holds only if it holds for EVERY live key in the range, and a range holding no key is judged
 * as one missing key (etcd's `applyCompare`: an empty range is compared as a zero KeyValue). A
 * range with more than `compareRangeKeysMax` live keys is not judged at all (the caller refuses
 * the command), whatever its first keys say: the walk does not stop at the first failing key, so
 * whether a command is refused depends only on the size of the range.
 */
export function compareOnKeys(compare: Compare, keys: KeySpace): boolean | CompareRangeTooLarge {
  if (compare.rangeEnd === undefined) return compareHolds(compare, keys.get(toBinaryString(compare.key)));
  let visited = 0;
  let holds = true;
  keys.scanWhile(resolveRange({ key: compare.key, rangeEnd: compare.rangeEnd }), (_key, kv) => {
    visited++;
    if (visited > compareRangeKeysMax) return false;
    if (holds && !compareHolds(compare, kv)) holds = false;
    return true;
  });
  if (visited > compareRangeKeysMax) {
    return { tooLarge: true, message: `a compare over a range visits at most compareRangeKeysMax (${compareRangeKeysMax}) keys; its range holds more` };
  }
  return visited === 0 ? compareHolds(compare, undefined) : holds;
}
