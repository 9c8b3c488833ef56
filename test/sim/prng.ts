/**
 * The simulator's PRNG: util's SeededPrng (xoroshiro128+), with the seed scrambled and the first
 * outputs discarded. Seeded directly with small integers, xoroshiro128+ starts from a nearly
 * all-ones state and its first outputs barely depend on the seed (the first float is about 1.0
 * for every seed), so seeds 0, 1, 2, ... would all draw nearly the same cluster, and every forked
 * generator (one per RawNode) its same first election timeout. Scrambling and warming up fixes both.
 */
import { SeededPrng } from '../../src/util/index.js';
import type { Prng } from '../../src/util/index.js';

/** Outputs discarded after seeding, to leave the poorly mixed start state behind. */
const warmUpDraws = 24;

/** murmur3's 32-bit finalizer: every input bit affects every output bit. */
export function mixSeed(seed: number): number {
  let h = seed | 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** A well-mixed seeded PRNG for the simulator; its forks are well mixed too. */
export class SimPrng implements Prng {
  private readonly inner: SeededPrng;

  constructor(seed: number) {
    this.inner = new SeededPrng(mixSeed(seed));
    for (let i = 0; i < warmUpDraws; i++) this.inner.int(0, 1);
  }

  int(lo: number, hi: number): number {
    return this.inner.int(lo, hi);
  }

  float(): number {
    return this.inner.float();
  }

  chance(p: number): boolean {
    return this.inner.float() < p;
  }

  fork(): Prng {
    return new SimPrng(this.inner.int(-0x80000000, 0x7fffffff));
  }
}
