import { describe, expect, it } from 'vitest';
import { nodeId, term } from '../util/index.js';
import type { Logger } from '../util/index.js';
import type { Message } from './message.js';
import { idx, TestNetwork } from './test-network.js';

const ids = ['n1', 'n2', 'n3'];

describe('RawNode and the Ready contract', () => {
  it('never emits a message to itself and reports role changes in softState', () => {
    // Proves self-votes and self-acks stay internal, and the Ready reports the new leader.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.propose('n1', 'x');
    expect(net.sent.filter((m) => m.from === m.to)).toEqual([]);
    const soft = net.node('n1').readies.map((r) => r.softState).filter((s) => s !== null);
    expect(soft).toEqual([{ leader: null, role: 'preCandidate' }, { leader: null, role: 'candidate' }, { leader: 'n1', role: 'leader' }]);
  });

  it('puts the vote in the hard state of the Ready that sends the vote response', () => {
    // Proves "persist BEFORE send": the granted vote is in the same Ready as its answer, with mustSync.
    const net = new TestNetwork(ids);
    net.elect('n1');
    const rd = net.node('n2').readies.find((r) => r.messages.some((m) => m.type === 'voteResponse'));
    expect(rd?.hardState).toMatchObject({ term: 1, vote: 'n1' });
    expect(rd?.mustSync).toBe(true);
  });

  it('has nothing ready after advance, and refuses a second ready() before advance()', () => {
    // Proves hasReady() goes quiet once everything is handed out, and the one-outstanding-Ready rule.
    const net = new TestNetwork(ids);
    const leader = net.elect('n1');
    expect(leader.hasReady()).toBe(false);
    leader.propose(new Uint8Array([1]));
    expect(leader.hasReady()).toBe(true);
    leader.ready();
    expect(leader.hasReady()).toBe(false);
    expect(() => leader.ready()).toThrow(/before advance/);
    leader.advance();
    expect(() => leader.advance()).toThrow(/without an outstanding Ready/);
  });

  it('drops misaddressed, self-sent and malformed messages without throwing', () => {
    // Proves peer input never crashes the node: each bad message is logged at warn and ignored.
    const warnings: string[] = [];
    const logger: Logger = { debug: () => {}, info: () => {}, error: () => {}, warn: (_o, msg) => warnings.push(msg ?? '') };
    const net = new TestNetwork(ids, { logger });
    const raw = net.raw('n2');
    const base = { from: nodeId('n1'), to: nodeId('n2'), term: term(1) };
    const bad: Message[] = [
      { ...base, to: nodeId('n3'), type: 'timeoutNow' },
      { ...base, from: nodeId('n2'), type: 'timeoutNow' },
      { ...base, type: 'append', prevLogIndex: idx(0), prevLogTerm: term(0), commit: idx(0), entries: [{ index: idx(5), term: term(1), type: 'normal', data: new Uint8Array() }] },
      { ...base, type: 'append', prevLogIndex: idx(0), prevLogTerm: term(0), commit: idx(0), entries: [{ index: idx(1), term: term(9), type: 'normal', data: new Uint8Array() }] },
      { ...base, type: 'heartbeat', commit: idx(-1), context: '' },
      { ...base, term: term(-3), type: 'heartbeat', commit: idx(0), context: '' },
      { ...base, type: 'snapshot', snapshot: { metadata: { index: idx(0), term: term(0), conf: { voters: [], learners: [] } }, data: new Uint8Array() } },
    ];
    for (const m of bad) expect(() => raw.step(m)).not.toThrow();
    expect(warnings).toHaveLength(bad.length);
    expect(raw.status()).toMatchObject({ term: 0, lastIndex: 0, commit: 0 });
    expect(raw.hasReady()).toBe(false);
  });

  it('ignores stale messages from older terms', () => {
    // Proves an append from a deposed leader's term is not applied (only answered with our term).
    const net = new TestNetwork(ids);
    net.elect('n1');
    const raw = net.raw('n2');
    raw.step({ type: 'append', from: nodeId('n3'), to: nodeId('n2'), term: term(0), prevLogIndex: idx(0), prevLogTerm: term(0), commit: idx(1), entries: [{ index: idx(1), term: term(0), type: 'normal', data: new Uint8Array() }] });
    const rd = raw.ready();
    expect(rd.entries).toEqual([]);
    expect(rd.messages).toMatchObject([{ type: 'appendResponse', to: 'n3', term: 1 }]);
    raw.advance();
    expect(raw.status()).toMatchObject({ lastIndex: 1, term: 1 });
    expect(net.node('n2').storage.term(idx(1))).toBe(1);
  });

  it('reports status with progress only on the leader', () => {
    // Proves status(): leader sees every member's progress, followers see null.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.propose('n1', 'x');
    const status = net.raw('n1').status();
    expect(status).toMatchObject({ id: 'n1', term: 1, vote: 'n1', commit: 2, applied: 2, leader: 'n1', role: 'leader', lastIndex: 2, firstIndex: 1 });
    expect([...(status.progress ?? new Map()).entries()]).toEqual([
      ['n1', { match: 2, next: 3, state: 'replicate' }],
      ['n2', { match: 2, next: 3, state: 'replicate' }],
      ['n3', { match: 2, next: 3, state: 'replicate' }],
    ]);
    expect(net.raw('n2').status().progress).toBeNull();
  });

  it('re-applies committed entries after config.applied on restart', () => {
    // Proves entries after the application's applied index are handed out again after a restart.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.propose('n1', 'a');
    net.propose('n1', 'b');
    const node = net.node('n2');
    net.crash('n2');
    node.appliedIndex = idx(1);
    node.applied = node.applied.slice(0, 1);
    net.restart('n2');
    net.stabilize();
    expect(node.appliedTexts()).toEqual(['a', 'b']);
  });

  it('rejects an invalid configuration at construction', () => {
    // Proves start-up checks: heartbeatTicks must be below electionTicks.
    expect(() => new TestNetwork(ids, { heartbeatTicks: 10, electionTicks: 10 })).toThrow(/heartbeatTicks/);
  });
});
