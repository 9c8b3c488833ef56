// Proves the reconnection delay is exponential with full jitter and capped.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fullJitterBackoffMs } from './backoff.js';

describe('fullJitterBackoffMs', () => {
  it('draws from [0, min(max, base * 2^attempt)) (property)', () => {
    // Proves the bounds for any attempt count, including very long outages.
    fc.assert(
      fc.property(fc.nat(10_000), fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 100_000 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (attempt, baseMs, extraMs, r) => {
        const maxMs = baseMs + extraMs;
        const delay = fullJitterBackoffMs({ attempt, baseMs, maxMs, random: () => r });
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThan(Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30)));
      }),
    );
  });

  it('doubles the ceiling per attempt until the cap', () => {
    // Proves the exponential growth and the cap with the largest random draw.
    const ceilings = [0, 1, 2, 3, 4, 5, 6].map((attempt) => fullJitterBackoffMs({ attempt, baseMs: 100, maxMs: 2_000, random: () => 0.999999 }));
    expect(ceilings).toEqual([99, 199, 399, 799, 1599, 1999, 1999]);
  });
});
