/**
 * A growable byte buffer for the binary codecs: unsigned LEB128 varints (any safe integer),
 * length-prefixed byte strings and UTF-8 strings.
 */
import { InvalidArgumentError } from '../util/index.js';

const utf8Encoder = new TextEncoder();

/** Appends encoded fields to a buffer that doubles when full. */
export class ByteWriter {
  /** The buffer; bytes `[0, length)` are written. */
  private buffer: Uint8Array;
  /** How many bytes have been written. */
  private length = 0;

  constructor(capacityBytes = 64) {
    this.buffer = new Uint8Array(capacityBytes);
  }

  /** Appends one byte. */
  u8(byte: number): void {
    this.reserve(1);
    this.buffer[this.length++] = byte;
  }

  /**
   * Appends a non-negative safe integer as an unsigned LEB128 varint (at most 8 bytes). Throws
   * `InvalidArgumentError` naming `field` for anything else, since callers pass client input.
   */
  varint(n: number, field: string): void {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new InvalidArgumentError(field, `must be a non-negative safe integer, got ${String(n)}`);
    }
    this.reserve(8);
    // Bitwise operators only work on 32 bits, so large values are split with arithmetic.
    while (n > 0x7fffffff) {
      this.buffer[this.length++] = (n % 0x80) | 0x80;
      n = Math.floor(n / 0x80);
    }
    while (n >= 0x80) {
      this.buffer[this.length++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buffer[this.length++] = n;
  }

  /** Appends a varint length followed by the bytes. */
  bytes(b: Uint8Array, field: string): void {
    if (!(b instanceof Uint8Array)) throw new InvalidArgumentError(field, 'must be a Uint8Array');
    this.varint(b.length, field);
    this.reserve(b.length);
    this.buffer.set(b, this.length);
    this.length += b.length;
  }

  /** Appends a string as length-prefixed UTF-8. */
  string(s: string, field: string): void {
    if (typeof s !== 'string') throw new InvalidArgumentError(field, 'must be a string');
    this.bytes(utf8Encoder.encode(s), field);
  }

  /** The bytes written so far, as a right-sized copy. */
  finish(): Uint8Array {
    return this.buffer.slice(0, this.length);
  }

  /** Makes room for `n` more bytes. */
  private reserve(n: number): void {
    if (this.length + n <= this.buffer.length) return;
    let capacity = this.buffer.length * 2;
    while (capacity < this.length + n) capacity *= 2;
    const grown = new Uint8Array(capacity);
    grown.set(this.buffer.subarray(0, this.length));
    this.buffer = grown;
  }
}
