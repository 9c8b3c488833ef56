// Proves the state hash is FNV-1a 64 (published test vectors) and that its field encoding is unambiguous.
import { describe, expect, it } from 'vitest';
import { Fnv1a64 } from './state-hash.js';

const utf8 = new TextEncoder();

describe('Fnv1a64', () => {
  it('matches the published FNV-1a 64 test vectors', () => {
    // Proves the 16-bit-limb arithmetic is exact (vectors from the FNV reference test suite).
    const vectors: Array<[string, string]> = [
      ['', 'cbf29ce484222325'],
      ['a', 'af63dc4c8601ec8c'],
      ['foobar', '85944171f73967e8'],
    ];
    for (const [input, digest] of vectors) expect(new Fnv1a64().raw(utf8.encode(input)).digest()).toBe(digest);
  });

  it('keeps field boundaries apart', () => {
    // Proves ("ab","c") and ("a","bc") hash differently, and integers mix in all 8 bytes.
    const two = (x: string, y: string): string => new Fnv1a64().string(x).string(y).digest();
    expect(two('ab', 'c')).not.toBe(two('a', 'bc'));
    expect(new Fnv1a64().uint(2 ** 40).digest()).not.toBe(new Fnv1a64().uint(0).digest());
    expect(new Fnv1a64().uint(2 ** 40).digest()).toBe(new Fnv1a64().uint(2 ** 40).digest());
  });
});
