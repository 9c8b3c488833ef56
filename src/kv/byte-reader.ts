/**
 * Reads what `ByteWriter` wrote, refusing malformed input with `InvalidArgumentError` rather than
 * returning nonsense: truncation, over-long or non-minimal varints, lengths past the end, invalid
 * UTF-8 and trailing bytes are all errors. Byte strings are returned as copies, so decoded values
 * never pin (or alias) the buffer they came from, such as a whole Raft entry.
 */
import { InvalidArgumentError } from '../util/index.js';
import { toBinaryString } from './binary-key.js';

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The most bytes a varint of a safe integer (53 bits) can take: 8 × 7 = 56 bits. */
const varintBytesMax = 8;

/** A cursor over an encoded record. */
export class ByteReader {
  /** The read position. */
  private offset = 0;

  constructor(
    /** The encoded record. */
    private readonly input: Uint8Array,
    /** What is being decoded (`command`, `keyValue`, ...): the field named in errors. */
    private readonly what: string,
  ) {
    if (!(input instanceof Uint8Array)) throw new InvalidArgumentError(what, 'must be a Uint8Array');
  }

  /** Reads one byte. */
  u8(label: string): number {
    if (this.offset >= this.input.length) throw this.error(`truncated: no byte left for ${label}`);
    return this.input[this.offset++] as number;
  }

  /** Reads a byte that must be 0 or 1. */
  bool(label: string): boolean {
    const byte = this.u8(label);
    if (byte > 1) throw this.error(`${label} must be 0 or 1, got ${byte}`);
    return byte === 1;
  }

  /** Reads a varint written by `ByteWriter.varint`: a minimal encoding of a non-negative safe integer. */
  varint(label: string): number {
    let value = 0;
    let scale = 1;
    for (let i = 0; i < varintBytesMax; i++) {
      const byte = this.u8(label);
      value += (byte & 0x7f) * scale;
      if (byte < 0x80) {
        if (byte === 0 && i > 0) throw this.error(`${label} is a non-minimal varint`);
        if (!Number.isSafeInteger(value)) throw this.error(`${label} is larger than a safe integer`);
        return value;
      }
      scale *= 0x80;
    }
    throw this.error(`${label} is a varint longer than ${varintBytesMax} bytes`);
  }

  /** Reads a count of items that each take at least one byte, so a count past the end fails fast. */
  count(label: string): number {
    const n = this.varint(label);
    if (n > this.remaining()) throw this.error(`${label} is ${n}, more than the ${this.remaining()} bytes left`);
    return n;
  }

  /**
   * Reads length-prefixed bytes: always a copy, even when the input is a Node Buffer (whose
   * `slice` is a view), so a decoded key never pins a whole network or LevelDB buffer.
   */
  bytes(label: string): Uint8Array {
    const n = this.varint(label);
    if (n > this.remaining()) throw this.error(`truncated: ${label} needs ${n} bytes, ${this.remaining()} left`);
    const out = new Uint8Array(this.input.subarray(this.offset, this.offset + n));
    this.offset += n;
    return out;
  }

  /**
   * Reads length-prefixed bytes as a binary string (binary-key.ts): the form the key space keeps
   * keys and values in, made straight from the input with no intermediate copy.
   */
  binaryString(label: string): string {
    const n = this.varint(label);
    if (n > this.remaining()) throw this.error(`truncated: ${label} needs ${n} bytes, ${this.remaining()} left`);
    const out = toBinaryString(this.input.subarray(this.offset, this.offset + n));
    this.offset += n;
    return out;
  }

  /** Reads a length-prefixed UTF-8 string. */
  string(label: string): string {
    const raw = this.bytes(label);
    try {
      return utf8Decoder.decode(raw);
    } catch {
      throw this.error(`${label} is not valid UTF-8`);
    }
  }

  /** Bytes not yet read. */
  remaining(): number {
    return this.input.length - this.offset;
  }

  /** Fails unless every byte was consumed. */
  end(): void {
    if (this.remaining() !== 0) throw this.error(`${this.remaining()} unexpected trailing bytes`);
  }

  /** An `InvalidArgumentError` for this record, with the position of the problem. */
  error(problem: string): InvalidArgumentError {
    return new InvalidArgumentError(this.what, `${problem} (at byte ${this.offset} of ${this.input.length})`);
  }
}
