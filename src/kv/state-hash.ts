/**
 * FNV-1a 64 (Fowler–Noll–Vo), a simple, well-known non-cryptographic hash, written with 16-bit
 * limbs so that it is exact without BigInt. It fingerprints replicated state: two replicas at the
 * same applied index must produce the same digest. It is not a defence against tampering.
 */

const utf8Encoder = new TextEncoder();
/** Reused 8-byte buffer for `uint` (the hasher is synchronous, so sharing it is safe). */
const scratch = new Uint8Array(8);
const scratchView = new DataView(scratch.buffer);
/** Reused buffer for `binaryString`, grown as needed (a Buffer for its native latin1 copy). */
let binaryScratch = Buffer.alloc(256);
/** Shorter strings are copied char by char: faster than a native call for a few bytes. */
const latin1CopyCharsMin = 32;

/** An incremental FNV-1a 64 hasher with length-prefixed, unambiguous field encodings. */
export class Fnv1a64 {
  // The 64-bit state as four 16-bit limbs, least significant first (offset basis 0xcbf29ce484222325).
  private h0 = 0x2325;
  private h1 = 0x8422;
  private h2 = 0x9ce4;
  private h3 = 0xcbf2;

  /** Mixes the first `length` raw bytes in (no length prefix). */
  raw(bytes: Uint8Array, length: number = bytes.length): this {
    let { h0, h1, h2, h3 } = this;
    for (let i = 0; i < length; i++) {
      h0 ^= bytes[i] as number;
      // Multiply by the FNV prime 2^40 + 0x1b3, modulo 2^64: limb i of (h << 40) lands in limb
      // i + 2 shifted left by 8 bits.
      const t0 = h0 * 0x1b3;
      let t1 = h1 * 0x1b3;
      let t2 = h2 * 0x1b3 + (h0 << 8);
      let t3 = h3 * 0x1b3 + (h1 << 8);
      t1 += t0 >>> 16;
      t2 += t1 >>> 16;
      t3 += t2 >>> 16;
      h0 = t0 & 0xffff;
      h1 = t1 & 0xffff;
      h2 = t2 & 0xffff;
      h3 = t3 & 0xffff;
    }
    this.h0 = h0;
    this.h1 = h1;
    this.h2 = h2;
    this.h3 = h3;
    return this;
  }

  /** Mixes in a non-negative safe integer as 8 little-endian bytes. */
  uint(n: number): this {
    scratchView.setUint32(0, n % 0x100000000, true);
    scratchView.setUint32(4, Math.floor(n / 0x100000000), true);
    return this.raw(scratch);
  }

  /** Mixes in a length, then the bytes, so that field boundaries are unambiguous. */
  bytes(bytes: Uint8Array): this {
    return this.uint(bytes.length).raw(bytes);
  }

  /**
   * Mixes in a binary string (binary-key.ts: one char per byte) exactly as `bytes` mixes the bytes
   * it stands for, without allocating them.
   */
  binaryString(s: string): this {
    if (binaryScratch.length < s.length) binaryScratch = Buffer.alloc(Math.max(s.length, 2 * binaryScratch.length));
    // Latin-1 writes each char code (all below 256 in a binary string) as the byte of that value.
    if (s.length >= latin1CopyCharsMin) binaryScratch.write(s, 0, 'latin1');
    else for (let i = 0; i < s.length; i++) binaryScratch[i] = s.charCodeAt(i);
    return this.uint(s.length).raw(binaryScratch, s.length);
  }

  /** Mixes in a string as length-prefixed UTF-8. */
  string(s: string): this {
    return this.bytes(utf8Encoder.encode(s));
  }

  /** The digest as two unsigned 32-bit halves, the same number `digest()` spells in hex. */
  halves(): { hi: number; lo: number } {
    return { hi: this.h3 * 0x10000 + this.h2, lo: this.h1 * 0x10000 + this.h0 };
  }

  /** The digest as 16 lowercase hex digits. */
  digest(): string {
    return [this.h3, this.h2, this.h1, this.h0].map((limb) => limb.toString(16).padStart(4, '0')).join('');
  }
}
