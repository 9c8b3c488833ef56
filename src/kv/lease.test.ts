// Proves leases in the pure state machine: grant (ids, TTL range), attaching keys by Put{lease}, detaching by put and delete, revoke deleting every attached key at one revision, the limits, images, hashes and the codecs.
import { describe, expect, it } from 'vitest';
import { logIndex, makeLimits, revision } from '../util/index.js';
import type { Limits } from '../util/index.js';
import { decodeClusterCommand, decodeCommand, decodeKeyValue, decodeWriteResult, encodeClusterCommand, encodeCommand, encodeKeyValue, encodeWriteResult, KvStateMachine } from './index.js';
import type { ApplyOutcome, ClusterLimits, KeyValue, KvCommand, KvStateImage, PutOp, WriteOp, WriteResult } from './index.js';
import { ByteWriter } from './byte-writer.js';
import { clusterLimitNames, decodeClusterLimitsRecord, defaultClusterLimits, defaultLeaseLimits, preLeaseLimitCount } from './cluster-limits.js';
import { clusterCommandFormat } from './cluster-command-codec.js';

const utf8 = new TextEncoder();
const b = (s: string): Uint8Array => utf8.encode(s);

function machine(limits: Partial<ClusterLimits> = {}, image?: KvStateImage): KvStateMachine {
  const base = { ...defaultClusterLimits, ...makeLimits({} as Partial<Limits>), sessionTtlMs: 60_000 };
  return new KvStateMachine({ limits: { ...base, ...defaultLeaseLimits, ...limits } as ClusterLimits, sessionTtlMs: 60_000, ...(image ? { image } : {}) });
}
function run(sm: KvStateMachine, op: WriteOp, fields: Partial<KvCommand> = {}): ApplyOutcome {
  return sm.apply(logIndex(sm.appliedIndex + 1), { clientId: '', seq: 0, ackSeq: 0, timeMs: 0, op, ...fields });
}
const put = (key: string, value: string, extra: Partial<PutOp> = {}): PutOp => ({ type: 'put', key: b(key), value: b(value), ...extra });
function as<T extends WriteResult['type']>(result: WriteResult, type: T): Extract<WriteResult, { type: T }> {
  expect(result.type, JSON.stringify(result)).toBe(type);
  return result as Extract<WriteResult, { type: T }>;
}
const grant = (sm: KvStateMachine, ttlS: number, id = 0): number => as(run(sm, { type: 'leaseGrant', id, ttlS }).result, 'leaseGrant').id;
const keysOfLease = (sm: KvStateMachine, id: number): string[] => (sm.lease(id)?.keys ?? []).map((k) => new TextDecoder().decode(k));

describe('lease grant', () => {
  it('gives an id from the entry index when none is asked, the asked one otherwise, and raises a short TTL to the minimum', () => {
    // Proves ids are deterministic and unique, and etcd's "TTL below the minimum is raised" rule.
    const sm = machine({ leaseTtlSMin: 5 });
    const first = as(run(sm, { type: 'leaseGrant', id: 0, ttlS: 1 }).result, 'leaseGrant');
    expect(first).toMatchObject({ id: 1, ttlS: 5, revision: 0 });
    expect(grant(sm, 60, 2)).toBe(2);
    // Index 3 is free: the next grant gets it; a grant at index 4 with 4 taken would skip it.
    expect(grant(sm, 60, 4)).toBe(4);
    expect(grant(sm, 60)).toBe(5);
    expect(sm.leases().map((l) => l.id)).toEqual([1, 2, 4, 5]);
    expect(sm.revision).toBe(0); // a grant changes no key
  });

  it('refuses an existing id, a TTL over the maximum and more than leasesMax leases, changing nothing', () => {
    // Proves each refusal has its own code and leaves the lease table alone.
    const sm = machine({ leaseTtlSMax: 100, leasesMax: 2 });
    grant(sm, 10, 7);
    expect(run(sm, { type: 'leaseGrant', id: 7, ttlS: 10 }).result).toMatchObject({ type: 'error', code: 'ALREADY_EXISTS' });
    expect(run(sm, { type: 'leaseGrant', id: 0, ttlS: 101 }).result).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT', message: expect.stringContaining('leaseTtlSMax') });
    grant(sm, 10);
    const over = run(sm, { type: 'leaseGrant', id: 0, ttlS: 10 });
    expect(over.result).toMatchObject({ type: 'error', code: 'OVERLOADED', message: expect.stringContaining('leasesMax') });
    expect(over.mutations).toEqual([]);
    expect(sm.leases()).toHaveLength(2);
  });

  it('refuses ids and TTLs that are not positive integers before anything is applied', () => {
    // Proves validation of hostile lease input.
    const sm = machine();
    expect(run(sm, { type: 'leaseGrant', id: -1, ttlS: 10 }).result).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
    expect(run(sm, { type: 'leaseGrant', id: 0, ttlS: 0 }).result).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
    expect(run(sm, { type: 'leaseRevoke', id: 2 ** 53 }).result).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
    expect(run(sm, put('k', 'v', { lease: 1.5 })).result).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
    expect(sm.leases()).toEqual([]);
  });
});

describe('attaching keys', () => {
  it('attaches on Put{lease}, moves on a put to another lease, detaches on a put without one and on delete', () => {
    // Proves the attachment follows the last write of the key.
    const sm = machine();
    const a = grant(sm, 60);
    const c = grant(sm, 60);
    run(sm, put('k1', 'v', { lease: a }));
    run(sm, put('k2', 'v', { lease: a }));
    expect(keysOfLease(sm, a)).toEqual(['k1', 'k2']);
    expect(sm.get(b('k1'))?.lease).toBe(a);
    run(sm, put('k1', 'v2', { lease: c }));
    expect(keysOfLease(sm, a)).toEqual(['k2']);
    expect(keysOfLease(sm, c)).toEqual(['k1']);
    run(sm, put('k1', 'v3'));
    expect(sm.get(b('k1'))?.lease).toBeUndefined();
    expect(keysOfLease(sm, c)).toEqual([]);
    run(sm, { type: 'delete', key: b('k2') });
    expect(keysOfLease(sm, a)).toEqual([]);
  });

  it('refuses a put on a missing lease, whole (inside a txn too), with the same answer on every replica', () => {
    // Proves NOT_FOUND rolls back the txn's earlier puts and changes no revision.
    const sm = machine();
    const refused = run(sm, { type: 'txn', compares: [], success: [put('x', '1'), put('y', '2', { lease: 99 })], failure: [] });
    expect(refused.result).toMatchObject({ type: 'error', code: 'NOT_FOUND', message: 'lease 99 not found' });
    expect(refused.mutations).toEqual([]);
    expect(sm.get(b('x'))).toBeNull();
    expect(sm.revision).toBe(0);
  });

  it('refuses a put that would attach more than leaseKeysMax keys, counting the txn\'s own puts', () => {
    // Proves the per-lease key limit.
    const sm = machine({ leaseKeysMax: 2 });
    const id = grant(sm, 60);
    run(sm, put('a', '1', { lease: id }));
    expect(run(sm, { type: 'txn', compares: [], success: [put('b', '1', { lease: id }), put('c', '1', { lease: id })], failure: [] }).result).toMatchObject({
      type: 'error',
      code: 'OVERLOADED',
      message: expect.stringContaining('leaseKeysMax'),
    });
    // Rewriting a key already on the lease does not count twice.
    expect(run(sm, put('a', '2', { lease: id })).result.type).toBe('put');
    expect(run(sm, put('b', '1', { lease: id })).result.type).toBe('put');
    expect(keysOfLease(sm, id)).toEqual(['a', 'b']);
  });
});

describe('lease revoke', () => {
  it('deletes every attached key at ONE revision, with delete mutations for watchers, and removes the lease', () => {
    // Proves the revoke is one write and reaches watchers like any delete.
    const sm = machine();
    const id = grant(sm, 60);
    run(sm, put('a', '1', { lease: id }));
    run(sm, put('b', '1', { lease: id }));
    run(sm, put('c', '1'));
    const revoked = run(sm, { type: 'leaseRevoke', id });
    expect(revoked.result).toEqual({ type: 'leaseRevoke', revision: 4, id, deleted: 2 });
    expect(revoked.mutations.filter((m) => m.type === 'deleteKey').map((m) => m.type === 'deleteKey' && new TextDecoder().decode(m.key))).toEqual(['a', 'b']);
    expect(revoked.mutations).toContainEqual({ type: 'deleteSession', clientId: expect.stringContaining('lease/') });
    expect(sm.get(b('a'))).toBeNull();
    expect(sm.get(b('c'))).not.toBeNull();
    expect(sm.lease(id)).toBeNull();
    expect(run(sm, { type: 'leaseRevoke', id }).result).toMatchObject({ type: 'error', code: 'NOT_FOUND' });
    expect(sm.revision).toBe(4);
  });

  it('raises no revision when the lease has no key', () => {
    // Proves an empty revoke is not a key write (etcd's behaviour).
    const sm = machine();
    const id = grant(sm, 60);
    expect(as(run(sm, { type: 'leaseRevoke', id }).result, 'leaseRevoke')).toMatchObject({ revision: 0, deleted: 0 });
  });
});

describe('leases in images and hashes', () => {
  it('survive an image round trip through the stored record codecs, keys reattached', () => {
    // Proves leases and attachments travel in LevelDB, snapshots and backups (all use these records).
    const sm = machine();
    const id = grant(sm, 30);
    const other = grant(sm, 40);
    run(sm, put('a', '1', { lease: id }));
    run(sm, put('b', '1'));
    const image = sm.image();
    const roundTrip: KvStateImage = {
      ...image,
      kvs: [...image.kvs].map((kv) => decodeKeyValue(encodeKeyValue(kv))),
      sessions: [...image.sessions],
    };
    const copy = machine({}, roundTrip);
    expect(copy.leases()).toEqual([
      { id, ttlS: 30, keyCount: 1 },
      { id: other, ttlS: 40, keyCount: 0 },
    ]);
    expect(copy.stateHash()).toBe(sm.stateHash());
    expect(copy.sessionRecordCount()).toBe(sm.sessionRecordCount());
    // The copy goes on like the original.
    expect(run(copy, { type: 'leaseRevoke', id }).result).toMatchObject({ deleted: 1 });
  });

  it('hash differently when only an attachment differs', () => {
    // Proves the state hash covers attachments (replicas that disagree are caught).
    const one = machine();
    const two = machine();
    for (const sm of [one, two]) grant(sm, 30);
    run(one, put('a', '1', { lease: 1 }));
    run(two, put('a', '1'));
    expect(one.stateHash()).not.toBe(two.stateHash());
  });

  it('keep a key without a lease in the first record format, byte for byte', () => {
    // Proves existing stored keys and backups are unchanged by the lease field.
    const kv: KeyValue = { key: b('a'), value: b('v'), createRevision: revision(1), modRevision: revision(2), version: 2 };
    expect(encodeKeyValue(kv)[0]).toBe(1);
    expect(encodeKeyValue({ ...kv, lease: 7 })[0]).toBe(2);
    expect(decodeKeyValue(encodeKeyValue({ ...kv, lease: 7 })).lease).toBe(7);
    expect('lease' in decodeKeyValue(encodeKeyValue(kv))).toBe(false);
  });
});

describe('lease codecs and limits', () => {
  it('round-trips lease commands and results', () => {
    // Proves the log and session encodings of the lease operations.
    for (const op of [{ type: 'leaseGrant', id: 0, ttlS: 5 }, { type: 'leaseRevoke', id: 2 ** 40 }, put('k', 'v', { lease: 3, prevKv: true })] as WriteOp[]) {
      const command: KvCommand = { clientId: 'c', seq: 1, ackSeq: 0, timeMs: 9, op };
      expect(decodeCommand(encodeCommand(command))).toEqual(command);
    }
    for (const result of [
      { type: 'leaseGrant', revision: 3, id: 8, ttlS: 60 },
      { type: 'leaseRevoke', revision: 4, id: 8, deleted: 2 },
      { type: 'error', code: 'NOT_FOUND', message: 'lease 8 not found' },
    ] as WriteResult[]) {
      expect(decodeWriteResult(encodeWriteResult(result))).toEqual(result);
    }
  });

  it('reads cluster limits written before the lease limits existed with the lease defaults', () => {
    // Proves old setClusterLimits entries and limit records still decode after the upgrade.
    const w = new ByteWriter(64);
    w.u8(clusterCommandFormat);
    w.u8(1);
    w.u8(0);
    for (const name of clusterLimitNames.slice(0, preLeaseLimitCount)) w.varint(defaultClusterLimits[name], name);
    const decoded = decodeClusterCommand(w.finish());
    expect(decoded).toMatchObject({ type: 'setClusterLimits', limits: { ...defaultClusterLimits, ...defaultLeaseLimits } });
    const record = new ByteWriter(64);
    record.u8(1);
    record.varint(5, 'setIndex');
    for (const name of clusterLimitNames.slice(0, preLeaseLimitCount)) record.varint(defaultClusterLimits[name], name);
    const settings = decodeClusterLimitsRecord({ clientId: '\u0000raftkv/cluster-limits', ackSeq: 0, lastSeenMs: 0, responses: [{ seq: 1, result: record.finish() }] });
    expect(settings.limits.leasesMax).toBe(defaultLeaseLimits.leasesMax);
    // New entries carry them.
    const tight = { ...defaultClusterLimits, leasesMax: 3 };
    expect(decodeClusterCommand(encodeClusterCommand({ type: 'setClusterLimits', limits: tight, ifUnset: false }))).toEqual({ type: 'setClusterLimits', limits: tight, ifUnset: false });
  });

  it('refuses limits with leaseTtlSMin above leaseTtlSMax', () => {
    // Proves the TTL range check of the cluster limits.
    const sm = machine();
    const out = sm.applyCluster(logIndex(1), { type: 'setClusterLimits', limits: { ...sm.limits, leaseTtlSMin: 10, leaseTtlSMax: 5 }, ifUnset: false });
    expect(out.result).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT', message: expect.stringContaining('leaseTtlSMin') });
  });
});
