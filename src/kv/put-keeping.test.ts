// Proves etcd's Put{ignore_value} and Put{ignore_lease} in the pure state machine: the key keeps
// its value or lease where the put applies (inside a txn, after the operations before it), a
// missing key refuses the whole command on every replica alike, and the codec carries both flags.
import { describe, expect, it } from 'vitest';
import { logIndex, makeLimits } from '../util/index.js';
import type { Limits } from '../util/index.js';
import { decodeCommand, encodeCommand, KvStateMachine, validateCommand } from './index.js';
import type { ApplyOutcome, ClusterLimits, KvCommand, PutOp, WriteOp } from './index.js';
import { defaultClusterLimits, defaultLeaseLimits } from './cluster-limits.js';

const utf8 = new TextEncoder();
const b = (s: string): Uint8Array => utf8.encode(s);
const text = (u: Uint8Array | undefined): string | undefined => (u === undefined ? undefined : new TextDecoder().decode(u));

function machine(): KvStateMachine {
  const base = { ...defaultClusterLimits, ...makeLimits({} as Partial<Limits>), sessionTtlMs: 60_000 };
  return new KvStateMachine({ limits: { ...base, ...defaultLeaseLimits } as ClusterLimits, sessionTtlMs: 60_000 });
}
function run(sm: KvStateMachine, op: WriteOp): ApplyOutcome {
  return sm.apply(logIndex(sm.appliedIndex + 1), { clientId: '', seq: 0, ackSeq: 0, timeMs: 0, op });
}
const put = (key: string, value: string, extra: Partial<PutOp> = {}): PutOp => ({ type: 'put', key: b(key), value: b(value), ...extra });
const grant = (sm: KvStateMachine): number => {
  const r = run(sm, { type: 'leaseGrant', id: 0, ttlS: 60 }).result;
  if (r.type !== 'leaseGrant') throw new Error(JSON.stringify(r));
  return r.id;
};

describe('a put keeping the value (ignoreValue)', () => {
  it('writes the current value back at a new revision, with the lease the put names', () => {
    const sm = machine();
    run(sm, put('k', 'v1'));
    const id = grant(sm);
    const out = run(sm, put('k', '', { ignoreValue: true, lease: id, prevKv: true }));
    expect(out.result).toMatchObject({ type: 'put', revision: 2 });
    const kv = sm.get(b('k'));
    expect(text(kv?.value)).toBe('v1');
    expect(kv).toMatchObject({ version: 2, lease: id });
    expect(sm.lease(id)?.keys.map(text)).toEqual(['k']);
    // Watchers see a put of the same value, as etcd sends.
    expect(out.mutations).toMatchObject([{ type: 'putKey', kv: { version: 2 } }]);
  });

  it('refuses a missing key with NOT_FOUND, and inside a txn rolls back everything before it', () => {
    const sm = machine();
    const alone = run(sm, put('gone', '', { ignoreValue: true }));
    expect(alone.result).toMatchObject({ type: 'error', code: 'NOT_FOUND', message: expect.stringMatching(/^key "gone" not found/) });
    const txn = run(sm, { type: 'txn', compares: [], success: [put('x', '1'), put('gone', '', { ignoreValue: true })], failure: [] });
    expect(txn.result).toMatchObject({ type: 'error', code: 'NOT_FOUND' });
    expect(txn.mutations).toEqual([]);
    expect(sm.get(b('x'))).toBeNull();
    expect(sm.revision).toBe(0);
  });

  it('inside a txn keeps the value an earlier operation of the same txn wrote', () => {
    const sm = machine();
    const out = run(sm, { type: 'txn', compares: [], success: [put('k', 'fresh'), { type: 'txn', compares: [], success: [put('k', '', { ignoreValue: true })], failure: [] }], failure: [] });
    expect(out.result.type).toBe('txn');
    expect(text(sm.get(b('k'))?.value)).toBe('fresh');
  });
});

describe('a put keeping the lease (ignoreLease)', () => {
  it('keeps the key on its lease, or on none, whatever the value', () => {
    const sm = machine();
    const id = grant(sm);
    run(sm, put('leased', 'a', { lease: id }));
    run(sm, put('plain', 'a'));
    expect(run(sm, { type: 'txn', compares: [], success: [put('leased', 'b', { ignoreLease: true }), put('plain', 'b', { ignoreLease: true })], failure: [] }).result.type).toBe('txn');
    expect(sm.get(b('leased'))).toMatchObject({ lease: id, version: 2 });
    expect(text(sm.get(b('leased'))?.value)).toBe('b');
    expect(sm.get(b('plain'))?.lease).toBeUndefined();
    expect(sm.lease(id)?.keys.map(text)).toEqual(['leased']);
    // Both at once: a new revision, nothing else changes.
    run(sm, put('leased', '', { ignoreValue: true, ignoreLease: true }));
    expect(sm.get(b('leased'))).toMatchObject({ lease: id, version: 3 });
    expect(text(sm.get(b('leased'))?.value)).toBe('b');
  });

  it('refuses a missing key with NOT_FOUND', () => {
    const sm = machine();
    expect(run(sm, put('gone', 'v', { ignoreLease: true })).result).toMatchObject({ type: 'error', code: 'NOT_FOUND', message: expect.stringContaining('ignoreLease') });
    expect(sm.get(b('gone'))).toBeNull();
  });
});

describe('validation and the codec', () => {
  const limits = { ...defaultClusterLimits, ...makeLimits({} as Partial<Limits>) } as ClusterLimits;
  const command = (op: WriteOp): KvCommand => ({ clientId: 'c', seq: 1, ackSeq: 0, timeMs: 0, op });

  it('refuses a value with ignoreValue and a lease with ignoreLease, before anything is proposed', () => {
    expect(() => validateCommand(command(put('k', 'v', { ignoreValue: true })), limits)).toThrow(/value.*must be empty with ignoreValue/);
    expect(() => validateCommand(command(put('k', '', { ignoreLease: true, lease: 5 })), limits)).toThrow(/lease.*must be absent with ignoreLease/);
    expect(() => validateCommand(command(put('k', '', { ignoreValue: true, ignoreLease: true })), limits)).not.toThrow();
  });

  it('round-trips both flags, and a put without them encodes as before', () => {
    for (const extra of [{ ignoreValue: true }, { ignoreLease: true }, { ignoreValue: true, ignoreLease: true, prevKv: true }] as const) {
      const op = put('k', '', extra);
      expect(decodeCommand(encodeCommand(command(op))).op).toEqual(op);
    }
    // Flags byte of a plain put: 0 (the format older replicas wrote and read).
    const plain = encodeCommand(command(put('k', 'v')));
    const flagged = encodeCommand(command(put('k', '', { ignoreValue: true })));
    expect(plain.length).toBe(flagged.length + 1); // same layout, one value byte fewer
  });
});
