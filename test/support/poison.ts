/**
 * Bodies that cannot decode, for hostile-input tests: poison tails, and the offsets where a
 * valid body may be cut so that the poison follows whole fields (no length-delimited field can
 * swallow it and decode as something else).
 */
import protobuf from 'protobufjs';

/** Tails that make any body undecodable or refused: truncated, a bad wire type, an over-long varint, a cut tag. */
export const poison: readonly Uint8Array[] = [
  new Uint8Array([0x0a, 0x05, 1]), // field 1, length 5, one byte left
  new Uint8Array([0x0f]), // wire type 7 does not exist
  new Uint8Array([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]), // varint longer than 10 bytes
  new Uint8Array([0x80]), // a tag cut in the middle
];

/** The offsets at which each top-level field of an encoded message ends (0 first). */
export function fieldEnds(body: Uint8Array): number[] {
  const reader = protobuf.Reader.create(body);
  const ends = [0];
  while (reader.pos < reader.len) {
    reader.skipType(reader.uint32() & 7);
    ends.push(reader.pos);
  }
  return ends;
}

/** The first whole fields of `valid` (how many: `cut`, modulo), then `tail`. */
export function poisoned(valid: Uint8Array, cut: number, tail: Uint8Array): Buffer {
  const ends = fieldEnds(valid);
  return Buffer.concat([Buffer.from(valid.subarray(0, ends[cut % ends.length])), Buffer.from(tail)]);
}
