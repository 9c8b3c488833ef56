// Proves binary-string keys sort exactly like bytes, and prefixEnd bounds exactly the keys that start with a prefix.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compareBytes, fromBinaryString, toBinaryString } from './binary-key.js';
import { prefixEnd, resolveRange } from './key-range.js';

const sign = (n: number): number => Math.sign(n);
const startsWith = (key: Uint8Array, prefix: Uint8Array): boolean => key.length >= prefix.length && prefix.every((byte, i) => key[i] === byte);

describe('binary strings', () => {
  it('order exactly as the bytes they stand for, and convert back losslessly', () => {
    // Proves JS string comparison on binary strings equals lexicographic byte order.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (a, b) => {
        const [sa, sb] = [toBinaryString(a), toBinaryString(b)];
        expect(sign(sa < sb ? -1 : sa > sb ? 1 : 0)).toBe(sign(compareBytes(a, b)));
        expect(fromBinaryString(sa)).toEqual(a);
      }),
    );
  });

  it('convert keys longer than one fromCharCode chunk', () => {
    // Proves the chunked conversion loses nothing past 8192 bytes.
    const long = Uint8Array.from({ length: 20_000 }, (_, i) => (i * 7) % 256);
    expect(fromBinaryString(toBinaryString(long))).toEqual(long);
  });
});

describe('prefixEnd', () => {
  it('matches etcd on known cases', () => {
    // Proves the increment-last-non-0xff-byte rule and the "to the end" result.
    const end = (bytes: number[]): number[] => Array.from(prefixEnd(new Uint8Array(bytes)));
    expect(end([0x61, 0x62, 0x63])).toEqual([0x61, 0x62, 0x64]);
    expect(end([0x61, 0xff])).toEqual([0x62]);
    expect(end([0x61, 0xff, 0xff])).toEqual([0x62]);
    expect(end([0xff, 0xff])).toEqual([]);
    expect(end([])).toEqual([]);
  });

  it('does not modify its argument', () => {
    // Proves prefixEnd copies (callers pass keys they still use).
    const prefix = new Uint8Array([1, 2]);
    prefixEnd(prefix);
    expect(Array.from(prefix)).toEqual([1, 2]);
  });

  it('bounds exactly the keys with the prefix', () => {
    // Proves k starts with p  <=>  p <= k < prefixEnd(p) (an empty end meaning no bound).
    const small = fc.uint8Array({ maxLength: 4 }).map((a) => a.map((x) => [0, 1, 0xfe, 0xff][x % 4] as number));
    fc.assert(
      fc.property(small, small, (p, k) => {
        const end = prefixEnd(p);
        const inRange = compareBytes(p, k) <= 0 && (end.length === 0 || compareBytes(k, end) < 0);
        expect(inRange).toBe(startsWith(k, p));
      }),
      { numRuns: 3000 },
    );
  });

  it('resolves ranges the etcd way', () => {
    // Proves prefix overrides rangeEnd and an empty rangeEnd is unbounded.
    const key = new Uint8Array([0x61]);
    expect(resolveRange({ key })).toEqual({ kind: 'single', key: 'a' });
    expect(resolveRange({ key, prefix: true, rangeEnd: new Uint8Array([0x7a]) })).toEqual({ kind: 'span', low: 'a', high: 'b' });
    expect(resolveRange({ key, rangeEnd: new Uint8Array(0) })).toEqual({ kind: 'span', low: 'a', high: null });
    expect(resolveRange({ key: new Uint8Array(0), prefix: true })).toEqual({ kind: 'span', low: '', high: null });
  });
});

describe('prefixEnd on shared memory', () => {
  it('never writes into its argument, even when the argument is a view of a larger buffer (a Node Buffer slice)', () => {
    const backing = Buffer.from([0x61, 0x62, 0x63, 0x00]);
    const prefix = backing.subarray(0, 3);
    const end = prefixEnd(prefix);
    expect([...end]).toEqual([0x61, 0x62, 0x64]);
    expect([...backing]).toEqual([0x61, 0x62, 0x63, 0x00]);
  });
});
