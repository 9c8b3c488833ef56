// Proves the limits that shape replicated state are replicated (defect a of issue 10): set only by a
// committed setClusterLimits entry, carried in images, and the same on every replica whatever the
// limits each replica was built with.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, logIndex, makeLimits } from '../util/index.js';
import type { Limits } from '../util/index.js';
import {
  clusterLimitsCeiling,
  clusterLimitsOf,
  clusterLimitsRecordId,
  decodeClusterCommand,
  decodeLogCommand,
  defaultClusterLimits,
  encodeClusterCommand,
  encodeCommand,
  KvStateMachine,
  validateCommand,
} from './index.js';
import type { ApplyOutcome, ClusterLimits, KvCommand } from './index.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const mib = 1024 * 1024;

/** A replica built the way the driver built it before the fix: from its own flags. */
function replica(flags: Partial<Limits> = {}, sessionTtlMs = 60_000): KvStateMachine {
  return new KvStateMachine({ limits: makeLimits(flags), sessionTtlMs });
}
const next = (sm: KvStateMachine): ReturnType<typeof logIndex> => logIndex(sm.appliedIndex + 1);
const putEntry = (key: string, valueBytes: number, timeMs = 1): Uint8Array =>
  encodeCommand({ clientId: '', seq: 0, ackSeq: 0, timeMs, op: { type: 'put', key: b(key), value: new Uint8Array(valueBytes) } });
const setEntry = (limits: ClusterLimits, ifUnset = false): Uint8Array => encodeClusterCommand({ type: 'setClusterLimits', limits, ifUnset });
const raised: Partial<Limits> = { valueBytesMax: 2 * mib, requestBytesMax: 3 * mib, appendBytesMax: 4 * mib, applyBytesMax: 4 * mib };

/** Applies the same entries to every replica; returns each replica's outcomes. */
function applyAll(replicas: readonly KvStateMachine[], entries: readonly Uint8Array[]): ApplyOutcome[][] {
  return replicas.map((sm) => entries.map((data) => sm.applyEncoded(next(sm), data)));
}

describe('cluster limits are replicated state', () => {
  it('makes replicas built with different flags apply the same entries the same way', () => {
    // Proves the rolling-restart case: the leader's raised flag does not make it store a value the
    // followers refuse. Once the log set the limits, every replica applies by them.
    const leader = replica(raised);
    const follower = replica();
    const entries = [setEntry(clusterLimitsOf(makeLimits(), 60_000)), putEntry('big', 1.5 * mib)];
    const [onLeader, onFollower] = applyAll([leader, follower], entries);
    expect(onLeader?.[1]?.result).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT', message: expect.stringMatching(/valueBytesMax \(1048576\)/) });
    expect(onFollower?.[1]?.result).toEqual(onLeader?.[1]?.result);
    expect(leader.stateHash()).toBe(follower.stateHash());
    // Raising the limit through the log raises it everywhere.
    const [raisedOnLeader, raisedOnFollower] = applyAll([leader, follower], [setEntry(clusterLimitsOf(makeLimits(raised), 60_000)), putEntry('big', 1.5 * mib)]);
    expect(raisedOnLeader?.[1]?.result.type).toBe('put');
    expect(raisedOnFollower?.[1]?.result).toEqual(raisedOnLeader?.[1]?.result);
    expect(follower.get(b('big'))?.value.length).toBe(1.5 * mib);
    expect(leader.stateHash()).toBe(follower.stateHash());
  });

  it('applies every limit it carries: key and value sizes, txn ops, quota, sessions and their TTL', () => {
    // Proves each cluster limit reaches the code that enforces it, by the log's value.
    const sm = replica({}, 60_000);
    const tight: ClusterLimits = { keyBytesMax: 4, valueBytesMax: 8, requestBytesMax: 16, txnOpsMax: 1, rangeKeysMax: 1, dataBytesMax: 15, sessionsMax: 1, sessionTtlMs: 1000, leasesMax: 1, leaseKeysMax: 1, leaseTtlSMin: 1, leaseTtlSMax: 1 };
    expect(sm.applyEncoded(next(sm), setEntry(tight)).result).toMatchObject({ type: 'clusterLimits', changed: true, setIndex: 1, limits: tight });
    expect(sm.limits).toEqual(tight);
    const apply = (command: Partial<KvCommand> & Pick<KvCommand, 'op'>): ApplyOutcome =>
      sm.apply(next(sm), { clientId: '', seq: 0, ackSeq: 0, timeMs: 1, ...command });
    expect(apply({ op: { type: 'put', key: b('toolong'), value: b('') } }).result).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/keyBytesMax \(4\)/) });
    expect(apply({ op: { type: 'put', key: b('k'), value: b('123456789') } }).result).toMatchObject({ message: expect.stringMatching(/valueBytesMax \(8\)/) });
    const twoOps = { type: 'txn', compares: [], success: [{ type: 'put', key: b('a'), value: b('') }, { type: 'put', key: b('b'), value: b('') }], failure: [] } as const;
    expect(apply({ op: twoOps }).result).toMatchObject({ message: expect.stringMatching(/txnOpsMax \(1\)/) });
    expect(apply({ op: { type: 'put', key: b('k1'), value: b('12345678') } }).result.type).toBe('put');
    expect(apply({ op: { type: 'put', key: b('k2'), value: b('12345678') } }).result).toMatchObject({ code: 'OVERLOADED', message: expect.stringMatching(/dataBytesMax \(15\)/) });
    apply({ op: { type: 'put', key: b('k3'), value: b('') } });
    expect(sm.range({ type: 'range', key: b('k'), prefix: true })).toMatchObject({ count: 2, more: true });
    apply({ clientId: 'c1', seq: 1, op: { type: 'put', key: b('s'), value: b('') } });
    const evicting = apply({ clientId: 'c2', seq: 1, op: { type: 'put', key: b('s'), value: b('') } });
    expect(evicting.mutations).toContainEqual({ type: 'deleteSession', clientId: 'c1' });
    const expiring = apply({ clientId: 'c3', seq: 1, timeMs: 5000, op: { type: 'put', key: b('s'), value: b('') } });
    expect(expiring.mutations).toContainEqual({ type: 'deleteSession', clientId: 'c2' });
  });

  it('carries the limits in its image, so a restarted or snapshotted replica keeps them', () => {
    // Proves the limits are part of the stored state (the reserved session-keyspace record).
    const sm = replica();
    const limits = clusterLimitsOf(makeLimits({ valueBytesMax: 7777 }), 12_345);
    sm.applyEncoded(next(sm), setEntry(limits));
    const image = sm.image();
    expect([...image.sessions].map((s) => s.clientId)).toEqual([clusterLimitsRecordId]);
    expect([sm.sessionCount(), sm.sessionRecordCount()]).toEqual([0, 1]);
    const restored = new KvStateMachine({ limits: makeLimits(raised), sessionTtlMs: 1, image });
    expect(restored.clusterSettings).toEqual({ limits, setIndex: 1 });
    expect(restored.stateHash()).toBe(sm.stateHash());
    expect(restored.stateHash()).not.toBe(replica().stateHash());
  });

  it('lets a bootstrap entry set the limits only once', () => {
    // Proves the conditional entry each new leader proposes from its flags is harmless when repeated.
    const sm = replica();
    const first = sm.bootstrapLimitsEntry(clusterLimitsOf(makeLimits(raised), 60_000));
    expect(first).not.toBeNull();
    expect(sm.applyEncoded(next(sm), first as Uint8Array).result).toMatchObject({ changed: true, setIndex: 1 });
    expect(sm.bootstrapLimitsEntry(defaultClusterLimits)).toBeNull();
    // Another leader's bootstrap entry, proposed before it applied the first one, changes nothing.
    const late = sm.applyEncoded(next(sm), setEntry(defaultClusterLimits, true));
    expect(late).toMatchObject({ result: { changed: false, setIndex: 1 }, mutations: [] });
    expect(sm.limits.valueBytesMax).toBe(2 * mib);
  });

  it('refuses limits out of range the same way on every replica, and the leader cannot even encode them', () => {
    // Proves a bad setClusterLimits changes nothing, and names the limit.
    const bad = { ...defaultClusterLimits, requestBytesMax: 10 };
    expect(() => encodeClusterCommand({ type: 'setClusterLimits', limits: bad, ifUnset: false })).toThrow(/requestBytesMax: \(10\) must be at least keyBytesMax/);
    expect(() => encodeClusterCommand({ type: 'setClusterLimits', limits: { ...defaultClusterLimits, valueBytesMax: clusterLimitsCeiling.valueBytesMax + 1 }, ifUnset: false })).toThrow(InvalidArgumentError);
    const sm = replica();
    const outcome = sm.applyCluster(next(sm), { type: 'setClusterLimits', limits: bad, ifUnset: false });
    expect(outcome).toMatchObject({ result: { type: 'error', code: 'INVALID_ARGUMENT' }, mutations: [] });
    expect(sm.clusterSettings.setIndex).toBe(0);
  });

  it('encodes cluster commands apart from KV commands', () => {
    // Proves the entry's format byte tells the two apart and both round-trip.
    const command = { type: 'setClusterLimits', limits: defaultClusterLimits, ifUnset: true } as const;
    expect(decodeClusterCommand(encodeClusterCommand(command))).toEqual(command);
    expect(decodeLogCommand(encodeClusterCommand(command))).toEqual({ type: 'cluster', command });
    expect(decodeLogCommand(putEntry('k', 1)).type).toBe('kv');
    expect(() => decodeLogCommand(new Uint8Array([2, 9]))).toThrow(/unknown cluster command kind 9/);
  });

  it('admits writes by the cluster limits and reserves client ids starting with U+0000', () => {
    // Proves the leader refuses before proposing what apply would refuse, and no client can take the record's id.
    const sm = replica(raised);
    const big: KvCommand = { clientId: '', seq: 0, ackSeq: 0, timeMs: 1, op: { type: 'put', key: b('k'), value: new Uint8Array(1.5 * mib) } };
    sm.applyEncoded(next(sm), setEntry(defaultClusterLimits));
    expect(() => sm.admit(big)).toThrow(/valueBytesMax/);
    expect(() => validateCommand({ ...big, op: { type: 'put', key: b('k'), value: b('') }, clientId: clusterLimitsRecordId, seq: 1 }, makeLimits())).toThrow(/reserved/);
  });
});
