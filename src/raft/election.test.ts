import { describe, expect, it } from 'vitest';
import { nodeId, term } from '../util/index.js';
import type { Message } from './message.js';
import { idx, TestNetwork } from './test-network.js';

describe('leader election (Raft paper §5.2)', () => {
  it('elects exactly one leader among three nodes', () => {
    // Proves a 3-node cluster elects one leader, in term 1, that every node follows.
    const net = new TestNetwork(['n1', 'n2', 'n3']);
    net.elect('n1');
    expect(net.leaders()).toEqual(['n1']);
    for (const n of net.nodes.values()) {
      expect(n.raw.status().leader).toBe('n1');
      expect(n.raw.status().term).toBe(1);
    }
  });

  it('elects exactly one leader among five nodes from randomized timeouts alone', () => {
    // Proves that, ticking every node together, randomized timeouts produce a single agreed leader.
    for (let seed = 1; seed <= 10; seed++) {
      const net = new TestNetwork(['n1', 'n2', 'n3', 'n4', 'n5'], {}, undefined, seed);
      for (let i = 0; i < 100 && net.leaders().length === 0; i++) net.tickAll();
      net.tickAll(3);
      const leaders = net.leaders();
      expect(leaders).toHaveLength(1);
      const term = net.raw(leaders[0] as string).status().term;
      for (const n of net.nodes.values()) {
        expect(n.raw.status().leader).toBe(leaders[0]);
        expect(n.raw.status().term).toBe(term);
      }
    }
  });

  it('draws the election timeout from [electionTicks, 2 * electionTicks - 1]', () => {
    // Proves the timeout is randomized within the documented range (and actually varies with the seed).
    const seen = new Set<number>();
    for (let seed = 1; seed <= 30; seed++) {
      const net = new TestNetwork(['n1', 'n2', 'n3'], { electionTicks: 10 }, undefined, seed);
      const raw = net.raw('n1');
      let ticks = 0;
      while (raw.status().role === 'follower' && ticks < 100) {
        raw.tick();
        ticks++;
      }
      expect(ticks).toBeGreaterThanOrEqual(10);
      expect(ticks).toBeLessThanOrEqual(19);
      seen.add(ticks);
    }
    expect(seen.size).toBeGreaterThan(3);
  });

  it('a candidate whose log is behind loses the vote and returns to follower', () => {
    // Proves Raft paper §5.4.1: voters refuse a less up-to-date log, and a lost election ends in follower.
    const net = new TestNetwork(['n1', 'n2', 'n3'], { checkQuorum: false });
    net.elect('n1');
    net.isolate('n3');
    net.propose('n1', 'x');
    net.heal();
    net.campaign('n3');
    expect(net.raw('n3').status()).toMatchObject({ role: 'follower', term: 1 });
    const answers = net.sent.filter((m) => m.to === 'n3' && m.type === 'preVoteResponse');
    expect(answers.map((m) => m.type === 'preVoteResponse' && m.reject)).toEqual([true, true]);
    expect(net.leaders()).toEqual(['n1']);
  });
});

describe('pre-vote (Raft thesis §9.6)', () => {
  it('a partitioned node rejoining does not depose the leader or raise the term', () => {
    // Proves pre-vote keeps a partitioned node's term unchanged, so its return disrupts nothing.
    const net = new TestNetwork(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.isolate('n3');
    for (let i = 0; i < 100; i++) net.tickAll();
    expect(net.raw('n3').status().term).toBe(1);
    net.heal();
    net.tickAll(30);
    expect(net.leaders()).toEqual(['n1']);
    for (const n of net.nodes.values()) expect(n.raw.status().term).toBe(1);
  });

  it('without pre-vote and check-quorum the same rejoin deposes the leader (control)', () => {
    // Proves the previous test can fail: with the protections off, the rejoining node's term wins.
    const net = new TestNetwork(['n1', 'n2', 'n3'], { preVote: false, checkQuorum: false });
    net.elect('n1');
    net.isolate('n3');
    for (let i = 0; i < 100; i++) net.tickAll();
    expect(net.raw('n3').status().term).toBeGreaterThan(1);
    net.heal();
    net.tickAll(30);
    expect(net.raw('n1').status().term).toBeGreaterThan(1);
  });

  it('pre-vote requests carry term + 1 and change no state on either side', () => {
    // Proves a pre-candidate keeps its term and vote, and a voter granting a pre-vote keeps its own.
    const net = new TestNetwork(['n1', 'n2', 'n3']);
    net.raw('n1').tick();
    for (let i = 0; i < 30 && net.pending().length === 0; i++) net.tick('n1');
    const preVotes = net.pending().filter((m) => m.type === 'preVote');
    expect(preVotes).toHaveLength(2);
    expect(preVotes.every((m) => m.term === 1)).toBe(true);
    expect(net.raw('n1').status()).toMatchObject({ role: 'preCandidate', term: 0, vote: null });
    net.deliverOnce();
    net.drainReadies();
    expect(net.raw('n2').status()).toMatchObject({ term: 0, vote: null });
    expect(net.pending().filter((m) => m.type === 'preVoteResponse' && !m.reject)).toHaveLength(2);
  });
});

describe('check-quorum and the leader lease (Raft thesis §6.2)', () => {
  it('a leader that hears from no majority within an election timeout steps down', () => {
    // Proves check-quorum: an isolated leader becomes a follower after one election timeout.
    const net = new TestNetwork(['n1', 'n2', 'n3']);
    net.elect('n1');
    net.isolate('n1');
    net.tickAll(10);
    expect(net.raw('n1').status().role).toBe('leader');
    net.tickAll(11);
    expect(net.raw('n1').status().role).toBe('follower');
  });

  it('without check-quorum an isolated leader stays leader (control)', () => {
    // Proves the previous test can fail when the feature is off.
    const net = new TestNetwork(['n1', 'n2', 'n3'], { checkQuorum: false });
    net.elect('n1');
    net.isolate('n1');
    net.tickAll(40);
    expect(net.raw('n1').status().role).toBe('leader');
  });

  it('a follower in the leader lease ignores vote requests unless they are transfers', () => {
    // Proves the lease: a vote with a higher term is ignored (term unchanged), a transfer vote is not.
    const net = new TestNetwork(['n1', 'n2', 'n3']);
    net.elect('n1');
    const vote = (transfer: boolean): Message => ({
      type: 'vote', from: nodeId('n3'), to: nodeId('n2'), term: term(5), lastLogIndex: idx(100), lastLogTerm: term(4), transfer,
    });
    net.raw('n2').step(vote(false));
    expect(net.raw('n2').status().term).toBe(1);
    expect(net.raw('n2').hasReady()).toBe(false);
    net.raw('n2').step(vote(true));
    expect(net.raw('n2').status()).toMatchObject({ term: 5, vote: 'n3' });
  });

  it('a stale leader learns the new term from the answer to its heartbeat', () => {
    // Proves lower-term heartbeats are answered (etcd-style) so a deposed leader steps down.
    const net = new TestNetwork(['n1', 'n2', 'n3'], { checkQuorum: false });
    net.elect('n1');
    net.isolate('n1');
    net.elect('n2');
    expect(net.raw('n2').status().term).toBe(2);
    expect(net.raw('n1').status().role).toBe('leader');
    net.heal();
    net.tickAll(2);
    expect(net.raw('n1').status()).toMatchObject({ role: 'follower', term: 2, leader: 'n2' });
  });

  it('a node outside the voters never campaigns', () => {
    // Proves learners (and removed nodes) do not start elections however long they wait.
    const net = new TestNetwork(['n1', 'n2', 'n3', 'n4'], {}, { voters: ['n1', 'n2', 'n3'].map(nodeId), learners: [nodeId('n4')] });
    for (let i = 0; i < 100; i++) net.tick('n4');
    expect(net.raw('n4').status()).toMatchObject({ role: 'follower', term: 0 });
    expect(net.pending()).toHaveLength(0);
  });
});
