// Proves one seed gives one run: two runs of a seed produce the same event trace and digest, and another seed a different one.
import { describe, expect, it } from 'vitest';
import { runSimulation } from './simulation.js';

describe('determinism', () => {
  it('replays a seed event for event', () => {
    const traceA: string[] = [];
    const traceB: string[] = [];
    const a = runSimulation({ seed: 7, chaosMs: 3_000, trace: (line) => traceA.push(line) });
    const b = runSimulation({ seed: 7, chaosMs: 3_000, trace: (line) => traceB.push(line) });
    expect(traceA.length).toBeGreaterThan(1_000);
    expect(traceB).toEqual(traceA);
    expect(b).toEqual(a);
  });

  it('gives the same digest with and without tracing, and a different one for another seed or variant', () => {
    const plain = runSimulation({ seed: 7 });
    expect(runSimulation({ seed: 7, trace: () => {} }).digest).toBe(plain.digest);
    expect(runSimulation({ seed: 8 }).digest).not.toBe(plain.digest);
    expect(runSimulation({ seed: 7, nodes: plain.nodeCount === 3 ? 5 : 3 }).digest).not.toBe(plain.digest);
  });
});
