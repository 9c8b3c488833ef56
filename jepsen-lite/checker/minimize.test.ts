// Proves the minimizer returns a strictly smaller sub-history that is itself not linearizable, and stays within its bounds.
import { describe, expect, it } from 'vitest';
import { checkLinearizable, describeOp } from './index.js';
import type { HistoryOp } from './index.js';
import { HistoryBuilder } from './history-builder.js';
import { makeCheckerLimits } from './limits.js';
import { minimizeKey } from './minimize.js';
import { bruteForceLinearizable } from './reference-checker.js';

/** Twenty rounds of four clients writing and reading key x, with one stale read buried in round 12. */
function busyHistoryWithStaleRead(): HistoryOp[] {
  const h = new HistoryBuilder();
  for (let round = 0; round < 20; round++) {
    const t = round * 10;
    h.put('c1', 'x', `v${round}`, [t, t + 4]);
    h.get('c2', 'x', round === 12 ? 'v10' : `v${round}`, [t + 5, t + 6]);
    h.get('c3', 'x', `v${round}`, [t + 5, t + 9]);
    h.put('c4', 'y', `w${round}`, [t, t + 9]);
  }
  return h.ops;
}

describe('minimize', () => {
  it('shrinks a failing key to a small sub-history that is itself not linearizable', () => {
    const history = busyHistoryWithStaleRead();
    const result = checkLinearizable(history, { minimize: true });
    expect(result.verdict).toBe('not-linearizable');
    const [failure] = result.failures;
    expect(failure?.key).toBe('x');
    const minimal = failure?.minimal ?? [];
    expect(minimal.length).toBeGreaterThan(0);
    expect(minimal.length).toBeLessThan(failure!.ops.length);
    expect(minimal.every((op) => failure!.ops.includes(op))).toBe(true);
    expect(checkLinearizable(minimal).verdict).toBe('not-linearizable');
    expect(bruteForceLinearizable(minimal)).toBe(false);
    // The stale read of v10 (#50), the put of v10 (#41), and a later completed put it missed.
    expect(minimal.map((op) => op.id)).toEqual([41, expect.any(Number), 50]);
  });

  it('keeps the kind of violation: every value a kept operation read is still written', () => {
    const [failure] = checkLinearizable(busyHistoryWithStaleRead(), { minimize: true }).failures;
    const minimal = failure?.minimal ?? [];
    const written = new Set(minimal.map((op) => op.value));
    for (const op of minimal) if (op.kind === 'get') expect(written.has(op.value), describeOp(op)).toBe(true);
    // And it is 1-minimal: removing any operation makes it linearizable, or drops the write of a value read.
    for (const op of minimal) {
      const rest = minimal.filter((other) => other !== op);
      const orphan = op.kind === 'put' && rest.some((other) => other.kind === 'get' && other.value === op.value);
      if (!orphan) expect(checkLinearizable(rest).verdict, `without #${op.id}`).toBe('linearizable');
    }
  });

  it('reduces a read of a value never written to that read alone', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', '1', [0, 1]);
    h.put('c1', 'x', '2', [2, 3]);
    const ghost = h.get('c2', 'x', 'ghost', [4, 5]);
    h.get('c2', 'x', '2', [6, 7]);
    const [failure] = checkLinearizable(h.ops, { minimize: true }).failures;
    expect(failure?.minimal).toEqual([ghost]);
  });

  it('only runs when asked, and only for proved violations', () => {
    const h = new HistoryBuilder();
    h.get('c1', 'x', 'ghost', [0, 1]);
    expect(checkLinearizable(h.ops).failures[0]?.minimal).toBeUndefined();
    const hard = new HistoryBuilder();
    for (let i = 0; i < 12; i++) hard.put(`w${i}`, 'y', String(i % 3), [0, 100]);
    for (let i = 0; i < 12; i++) hard.get(`r${i}`, 'y', String((i + 1) % 3), [1, 99]);
    const unknown = checkLinearizable(hard.ops, { minimize: true, statesMax: 10 }).failures[0];
    expect(unknown?.verdict).toBe('unknown');
    expect(unknown?.minimal).toBeUndefined();
  });

  it('stops at minimizeChecksMax trials and still returns a history proved not linearizable', () => {
    const ops = busyHistoryWithStaleRead().filter((op) => op.key === 'x');
    const limits = makeCheckerLimits({ minimizeChecksMax: 3 });
    const original = { culprit: null, reason: 'no-order' } as const;
    const minimal = minimizeKey('x', ops, original, limits);
    expect(minimal.length).toBeLessThan(ops.length);
    expect(checkLinearizable(minimal).verdict).toBe('not-linearizable');
    const untouched = minimizeKey('x', ops, original, makeCheckerLimits({ minimizeChecksMax: 1, minimizeStatesMax: 1 }));
    expect(untouched).toEqual(ops);
    expect(checkLinearizable(untouched).verdict).toBe('not-linearizable');
  });
});
