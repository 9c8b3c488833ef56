// Proves the read gate: a bounded STALE read the node cannot prove takes one ReadIndex round and
// is then answered with the staleness that round proved; it is refused only if the round fails or
// still cannot prove the bound; an unbounded or provable one never waits.
import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../util/index.js';
import { awaitReadable } from './kv-requests.js';
import type { ReadGateDriver } from './kv-requests.js';

/** A driver whose proven staleness is `before` until a ReadIndex round completes, `after` then. */
function driver(before: number, after: number, round: 'ok' | 'fails' = 'ok'): ReadGateDriver & { rounds: number } {
  const d = {
    rounds: 0,
    staleness: before,
    linearizableRead: async () => {
      d.rounds++;
      if (round === 'fails') throw new UnavailableError('no leader');
      d.staleness = after;
    },
    stalenessMs: () => d.staleness,
  };
  return d;
}

describe('awaitReadable for STALE reads', () => {
  it('answers a provable bound at once, and an unbounded read whatever the staleness', async () => {
    const fresh = driver(20, 0);
    expect(await awaitReadable(fresh, { kind: 'stale', maxStalenessMs: 100 }, 1_000)).toBe(20);
    const unknown = driver(Number.POSITIVE_INFINITY, 0);
    expect(await awaitReadable(unknown, { kind: 'stale', maxStalenessMs: 0 }, 1_000)).toBe(Number.MAX_SAFE_INTEGER);
    expect(fresh.rounds + unknown.rounds).toBe(0);
  });

  it('takes one ReadIndex round for a bound it cannot prove, then answers with what the round proved', async () => {
    const idle = driver(Number.POSITIVE_INFINITY, 3);
    expect(await awaitReadable(idle, { kind: 'stale', maxStalenessMs: 50 }, 1_000)).toBe(3);
    expect(idle.rounds).toBe(1);
  });

  it('refuses when the round fails, or still cannot prove the bound', async () => {
    await expect(awaitReadable(driver(500, 0, 'fails'), { kind: 'stale', maxStalenessMs: 50 }, 1_000)).rejects.toThrow('no leader');
    await expect(awaitReadable(driver(500, 80), { kind: 'stale', maxStalenessMs: 50 }, 1_000)).rejects.toThrow(/cannot prove it is within 50 ms of the leader, even after a ReadIndex round \(proven staleness 80 ms\)/);
  });
});
