import { describe, expect, it } from 'vitest';
import { isErrorCode, nodeId } from '../util/index.js';
import { TestNetwork } from './test-network.js';

const ids = ['n1', 'n2', 'n3'];
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('leadership transfer (Raft thesis §3.10)', () => {
  it('hands leadership to an up-to-date follower with timeoutNow', () => {
    // Proves transferLeader makes the target campaign at once (despite the leader lease) and win.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.propose('n1', 'x');
    net.raw('n1').transferLeader(nodeId('n2'));
    net.stabilize();
    expect(net.leaders()).toEqual(['n2']);
    expect(net.raw('n1').status()).toMatchObject({ role: 'follower', term: 2, leader: 'n2' });
    const votes = net.sent.filter((m) => m.type === 'vote' && m.from === 'n2');
    expect(votes.length).toBe(2);
    expect(votes.every((m) => m.type === 'vote' && m.transfer)).toBe(true);
    expect(net.sent.some((m) => m.type === 'preVote' && m.from === 'n2')).toBe(false);
  });

  it('catches a lagging target up before sending timeoutNow', () => {
    // Proves the leader first replicates the missing entries, and the new leader has all of them.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.isolate('n3');
    net.propose('n1', 'a');
    net.propose('n1', 'b');
    net.heal();
    net.raw('n1').transferLeader(nodeId('n3'));
    net.stabilize();
    expect(net.leaders()).toEqual(['n3']);
    const appendIndex = net.sent.findIndex((m) => m.type === 'append' && m.to === 'n3' && m.entries.length > 0);
    const timeoutIndex = net.sent.findIndex((m) => m.type === 'timeoutNow');
    expect(appendIndex).toBeGreaterThanOrEqual(0);
    expect(timeoutIndex).toBeGreaterThan(appendIndex);
    net.propose('n3', 'c');
    for (const n of net.nodes.values()) expect(n.appliedTexts()).toEqual(['a', 'b', 'c']);
  });

  it('drops proposals during a transfer and aborts it after an election timeout', () => {
    // Proves a stuck transfer blocks proposals only until it is abandoned.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.isolate('n3');
    net.propose('n1', 'a');
    net.raw('n1').transferLeader(nodeId('n3'));
    let error: unknown = null;
    try {
      net.raw('n1').propose(bytes('during'));
    } catch (e) {
      error = e;
    }
    expect(isErrorCode(error, 'PROPOSAL_DROPPED')).toBe(true);
    net.tickAll(10);
    expect(net.leaders()).toEqual(['n1']);
    expect(() => net.raw('n1').propose(bytes('after'))).not.toThrow();
  });

  it('a follower forwards the request to the leader', () => {
    // Proves transferLeader on a follower reaches the leader, which transfers to the named node.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.raw('n3').transferLeader(nodeId('n3'));
    net.stabilize();
    expect(net.sent.some((m) => m.type === 'transferLeader' && m.from === 'n3' && m.to === 'n1')).toBe(true);
    expect(net.leaders()).toEqual(['n3']);
  });

  it('ignores a transfer to a learner', () => {
    // Proves only voters can be made leader.
    const net = new TestNetwork(['n1', 'n2', 'n3', 'n4'], {}, { voters: ids.map(nodeId), learners: [nodeId('n4')] });
    net.elect('n1');
    net.raw('n1').transferLeader(nodeId('n4'));
    net.stabilize();
    expect(net.leaders()).toEqual(['n1']);
    expect(() => net.raw('n1').propose(bytes('x'))).not.toThrow();
  });
});
