import { describe, expect, it } from 'vitest';
import { nodeId, term } from '../util/index.js';
import { describeMessage, describeReady } from './describe.js';
import { idx, TestNetwork } from './test-network.js';

describe('printers', () => {
  it('prints messages as deterministic one-liners', () => {
    // Proves the golden format of describeMessage for the common message kinds.
    const base = { from: nodeId('n1'), to: nodeId('n2'), term: term(3) };
    expect(describeMessage({ ...base, type: 'append', prevLogIndex: idx(5), prevLogTerm: term(2), commit: idx(4), entries: [{ index: idx(6), term: term(3), type: 'normal', data: new Uint8Array(3) }] }))
      .toBe('n1->n2 append term=3 prev=5/2 commit=4 entries=[6/3 normal 3B]');
    expect(describeMessage({ ...base, type: 'appendResponse', index: idx(9), reject: true, rejectHint: idx(7), hintTerm: term(2) })).toBe('n1->n2 appendResponse term=3 rejected index=9 hint=7/2');
    expect(describeMessage({ ...base, type: 'preVote', lastLogIndex: idx(4), lastLogTerm: term(2), transfer: false })).toBe('n1->n2 preVote term=3 last=4/2');
    expect(describeMessage({ ...base, type: 'heartbeat', commit: idx(1), context: 'read:3:1' })).toBe('n1->n2 heartbeat term=3 commit=1 context="read:3:1"');
    expect(describeMessage({ ...base, type: 'timeoutNow' })).toBe('n1->n2 timeoutNow term=3');
  });

  it('prints the same Ready sequence for the same seed', () => {
    // Proves determinism end to end: two identical runs print identical Readys.
    const run = (): string[] => {
      const net = new TestNetwork(['n1', 'n2', 'n3'], {}, undefined, 42);
      for (let i = 0; i < 40; i++) net.tickAll();
      const leader = net.leaders()[0] as string;
      net.propose(leader, 'x');
      return [...net.nodes.values()].flatMap((n) => n.readies.map(describeReady));
    };
    const first = run();
    expect(first.length).toBeGreaterThan(10);
    expect(run()).toEqual(first);
    expect(first.some((line) => line.includes('committed=[2/1 normal 1B]'))).toBe(true);
  });
});
