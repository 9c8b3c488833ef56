// Proves the incremental state digest the corruption check compares: independent of the order keys
// were written or loaded, equal on replicas that applied the same entries, different after any
// change to a key, equal to the digest recomputed from scratch, and recorded at checkpoint indexes.
import { describe, expect, it } from 'vitest';
import { logIndex, makeLimits, SeededPrng } from '../util/index.js';
import { DigestCheckpoints, encodeClusterCommand, KvStateMachine } from './index.js';
import type { WriteOp } from './index.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const machine = (image?: ReturnType<KvStateMachine['image']>): KvStateMachine =>
  new KvStateMachine({ limits: makeLimits(), sessionTtlMs: 60_000, ...(image === undefined ? {} : { image }) });
const run = (sm: KvStateMachine, op: WriteOp): void => void sm.apply(logIndex(sm.appliedIndex + 1), { clientId: '', seq: 0, ackSeq: 0, timeMs: 1, op });

function workload(seed: number, count: number): WriteOp[] {
  const prng = new SeededPrng(seed);
  const ops: WriteOp[] = [];
  for (let i = 0; i < count; i++) {
    const key = b(`k${prng.int(0, 40)}`);
    ops.push(prng.chance(0.2) ? { type: 'delete', key, prevKv: false } : { type: 'put', key, value: b(`v${prng.int(0, 1000)}`), prevKv: false });
  }
  return ops;
}

describe('state digest', () => {
  it('is equal on replicas that applied the same entries, at every step', () => {
    const [one, two] = [machine(), machine()];
    for (const op of workload(3, 300)) {
      run(one, op);
      run(two, op);
      expect(two.digest()).toBe(one.digest());
    }
  });

  it('does not depend on the order keys were written (nor on loading from an image)', () => {
    const forward = machine();
    const backward = machine();
    const keys = Array.from({ length: 50 }, (_, i) => `key-${i}`);
    // Same keys, values and revisions, built in different orders through images.
    for (const k of keys) run(forward, { type: 'put', key: b(k), value: b(`v-${k}`), prevKv: false });
    const image = forward.image();
    const reversed = { ...image, kvs: [...image.kvs].reverse() };
    expect(machine(reversed).digest()).toBe(forward.digest());
    // Delete and re-create keys in another order: same final keys, same digest as a fresh build.
    for (const k of [...keys].reverse()) run(backward, { type: 'put', key: b(k), value: b('tmp'), prevKv: false });
    expect(backward.digest()).not.toBe(forward.digest());
    const restored = machine(machine(forward.image()).image());
    expect(restored.digest()).toBe(forward.digest());
  });

  it('equals the digest recomputed from scratch after puts and deletes', () => {
    const sm = machine();
    for (const op of workload(5, 500)) run(sm, op);
    expect(machine(sm.image()).digest()).toBe(sm.digest());
  });

  it('changes on any change to a key: value, a deleted key, a diverged replica', () => {
    const sm = machine();
    for (const op of workload(9, 100)) run(sm, op);
    const before = sm.digest();
    const other = machine(sm.image());
    expect(other.digest()).toBe(before);
    other.divergeForTest(b('k1'), b('a different value'));
    expect(other.digest()).not.toBe(before);
    const twin = machine(sm.image());
    run(twin, { type: 'put', key: b('k1'), value: b('x'), prevKv: false });
    const afterPut = twin.digest();
    expect(afterPut).not.toBe(before);
    run(twin, { type: 'delete', key: b('k1'), prevKv: false });
    expect(twin.digest()).not.toBe(afterPut);
  });

  it('records the digest at checkpoint indexes, bounded', () => {
    const sm = machine();
    for (const op of workload(2, 250)) run(sm, op);
    expect(sm.digestAt(100)?.index).toBe(100);
    expect(sm.digestAt(200)?.revision).toBeGreaterThan(0);
    expect(sm.digestAt(150)).toBeUndefined();
    expect(sm.latestCheckpoint()?.index).toBe(200);
    const replica = machine();
    for (const op of workload(2, 250)) run(replica, op);
    expect(replica.digestAt(200)).toEqual(sm.digestAt(200));
    const ring = new DigestCheckpoints(1, 3);
    for (let i = 1; i <= 5; i++) ring.record({ index: i, revision: i, digest: String(i) });
    expect(ring.list().map((c) => c.index)).toEqual([3, 4, 5]);
    expect(ring.latestAtOrBelow(2)).toBeUndefined();
  });
});

describe('replicated alarms', () => {
  it('raise and clear through cluster commands, in images, identically on replicas', () => {
    const sm = machine();
    run(sm, { type: 'put', key: b('a'), value: b('1'), prevKv: false });
    const raise = encodeClusterCommand({ type: 'alarm', alarm: { action: 'raise', member: 'n2', type: 'nospace', reason: 'ENOSPC' } });
    const outcome = sm.applyEncoded(logIndex(sm.appliedIndex + 1), raise);
    expect(outcome.result).toMatchObject({ type: 'alarm', changed: true, alarms: [{ member: 'n2', type: 'nospace', raisedIndex: 2, reason: 'ENOSPC' }] });
    expect(outcome.mutations).toHaveLength(1);
    // Raising it again changes nothing; another type is a second alarm.
    expect(sm.applyEncoded(logIndex(sm.appliedIndex + 1), raise).result).toMatchObject({ changed: false });
    sm.applyEncoded(logIndex(sm.appliedIndex + 1), encodeClusterCommand({ type: 'alarm', alarm: { action: 'raise', member: 'n1', type: 'corrupt', reason: 'digest' } }));
    expect(sm.alarms.alarms.map((a) => `${a.member}:${a.type}`)).toEqual(['n1:corrupt', 'n2:nospace']);
    const restored = machine(sm.image());
    expect(restored.alarms).toEqual(sm.alarms);
    expect(restored.stateHash()).toBe(sm.stateHash());
    expect(restored.sessionRecordCount()).toBe(sm.sessionRecordCount());
    sm.applyEncoded(logIndex(sm.appliedIndex + 1), encodeClusterCommand({ type: 'alarm', alarm: { action: 'clear', member: '', type: 'nospace' } }));
    expect(sm.alarms.alarms.map((a) => `${a.member}:${a.type}`)).toEqual(['n1:corrupt']);
    expect(sm.stateHash()).not.toBe(restored.stateHash());
  });

  it('refuses a malformed alarm command the same way on every replica', () => {
    const sm = machine();
    const bad = encodeClusterCommand({ type: 'alarm', alarm: { action: 'clear', member: '', type: null } });
    bad[3] = 9; // an unknown type byte
    const outcome = sm.applyEncoded(logIndex(1), bad);
    expect(outcome.result).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
    expect(sm.alarms.alarms).toEqual([]);
  });
});
