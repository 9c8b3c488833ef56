// Proves the txn rules added for etcd's Txn: compares over a range (every key must hold; an empty range is one missing key; bounded by compareRangeKeysMax), LEASE compares, and nested txns (every compare judged before any op, results nested, one revision, all or nothing).
import { describe, expect, it } from 'vitest';
import { logIndex, makeLimits } from '../util/index.js';
import { compareRangeKeysMax, KvStateMachine } from './index.js';
import type { ApplyOutcome, Compare, KvCommand, TxnBranchOp, TxnOp, TxnResult, WriteResult } from './index.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const none = new Uint8Array(0);

function machine(): KvStateMachine {
  return new KvStateMachine({ limits: makeLimits({ txnOpsMax: 10_000 }), sessionTtlMs: 60_000 });
}
function run(sm: KvStateMachine, op: KvCommand['op'], session: Partial<KvCommand> = {}): ApplyOutcome {
  return sm.apply(logIndex(sm.appliedIndex + 1), { clientId: '', seq: 0, ackSeq: 0, timeMs: 0, op, ...session });
}
const txn = (compares: Compare[], success: TxnBranchOp[], failure: TxnBranchOp[] = []): TxnOp => ({ type: 'txn', compares, success, failure });
const put = (key: string, value = 'v', lease?: number): TxnBranchOp => ({ type: 'put', key: b(key), value: b(value), ...(lease !== undefined ? { lease } : {}) });
function txnResult(result: WriteResult): TxnResult {
  expect(result.type, JSON.stringify(result)).toBe('txn');
  return result as TxnResult;
}
const holds = (sm: KvStateMachine, compare: Compare): boolean => txnResult(run(sm, txn([compare], [])).result).succeeded;

/** Keys a, b, c with version 1, and b rewritten once (version 2); d outside the range [a, d). */
function withRange(): KvStateMachine {
  const sm = machine();
  for (const k of ['a', 'b', 'c', 'd']) run(sm, put(k) as KvCommand['op']);
  run(sm, put('b', 'w') as KvCommand['op']);
  return sm;
}

describe('compares over a range', () => {
  it('hold only if they hold for every key in [key, rangeEnd)', () => {
    const sm = withRange();
    expect(holds(sm, { key: b('a'), rangeEnd: b('d'), target: 'version', op: '>', value: 0 })).toBe(true);
    expect(holds(sm, { key: b('a'), rangeEnd: b('d'), target: 'version', op: '=', value: 1 })).toBe(false); // b has version 2
    expect(holds(sm, { key: b('a'), rangeEnd: b('b'), target: 'version', op: '=', value: 1 })).toBe(true); // b is the exclusive end
    expect(holds(sm, { key: b('a'), rangeEnd: b('d'), target: 'value', op: '=', value: b('v') })).toBe(false);
    expect(holds(sm, { key: b('c'), rangeEnd: b('e'), target: 'value', op: '=', value: b('v') })).toBe(true);
    expect(holds(sm, { key: b('a'), rangeEnd: b('d'), target: 'modRevision', op: '<', value: 5 })).toBe(false); // b was written at 5
    expect(holds(sm, { key: b('a'), rangeEnd: b('d'), target: 'createRevision', op: '<', value: 4 })).toBe(true);
  });

  it('cover every key >= key with an empty rangeEnd', () => {
    const sm = withRange();
    expect(holds(sm, { key: b('c'), rangeEnd: none, target: 'version', op: '=', value: 1 })).toBe(true); // c, d
    expect(holds(sm, { key: b('b'), rangeEnd: none, target: 'version', op: '=', value: 1 })).toBe(false); // b, c, d
  });

  it('judge a range holding no key as one missing key', () => {
    // etcd's applyCompare compares an empty range as a zero KeyValue; raftkv's missing key is the same, and its value rule (only != holds) is kept.
    const sm = withRange();
    const empty = { key: b('x'), rangeEnd: b('z') };
    expect(holds(sm, { ...empty, target: 'version', op: '=', value: 0 })).toBe(true);
    expect(holds(sm, { ...empty, target: 'createRevision', op: '=', value: 0 })).toBe(true);
    expect(holds(sm, { ...empty, target: 'lease', op: '=', value: 0 })).toBe(true);
    expect(holds(sm, { ...empty, target: 'version', op: '>', value: 0 })).toBe(false);
    expect(holds(sm, { ...empty, target: 'value', op: '=', value: none })).toBe(false);
    expect(holds(sm, { ...empty, target: 'value', op: '!=', value: b('v') })).toBe(true);
    // A range end at or below the key selects nothing, as in etcd.
    expect(holds(sm, { key: b('c'), rangeEnd: b('a'), target: 'version', op: '=', value: 0 })).toBe(true);
  });

  it(`refuse the command when the range holds more than compareRangeKeysMax (${compareRangeKeysMax}) keys, changing nothing`, () => {
    const sm = machine();
    for (let i = 0; i <= compareRangeKeysMax; i++) run(sm, { type: 'put', key: b(`k${String(i).padStart(5, '0')}`), value: b('v') });
    const revisionBefore = sm.revision;
    const wide: Compare = { key: b('k'), rangeEnd: b('l'), target: 'version', op: '=', value: 1 };
    const out = run(sm, txn([wide], [put('written')], [put('written')]));
    expect(out.result).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT', message: expect.stringMatching(/compareRangeKeysMax \(1000\)/) });
    expect(out.mutations).toEqual([]);
    expect(sm.revision).toBe(revisionBefore);
    expect(sm.get(b('written'))).toBeNull();
    // Whatever the first keys say: a failing first key does not make a too-large range judgeable.
    const failingFirst: Compare = { ...wide, value: 7 };
    expect(run(sm, txn([failingFirst], [])).result).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
    // One key fewer is judged.
    run(sm, { type: 'delete', key: b('k00000') });
    expect(holds(sm, wide)).toBe(true);
  });
});

describe('LEASE compares', () => {
  it("compare the key's lease id: 0 for a key without a lease and for a missing key", () => {
    const sm = machine();
    run(sm, { type: 'leaseGrant', id: 5, ttlS: 60 });
    run(sm, put('leased', 'v', 5) as KvCommand['op']);
    run(sm, put('plain') as KvCommand['op']);
    expect(holds(sm, { key: b('leased'), target: 'lease', op: '=', value: 5 })).toBe(true);
    expect(holds(sm, { key: b('leased'), target: 'lease', op: '>', value: 4 })).toBe(true);
    expect(holds(sm, { key: b('leased'), target: 'lease', op: '=', value: 0 })).toBe(false);
    expect(holds(sm, { key: b('plain'), target: 'lease', op: '=', value: 0 })).toBe(true);
    expect(holds(sm, { key: b('missing'), target: 'lease', op: '=', value: 0 })).toBe(true);
    expect(holds(sm, { key: b('a'), rangeEnd: none, target: 'lease', op: '=', value: 5 })).toBe(false); // leased, plain
  });
});

describe('nested txns', () => {
  it('judge nested compares on the state before any op ran, and nest their results', () => {
    // etcd's compareToPath: the put of k before the nested txn does not change what the nested compare sees.
    const sm = machine();
    run(sm, put('k', 'old') as KvCommand['op']);
    const nested = txn([{ key: b('k'), target: 'value', op: '=', value: b('old') }], [put('saw-old')], [put('saw-new')]);
    const out = run(sm, txn([], [put('k', 'new'), nested, { type: 'range', key: b('k') }]));
    const result = txnResult(out.result);
    expect(result.succeeded).toBe(true);
    expect(result.results.map((r) => r.type)).toEqual(['put', 'txn', 'range']);
    const inner = result.results[1] as TxnResult;
    expect(inner.succeeded).toBe(true);
    expect(inner.results).toHaveLength(1);
    expect(sm.get(b('saw-old'))).not.toBeNull();
    expect(sm.get(b('saw-new'))).toBeNull();
    // One revision for the whole tree, on every result at every level.
    expect(result.revision).toBe(2);
    expect(inner.revision).toBe(2);
    expect(inner.results[0]?.revision).toBe(2);
    expect(sm.get(b('saw-old'))?.modRevision).toBe(2);
  });

  it('run only the chosen branch of each level; a nested txn in the branch not taken is not judged', () => {
    const sm = machine();
    const deepFailure = txn([], [txn([{ key: b('absent'), target: 'version', op: '>', value: 0 }], [put('x1')], [put('x2')])]);
    const out = run(sm, txn([{ key: b('absent'), target: 'version', op: '=', value: 0 }], [deepFailure], [put('never')]));
    const result = txnResult(out.result);
    const level1 = result.results[0] as TxnResult;
    const level2 = level1.results[0] as TxnResult;
    expect([result.succeeded, level1.succeeded, level2.succeeded]).toEqual([true, true, false]);
    expect(sm.get(b('x2'))).not.toBeNull();
    expect(sm.get(b('x1'))).toBeNull();
    expect(sm.get(b('never'))).toBeNull();
    // A too-large range compare in the branch NOT taken refuses nothing (etcd judges only the chosen path).
    for (let i = 0; i <= compareRangeKeysMax; i++) run(sm, { type: 'put', key: b(`r${String(i).padStart(5, '0')}`), value: b('v') });
    const wide: Compare = { key: b('r'), rangeEnd: b('s'), target: 'version', op: '=', value: 1 };
    expect(txnResult(run(sm, txn([], [put('ok')], [txn([wide], [])])).result).succeeded).toBe(true);
    expect(run(sm, txn([], [txn([wide], [])])).result).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT' });
  });

  it('are all or nothing: a refusal at any depth rolls back the whole tree', () => {
    const sm = machine();
    const out = run(sm, txn([], [put('a'), txn([], [put('b'), put('c', 'v', 99)])]));
    expect(out.result).toMatchObject({ type: 'error', code: 'NOT_FOUND', message: 'lease 99 not found' });
    expect(sm.get(b('a'))).toBeNull();
    expect(sm.get(b('b'))).toBeNull();
    expect(sm.revision).toBe(0);
  });

  it('save their nested answer for a retry (the session codec carries nested results)', () => {
    const sm = machine();
    const op = txn([], [txn([{ key: b('k'), target: 'createRevision', op: '=', value: 0 }], [put('k')])]);
    const first = run(sm, op, { clientId: 'c', seq: 1, ackSeq: 0 });
    const retry = run(sm, op, { clientId: 'c', seq: 1, ackSeq: 0 });
    expect(retry.duplicate).toBe(true);
    expect(retry.result).toEqual(first.result);
    expect((txnResult(retry.result).results[0] as TxnResult).succeeded).toBe(true);
  });
});
