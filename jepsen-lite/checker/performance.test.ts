// Proves the checker finishes on simulator-sized histories (thousands of operations, ten clients, a fifth of writes indeterminate) and accepts them.
import { describe, expect, it } from 'vitest';
import { SeededPrng } from '../../src/util/index.js';
import { checkLinearizable } from './index.js';
import { executePlan, randomPlans } from './history-generator.js';
import type { WorkloadShape } from './history-generator.js';

const simulatorLike: WorkloadShape = { ops: 4000, clients: 10, keys: 8, indeterminateShare: 0.2, casShare: 0.4, values: 0, casExpected: 'seen' };

describe('performance sanity (no timing assertions)', () => {
  it.each<[string, WorkloadShape]>([
    ['4000 ops over 8 keys: unique values, cas on the last value seen (the simulator workload)', simulatorLike],
    ['4000 ops over 8 keys: three values per key, cas on random values (a Jepsen cas-register workload)', { ...simulatorLike, values: 3, casShare: 0.5, casExpected: 'random' }],
    ['1500 ops on a single hot key, simulator workload', { ...simulatorLike, ops: 1500, keys: 1 }],
  ])('checks %s', (_, shape) => {
    const history = executePlan(randomPlans(new SeededPrng(20240601), shape));
    const result = checkLinearizable(history);
    expect(result.failures).toEqual([]);
    expect(result.verdict).toBe('linearizable');
    expect(result.opsChecked).toBeGreaterThan(shape.ops * 0.9);
  });

  it('finds a stale read buried in the simulator workload', () => {
    const history = executePlan(randomPlans(new SeededPrng(7), simulatorLike));
    // Make a late read on k0 return the value of a write that completed long before, and was overwritten since.
    const lateRead = history.findLast((op) => op.kind === 'get' && op.key === 'k0' && op.status === 'ok' && op.value !== null)!;
    const overwritten = history.find((op) => op.kind === 'put' && op.key === 'k0' && op.status === 'ok' && op.value !== lateRead.value)!;
    const staleRead = { ...lateRead, value: overwritten.value };
    const mutated = history.map((op) => (op === lateRead ? staleRead : op));
    const result = checkLinearizable(mutated, { minimize: true });
    expect(result.verdict).toBe('not-linearizable');
    expect(result.failures.map((f) => f.key)).toEqual(['k0']);
    expect(result.failures[0]?.minimal).toContain(staleRead);
  });
});
