/**
 * `rangeAll`: every key of a selection, read page by page so that neither the server's
 * `rangeKeysMax` nor the client's memory bounds how many keys a caller can walk. Each page is one
 * `range` call of at most `pageSize` keys starting just after the last key of the page before.
 * Each page is linearizable by itself (or stale, if asked); the walk is not one snapshot: a key
 * that exists from start to end is seen exactly once, in key order, and one put or deleted
 * meanwhile may or may not be seen.
 */
import { InvalidArgumentError } from '../util/index.js';
import type { Bytes } from './bytes.js';
import { prefixEnd, toBytes } from './bytes.js';
import type { KeySelector } from './requests.js';
import { prefixSelectorOf } from './requests.js';
import type { KeyValue, RangeResult } from './results.js';

/** Keys per page when the caller does not say. */
export const rangePageSizeDefault = 500;
/** The most keys per page (the server's `rangeKeysMax` default). */
export const rangePageSizeMax = 10_000;

/** Options of `rangeAll`. */
export interface RangeAllPaging {
  /** Keys per page (default 500, at most 10,000). */
  readonly pageSize?: number;
}

/** One page request, as `range` takes it. */
export type PageRequest = KeySelector & { readonly limit: number };

/**
 * Yields every key-value of `target` (a prefix given as bytes or a string, or a selector; none
 * selects every key), calling `range` once per page.
 */
export async function* rangePages(target: Bytes | KeySelector | undefined, paging: RangeAllPaging, range: (page: PageRequest) => Promise<RangeResult>): AsyncGenerator<KeyValue> {
  const pageSize = paging.pageSize ?? rangePageSizeDefault;
  if (!Number.isSafeInteger(pageSize) || pageSize < 1 || pageSize > rangePageSizeMax) {
    throw new InvalidArgumentError('pageSize', `must be an integer from 1 to ${rangePageSizeMax}, got ${JSON.stringify(pageSize)}`);
  }
  const selector = prefixSelectorOf(target);
  if (selector.key !== undefined) {
    // One key is one page.
    yield* (await range({ key: selector.key, limit: 1 })).kvs;
    return;
  }
  // The span's exclusive end, or undefined for "to the last key".
  let end: Uint8Array | undefined;
  if (selector.start !== undefined) end = selector.end === undefined ? undefined : toBytes(selector.end, 'rangeAll.end');
  else {
    const e = prefixEnd(toBytes(selector.prefix ?? '', 'rangeAll.prefix'));
    end = e.length > 0 ? e : undefined;
  }
  let page: PageRequest = selector.start !== undefined ? { start: selector.start, ...(end === undefined ? {} : { end }), limit: pageSize } : { prefix: selector.prefix ?? '', limit: pageSize };
  for (;;) {
    const r = await range(page);
    yield* r.kvs;
    const last = r.kvs[r.kvs.length - 1];
    if (!r.more || last === undefined) return;
    // The smallest key after `last`: last + 0x00.
    const next = new Uint8Array(last.key.length + 1);
    next.set(last.key);
    page = { start: next, ...(end === undefined ? {} : { end }), limit: pageSize };
  }
}
