/**
 * The run digest: a 64-bit FNV-1a hash (two 32-bit lanes) of the event trace. Two runs of the same
 * seed must produce the same digest; any difference means the simulator (or the code it drives)
 * let something nondeterministic in.
 */

/** An incremental hash of strings and numbers. */
export class TraceDigest {
  private lo = 0x811c9dc5;
  private hi = 0x050c5d1f;
  /** How many items were added. */
  count = 0;

  /** Adds a string to the digest. */
  add(text: string): void {
    let lo = this.lo;
    let hi = this.hi;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      lo = Math.imul(lo ^ c, 0x01000193);
      hi = Math.imul(hi ^ c ^ (lo >>> 16), 0x01000193);
    }
    // A separator, so that ("ab", "c") and ("a", "bc") differ.
    this.lo = Math.imul(lo ^ 0x1f, 0x01000193);
    this.hi = Math.imul(hi ^ 0x1e, 0x01000193);
    this.count++;
  }

  /** The digest so far, as 16 hex digits. */
  hex(): string {
    return (this.hi >>> 0).toString(16).padStart(8, '0') + (this.lo >>> 0).toString(16).padStart(8, '0');
  }
}

/** FNV-1a over bytes, as 8 hex digits: a cheap fingerprint for entry data in messages. */
export function bytesFingerprint(bytes: Uint8Array): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
  return (h >>> 0).toString(16).padStart(8, '0');
}

/** True if two byte arrays hold the same bytes. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
