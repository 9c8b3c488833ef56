/** Byte-string helpers shared by the state machine and the client. Pure. */

/**
 * The smallest key greater than every key that starts with `prefix` (etcd's getPrefix): the
 * prefix with its last byte below 0xff incremented and everything after it dropped. When every
 * byte is 0xff (or the prefix is empty) no such key exists and the result is empty, which as a
 * range end means "to the end of the key space".
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
