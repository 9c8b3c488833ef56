import { describe, expect, it } from 'vitest';
import { isErrorCode, nodeId, term } from '../util/index.js';
import { MemoryStorage } from './memory-storage.js';
import type { Message } from './message.js';
import type { Ready } from './ready.js';
import { idx, TestNetwork } from './test-network.js';
import type { Entry } from './types.js';

const ids = ['n1', 'n2', 'n3'];
const conf = { voters: ids.map(nodeId), learners: [] };
const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

/** A disk holding entries with the given terms (index i + 1 has terms[i]). */
function diskWithLog(terms: readonly number[], currentTerm: number, commit: number): MemoryStorage {
  const storage = new MemoryStorage({ confState: conf });
  const entries: Entry[] = terms.map((t, i) => ({ index: idx(i + 1), term: term(t), type: 'normal', data: bytes(`e${i + 1}t${t}`) }));
  storage.persistSync({ hardState: { term: term(currentTerm), vote: null, commit: idx(commit) }, entries, snapshot: null });
  return storage;
}

/** A network whose nodes start from the given disks. */
function networkOn(disks: Record<string, MemoryStorage>, options = {}): TestNetwork {
  const net = new TestNetwork([], options, conf);
  for (const [id, disk] of Object.entries(disks)) net.addNode(id, conf, disk);
  return net;
}

const appendsTo = (messages: readonly Message[], to: string): Message[] => messages.filter((m) => m.type === 'append' && m.to === to);

describe('log replication (Raft paper §5.3)', () => {
  it('replicates, commits and applies proposals in the same order everywhere', () => {
    // Proves every node applies the leader's entries, in order, with identical commit indexes.
    const net = new TestNetwork(ids);
    net.elect('n1');
    for (let i = 0; i < 10; i++) net.propose('n1', `cmd${i}`);
    net.tickAll(2);
    const expected = Array.from({ length: 10 }, (_, i) => `cmd${i}`);
    for (const n of net.nodes.values()) {
      expect(n.appliedTexts()).toEqual(expected);
      expect(n.raw.status().commit).toBe(11);
      expect(n.raw.status().applied).toBe(11);
    }
  });

  it('commits only once a majority holds the entry', () => {
    // Proves a leader without a majority cannot commit, and commits as soon as one follower returns.
    const net = new TestNetwork(ids, { checkQuorum: false });
    net.elect('n1');
    net.isolate('n1');
    const index = net.propose('n1', 'x');
    net.tickAll(5);
    expect(net.raw('n1').status().commit).toBe(index - 1);
    expect(net.node('n1').appliedTexts()).toEqual([]);
    net.heal();
    net.cut('n1', 'n3');
    net.tickAll(2);
    expect(net.raw('n1').status().commit).toBe(index);
    expect(net.node('n1').appliedTexts()).toEqual(['x']);
  });

  it('rejects proposals on a follower', () => {
    // Proves propose() throws ProposalDroppedError when this node is not the leader.
    const net = new TestNetwork(ids);
    net.elect('n1');
    expect(() => net.raw('n2').propose(bytes('x'))).toThrow(expect.objectContaining({ code: 'PROPOSAL_DROPPED' }));
  });

  it('repairs a long divergent follower log in few round trips (fast backtracking)', () => {
    // Proves the rejectHint/hintTerm skip a whole conflicting term: 100 divergent entries cost one rejection.
    const common = [1, 1, 1, 1, 1];
    const leaderLog = [...common, ...Array<number>(50).fill(3)];
    const divergent = [...common, ...Array<number>(100).fill(2)];
    const net = networkOn({ n1: diskWithLog(leaderLog, 3, 5), n2: diskWithLog(divergent, 2, 5), n3: diskWithLog(leaderLog, 3, 5) });
    net.elect('n1');
    const rejections = net.sent.filter((m) => m.type === 'appendResponse' && m.from === 'n2' && m.reject);
    expect(rejections.length).toBeLessThanOrEqual(1);
    expect(appendsTo(net.sent, 'n2').length).toBeLessThanOrEqual(4);
    const n2 = net.raw('n2').status();
    expect(n2.lastIndex).toBe(56);
    expect(net.node('n2').storage.term(idx(56))).toBe(4);
    expect(net.node('n2').storage.term(idx(6))).toBe(3);
    expect(n2.commit).toBe(56);
  });

  it('never commits an entry of an earlier term by counting replicas', () => {
    // Proves Raft paper §5.4.2 (Figure 8): a majority holding a previous-term entry does not commit it.
    const net = networkOn({ n1: diskWithLog([1, 1], 1, 1), n2: diskWithLog([1], 1, 1), n3: diskWithLog([1], 1, 1) });
    net.filter = (m) => m.type !== 'append';
    net.elect('n1');
    expect(net.raw('n1').status()).toMatchObject({ term: 2, lastIndex: 3, commit: 1 });
    // n2 now holds index 2 (term 1) but not the no-op at 3 (term 2).
    net.raw('n1').step({ type: 'appendResponse', from: nodeId('n2'), to: nodeId('n1'), term: term(2), index: idx(2), reject: false, rejectHint: idx(0), hintTerm: term(0) });
    net.drainReadies();
    expect(net.raw('n1').status().commit).toBe(1);
  });

  it('with testFaults.commitPreviousTermByCounting the same replica count DOES commit (negative control)', () => {
    // Proves the fault switch really breaks the §5.4.2 rule the previous test checks.
    const faults = { testFaults: { commitPreviousTermByCounting: true } };
    const net = networkOn({ n1: diskWithLog([1, 1], 1, 1), n2: diskWithLog([1], 1, 1), n3: diskWithLog([1], 1, 1) }, faults);
    net.filter = (m) => m.type !== 'append';
    net.elect('n1');
    net.raw('n1').step({ type: 'appendResponse', from: nodeId('n2'), to: nodeId('n1'), term: term(2), index: idx(2), reject: false, rejectHint: idx(0), hintTerm: term(0) });
    net.drainReadies();
    expect(net.raw('n1').status().commit).toBe(2);
  });

  it('stops sending appends once the inflight window is full', () => {
    // Proves pipelining is bounded by inflightAppendsMax when acknowledgements stop coming back.
    const net = new TestNetwork(ids, { inflightAppendsMax: 2 });
    net.elect('n1');
    net.propose('n1', 'warm-up');
    expect(net.raw('n1').status().progress?.get(nodeId('n2'))?.state).toBe('replicate');
    net.filter = (m) => !(m.from === 'n2' && m.type === 'appendResponse');
    const before = net.sent.length;
    for (let i = 0; i < 5; i++) net.propose('n1', `p${i}`);
    const withEntries = appendsTo(net.sent.slice(before), 'n2').filter((m) => m.type === 'append' && m.entries.length > 0);
    expect(withEntries).toHaveLength(2);
    // Once answers flow again (a heartbeat round frees the window), n2 catches up.
    net.filter = null;
    net.tickAll(3);
    expect(net.node('n2').appliedTexts()).toEqual(['warm-up', 'p0', 'p1', 'p2', 'p3', 'p4']);
  });

  it('batches entries into appends of at most appendBytesMax', () => {
    // Proves a lagging follower receives its backlog in append messages cut at appendBytesMax.
    const net = new TestNetwork(ids, { appendBytesMax: 30 });
    net.elect('n1');
    net.isolate('n3');
    for (let i = 0; i < 9; i++) net.propose('n1', `ten-bytes${i}`);
    net.heal();
    const before = net.sent.length;
    net.tickAll(3);
    const appends = appendsTo(net.sent.slice(before), 'n3').filter((m) => m.type === 'append' && m.entries.length > 0);
    expect(appends.length).toBeGreaterThanOrEqual(3);
    for (const m of appends) if (m.type === 'append') expect(m.entries.reduce((n, e) => n + e.data.length, 0)).toBeLessThanOrEqual(30);
    expect(net.node('n3').appliedTexts()).toHaveLength(9);
  });

  it('hands out at most applyBytesMax of committed entries per Ready', () => {
    // Proves Ready.committedEntries is cut at applyBytesMax (always at least one entry).
    const net = new TestNetwork(ids, { applyBytesMax: 25 });
    net.elect('n1');
    net.isolate('n1');
    for (let i = 0; i < 6; i++) net.raw('n1').propose(bytes(`ten-bytes${i}`));
    net.drainReadies();
    net.heal();
    net.tickAll(3);
    const readies = net.node('n2').readies.filter((r) => r.committedEntries.length > 0);
    for (const r of readies) expect(r.committedEntries.reduce((n, e) => n + e.data.length, 0)).toBeLessThanOrEqual(25);
    expect(readies.some((r) => r.committedEntries.length === 2)).toBe(true);
    expect(net.node('n2').appliedTexts()).toHaveLength(6);
  });

  it('drops proposals beyond uncommittedBytesMax', () => {
    // Proves a leader that cannot commit sheds load instead of growing its log without bound.
    const net = new TestNetwork(ids, { uncommittedBytesMax: 100, checkQuorum: false });
    net.elect('n1');
    net.isolate('n1');
    let accepted = 0;
    let error: unknown = null;
    try {
      for (let i = 0; i < 20; i++, accepted++) net.raw('n1').propose(new Uint8Array(30));
    } catch (e) {
      error = e;
    }
    expect(isErrorCode(error, 'PROPOSAL_DROPPED')).toBe(true);
    expect(accepted).toBe(3);
  });

  it('applies the leader entries only once persisted, and a lone leader commits on its own persistence', () => {
    // Proves a single-voter leader hands out an entry in the Ready after the one that persisted it.
    const net = new TestNetwork(['s1']);
    net.elect('s1');
    const raw = net.raw('s1');
    const { index } = raw.propose(bytes('x'));
    const first = raw.ready();
    expect(first.entries.map((e) => e.index)).toEqual([index]);
    expect(first.committedEntries).toEqual([]);
    net.node('s1').storage.persistSync({ hardState: first.hardState, entries: first.entries, snapshot: null });
    raw.advance();
    const second = raw.ready();
    expect(second.committedEntries.map((e) => e.index)).toEqual([index]);
    expect(second.hardState?.commit).toBe(index);
  });
});

describe('crash and restart', () => {
  it('a restarted node recovers its term, vote and log from its disk and rejoins', () => {
    // Proves MemoryStorage as the disk is enough to rebuild a RawNode after a crash.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.propose('n1', 'a');
    net.crash('n2');
    net.propose('n1', 'b');
    net.restart('n2');
    expect(net.raw('n2').status()).toMatchObject({ term: 1, vote: 'n1', lastIndex: 2, applied: 2 });
    net.tickAll(3);
    expect(net.node('n2').appliedTexts()).toEqual(['a', 'b']);
  });

  it('a restarted leader comes back as a follower and the cluster keeps going', () => {
    // Proves leadership is volatile: the crashed leader restarts as follower and a new leader takes over.
    const net = new TestNetwork(ids);
    net.elect('n1');
    net.propose('n1', 'a');
    net.crash('n1');
    for (let i = 0; i < 50 && net.leaders().length === 0; i++) net.tickAll();
    const [leader] = net.leaders();
    expect(leader === 'n2' || leader === 'n3').toBe(true);
    net.propose(leader as string, 'b');
    net.restart('n1');
    expect(net.raw('n1').status().role).toBe('follower');
    net.tickAll(3);
    expect(net.node('n1').appliedTexts()).toEqual(['a', 'b']);
  });

  it('with testFaults.voteWithoutPersist the vote is granted but never persisted (negative control)', () => {
    // Proves the fault drops the vote from the hard state, so a restart forgets it.
    const net = new TestNetwork(ids, { testFaults: { voteWithoutPersist: true } });
    net.elect('n1');
    expect(net.raw('n2').status().vote).toBe('n1');
    expect(net.node('n2').storage.initialState().hardState.vote).toBeNull();
    net.crash('n2');
    net.restart('n2');
    expect(net.raw('n2').status().vote).toBeNull();
    // So n2 grants a second vote in term 1, to another candidate: two leaders become possible.
    const voteFromN3: Message = { type: 'vote', from: nodeId('n3'), to: nodeId('n2'), term: term(1), lastLogIndex: idx(1), lastLogTerm: term(1), transfer: false };
    net.raw('n2').step(voteFromN3);
    expect(net.raw('n2').ready().messages).toMatchObject([{ type: 'voteResponse', to: 'n3', reject: false }]);
    // Control: without the fault the vote survives a restart and the second request is refused.
    const ok = new TestNetwork(ids);
    ok.elect('n1');
    ok.crash('n2');
    ok.restart('n2');
    expect(ok.raw('n2').status().vote).toBe('n1');
    ok.raw('n2').step(voteFromN3);
    expect(ok.raw('n2').ready().messages).toMatchObject([{ type: 'voteResponse', to: 'n3', reject: true }]);
  });
});

describe('append coalescing and the early send (Raft thesis §10.2.1)', () => {
  /** Handles the Readys of every node; returns the first new Ready of `id`. */
  function nextReady(net: TestNetwork, id: string): Ready {
    const node = net.node(id);
    const before = node.readies.length;
    net.drainReadies();
    const rd = node.readies[before];
    if (rd === undefined) throw new Error(`${id} had no Ready`);
    return rd;
  }

  it('sends one append per follower for a burst of proposals made between two Readys', () => {
    // Proves proposals only mark appends as due: the Ready carries one append per follower holding every entry.
    const net = new TestNetwork(ids);
    const leader = net.elect('n1');
    for (let i = 0; i < 20; i++) leader.propose(bytes(`burst${i}`));
    const rd = nextReady(net, 'n1');
    for (const to of ['n2', 'n3']) {
      const appends = appendsTo(rd.messages, to);
      expect(appends).toHaveLength(1);
      expect(appends[0]?.type === 'append' ? appends[0].entries.length : 0).toBe(20);
    }
    net.stabilize();
    for (const n of net.nodes.values()) expect(n.appliedTexts().slice(-20)).toEqual(Array.from({ length: 20 }, (_, i) => `burst${i}`));
  });

  it('spreads a new commit index with one append per follower however many acknowledgements moved it', () => {
    // Proves acknowledgements only mark appends as due: each follower gets one commit-carrying append per Ready.
    const net = new TestNetwork(ids);
    net.elect('n1');
    const leader = net.node('n1');
    const held: Message[] = [];
    for (let i = 0; i < 5; i++) {
      leader.raw.propose(bytes(`p${i}`));
      for (const m of leader.handleReady()) net.node(m.to).raw.step(m);
      for (const f of ['n2', 'n3'].map((id) => net.node(id))) while (f.raw.hasReady()) held.push(...f.handleReady());
    }
    // Five acknowledgements from each follower, each moving the commit index, stepped at once.
    for (const m of held) leader.raw.step(m);
    const before = leader.readies.length;
    leader.handleReady();
    const rd = leader.readies[before];
    expect(rd?.hardState?.commit).toBe(6);
    for (const to of ['n2', 'n3']) expect(appendsTo(rd?.messages ?? [], to)).toHaveLength(1);
  });

  it('lets only a leader whose term and vote did not change send before its batch is durable', () => {
    // Proves sendBeforePersist: false for a candidate's vote requests and a follower's acknowledgements, true for a steady leader.
    const net = new TestNetwork(ids);
    const n1 = net.raw('n1');
    for (let i = 0; i < 100 && n1.status().role === 'follower'; i++) n1.tick();
    while (n1.status().role !== 'candidate') {
      const rd = nextReady(net, 'n1');
      expect(rd.sendBeforePersist).toBe(false);
      net.deliverOnce();
      net.drainReadies();
      net.deliverOnce();
    }
    expect(nextReady(net, 'n1').sendBeforePersist).toBe(false); // the vote requests of a new term
    net.stabilize();
    expect(n1.status().role).toBe('leader');
    n1.propose(bytes('x'));
    const steady = nextReady(net, 'n1');
    expect(steady.mustSync).toBe(true);
    expect(steady.sendBeforePersist).toBe(true);
    net.deliverOnce();
    const follower = nextReady(net, 'n2');
    expect(follower.entries.length).toBeGreaterThan(0);
    expect(follower.sendBeforePersist).toBe(false);
    net.stabilize();
  });
});
