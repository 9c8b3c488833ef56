/**
 * The ordered map behind the key space and the session table: sorted-btree's B+ tree, a pure
 * library with cheap copy-on-write clones (used for point-in-time images).
 *
 * sorted-btree is a CommonJS package that sets `exports.default`. Node's ESM loader hands a default
 * import the whole `module.exports` object, while Vite-based runners (vitest) unwrap `default`;
 * this file accepts both so that the rest of src/kv can simply `new OrderedTree(...)`.
 */
import btreeModule from 'sorted-btree';
import type * as btreeTypes from 'sorted-btree';

/** sorted-btree's `BTree` class (the constructor). */
type OrderedTreeClass = typeof btreeModule.default;

/** An ordered map from `K` to `V` (sorted-btree's `BTree`). */
export type OrderedTree<K, V> = btreeTypes.default<K, V>;

const loaded = btreeModule as unknown as OrderedTreeClass | { readonly default: OrderedTreeClass };

/** The `BTree` constructor, whichever way the module loader presented it. */
export const OrderedTree: OrderedTreeClass = typeof loaded === 'function' ? loaded : loaded.default;

/**
 * Compares two strings by UTF-16 code unit. For binary strings (one char per byte, see
 * `binary-key.ts`) this is exactly the byte order of the keys they stand for.
 */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
