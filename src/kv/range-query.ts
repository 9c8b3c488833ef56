/** Evaluating a range read (a query, or a read inside a txn) against the key space. */
import { resolveRange } from './key-range.js';
import type { KeySpace } from './key-space.js';
import type { KeyValue, RangeOp } from './types.js';

const noBytes = new Uint8Array(0);

/** What a range read found, before the revision is attached. */
export interface RangeFound {
  readonly kvs: readonly KeyValue[];
  /** Keys in the range, regardless of the limit. */
  readonly count: number;
  /** True if the limit cut the result. */
  readonly more: boolean;
}

/**
 * Reads the keys selected by `op` (etcd semantics): at most `limit` keys, where a missing or zero
 * limit means `rangeKeysMax` and a larger one is lowered to it (so `more` tells the client to
 * continue); `count` covers the whole range; `keysOnly` returns empty values; `countOnly` returns
 * no keys and `more = false`. `op` must have passed validation.
 */
export function queryRange(keys: KeySpace, op: RangeOp, rangeKeysMax: number): RangeFound {
  const limit = op.limit === undefined || op.limit === 0 ? rangeKeysMax : Math.min(op.limit, rangeKeysMax);
  const take = op.countOnly === true ? 0 : limit;
  const keysOnly = op.keysOnly === true;
  const kvs: KeyValue[] = [];
  let count = 0;
  keys.scanKeys(resolveRange(op), (found) => {
    count++;
    if (kvs.length < take) {
      const kv = found.kv();
      kvs.push(keysOnly ? { ...kv, value: noBytes } : kv);
    }
    return true;
  });
  return { kvs, count, more: op.countOnly !== true && count > kvs.length };
}
