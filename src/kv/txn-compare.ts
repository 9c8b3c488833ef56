/** Evaluating a transaction guard (etcd's Compare) against a key's current state. */
import { unreachable } from '../util/index.js';
import { compareBytes } from './binary-key.js';
import type { Compare, KeyValue } from './types.js';

/**
 * True if `compare` holds for `kv` (undefined when the key does not exist). Values compare as
 * bytes; version and revisions as numbers. A missing key has version 0 and revisions 0, so
 * `createRevision = 0` is the idiom for "the key does not exist". A missing key has no value at
 * all: a value compare on it holds only for `!=` (`=`, `<` and `>` are false).
 */
export function compareHolds(compare: Compare, kv: KeyValue | undefined): boolean {
  let order: number;
  if (compare.target === 'value') {
    if (kv === undefined) return compare.op === '!=';
    order = compareBytes(kv.value, compare.value as Uint8Array);
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
