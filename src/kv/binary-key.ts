/**
 * Keys as "binary strings": each byte becomes one char code 0..255. JavaScript compares strings by
 * UTF-16 code unit, so two binary strings compare exactly as the byte arrays they stand for (a
 * proper prefix sorts first). V8 stores such strings one byte per char, so they are also compact.
 */

/** Chunk size for `String.fromCharCode.apply`, well under every engine's argument limit. */
const charCodeChunkMax = 8192;

/** The binary string of `bytes` (one char per byte). */
export function toBinaryString(bytes: Uint8Array): string {
  if (bytes.length <= charCodeChunkMax) {
    return String.fromCharCode.apply(null, bytes as unknown as number[]);
  }
  let out = '';
  for (let start = 0; start < bytes.length; start += charCodeChunkMax) {
    out += String.fromCharCode.apply(null, bytes.subarray(start, start + charCodeChunkMax) as unknown as number[]);
  }
  return out;
}

/** The bytes of a binary string made by `toBinaryString`. */
export function fromBinaryString(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Orders two byte arrays lexicographically (a proper prefix sorts first): negative, 0 or positive. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/** True if the two byte arrays hold the same bytes. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && compareBytes(a, b) === 0;
}
