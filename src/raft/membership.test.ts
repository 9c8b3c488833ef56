import { describe, expect, it } from 'vitest';
import { isErrorCode, nodeId } from '../util/index.js';
import type { ConfChange } from './types.js';
import { TestNetwork } from './test-network.js';

const ids = ['n1', 'n2', 'n3'];
const change = (type: ConfChange['type'], id: string): ConfChange => ({ type, nodeId: nodeId(id), context: new Uint8Array([1, 2]) });
// A joining node starts from the cluster's bootstrap membership and replays the log's changes
// on top of it (or receives a snapshot carrying the membership).
const bootstrap = { voters: ids.map(nodeId), learners: [] };

function errorOf(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  return null;
}

describe('membership changes (Raft thesis §4.1)', () => {
  it('adds a learner that receives the log but neither votes nor counts for commit', () => {
    // Proves learners replicate and apply, never campaign, and are not counted in the commit quorum.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.propose('n1', 'a');
    net.addNode('n4', bootstrap);
    net.raw('n1').proposeConfChange(change('addLearner', 'n4'));
    net.stabilize();
    net.tickAll(3);
    expect(net.raw('n1').status().conf).toEqual({ voters: ids, learners: ['n4'] });
    expect(net.node('n4').appliedTexts()).toEqual(['a']);
    expect(net.raw('n4').status().conf.learners).toEqual(['n4']);
    // Only n1 and the learner hold the next entry: not a majority of voters.
    net.cut('n1', 'n2');
    net.cut('n1', 'n3');
    const { index } = net.raw('n1').propose(new TextEncoder().encode('b'));
    net.stabilize();
    expect(net.raw('n4').status().lastIndex).toBe(index);
    expect(net.raw('n1').status().commit).toBe(index - 1);
    // The learner never campaigns, however long it waits.
    net.isolate('n4');
    for (let i = 0; i < 50; i++) net.tick('n4');
    expect(net.raw('n4').status().role).toBe('follower');
  });

  it('promotes a learner to voter', () => {
    // Proves addVoter on a learner moves it into the voters, after which it counts for commit.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.addNode('n4', bootstrap);
    net.raw('n1').proposeConfChange(change('addLearner', 'n4'));
    net.stabilize();
    net.raw('n1').proposeConfChange(change('addVoter', 'n4'));
    net.stabilize();
    expect(net.raw('n1').status().conf).toEqual({ voters: ['n1', 'n2', 'n3', 'n4'], learners: [] });
    expect(net.raw('n4').status().conf).toEqual({ voters: ['n1', 'n2', 'n3', 'n4'], learners: [] });
    // With 4 voters, n1 + n4 are not a majority; n1 + n2 + n4 are.
    net.cut('n1', 'n3');
    net.cut('n1', 'n2');
    const { index } = net.raw('n1').propose(new TextEncoder().encode('x'));
    net.stabilize();
    expect(net.raw('n1').status().commit).toBe(index - 1);
    net.heal();
    net.cut('n1', 'n3');
    net.tickAll(2);
    expect(net.raw('n1').status().commit).toBe(index);
  });

  it('removes a follower: the rest commit without it and it stops receiving the log', () => {
    // Proves removeNode shrinks the quorum and drops the member's progress.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.raw('n1').proposeConfChange(change('removeNode', 'n3'));
    net.stabilize();
    const status = net.raw('n1').status();
    expect(status.conf).toEqual({ voters: ['n1', 'n2'], learners: [] });
    expect([...(status.progress?.keys() ?? [])]).toEqual(['n1', 'n2']);
    net.isolate('n3');
    net.propose('n1', 'after');
    expect(net.node('n2').appliedTexts()).toEqual(['after']);
    expect(net.node('n3').appliedTexts()).toEqual([]);
  });

  it('removes the leader: it steps down once applied and the others elect a new leader', () => {
    // Proves a leader applying its own removal steps down and never campaigns again.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.raw('n1').proposeConfChange(change('removeNode', 'n1'));
    net.stabilize();
    expect(net.raw('n1').status().role).toBe('follower');
    for (let i = 0; i < 60 && net.leaders().length === 0; i++) net.tickAll();
    const [leader] = net.leaders();
    expect(leader === 'n2' || leader === 'n3').toBe(true);
    expect(net.raw(leader as string).status().conf.voters).toEqual(['n2', 'n3']);
    net.propose(leader as string, 'new era');
    expect(net.node(leader === 'n2' ? 'n3' : 'n2').appliedTexts()).toEqual(['new era']);
    net.tickAll(50);
    expect(net.raw('n1').status().role).toBe('follower');
    expect(net.leaders()).toEqual([leader]);
  });

  it('allows one change at a time, and none before the term no-op is applied', () => {
    // Proves pendingConfIndex: a second change (or one right after election) fails with FAILED_PRECONDITION.
    const net = new TestNetwork(ids);
    net.filter = (m) => m.type !== 'append';
    const leader = net.elect('n1');
    expect(isErrorCode(errorOf(() => leader.proposeConfChange(change('addLearner', 'n4'))), 'FAILED_PRECONDITION')).toBe(true);
    net.filter = null;
    net.tickAll(2);
    leader.proposeConfChange(change('addLearner', 'n4'));
    expect(isErrorCode(errorOf(() => leader.proposeConfChange(change('addLearner', 'n5'))), 'FAILED_PRECONDITION')).toBe(true);
    net.stabilize();
    expect(() => leader.proposeConfChange(change('addLearner', 'n5'))).not.toThrow();
  });

  it('refuses invalid changes and changes on a follower', () => {
    // Proves the validation: unknown node, existing voter, last voter, and the not-leader case.
    const net = new TestNetwork(ids);
    const leader = net.elect('n1');
    expect(isErrorCode(errorOf(() => leader.proposeConfChange(change('removeNode', 'n9'))), 'FAILED_PRECONDITION')).toBe(true);
    expect(isErrorCode(errorOf(() => leader.proposeConfChange(change('addVoter', 'n2'))), 'FAILED_PRECONDITION')).toBe(true);
    expect(isErrorCode(errorOf(() => net.raw('n2').proposeConfChange(change('addLearner', 'n4'))), 'PROPOSAL_DROPPED')).toBe(true);
    const single = new TestNetwork(['s1']);
    const solo = single.elect('s1');
    expect(isErrorCode(errorOf(() => solo.proposeConfChange(change('removeNode', 's1'))), 'FAILED_PRECONDITION')).toBe(true);
  });

  it('grows a single-node cluster to three voters', () => {
    // Proves a lone leader can add voters one by one and the new members then vote and commit.
    const net = new TestNetwork(['n1']);
    const leader = net.elect('n1');
    for (const id of ['n2', 'n3']) {
      net.addNode(id, { voters: [nodeId('n1')], learners: [] });
      leader.proposeConfChange(change('addVoter', id));
      net.stabilize();
      net.tickAll(2);
    }
    expect(leader.status().conf.voters).toEqual(['n1', 'n2', 'n3']);
    net.propose('n1', 'x');
    for (const n of net.nodes.values()) expect(n.appliedTexts()).toEqual(['x']);
    net.crash('n1');
    for (let i = 0; i < 60 && net.leaders().length === 0; i++) net.tickAll();
    expect(net.leaders()).toHaveLength(1);
  });
});
