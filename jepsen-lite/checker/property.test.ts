// Proves, on random histories, that the checker accepts every history a real register produces, rejects reads of unwritten values, and agrees with a brute-force checker.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkLinearizable } from './index.js';
import type { HistoryOp } from './index.js';
import { executePlan } from './history-generator.js';
import type { OpPlan } from './history-generator.js';
import { bruteForceLinearizable } from './reference-checker.js';

/** A planned operation over `keys` keys, `clients` clients and values 0..values-1. */
function planArb(shape: { clients: number; keys: number; values: number }): fc.Arbitrary<OpPlan> {
  return fc.record({
    client: fc.integer({ min: 0, max: shape.clients - 1 }),
    key: fc.integer({ min: 0, max: shape.keys - 1 }),
    kind: fc.constantFrom('get', 'put', 'cas'),
    value: fc.integer({ min: 0, max: shape.values - 1 }),
    expected: fc.oneof(fc.constant(null), fc.constant('seen' as const), fc.integer({ min: 0, max: shape.values - 1 })),
    fate: fc.constantFrom('ok', 'ok', 'ok', 'ok', 'fail', 'indeterminate-applied', 'indeterminate-lost'),
    callSlack: fc.integer({ min: 0, max: 100 }).map((n) => n / 100),
    retSlack: fc.integer({ min: 0, max: 100 }).map((n) => n / 100),
  });
}

/** Histories produced by executing a plan against a register: linearizable by construction. */
function executedHistoryArb(shape: { ops: number; clients: number; keys: number; values: number }): fc.Arbitrary<HistoryOp[]> {
  return fc.array(planArb(shape), { minLength: 1, maxLength: shape.ops }).map(executePlan);
}

/**
 * Arbitrary small histories, many not linearizable: each of three clients issues operations back
 * to back on its own clock, with small times so that ties between clients are common.
 */
function arbitraryHistoryArb(shape: {
  keys: readonly string[];
  values: readonly string[];
  statuses: readonly HistoryOp['status'][];
  opsMax: number;
}): fc.Arbitrary<HistoryOp[]> {
  const spec = fc.record({
    client: fc.integer({ min: 0, max: 2 }),
    key: fc.constantFrom(...shape.keys),
    kind: fc.constantFrom('get', 'put', 'cas'),
    value: fc.constantFrom<string | null>(null, ...shape.values),
    newValue: fc.constantFrom(...shape.values),
    casOk: fc.boolean(),
    status: fc.constantFrom(...shape.statuses),
    gap: fc.integer({ min: 0, max: 3 }),
    duration: fc.integer({ min: 0, max: 4 }),
  });
  return fc.array(spec, { minLength: 1, maxLength: shape.opsMax }).map((specs) => {
    const clocks = [0, 0, 0];
    return specs.map((s, i): HistoryOp => {
      const call = clocks[s.client]! + s.gap;
      const ret = call + s.duration;
      clocks[s.client] = ret;
      const base = { id: i + 1, client: `c${s.client}`, key: s.key, call, ret: s.status === 'indeterminate' ? null : ret, status: s.status };
      switch (s.kind) {
        case 'get':
          return { ...base, kind: 'get', ...(s.status === 'ok' ? { value: s.value } : {}) };
        case 'put':
          return { ...base, kind: 'put', value: s.newValue };
        case 'cas':
          return { ...base, kind: 'cas', expected: s.value, newValue: s.newValue, ...(s.status === 'ok' ? { casOk: s.casOk } : {}) };
      }
    });
  });
}

/** Small executed histories with one field changed, so that many are barely not linearizable. */
const mutatedHistoryArb: fc.Arbitrary<HistoryOp[]> = fc
  .tuple(executedHistoryArb({ ops: 7, clients: 3, keys: 2, values: 3 }), fc.nat(), fc.constantFrom('read', 'casOk', 'shift', 'status'), fc.constantFrom('0', '1', '2'))
  .map(([history, at, mutation, value]) =>
    history.map((op, i) => {
      if (i !== at % history.length) return op;
      if (mutation === 'read' && op.kind === 'get' && op.status === 'ok') return { ...op, value: op.value === value ? null : value };
      if (mutation === 'casOk' && op.kind === 'cas' && op.status === 'ok') return { ...op, casOk: op.casOk !== true };
      if (mutation === 'status' && op.kind !== 'get' && op.status === 'indeterminate') return { ...op, status: 'ok' as const, ret: op.call + 5, ...(op.kind === 'cas' ? { casOk: true } : {}) };
      if (mutation === 'shift' && op.ret !== null) return { ...op, call: op.ret, ret: op.ret };
      return op;
    }),
  )
  .filter((history) => {
    try {
      checkLinearizable(history);
      return true;
    } catch {
      return false; // a shift can overlap the client's next operation
    }
  });

describe('histories of a real register', () => {
  it('accepts every history produced by executing operations one at a time, whatever the windows', () => {
    fc.assert(
      fc.property(executedHistoryArb({ ops: 60, clients: 6, keys: 3, values: 4 }), (history) => {
        const result = checkLinearizable(history);
        expect(result.failures).toEqual([]);
        expect(result.verdict).toBe('linearizable');
      }),
      { numRuns: 300 },
    );
  });

  it('accepts them with unique values and many indeterminate writes', () => {
    const unique = fc
      .array(planArb({ clients: 8, keys: 2, values: 1 }), { minLength: 1, maxLength: 120 })
      .map((plans) => executePlan(plans.map((p, i) => ({ ...p, value: i, expected: p.expected === null ? null : 'seen' }))));
    fc.assert(
      fc.property(unique, (history) => {
        expect(checkLinearizable(history).verdict).toBe('linearizable');
      }),
      { numRuns: 100 },
    );
  });

  it('rejects the same histories once one read returns a value never written', () => {
    const withRead = fc
      .tuple(executedHistoryArb({ ops: 60, clients: 6, keys: 3, values: 4 }), fc.nat())
      .filter(([history]) => history.some((op) => op.kind === 'get' && op.status === 'ok'));
    fc.assert(
      fc.property(withRead, ([history, pick]) => {
        const reads = history.filter((op) => op.kind === 'get' && op.status === 'ok');
        const victim = reads[pick % reads.length]!;
        const mutated = history.map((op) => (op === victim ? { ...op, value: 'never-written' } : op));
        const result = checkLinearizable(mutated);
        expect(result.verdict).toBe('not-linearizable');
        expect(result.failures.map((f) => f.key)).toEqual([victim.key]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('agreement with the brute-force checker', () => {
  const agrees = (history: readonly HistoryOp[]): void => {
    expect(checkLinearizable(history).ok).toBe(bruteForceLinearizable(history));
  };

  it('agrees on arbitrary small histories over two keys', () => {
    const arb = arbitraryHistoryArb({ keys: ['x', 'x', 'y'], values: ['a', 'b', 'c'], statuses: ['ok', 'ok', 'ok', 'fail', 'indeterminate'], opsMax: 7 });
    fc.assert(fc.property(arb, agrees), { numRuns: 3000 });
  });

  it('agrees on small histories crowded with indeterminate writes of two values (exercises the cache dominance)', () => {
    const arb = arbitraryHistoryArb({ keys: ['x'], values: ['a', 'b'], statuses: ['ok', 'ok', 'indeterminate', 'indeterminate'], opsMax: 9 });
    fc.assert(fc.property(arb, agrees), { numRuns: 3000 });
  });

  it('agrees on small executed histories with one field changed', () => {
    fc.assert(
      fc.property(mutatedHistoryArb, agrees),
      { numRuns: 3000 },
    );
  });
});
