// Proves the sliced state hash (issue 12: the full hash took 2.5 s at 1,000,000 keys, all of it on the node's event
// loop): run in slices of any size it gives stateHash's value, and it hashes the state of the moment it started,
// however many writes, lease changes and session updates are applied while it runs.
import { describe, expect, it } from 'vitest';
import { logIndex, makeLimits, SeededPrng } from '../util/index.js';
import { KvStateMachine } from './index.js';
import type { KvCommand, WriteOp } from './index.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const machine = (): KvStateMachine => new KvStateMachine({ limits: makeLimits(), sessionTtlMs: 60_000 });
let timeMs = 1;
const run = (sm: KvStateMachine, op: WriteOp, session?: { clientId: string; seq: number }): void => {
  const command: KvCommand = { clientId: session?.clientId ?? '', seq: session?.seq ?? 0, ackSeq: 0, timeMs: timeMs++, op };
  void sm.apply(logIndex(sm.appliedIndex + 1), command);
};

/** A machine with keys (some leased, some long), a lease, and client sessions. */
function populated(seed: number): KvStateMachine {
  const sm = machine();
  const prng = new SeededPrng(seed);
  run(sm, { type: 'leaseGrant', id: 7, ttlS: 60 });
  for (let i = 0; i < 300; i++) {
    const key = b(`k${prng.int(0, 120)}`);
    const value = b('v'.repeat(prng.int(0, 80)));
    const lease = prng.chance(0.1) ? { lease: 7 } : {};
    run(sm, prng.chance(0.15) ? { type: 'delete', key, prevKv: false } : { type: 'put', key, value, prevKv: false, ...lease }, prng.chance(0.3) ? { clientId: `c${prng.int(0, 5)}`, seq: i + 1 } : undefined);
  }
  return sm;
}

describe('StateHashJob', () => {
  it('gives stateHash, in slices of any size', () => {
    for (const seed of [1, 2, 3]) {
      const sm = populated(seed);
      const whole = sm.stateHash();
      for (const slice of [1, 7, 64, 10_000]) {
        const job = sm.stateHashJob();
        let steps = 0;
        while (!job.step(slice)) steps++;
        expect(job.digest, `seed ${seed}, slices of ${slice}`).toBe(whole);
        if (slice === 1) expect(steps).toBeGreaterThan(50);
      }
    }
  });

  it('hashes the state of the moment it started, while writes go on', () => {
    const sm = populated(4);
    const before = sm.stateHash();
    const job = sm.stateHashJob();
    job.step(10);
    // Writes, a lease revoke (which deletes its keys) and new sessions, between slices.
    run(sm, { type: 'put', key: b('k0'), value: b('changed'), prevKv: false }, { clientId: 'c9', seq: 1 });
    job.step(10);
    run(sm, { type: 'leaseRevoke', id: 7 });
    run(sm, { type: 'delete', key: b('k'), rangeEnd: b('l'), prevKv: false });
    while (!job.step(10));
    expect(job.digest).toBe(before);
    expect(sm.stateHash()).not.toBe(before);
  });
});
