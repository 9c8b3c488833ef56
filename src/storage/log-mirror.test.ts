// The log mirror's byte accounting, checked against a plain sum over the stored entries after
// random appends (with suffix truncation), compactions and resets.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Entry } from '../raft/index.js';
import { logIndex, term } from '../util/index.js';
import { LogMirror } from './log-mirror.js';

const entry = (index: number, t: number, bytes: number): Entry => ({ index: logIndex(index), term: term(t), type: 'normal', data: new Uint8Array(bytes) });

/** The data bytes of `[lo, hi]`, summed the slow way. */
function naiveBytes(log: LogMirror, lo: number, hi: number): number {
  let sum = 0;
  for (let i = lo; i <= hi; i++) sum += log.entryAt(i).data.length;
  return sum;
}

type Step = { kind: 'append'; back: number; sizes: number[] } | { kind: 'compact'; keep: number } | { kind: 'reset'; skip: number };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('append' as const), back: fc.nat(4), sizes: fc.array(fc.nat(300), { minLength: 1, maxLength: 6 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('compact' as const), keep: fc.nat(8) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('reset' as const), skip: fc.nat(5) }) },
);

describe('LogMirror byte accounting', () => {
  it('dataBytes and firstIndexWithin agree with a plain sum after any appends, truncations, compactions and resets', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 40 }), fc.nat(600), (steps, bytesMax) => {
        const log = new LogMirror({ index: logIndex(0), term: term(0) }, [entry(1, 1, 10)]);
        let t = 1;
        for (const s of steps) {
          switch (s.kind) {
            case 'append': {
              // Overwrite up to `back` stored entries (never the compaction point), as a new leader does.
              const from = Math.max(log.firstIndex(), log.lastIndex() + 1 - s.back);
              t += 1;
              log.append(s.sizes.map((bytes, i) => entry(from + i, t, bytes)));
              break;
            }
            case 'compact': {
              const to = Math.max(log.start.index, log.lastIndex() - s.keep);
              log.compactTo({ index: logIndex(to), term: log.term(logIndex(to)) });
              break;
            }
            case 'reset':
              log.reset({ index: logIndex(log.lastIndex() + s.skip), term: term(t) });
              break;
            default: {
              const never: never = s;
              throw new Error(`unknown step ${JSON.stringify(never)}`);
            }
          }
          const first = log.firstIndex();
          const last = log.lastIndex();
          for (let lo = first; lo <= last + 1; lo++) {
            for (let hi = lo - 1; hi <= last; hi++) expect(log.dataBytes(lo, hi)).toBe(naiveBytes(log, lo, hi));
          }
          const within = log.firstIndexWithin(last, bytesMax);
          expect(within).toBeGreaterThanOrEqual(first);
          expect(within).toBeLessThanOrEqual(last + 1);
          expect(naiveBytes(log, within, last)).toBeLessThanOrEqual(bytesMax);
          if (within > first) expect(naiveBytes(log, within - 1, last)).toBeGreaterThan(bytesMax);
        }
      }),
      { numRuns: 300 },
    );
  });
});
