import { describe, expect, it } from 'vitest';
import { isErrorCode, nodeId } from '../util/index.js';
import { TestNetwork } from './test-network.js';

const ids = ['n1', 'n2', 'n3'];

describe('ReadIndex (Raft thesis §6.4)', () => {
  it('batches many reads on the leader into one heartbeat round', () => {
    // Proves N reads queued between two Readys cost one heartbeat per follower, and all get confirmed.
    const net = new TestNetwork(ids);
    const leader = net.elect('n1');
    net.propose('n1', 'x');
    const commit = leader.status().commit;
    for (let i = 0; i < 5; i++) leader.readIndex(`r${i}`);
    const rd = net.node('n1').handleReady();
    const heartbeats = rd.filter((m) => m.type === 'heartbeat');
    expect(heartbeats.map((m) => m.to)).toEqual(['n2', 'n3']);
    const contexts = new Set(heartbeats.map((m) => (m.type === 'heartbeat' ? m.context : '')));
    expect(contexts.size).toBe(1);
    expect([...contexts][0]).not.toBe('');
    expect(rd.filter((m) => m.type !== 'heartbeat')).toEqual([]);
    expect(net.node('n1').readStates).toEqual([]);
    // Deliver that round by hand, then let the answers come back.
    for (const m of rd) net.raw(m.to).step(m);
    net.stabilize();
    expect(net.node('n1').readStates).toEqual([0, 1, 2, 3, 4].map((i) => ({ index: commit, context: `r${i}` })));
    expect(net.sent.filter((m) => m.type === 'heartbeat')).toHaveLength(0);
  });

  it('does not confirm a read without a majority', () => {
    // Proves an isolated leader cannot serve a linearizable read; it completes once a majority answers.
    const net = new TestNetwork(ids, { checkQuorum: false });
    const leader = net.elect('n1');
    net.isolate('n1');
    leader.readIndex('r');
    net.tickAll(5);
    expect(net.node('n1').readStates).toEqual([]);
    net.heal();
    net.tickAll(2);
    expect(net.node('n1').readStates).toEqual([{ index: leader.status().commit, context: 'r' }]);
  });

  it('with testFaults.readIndexWithoutHeartbeat an isolated leader answers at once (negative control)', () => {
    // Proves the fault skips the confirmation round the previous test relies on.
    const net = new TestNetwork(ids, { checkQuorum: false, testFaults: { readIndexWithoutHeartbeat: true } });
    const leader = net.elect('n1');
    net.isolate('n1');
    leader.readIndex('r');
    net.stabilize();
    expect(net.node('n1').readStates).toEqual([{ index: leader.status().commit, context: 'r' }]);
  });

  it('serves a follower read through the leader', () => {
    // Proves a follower's readIndex is confirmed by the leader and surfaces as a ReadState on the follower.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.propose('n1', 'x');
    net.raw('n2').readIndex('f1');
    net.stabilize();
    expect(net.node('n2').readStates).toEqual([{ index: net.raw('n1').status().commit, context: 'f1' }]);
    expect(net.node('n1').readStates).toEqual([]);
    expect(net.sent.some((m) => m.type === 'readIndex' && m.from === 'n2' && m.to === 'n1')).toBe(true);
    expect(net.sent.some((m) => m.type === 'readIndexResponse' && m.to === 'n2')).toBe(true);
  });

  it('refuses a read when no leader is known', () => {
    // Proves readIndex throws ProposalDroppedError instead of waiting forever without a leader.
    const net = new TestNetwork(ids);
    let error: unknown = null;
    try {
      net.raw('n2').readIndex('r');
    } catch (e) {
      error = e;
    }
    expect(isErrorCode(error, 'PROPOSAL_DROPPED')).toBe(true);
  });

  it('holds reads until the new leader has committed an entry of its term', () => {
    // Proves a fresh leader does not answer from a commit index that may lag its predecessor's.
    const net = new TestNetwork(ids);
    net.filter = (m) => m.type !== 'append';
    const leader = net.elect('n1');
    leader.readIndex('early');
    net.stabilize();
    expect(net.sent.filter((m) => m.type === 'heartbeat')).toHaveLength(0);
    expect(net.node('n1').readStates).toEqual([]);
    net.filter = null;
    net.tickAll(3);
    expect(leader.status().commit).toBe(1);
    expect(net.node('n1').readStates).toEqual([{ index: 1, context: 'early' }]);
  });

  it('a single voter confirms reads without any message', () => {
    // Proves the single-voter shortcut: the read index is the commit index, in the next Ready.
    const net = new TestNetwork(['s1']);
    const leader = net.elect('s1');
    leader.readIndex('solo');
    const rd = leader.ready();
    expect(rd.readStates).toEqual([{ index: 1, context: 'solo' }]);
    expect(rd.messages).toEqual([]);
    leader.advance();
  });

  it('a read queued after a round started waits for a later round', () => {
    // Proves a round only confirms reads that arrived before its heartbeats went out.
    const net = new TestNetwork(ids);
    const leader = net.elect('n1');
    leader.readIndex('first');
    const round1 = net.node('n1').handleReady();
    leader.readIndex('second');
    for (const m of round1) net.raw(m.to).step(m);
    // Deliver the answers to round 1 only.
    const answers = [...net.node('n2').handleReady(), ...net.node('n3').handleReady()];
    for (const m of answers) leader.step(m);
    const rd = net.node('n1').handleReady();
    expect(net.node('n1').readStates.map((r) => r.context)).toEqual(['first']);
    // 'second' gets its own round, started by this Ready.
    const round2 = rd.filter((m) => m.type === 'heartbeat');
    expect(round2).toHaveLength(2);
    for (const m of round2) net.raw(m.to).step(m);
    net.stabilize();
    expect(net.node('n1').readStates.map((r) => r.context)).toEqual(['first', 'second']);
  });

  it('confirms a pending round when a membership change leaves the leader as the only voter', () => {
    // Proves reads do not hang when the quorum shrinks to the leader itself under an open round.
    const net = new TestNetwork(['n1', 'n2']);
    const leader = net.elect('n1');
    leader.proposeConfChange({ type: 'removeNode', nodeId: nodeId('n2'), context: new Uint8Array() });
    net.filter = (m) => m.type !== 'heartbeatResponse';
    leader.readIndex('r');
    net.stabilize();
    expect(leader.status().conf.voters).toEqual(['n1']);
    expect(net.node('n1').readStates.map((r) => r.context)).toEqual(['r']);
  });
});
