/** Fixed-size bitsets over 32-bit words: the search's record of which operations are linearized. */

/** A bitset with room for `bitCount` bits, all clear. */
export function makeBitset(bitCount: number): Uint32Array {
  return new Uint32Array(Math.ceil(bitCount / 32));
}

/** Sets bit `index`. */
export function setBit(bits: Uint32Array, index: number): void {
  bits[index >>> 5]! |= 1 << (index & 31);
}

/** Clears bit `index`. */
export function clearBit(bits: Uint32Array, index: number): void {
  bits[index >>> 5]! &= ~(1 << (index & 31));
}

/**
 * A well-mixed 32-bit value for `n` (the murmur3 finalizer), for incremental hashing: the hash
 * of a set is the XOR of `mix32` of its members, updated in O(1) as members come and go.
 */
export function mix32(n: number): number {
  let h = (n ^ 0x9e3779b9) >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}
