/**
 * The seeded pseudo-random number generator that deterministic code receives by injection.
 * `src/raft` and the simulator never call `Math.random`: the same seed gives the same run.
 */
import { xoroshiro128plus, unsafeUniformIntDistribution } from 'pure-rand';
import type { RandomGenerator } from 'pure-rand';

/** A source of pseudo-random integers. */
export interface Prng {
  /** An integer uniformly drawn from `[lo, hi]` (both inclusive). */
  int(lo: number, hi: number): number;
  /** A float uniformly drawn from `[0, 1)`. */
  float(): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** A new, independent generator derived from this one (for sub-components). */
  fork(): Prng;
}

/** A `Prng` backed by pure-rand's xoroshiro128+, seeded with a 32-bit integer. */
export class SeededPrng implements Prng {
  private readonly gen: RandomGenerator;

  constructor(seed: number) {
    this.gen = xoroshiro128plus(seed | 0);
  }

  int(lo: number, hi: number): number {
    return unsafeUniformIntDistribution(lo, hi, this.gen);
  }

  float(): number {
    return unsafeUniformIntDistribution(0, 0x3fffffff, this.gen) / 0x40000000;
  }

  chance(p: number): boolean {
    return this.float() < p;
  }

  fork(): Prng {
    return new SeededPrng(this.int(-0x80000000, 0x7fffffff));
  }
}
