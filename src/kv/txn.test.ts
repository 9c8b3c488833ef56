// Proves transactions: every compare target and operator, atomic all-or-nothing branches at one revision, and reads that see the txn's earlier writes.
import { describe, expect, it } from 'vitest';
import { logIndex, makeLimits } from '../util/index.js';
import type { Limits } from '../util/index.js';
import { KvStateMachine } from './index.js';
import type { ApplyOutcome, Compare, KvCommand, TxnOp, TxnResult, WriteResult } from './index.js';

const utf8 = new TextEncoder();
const text = new TextDecoder();
const b = (s: string): Uint8Array => utf8.encode(s);
const str = (bytes: Uint8Array): string => text.decode(bytes);

function machine(overrides: Partial<Limits> = {}): KvStateMachine {
  return new KvStateMachine({ limits: makeLimits(overrides), sessionTtlMs: 60_000 });
}
function run(sm: KvStateMachine, op: KvCommand['op']): ApplyOutcome {
  return sm.apply(logIndex(sm.appliedIndex + 1), { clientId: '', seq: 0, ackSeq: 0, timeMs: 0, op });
}
const txn = (compares: Compare[], success: TxnOp['success'], failure: TxnOp['failure'] = []): TxnOp => ({ type: 'txn', compares, success, failure });
function txnResult(result: WriteResult): TxnResult {
  expect(result.type, JSON.stringify(result)).toBe('txn');
  return result as TxnResult;
}
/** True if the txn guarded by `compare` took its success branch. */
function holds(sm: KvStateMachine, compare: Compare): boolean {
  return txnResult(run(sm, txn([compare], [], [])).result).succeeded;
}

/** A machine where key `k` has value "m", createRevision 2, modRevision 3 and version 2. */
function withK(): KvStateMachine {
  const sm = machine();
  run(sm, { type: 'put', key: b('other'), value: b('') });
  run(sm, { type: 'put', key: b('k'), value: b('a') });
  run(sm, { type: 'put', key: b('k'), value: b('m') });
  expect(sm.get(b('k'))).toMatchObject({ createRevision: 2, modRevision: 3, version: 2 });
  return sm;
}

describe('txn compares', () => {
  const numeric: Array<[Compare['target'], number]> = [
    ['version', 2],
    ['createRevision', 2],
    ['modRevision', 3],
  ];
  const cases: Array<[Compare['target'], Compare['op'], Uint8Array | number, boolean]> = [];
  for (const [target, actual] of numeric) {
    cases.push(
      [target, '=', actual, true],
      [target, '=', actual + 1, false],
      [target, '!=', actual, false],
      [target, '!=', actual - 1, true],
      [target, '<', actual + 1, true],
      [target, '<', actual, false],
      [target, '>', actual - 1, true],
      [target, '>', actual, false],
    );
  }
  cases.push(
    ['value', '=', b('m'), true],
    ['value', '=', b('mm'), false],
    ['value', '!=', b('m'), false],
    ['value', '!=', b(''), true],
    ['value', '<', b('n'), true],
    ['value', '<', b('mm'), true],
    ['value', '<', b('m'), false],
    ['value', '>', b('l'), true],
    ['value', '>', b(''), true],
    ['value', '>', b('m'), false],
  );
  it.each(cases)('%s %s %o on an existing key is %s', (target, op, value, expected) => {
    // Proves each target and operator compares the key's current state (values by bytes).
    expect(holds(withK(), { key: b('k'), target, op, value })).toBe(expected);
  });

  it('treats a missing key as version 0, revisions 0 and no value at all', () => {
    // Proves the documented missing-key rules, including createRevision = 0 as "does not exist".
    const sm = withK();
    const missing = (target: Compare['target'], op: Compare['op'], value: Uint8Array | number): boolean => holds(sm, { key: b('nope'), target, op, value });
    expect([missing('version', '=', 0), missing('createRevision', '=', 0), missing('modRevision', '<', 1), missing('version', '>', 0)]).toEqual([true, true, true, false]);
    expect([missing('value', '=', b('')), missing('value', '!=', b('')), missing('value', '<', b('z')), missing('value', '>', b(''))]).toEqual([false, true, false, false]);
    expect(holds(sm, { key: b('k'), target: 'createRevision', op: '=', value: 0 })).toBe(false);
  });

  it('requires every compare to hold, evaluated before any write of the txn', () => {
    // Proves compares are a conjunction over the state before the txn.
    const sm = withK();
    const both = (v: number): Compare[] => [
      { key: b('k'), target: 'version', op: '=', value: 2 },
      { key: b('other'), target: 'version', op: '=', value: v },
    ];
    expect(txnResult(run(sm, txn(both(1), [])).result).succeeded).toBe(true);
    expect(txnResult(run(sm, txn(both(5), [])).result).succeeded).toBe(false);
    expect(txnResult(run(sm, txn([], [])).result).succeeded).toBe(true);
  });
});

describe('txn execution', () => {
  it('applies the success branch at exactly one new revision', () => {
    // Proves a txn is ONE revision however many keys it writes, shared by all its results.
    const sm = withK();
    const outcome = run(
      sm,
      txn(
        [{ key: b('k'), target: 'value', op: '=', value: b('m') }],
        [
          { type: 'put', key: b('x'), value: b('1') },
          { type: 'put', key: b('y'), value: b('2') },
          { type: 'delete', key: b('other') },
        ],
        [{ type: 'put', key: b('failed'), value: b('') }],
      ),
    );
    const result = txnResult(outcome.result);
    expect([result.succeeded, result.revision, sm.revision]).toEqual([true, 4, 4]);
    expect(result.results.map((r) => [r.type, r.revision])).toEqual([['put', 4], ['put', 4], ['delete', 4]]);
    expect([sm.get(b('x'))?.modRevision, sm.get(b('y'))?.modRevision, sm.get(b('other')), sm.get(b('failed'))]).toEqual([4, 4, null, null]);
    expect(outcome.mutations.map((m) => m.type)).toEqual(['putKey', 'putKey', 'deleteKey']);
  });

  it('applies the failure branch when a compare fails', () => {
    // Proves the branch choice and that the other branch has no effect.
    const sm = withK();
    const result = txnResult(
      run(sm, txn([{ key: b('k'), target: 'version', op: '>', value: 5 }], [{ type: 'put', key: b('s'), value: b('') }], [{ type: 'put', key: b('f'), value: b('') }])).result,
    );
    expect([result.succeeded, sm.get(b('s')), sm.get(b('f'))?.modRevision]).toEqual([false, null, 4]);
  });

  it('lets reads see the earlier writes of the same txn', () => {
    // Proves ops run in order against the txn's own writes.
    const sm = withK();
    const result = txnResult(
      run(
        sm,
        txn([], [
          { type: 'range', key: b('n'), prefix: true },
          { type: 'put', key: b('n1'), value: b('first') },
          { type: 'put', key: b('n1'), value: b('second') },
          { type: 'range', key: b('n'), prefix: true },
          { type: 'delete', key: b('n1'), prevKv: true },
          { type: 'range', key: b('n'), prefix: true, countOnly: true },
        ]),
      ).result,
    );
    const [before, , , during, deleted, after] = result.results;
    expect(before).toMatchObject({ type: 'range', count: 0 });
    expect(during?.type === 'range' && during.kvs.map((kv) => [str(kv.value), kv.version, kv.modRevision])).toEqual([['second', 2, 4]]);
    expect(deleted?.type === 'delete' && deleted.prevKvs.map((kv) => str(kv.value))).toEqual(['second']);
    expect(after).toMatchObject({ type: 'range', count: 0 });
    expect(sm.revision).toBe(4);
  });

  it('keeps the revision when the chosen branch writes nothing', () => {
    // Proves a read-only txn, or one whose deletes find nothing, is not a write.
    const sm = withK();
    const readOnly = run(sm, txn([], [{ type: 'range', key: b('k') }]));
    expect([txnResult(readOnly.result).revision, readOnly.mutations.length, sm.revision]).toEqual([3, 0, 3]);
    const emptyDelete = run(sm, txn([], [{ type: 'delete', key: b('zzz') }], []));
    expect([txnResult(emptyDelete.result).revision, sm.revision]).toEqual([3, 3]);
    const failedEmpty = run(sm, txn([{ key: b('k'), target: 'version', op: '=', value: 9 }], [{ type: 'put', key: b('a'), value: b('') }]));
    expect([txnResult(failedEmpty.result).succeeded, sm.revision]).toEqual([false, 3]);
  });

  it('writes no mutation for a key created and deleted inside one txn, but still takes a revision', () => {
    // Proves mutations hold only final states that differ from the start.
    const sm = withK();
    const outcome = run(sm, txn([], [{ type: 'put', key: b('tmp'), value: b('') }, { type: 'delete', key: b('tmp') }]));
    expect([outcome.mutations, sm.get(b('tmp')), sm.revision]).toEqual([[], null, 4]);
  });

  it('is all-or-nothing when the quota refuses it', () => {
    // Proves atomicity: a txn refused after some ops ran leaves no trace of them.
    const sm = machine({ dataBytesMax: 20 });
    run(sm, { type: 'put', key: b('keep'), value: b('12345') });
    run(sm, { type: 'put', key: b('gone'), value: b('1') });
    const hash = sm.stateHash();
    const outcome = run(
      sm,
      txn([], [
        { type: 'delete', key: b('gone') },
        { type: 'put', key: b('keep'), value: b('changed') },
        { type: 'put', key: b('big'), value: b('123456789012') },
      ]),
    );
    expect(outcome.result).toMatchObject({ type: 'error', code: 'OVERLOADED' });
    expect([outcome.mutations, outcome.revision, sm.stateHash(), sm.dataBytes]).toEqual([[], 2, hash, 14]);
    expect(str(sm.get(b('keep'))?.value ?? b('?'))).toBe('12345');
    expect(sm.get(b('gone'))).not.toBeNull();
  });
});
