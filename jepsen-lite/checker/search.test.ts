// Proves the search returns valid witnesses, and that its pruning (forced observations, class dominance) keeps known-hard shapes cheap.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HistoryBuilder } from './history-builder.js';
import { executePlan } from './history-generator.js';
import type { OpPlan } from './history-generator.js';
import { isChecked, prepareKey } from './prepare.js';
import { applyOp, isLinearization } from './reference-checker.js';
import { searchKey } from './search.js';

const planArb: fc.Arbitrary<OpPlan> = fc.record({
  client: fc.integer({ min: 0, max: 5 }),
  key: fc.constant(0),
  kind: fc.constantFrom('get', 'put', 'cas'),
  value: fc.integer({ min: 0, max: 3 }),
  expected: fc.oneof(fc.constant(null), fc.constant('seen' as const), fc.integer({ min: 0, max: 3 })),
  fate: fc.constantFrom('ok', 'ok', 'ok', 'fail', 'indeterminate-applied', 'indeterminate-lost'),
  callSlack: fc.integer({ min: 0, max: 100 }).map((n) => n / 100),
  retSlack: fc.integer({ min: 0, max: 100 }).map((n) => n / 100),
});

describe('searchKey', () => {
  it('returns a witness that is a real linearization of the original history, less the vacuous cas operations it dropped', () => {
    fc.assert(
      fc.property(fc.array(planArb, { minLength: 1, maxLength: 40 }), (plans) => {
        const history = executePlan(plans).filter(isChecked);
        const problem = prepareKey('k0', history);
        const outcome = searchKey(problem, 1_000_000);
        expect(outcome.verdict).toBe('linearizable');
        if (outcome.verdict !== 'linearizable') return;
        const kept = new Set([...problem.definite, ...problem.classes.flatMap((c) => c.ops)].map((op) => op.source));
        // A completed operation the reductions dropped must be a not-swapped cas whose expected value
        // the witness never makes current: then it fits anywhere in its window.
        const values = new Set<string | null>([null]);
        let registers: ReadonlyMap<string, string | null> | null = new Map();
        for (const op of outcome.order) {
          registers = applyOp(registers!, op);
          values.add(registers?.get('k0') ?? null);
        }
        const dropped = history.filter((op) => op.status === 'ok' && !kept.has(op));
        for (const op of dropped) {
          expect(op).toMatchObject({ kind: 'cas', casOk: false });
          expect(values.has(op.expected ?? null)).toBe(false);
        }
        expect(isLinearization(history.filter((op) => !dropped.includes(op)), outcome.order)).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('reports how far it got and which operation blocked it', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', '1', [0, 1]);
    h.put('c1', 'x', '2', [2, 3]);
    const stale = h.get('c2', 'x', '1', [4, 5]);
    const outcome = searchKey(prepareKey('x', h.ops), 1000);
    expect(outcome.verdict).toBe('not-linearizable');
    if (outcome.verdict !== 'not-linearizable') return;
    expect(outcome.frontier).toEqual({ linearizedCount: 2, tail: h.ops.slice(0, 2), valueText: '"2" (which no operation reads)', blocking: stale });
  });

  it('spends one state per indeterminate class, not one per subset, on many identical indeterminate writes', () => {
    const h = new HistoryBuilder();
    for (let i = 0; i < 60; i++) h.putUnknown(`u${i}`, 'x', 'a', i);
    h.put('p', 'x', 'b', [100, 101]);
    h.get('q', 'x', 'a', [102, 103]);
    h.get('q', 'x', 'b', [104, 105]); // b cannot come back: not linearizable
    const outcome = searchKey(prepareKey('x', h.ops), 1000);
    expect(outcome.verdict).toBe('not-linearizable');
    expect(outcome.statesExplored).toBeLessThan(20);
  });

  it('does not branch on reads that can be linearized at once', () => {
    // Forty concurrent reads of the current value: without the forced move, every subset is a configuration.
    const h = new HistoryBuilder();
    h.put('w', 'x', 'a', [0, 1]);
    for (let i = 0; i < 40; i++) h.get(`r${i}`, 'x', 'a', [2, 50]);
    h.put('w', 'x', 'b', [2, 50]);
    h.get('w', 'x', 'ghost-free', [60, 61]);
    h.put('z', 'x', 'ghost-free', [51, 52]);
    const outcome = searchKey(prepareKey('x', h.ops), 100_000);
    expect(outcome.verdict).toBe('linearizable');
    expect(outcome.statesExplored).toBeLessThan(100);
  });

  it('stops at statesMax with unknown', () => {
    const h = new HistoryBuilder();
    for (let i = 0; i < 10; i++) h.put(`w${i}`, 'x', String(i % 3), [0, 100]);
    for (let i = 0; i < 10; i++) h.get(`r${i}`, 'x', String((i + 1) % 3), [1, 99]);
    h.get('w0', 'x', '0', [101, 102]);
    h.get('w1', 'x', '1', [103, 104]);
    expect(searchKey(prepareKey('x', h.ops), 100)).toEqual({ verdict: 'unknown', statesExplored: 101 });
    expect(searchKey(prepareKey('x', h.ops), 1_000_000).verdict).toBe('not-linearizable');
  });
});
