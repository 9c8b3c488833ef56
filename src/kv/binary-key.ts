/**
 * Keys as "binary strings": each byte becomes one char code 0..255. JavaScript compares strings by
 * UTF-16 code unit, so two binary strings compare exactly as the byte arrays they stand for (a
 * proper prefix sorts first). V8 stores such strings one byte per char, so they are also compact.
 */

/**
 * Above this many bytes Node's latin1 decoder (native, no copy of the input) is faster than
 * `String.fromCharCode.apply` (measured on Node 20: 0.18 vs 0.85 µs for 256 bytes; 0.15 vs
 * 0.08 µs for 10). Latin-1 maps every byte to the char code of the same value, so both give the
 * same string. Buffer is a pure conversion here, not I/O.
 */
const latin1BytesMin = 32;

/** The binary string of `bytes` (one char per byte). */
export function toBinaryString(bytes: Uint8Array): string {
  if (bytes.length >= latin1BytesMin) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
  return String.fromCharCode.apply(null, bytes as unknown as number[]);
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
