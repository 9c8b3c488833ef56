/**
 * The byte-level format of every value raftkv stores in LevelDB: a small framed record with a
 * CRC32 checksum, plus the reader and writer used to build the payloads.
 *
 * Frame layout (all integers big-endian):
 *
 * ```
 * [framing version u8 = 1][kind u8][payload length u32][crc32 u32][payload ...]
 * ```
 *
 * The checksum covers the LevelDB key, the kind and the payload. Binding it to the key means a
 * record that ends up under the wrong key (a misdirected write, a copied file block) fails the
 * check, at no cost in space. The payload length makes a truncated value distinguishable from a
 * flipped bit, so the error can say which one happened.
 *
 * The framing version never changes (it is what `meta/cluster` is read with); layout changes bump
 * the storage format version kept in `meta/cluster` instead.
 */
import CRC32 from 'crc-32';

/** The only framing version this build reads and writes. */
export const FRAMING_VERSION = 1;

/** Size of the frame header in bytes. */
export const FRAME_HEADER_BYTES = 10;

/** What a framed record holds; stored in the frame so a record cannot be read as another kind. */
export const RecordKind = {
  entry: 1,
  hardState: 2,
  confState: 3,
  snapshot: 4,
  logStart: 5,
  cluster: 6,
  keyValue: 7,
  session: 8,
  counter: 9,
  restoring: 10,
} as const;

/** One of the `RecordKind` values. */
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

/**
 * A stored value that cannot be decoded. Internal to `storage/`: callers turn it into a
 * `CorruptionError` that names the key and the data directory.
 */
export class RecordFormatError extends Error {
  override readonly name = 'RecordFormatError';
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });

/** Largest integer we store in a u64 field: JavaScript numbers are exact only up to 2^53 - 1. */
const U64_MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Builds a payload. Grows its buffer as needed. */
export class ByteWriter {
  private buffer = new Uint8Array(64);
  private view = new DataView(this.buffer.buffer);
  private length = 0;

  /** Appends one byte. */
  u8(value: number): this {
    this.ensure(1);
    this.view.setUint8(this.length, value);
    this.length += 1;
    return this;
  }

  /** Appends an unsigned 32-bit integer. */
  u32(value: number): this {
    if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
      throw new RangeError(`u32 out of range: ${value}`);
    }
    this.ensure(4);
    this.view.setUint32(this.length, value);
    this.length += 4;
    return this;
  }

  /** Appends a non-negative safe integer as 8 bytes. */
  u64(value: number): this {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new RangeError(`u64 must be a non-negative safe integer, got ${value}`);
    }
    this.ensure(8);
    this.view.setUint32(this.length, Math.floor(value / 0x1_0000_0000));
    this.view.setUint32(this.length + 4, value >>> 0);
    this.length += 8;
    return this;
  }

  /** Appends a safe integer (possibly negative) as an IEEE double. */
  int(value: number): this {
    if (!Number.isSafeInteger(value)) {
      throw new RangeError(`int must be a safe integer, got ${value}`);
    }
    this.ensure(8);
    this.view.setFloat64(this.length, value);
    this.length += 8;
    return this;
  }

  /** Appends bytes prefixed with their u32 length. */
  bytes(value: Uint8Array): this {
    this.u32(value.length);
    this.raw(value);
    return this;
  }

  /** Appends a UTF-8 string prefixed with its u32 byte length. */
  string(value: string): this {
    return this.bytes(textEncoder.encode(value));
  }

  /** Appends bytes without a length prefix. */
  raw(value: Uint8Array): this {
    this.ensure(value.length);
    this.buffer.set(value, this.length);
    this.length += value.length;
    return this;
  }

  /** The bytes written so far (a copy-free view). */
  finish(): Uint8Array {
    return this.buffer.subarray(0, this.length);
  }

  private ensure(extra: number): void {
    const needed = this.length + extra;
    if (needed <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < needed) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buffer.subarray(0, this.length));
    this.buffer = next;
    this.view = new DataView(next.buffer);
  }
}

/** Reads a payload. Every read checks bounds and throws `RecordFormatError` when it runs out. */
export class ByteReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly bytesIn: Uint8Array) {
    this.view = new DataView(bytesIn.buffer, bytesIn.byteOffset, bytesIn.byteLength);
  }

  /** Reads one byte. */
  u8(): number {
    this.need(1, 'u8');
    const value = this.view.getUint8(this.offset);
    this.offset += 1;
    return value;
  }

  /** Reads an unsigned 32-bit integer. */
  u32(): number {
    this.need(4, 'u32');
    const value = this.view.getUint32(this.offset);
    this.offset += 4;
    return value;
  }

  /** Reads an 8-byte unsigned integer; it must be a safe integer. */
  u64(): number {
    this.need(8, 'u64');
    const hi = this.view.getUint32(this.offset);
    const lo = this.view.getUint32(this.offset + 4);
    const value = hi * 0x1_0000_0000 + lo;
    if (value > U64_MAX_SAFE) {
      throw new RecordFormatError(`u64 at offset ${this.offset} exceeds 2^53 - 1`);
    }
    this.offset += 8;
    return value;
  }

  /** Reads a safe integer stored as an IEEE double. */
  int(): number {
    this.need(8, 'int');
    const value = this.view.getFloat64(this.offset);
    if (!Number.isSafeInteger(value)) {
      throw new RecordFormatError(`int at offset ${this.offset} is not a safe integer (${value})`);
    }
    this.offset += 8;
    return value;
  }

  /** Reads u32-length-prefixed bytes (a copy, so it does not pin the whole value in memory). */
  bytes(): Uint8Array {
    const length = this.u32();
    this.need(length, 'bytes');
    const value = this.bytesIn.slice(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  /** Reads a u32-length-prefixed UTF-8 string; invalid UTF-8 is a format error. */
  string(): string {
    const raw = this.bytes();
    try {
      return textDecoder.decode(raw);
    } catch {
      throw new RecordFormatError(`invalid UTF-8 string before offset ${this.offset}`);
    }
  }

  /** Asserts the payload was consumed exactly: trailing bytes mean a format mismatch. */
  end(): void {
    if (this.offset !== this.bytesIn.length) {
      throw new RecordFormatError(`${this.bytesIn.length - this.offset} unexpected trailing bytes after offset ${this.offset}`);
    }
  }

  private need(count: number, what: string): void {
    if (this.offset + count > this.bytesIn.length) {
      throw new RecordFormatError(
        `truncated payload: reading ${what} needs ${count} bytes at offset ${this.offset}, only ${this.bytesIn.length - this.offset} left`,
      );
    }
  }
}

/** CRC32 (IEEE) over the key, the kind byte and the payload, as an unsigned 32-bit integer. */
export function recordChecksum(key: Uint8Array, kind: number, payload: Uint8Array): number {
  let crc = CRC32.buf(key);
  crc = CRC32.buf([kind], crc);
  crc = CRC32.buf(payload, crc);
  return crc >>> 0;
}

/** Wraps `payload` in a frame of the given kind, checksummed together with `key`. */
export function frameRecord(key: Uint8Array, kind: RecordKind, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER_BYTES + payload.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, FRAMING_VERSION);
  view.setUint8(1, kind);
  view.setUint32(2, payload.length);
  view.setUint32(6, recordChecksum(key, kind, payload));
  out.set(payload, FRAME_HEADER_BYTES);
  return out;
}

/**
 * Checks a frame stored under `key` and returns its payload. Throws `RecordFormatError` naming
 * what is wrong: a truncated value, an unknown framing version, the wrong kind, or a checksum
 * mismatch.
 */
export function unframeRecord(key: Uint8Array, expected: RecordKind, value: Uint8Array): Uint8Array {
  if (value.length < FRAME_HEADER_BYTES) {
    throw new RecordFormatError(`truncated record: ${value.length} bytes, shorter than the ${FRAME_HEADER_BYTES}-byte header`);
  }
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const framing = view.getUint8(0);
  if (framing !== FRAMING_VERSION) {
    throw new RecordFormatError(`unknown record framing version ${framing} (this build reads ${FRAMING_VERSION})`);
  }
  const kind = view.getUint8(1);
  if (kind !== expected) {
    throw new RecordFormatError(`record kind ${kind} where kind ${expected} was expected`);
  }
  const payloadBytes = view.getUint32(2);
  const actualBytes = value.length - FRAME_HEADER_BYTES;
  if (actualBytes < payloadBytes) {
    throw new RecordFormatError(`truncated record: header says ${payloadBytes} payload bytes, found ${actualBytes}`);
  }
  if (actualBytes > payloadBytes) {
    throw new RecordFormatError(`record is ${actualBytes - payloadBytes} bytes longer than its header says (${payloadBytes} payload bytes)`);
  }
  const payload = value.subarray(FRAME_HEADER_BYTES);
  const stored = view.getUint32(6);
  const computed = recordChecksum(key, kind, payload);
  if (stored !== computed) {
    throw new RecordFormatError(`checksum mismatch: stored crc32 ${hex32(stored)}, computed ${hex32(computed)}`);
  }
  return payload;
}

function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
