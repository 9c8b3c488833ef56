// Proves checkLinearizable accepts valid register histories and rejects each kind of anomaly a replicated store can show.
import { describe, expect, it } from 'vitest';
import { checkLinearizable } from './index.js';
import type { CheckResult, HistoryOp } from './index.js';
import { HistoryBuilder } from './history-builder.js';
import { bruteForceLinearizable } from './reference-checker.js';

/** Checks with the fast checker, and with the brute-force one when the history is small enough. */
function check(ops: readonly HistoryOp[]): CheckResult {
  const result = checkLinearizable(ops);
  if (ops.length <= 9) expect(result.ok, 'fast and brute-force checkers disagree').toBe(bruteForceLinearizable(ops));
  return result;
}

function expectLinearizable(ops: readonly HistoryOp[]): void {
  const result = check(ops);
  expect(result.failures).toEqual([]);
  expect(result).toMatchObject({ ok: true, verdict: 'linearizable' });
}

function expectNotLinearizable(ops: readonly HistoryOp[], key = 'x'): CheckResult {
  const result = check(ops);
  expect(result).toMatchObject({ ok: false, verdict: 'not-linearizable' });
  expect(result.failures.map((f) => [f.key, f.verdict])).toEqual([[key, 'not-linearizable']]);
  return result;
}

describe('accepts valid histories', () => {
  it('accepts the empty history', () => {
    expect(checkLinearizable([])).toEqual({ ok: true, verdict: 'linearizable', keysChecked: 0, opsChecked: 0, failures: [] });
  });

  it('accepts a sequential history of puts, gets and cas', () => {
    const h = new HistoryBuilder();
    h.get('c1', 'x', null, [0, 1]);
    h.put('c1', 'x', '1', [2, 3]);
    h.get('c2', 'x', '1', [4, 5]);
    h.cas('c2', 'x', { expected: '1', newValue: '2', swapped: true }, [6, 7]);
    h.cas('c1', 'x', { expected: '1', newValue: '3', swapped: false }, [8, 9]);
    h.get('c1', 'x', '2', [10, 11]);
    expectLinearizable(h.ops);
    expect(checkLinearizable(h.ops)).toMatchObject({ keysChecked: 1, opsChecked: 6 });
  });

  it('accepts concurrent operations whose order is only fixed by what was read', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', '1', [0, 10]);
    h.put('c2', 'x', '2', [1, 11]);
    h.get('c3', 'x', '2', [2, 3]); // 2 took effect first...
    h.get('c4', 'x', '1', [4, 12]); // ...then 1 overwrote it.
    h.get('c3', 'x', '1', [13, 14]);
    expectLinearizable(h.ops);
  });

  it('treats an operation returning at t as concurrent with one called at t (ties overlap)', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', '1', [0, 5]);
    h.get('c2', 'x', null, [5, 6]);
    expectLinearizable(h.ops);
  });

  it('accepts an indeterminate put that took effect', () => {
    const h = new HistoryBuilder();
    h.putUnknown('c1', 'x', '1', 0);
    h.get('c2', 'x', '1', [5, 6]);
    h.get('c2', 'x', '1', [7, 8]);
    expectLinearizable(h.ops);
  });

  it('accepts an indeterminate put that never took effect', () => {
    const h = new HistoryBuilder();
    h.putUnknown('c1', 'x', '1', 0);
    h.get('c2', 'x', null, [5, 6]);
    h.put('c2', 'x', '2', [7, 8]);
    h.get('c2', 'x', '2', [9, 10]);
    expectLinearizable(h.ops);
  });

  it('accepts an indeterminate put that took effect late, after later completed operations', () => {
    const h = new HistoryBuilder();
    h.putUnknown('c1', 'x', '1', 0);
    h.get('c2', 'x', null, [5, 6]);
    h.put('c2', 'x', '2', [7, 8]);
    h.get('c2', 'x', '1', [9, 10]);
    expectLinearizable(h.ops);
  });

  it('accepts indeterminate cas operations, swapped or not', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', 'a', [0, 1]);
    h.casUnknown('c2', 'x', { expected: 'a', newValue: 'b' }, 2);
    h.casUnknown('c3', 'x', { expected: 'zzz', newValue: 'c' }, 2);
    h.get('c1', 'x', 'b', [3, 4]);
    expectLinearizable(h.ops);
  });

  it('drops failed operations and incomplete gets', () => {
    const h = new HistoryBuilder();
    h.putFailed('c1', 'x', '1', [0, 1]);
    h.ops.push({ id: 100, client: 'c2', key: 'x', kind: 'get', value: 'nonsense', call: 2, ret: 3, status: 'fail' });
    h.ops.push({ id: 101, client: 'c3', key: 'x', kind: 'get', call: 2, ret: null, status: 'indeterminate' });
    h.get('c1', 'x', null, [4, 5]);
    expectLinearizable(h.ops);
    expect(checkLinearizable(h.ops)).toMatchObject({ keysChecked: 1, opsChecked: 1 });
  });
});

describe('rejects anomalies', () => {
  it('rejects a stale read: the old value read after a newer write completed', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', '1', [0, 1]);
    h.put('c1', 'x', '2', [2, 3]);
    h.get('c2', 'x', '1', [4, 5]);
    const result = expectNotLinearizable(h.ops);
    expect(result.failures[0]?.explanation).toContain('#3 c2 get "x" ok -> "1" @[4,5]');
  });

  it('rejects a stale read of the initial absent value after a write completed', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', '1', [0, 1]);
    h.get('c2', 'x', null, [2, 3]);
    expectNotLinearizable(h.ops);
  });

  it('rejects a lost write: an acknowledged put never visible while later reads see an older value', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', 'old', [0, 1]);
    h.put('c2', 'x', 'new', [2, 3]);
    h.get('c3', 'x', 'old', [4, 5]);
    h.get('c1', 'x', 'old', [6, 7]);
    expectNotLinearizable(h.ops);
  });

  it('rejects a read of a value never written, and says so', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', '1', [0, 1]);
    h.get('c2', 'x', 'ghost', [2, 3]);
    const result = expectNotLinearizable(h.ops);
    expect(result.failures[0]?.explanation).toBe('#2 c2 get "x" ok -> "ghost" @[2,3] observed "ghost", which no operation on key "x" ever writes.');
  });

  it('rejects a read of a value only written by a failed put', () => {
    const h = new HistoryBuilder();
    h.putFailed('c1', 'x', '1', [0, 1]);
    h.get('c2', 'x', '1', [2, 3]);
    expectNotLinearizable(h.ops);
  });

  it('rejects a failed cas (casOk false) that only a stale state explains', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', 'a', [0, 1]);
    h.cas('c2', 'x', { expected: 'a', newValue: 'b', swapped: false }, [2, 3]); // the value was certainly "a"
    expectNotLinearizable(h.ops);
  });

  it('accepts the same failed cas when a concurrent write explains it', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', 'a', [0, 1]);
    h.put('c3', 'x', 'c', [2, 5]);
    h.cas('c2', 'x', { expected: 'a', newValue: 'b', swapped: false }, [2, 3]);
    expectLinearizable(h.ops);
  });

  it('rejects a cas that succeeded though its expected value could not have been current', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', 'a', [0, 1]);
    h.put('c1', 'x', 'b', [2, 3]);
    h.cas('c2', 'x', { expected: 'a', newValue: 'c', swapped: true }, [4, 5]);
    expectNotLinearizable(h.ops);
  });

  it('rejects two cas operations that both swapped from the same value', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', 'a', [0, 1]);
    h.cas('c2', 'x', { expected: 'a', newValue: 'b', swapped: true }, [2, 6]);
    h.cas('c3', 'x', { expected: 'a', newValue: 'c', swapped: true }, [2, 6]);
    expectNotLinearizable(h.ops);
  });

  it('rejects a read that an indeterminate write cannot explain because it was called later', () => {
    const h = new HistoryBuilder();
    h.get('c2', 'x', '1', [0, 1]);
    h.putUnknown('c1', 'x', '1', 2);
    expectNotLinearizable(h.ops);
  });

  it('rejects a value flip-flop that needs an indeterminate write to happen twice', () => {
    const h = new HistoryBuilder();
    h.putUnknown('c1', 'x', '1', 0);
    h.get('c2', 'x', '1', [1, 2]);
    h.put('c3', 'x', '2', [3, 4]);
    h.get('c2', 'x', '1', [5, 6]);
    expectNotLinearizable(h.ops);
  });
});

describe('keys are independent', () => {
  it('checks each key on its own and reports only the broken key', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', '1', [0, 1]);
    h.put('c1', 'y', '1', [2, 3]);
    h.get('c2', 'x', '1', [4, 5]);
    h.get('c2', 'y', null, [6, 7]); // stale on y only
    h.get('c3', 'z', null, [0, 9]);
    const result = expectNotLinearizable(h.ops, 'y');
    expect(result).toMatchObject({ keysChecked: 3, opsChecked: 5 });
    expect(result.failures[0]?.ops.map((op) => op.id)).toEqual([2, 4]);
  });

  it('does not let a value written to one key explain a read on another', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', 'v', [0, 1]);
    h.get('c2', 'y', 'v', [2, 3]);
    expectNotLinearizable(h.ops, 'y');
  });

  it('lists failures in key order, whatever the history order', () => {
    const h = new HistoryBuilder();
    for (const key of ['m', 'b', 'z', 'a']) h.get('c1', key, 'ghost', [h.ops.length * 2, h.ops.length * 2 + 1]);
    expect(checkLinearizable(h.ops).failures.map((f) => f.key)).toEqual(['a', 'b', 'm', 'z']);
  });
});

describe('search budget', () => {
  /** Many writers of the same few values, all concurrent, then a read of a value none can explain last. */
  function hardHistory(): HistoryOp[] {
    const h = new HistoryBuilder();
    for (let i = 0; i < 14; i++) h.put(`w${i}`, 'x', String(i % 3), [0, 100]);
    for (let i = 0; i < 14; i++) h.get(`r${i}`, 'x', String((i + 1) % 3), [1, 99]);
    h.get('w0', 'x', '0', [101, 102]);
    h.get('w1', 'x', '1', [103, 104]);
    return h.ops;
  }

  it('gives unknown, not a wrong verdict, when the budget runs out, and says why', () => {
    const result = checkLinearizable(hardHistory(), { statesMax: 50 });
    expect(result).toMatchObject({ ok: false, verdict: 'unknown' });
    expect(result.failures).toHaveLength(1);
    expect(result.failures[0]).toMatchObject({ key: 'x', verdict: 'unknown' });
    expect(result.failures[0]?.explanation).toContain('statesMax 50');
  });

  it('decides the same history with the default budget', () => {
    expect(checkLinearizable(hardHistory()).verdict).toBe('not-linearizable');
  });

  it('lets a proved violation on one key outrank an unknown on another', () => {
    const h = new HistoryBuilder();
    h.get('c9', 'a', 'ghost', [0, 1]);
    const ops = [...h.ops, ...hardHistory().map((op) => ({ ...op, id: op.id + 1000 }))];
    const result = checkLinearizable(ops, { statesMax: 50 });
    expect(result.verdict).toBe('not-linearizable');
    expect(result.failures.map((f) => [f.key, f.verdict])).toEqual([
      ['a', 'not-linearizable'],
      ['x', 'unknown'],
    ]);
  });

  it('refuses a budget that is not a positive integer', () => {
    expect(() => checkLinearizable([], { statesMax: 0 })).toThrow(/statesMax/);
    expect(() => checkLinearizable([], { statesMax: 1.5 })).toThrow(/statesMax/);
  });
});
