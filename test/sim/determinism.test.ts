// Proves one seed gives one run of the core front end on the production driver: two runs of a seed produce the same event trace and digest (promise jobs, fsyncs and power losses included), and another seed a different one.
import { describe, expect, it } from 'vitest';
import { runSimulation } from './simulation.js';

describe('determinism', () => {
  it('replays a seed event for event', async () => {
    const traceA: string[] = [];
    const traceB: string[] = [];
    const a = await runSimulation({ seed: 7, chaosMs: 3_000, trace: (line) => traceA.push(line) });
    const b = await runSimulation({ seed: 7, chaosMs: 3_000, trace: (line) => traceB.push(line) });
    expect(traceA.length).toBeGreaterThan(1_000);
    expect(traceB).toEqual(traceA);
    expect(b).toEqual(a);
  });

  it('gives the same digest with and without tracing, and a different one for another seed or variant', async () => {
    const plain = await runSimulation({ seed: 7 });
    expect((await runSimulation({ seed: 7, trace: () => {} })).digest).toBe(plain.digest);
    expect((await runSimulation({ seed: 8 })).digest).not.toBe(plain.digest);
    expect((await runSimulation({ seed: 7, nodes: plain.nodeCount === 3 ? 5 : 3 })).digest).not.toBe(plain.digest);
  });
});
