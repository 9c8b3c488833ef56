// Proves the simulator's building blocks work on their own, against small fakes: event order, network fates, invariant checkers, history, clients, nemesis and membership.
import { describe, expect, it } from 'vitest';
import { checkLinearizable } from '../../jepsen-lite/checker/index.js';
import { KvStateMachine, encodeCommand, decodeCommand } from '../../src/kv/index.js';
import { SeededPrng, logIndex, makeLimits } from '../../src/util/index.js';
import type { ConfChange, ConfState } from '../../src/raft/index.js';
import { TraceDigest } from './digest.js';
import { EventQueue, usPerMs } from './event-queue.js';
import { HistoryRecorder } from './history.js';
import type { OpRequest } from './history.js';
import { SafetyChecker } from './invariants.js';
import type { EntryLike, LogView } from './invariants.js';
import { decodeKvImage, encodeKvImage } from './kv-image-codec.js';
import { MembershipController } from './membership.js';
import type { MemberNodeView, MembershipHost } from './membership.js';
import { Nemesis, drawProfile } from './nemesis.js';
import type { NemesisAction, NemesisHost } from './nemesis.js';
import { Network, calmNetwork, partitions } from './network.js';
import type { Partition } from './network.js';
import { drawParams } from './params.js';
import type { ClientRequest, ClientResponse } from './protocol.js';
import { SimClient } from './sim-client.js';
import type { ClientHost } from './sim-client.js';
import { InvariantBroken, replayCommand } from './violation.js';

const utf8 = new TextEncoder();

function entry(index: number, term: number, data = `e${index}t${term}`): EntryLike {
  return { index, term, type: 'normal', data: utf8.encode(data) };
}

/** A log view over a plain array of entries starting at `first`, with a snapshot term before it. */
function fakeLog(entries: EntryLike[], first = 1, snapshotTerm = 0): LogView {
  return {
    firstIndex: () => first,
    lastIndex: () => first + entries.length - 1,
    term: (i) => (i === first - 1 ? snapshotTerm : (entries[i - first] as EntryLike).term),
    entry: (i) => entries[i - first] as EntryLike,
  };
}

function expectBroken(kind: string, f: () => void): void {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(InvariantBroken);
    expect((e as InvariantBroken).kind).toBe(kind);
    return;
  }
  throw new Error(`expected a ${kind} violation`);
}

describe('event queue', () => {
  it('runs events by time, then by scheduling order, and never goes back in time', () => {
    const q = new EventQueue();
    const order: string[] = [];
    q.schedule(5, 'b', () => order.push('b'));
    q.schedule(1, 'a', () => order.push('a'));
    q.schedule(5, 'c', () => order.push('c'));
    q.schedule(0, 'z', () => order.push('z'));
    for (let ev = q.pop(); ev !== undefined; ev = q.pop()) {
      ev.run();
      if (ev.label === 'a') q.schedule(4, 'd', () => order.push('d'));
    }
    expect(order).toEqual(['z', 'a', 'b', 'c', 'd']);
    expect(q.now()).toBe(5);
  });

  it('keeps order over many random events', () => {
    const q = new EventQueue();
    const prng = new SeededPrng(7);
    for (let i = 0; i < 2000; i++) q.schedule(prng.int(0, 100), `e${i}`, () => {});
    let last = { t: -1, s: -1 };
    for (let ev = q.pop(); ev !== undefined; ev = q.pop()) {
      expect(ev.timeUs > last.t || (ev.timeUs === last.t && ev.seq > last.s)).toBe(true);
      last = { t: ev.timeUs, s: ev.seq };
    }
  });
});

describe('digest', () => {
  it('is equal for equal traces and differs when the split or the order differs', () => {
    const d = (parts: string[]) => {
      const h = new TraceDigest();
      for (const p of parts) h.add(p);
      return h.hex();
    };
    expect(d(['a', 'bc'])).toBe(d(['a', 'bc']));
    expect(d(['a', 'bc'])).not.toBe(d(['ab', 'c']));
    expect(d(['x', 'y'])).not.toBe(d(['y', 'x']));
    expect(d(['a'])).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('network', () => {
  const all = ['n1', 'n2', 'n3', 'n4', 'n5'];

  it('connects nodes only within a group, with a bridge node in both halves', () => {
    const net = new Network(new SeededPrng(1), calmNetwork);
    net.setPartition(partitions.isolate(all, 'n3'));
    expect(net.connected('n1', 'n2')).toBe(true);
    expect(net.connected('n1', 'n3')).toBe(false);
    expect(net.connected('n3', 'n5')).toBe(false);
    const bridge = partitions.bridge(all, new SeededPrng(2)) as string[][];
    net.setPartition(bridge);
    const [left, right] = bridge as [string[], string[]];
    const shared = left.filter((n) => right.includes(n));
    expect(shared).toHaveLength(1);
    const a = left.find((n) => !right.includes(n)) as string;
    const b = right.find((n) => !left.includes(n)) as string;
    expect(net.connected(a, b)).toBe(false);
    expect(net.connected(a, shared[0] as string)).toBe(true);
    expect(net.connected(b, shared[0] as string)).toBe(true);
    const split = partitions.split(all, new SeededPrng(3), 2) as string[][];
    expect(split.map((g) => g.length).sort()).toEqual([2, 3]);
    net.setPartition(null);
    expect(net.connected('n1', 'n3')).toBe(true);
  });

  it('drops, duplicates and delays messages as its quality says, deterministically', () => {
    const lossy = { ...calmNetwork, dropRate: 1 };
    expect(new Network(new SeededPrng(1), lossy).plan('n1', 'n2')).toEqual([]);
    const dup = { ...calmNetwork, duplicateRate: 1 };
    expect(new Network(new SeededPrng(1), dup).plan('n1', 'n2')).toHaveLength(2);
    const plans = (seed: number) => {
      const net = new Network(new SeededPrng(seed), { ...calmNetwork, dropRate: 0.3, duplicateRate: 0.2, slowRate: 0.1, slowLatencyUsMax: 100_000 });
      return Array.from({ length: 200 }, () => net.plan('n1', 'n2'));
    };
    expect(plans(9)).toEqual(plans(9));
    const all200 = plans(9).flat();
    expect(Math.min(...all200)).toBeGreaterThanOrEqual(calmNetwork.latencyUsMin);
    expect(Math.max(...all200)).toBeLessThanOrEqual(100_000);
    expect(plans(9).filter((p) => p.length === 0).length).toBeGreaterThan(20);
    const cut = new Network(new SeededPrng(1), calmNetwork);
    cut.setPartition(partitions.isolate(all, 'n2') as Partition);
    expect(cut.plan('n1', 'n2')).toEqual([]);
  });
});

describe('safety checker', () => {
  it('allows one leader per term and catches a second', () => {
    const c = new SafetyChecker();
    c.observeLeader('n1', 3);
    c.observeLeader('n1', 3);
    c.observeLeader('n2', 4);
    expectBroken('electionSafety', () => c.observeLeader('n3', 3));
  });

  it('catches a node voting for two candidates in one term', () => {
    const c = new SafetyChecker();
    c.observeVoteGranted('n1', 2, 'n2');
    c.observeVoteGranted('n1', 2, 'n2');
    c.observeVoteGranted('n1', 3, 'n3');
    expectBroken('doubleVote', () => c.observeVoteGranted('n1', 2, 'n3'));
  });

  it('catches two nodes applying different entries at one index', () => {
    const c = new SafetyChecker();
    c.observeCommittedEntry('n1', entry(1, 1), 1);
    c.observeCommittedEntry('n2', entry(1, 1), 2);
    expectBroken('stateMachineSafety', () => c.observeCommittedEntry('n3', entry(1, 2), 2));
    expectBroken('stateMachineSafety', () => c.observeCommittedEntry('n3', entry(1, 1, 'other data'), 2));
  });

  it('checks leader completeness against entries committed in earlier terms only', () => {
    const c = new SafetyChecker();
    c.observeCommittedEntry('n1', entry(1, 1), 1);
    c.observeCommittedEntry('n1', entry(2, 2), 2);
    const good = fakeLog([entry(1, 1), entry(2, 2), entry(3, 3)]);
    c.checkLeaderCompleteness('n2', 3, good, 3);
    expectBroken('leaderCompleteness', () => c.checkLeaderCompleteness('n3', 3, fakeLog([entry(1, 1)]), 1));
    expectBroken('leaderCompleteness', () => c.checkLeaderCompleteness('n3', 3, fakeLog([entry(1, 1), entry(2, 1)]), 2));
    // A stale candidate winning term 2 late owes nothing to what was committed in term 2 or later.
    c.checkLeaderCompleteness('n3', 2, fakeLog([entry(1, 1)]), 1);
    // Compacted entries are covered by the new leader's snapshot.
    c.checkLeaderCompleteness('n4', 3, fakeLog([entry(3, 3)], 3, 2), 3);
  });

  it('catches commit, term and vote going backwards', () => {
    const c = new SafetyChecker();
    c.observeCommitIndex('n1', 5);
    expectBroken('durableStateRegressed', () => c.observeCommitIndex('n1', 4));
    c.observePersistedHardState('n2', { term: 3, vote: 'n1', commit: 4 });
    expectBroken('durableStateRegressed', () => c.observePersistedHardState('n2', { term: 2, vote: null, commit: 4 }));
    expectBroken('durableStateRegressed', () => c.observePersistedHardState('n2', { term: 3, vote: 'n3', commit: 4 }));
    expectBroken('durableStateRegressed', () => c.observePersistedHardState('n2', { term: 3, vote: 'n1', commit: 3 }));
    c.observePersistedHardState('n2', { term: 4, vote: null, commit: 5 });
    expectBroken('durableStateRegressed', () => c.observeRestart('n2', 4));
    c.observeRestart('n2', 5);
    expectBroken('applyOrder', () => c.observeApplied('n2', 6, 5));
  });

  it('catches a read index below what was committed when the read began', () => {
    const c = new SafetyChecker();
    c.observeCommittedEntry('n1', entry(1, 1), 1);
    c.observeCommittedEntry('n1', entry(2, 1), 1);
    c.observeReadIndexCall('n2', 'r1');
    c.observeReadIndexCall('n2', 'r2');
    c.observeReadState('n2', 'r1', 2);
    expectBroken('staleReadIndex', () => c.observeReadState('n2', 'r2', 1));
  });

  it('catches logs that agree on an entry but differ before it', () => {
    const c = new SafetyChecker();
    const a = fakeLog([entry(1, 1), entry(2, 1), entry(3, 2)]);
    const b = fakeLog([entry(1, 1), entry(2, 1), entry(3, 3)]);
    c.checkLogMatching([{ node: 'a', log: a }, { node: 'b', log: b }]);
    const bad = fakeLog([entry(1, 1), entry(2, 1, 'forged'), entry(3, 2)]);
    expectBroken('logMatching', () => c.checkLogMatching([{ node: 'a', log: a }, { node: 'bad', log: bad }]));
    // Only the overlap is compared: a compacted log is fine.
    c.checkLogMatching([{ node: 'a', log: a }, { node: 'c', log: fakeLog([entry(3, 2)], 3, 1) }]);
    expectBroken('logMatching', () => c.checkAppendBatch('n1', [entry(4, 2), entry(6, 2)], 2));
    expectBroken('logMatching', () => c.checkAppendBatch('n1', [entry(4, 1)], 2));
  });

  it('catches two replicas with different state at one applied index', () => {
    const c = new SafetyChecker();
    c.observeStateHash('n1', 10, 'aaaa');
    c.observeStateHash('n2', 10, 'aaaa');
    expectBroken('stateDivergence', () => c.observeStateHash('n3', 10, 'bbbb'));
  });
});

describe('history', () => {
  it('records calls and answers in the checker format, and the checker reads it', () => {
    const h = new HistoryRecorder();
    const w = h.invoke('c1', { kind: 'put', key: 'k', value: 'v1' }, 0);
    h.complete(w, { status: 'ok' }, 10);
    const r = h.invoke('c2', { kind: 'get', key: 'k' }, 20);
    h.complete(r, { status: 'ok', value: null }, 30);
    const lost = h.invoke('c1', { kind: 'cas', key: 'k', expected: 'v1', newValue: 'v2' }, 40);
    h.complete(lost, { status: 'indeterminate' }, 50);
    const history = h.history();
    expect(history[2]).toMatchObject({ kind: 'cas', expected: 'v1', newValue: 'v2', ret: null, status: 'indeterminate' });
    // The stale read (null after v1 was acknowledged) makes it non-linearizable: the format is understood.
    expect(checkLinearizable(history).verdict).toBe('not-linearizable');
    const fixed = h.history().map((op) => (op.id === r ? { ...op, value: 'v1' } : op));
    expect(checkLinearizable(fixed).ok).toBe(true);
  });

  it('refuses an indeterminate read and an unanswered history', () => {
    const h = new HistoryRecorder();
    const r = h.invoke('c', { kind: 'get', key: 'k' }, 0);
    expect(() => h.history()).toThrow(/still open/);
    expect(() => h.complete(r, { status: 'indeterminate' }, 1)).toThrow(/cannot be indeterminate/);
  });
});

describe('kv image codec', () => {
  it('round-trips a state machine image so the restored replica has the same state hash', () => {
    const limits = makeLimits();
    const kv = new KvStateMachine({ limits, sessionTtlMs: 60_000 });
    const key = utf8.encode('k');
    let index = 0;
    for (let seq = 1; seq <= 5; seq++) {
      const cmd = decodeCommand(encodeCommand({ clientId: 'c1', seq, ackSeq: Math.max(0, seq - 2), timeMs: seq * 10, op: { type: 'put', key, value: utf8.encode(`v${seq}`) } }));
      kv.apply(logIndex(++index), cmd);
    }
    kv.applyNoop(logIndex(++index));
    const data = encodeKvImage(kv.image());
    const image = decodeKvImage(data);
    expect(image.appliedIndex).toBe(index);
    const restored = new KvStateMachine({ limits, sessionTtlMs: 60_000, image });
    expect(restored.stateHash()).toBe(kv.stateHash());
    expect(new TextDecoder().decode(restored.get(key)?.value)).toBe('v5');
    expect(encodeKvImage(restored.image())).toEqual(data);
    expect(() => decodeKvImage(data.subarray(0, data.length - 1))).toThrow(/truncated|trailing/);
  });
});

/** A fake cluster for client tests: each node answers through `answer`. */
function clientRig(answer: (node: string, req: ClientRequest) => ClientResponse | null) {
  const queue = new EventQueue();
  const history = new HistoryRecorder();
  const params = drawParams({ seed: 1 }, new SeededPrng(1));
  let client: SimClient | null = null;
  const sent: string[] = [];
  const host: ClientHost = {
    queue,
    params,
    history,
    nodeIds: () => ['n1', 'n2', 'n3'],
    send: (node, req) => {
      sent.push(node);
      const resp = answer(node, req);
      if (resp !== null) queue.schedule(1_000, 'resp', () => client?.receive(resp));
    },
    trace: null,
  };
  return {
    queue,
    history,
    sent,
    run(script: OpRequest[]) {
      client = new SimClient('c1', host, new SeededPrng(5), ['k'], { script });
      client.start(0);
      for (let ev = queue.pop(); ev !== undefined; ev = queue.pop()) ev.run();
      return history.history();
    },
  };
}

describe('client', () => {
  it('follows a leader hint and records an acknowledged put as ok', () => {
    const rig = clientRig((node, req) =>
      node === 'n2'
        ? req.kind === 'write'
          ? { type: 'written', reqId: req.reqId, result: { type: 'put', revision: 1 as never, prevKv: null } }
          : null
        : { type: 'notLeader', reqId: req.reqId, leader: 'n2' },
    );
    const [op] = rig.run([{ kind: 'put', key: 'k', value: 'v' }]);
    expect(op).toMatchObject({ kind: 'put', status: 'ok' });
    expect(rig.sent.at(-1)).toBe('n2');
  });

  it('marks a write refused everywhere as fail, and an unanswered write as indeterminate', () => {
    const refused = clientRig((_node, req) => ({ type: 'dropped', reqId: req.reqId }));
    expect(refused.run([{ kind: 'put', key: 'k', value: 'v' }])[0]).toMatchObject({ status: 'fail' });
    const silent = clientRig(() => null);
    const [w, r] = silent.run([
      { kind: 'put', key: 'k', value: 'v' },
      { kind: 'get', key: 'k' },
    ]);
    expect(w).toMatchObject({ status: 'indeterminate', ret: null });
    expect(r).toMatchObject({ status: 'fail' });
    // Retries went to more than one node, reusing the write's seq.
    expect(new Set(silent.sent).size).toBeGreaterThan(1);
  });

  it('reuses one seq across the attempts of one write, and reports a failed compare as an observation', () => {
    const seqs: number[] = [];
    let calls = 0;
    const rig = clientRig((_node, req) => {
      if (req.kind !== 'write') return null;
      seqs.push(req.seq);
      if (++calls < 3) return { type: 'unknown', reqId: req.reqId };
      return { type: 'written', reqId: req.reqId, result: { type: 'txn', revision: 1 as never, succeeded: false, results: [] } };
    });
    const [op] = rig.run([{ kind: 'cas', key: 'k', expected: 'x', newValue: 'y' }]);
    expect(op).toMatchObject({ kind: 'cas', status: 'ok', casOk: false });
    expect(new Set(seqs)).toEqual(new Set([1]));
    expect(seqs).toHaveLength(3);
  });
});

/** A fake cluster for nemesis tests. */
function nemesisRig(seed: number) {
  const queue = new EventQueue();
  const ids = ['n1', 'n2', 'n3', 'n4', 'n5'];
  const down = new Set<string>();
  const log: string[] = [];
  let partition: Partition = null;
  let voteCrash = 0;
  const host: NemesisHost = {
    queue,
    nodeIds: () => ids,
    leader: () => (down.has('n1') ? null : 'n1'),
    voters: () => ids,
    isUp: (id) => !down.has(id),
    isCrashed: (id) => down.has(id),
    crash: (id) => {
      down.add(id);
      log.push(`crash ${id}`);
    },
    powerLoss: (id) => {
      down.add(id);
      log.push(`power loss ${id}`);
    },
    diskFault: (id, fault) => log.push(`${fault} ${id}`),
    clockJump: (id, jumpMs) => log.push(`clock ${id} ${jumpMs}`),
    crashDuringInstall: (id) => log.push(`crash during install ${id}`),
    restart: (id) => {
      down.delete(id);
      log.push(`restart ${id}`);
    },
    pause: (id) => log.push(`pause ${id}`),
    unpauseAll: () => log.push('unpause'),
    setPartition: (p) => {
      partition = p;
      log.push(`partition ${JSON.stringify(p)}`);
    },
    setQuality: (q) => log.push(`quality ${q.dropRate}`),
    transferLeader: (from, to) => log.push(`transfer ${from}->${to}`),
    setCrashAfterVote: (p) => {
      voteCrash = p;
    },
    note: () => {},
  };
  const prng = new SeededPrng(seed);
  const nemesis = new Nemesis(host, prng, drawProfile(prng), calmNetwork);
  return { queue, nemesis, log, down, state: () => ({ partition, voteCrash }) };
}

describe('nemesis', () => {
  it('draws the same schedule from the same seed, and heals everything when stopped', () => {
    const runFor = (seed: number) => {
      const rig = nemesisRig(seed);
      rig.nemesis.start(0);
      while ((rig.queue.peekTimeUs() ?? Infinity) < 10_000 * usPerMs) rig.queue.pop()?.run();
      rig.nemesis.stop();
      return rig;
    };
    const a = runFor(11);
    const b = runFor(11);
    expect(a.log).toEqual(b.log);
    expect(a.log.length).toBeGreaterThan(10);
    expect(a.down.size).toBe(0);
    expect(a.state()).toEqual({ partition: null, voteCrash: 0 });
    expect(runFor(12).log).not.toEqual(a.log);
  });

  it('performs each kind of action', () => {
    const actions: NemesisAction[] = ['isolateLeader', 'bridge', 'crashLeader', 'pauseNode', 'transferLeader', 'crashAfterVote', 'lossy', 'churn'];
    for (const action of actions) {
      const rig = nemesisRig(3);
      rig.nemesis.start(10_000 * usPerMs);
      rig.nemesis.act(action);
      expect(rig.log.length, action).toBeGreaterThan(1);
    }
  });
});

describe('membership controller', () => {
  it('removes a voter, stops it, adds it back as a learner, restarts it and promotes it', () => {
    const queue = new EventQueue();
    const ids = ['n1', 'n2', 'n3'];
    let conf: ConfState = { voters: ids as never, learners: [] };
    const removed = new Set<string>();
    const events: string[] = [];
    let index = 0;
    const view = (id: string): MemberNodeView => ({ id, up: !removed.has(id), removed: removed.has(id), applied: index, commit: index, conf });
    const host: MembershipHost = {
      queue,
      nodeIds: () => ids,
      node: view,
      leader: () => 'n1',
      propose: (_via, change: ConfChange, done) => {
        events.push(`${change.type} ${change.nodeId}`);
        const others = (l: readonly string[]) => l.filter((x) => x !== change.nodeId);
        if (change.type === 'removeNode') conf = { voters: others(conf.voters) as never, learners: others(conf.learners) as never };
        if (change.type === 'addLearner') conf = { voters: conf.voters, learners: [...conf.learners, change.nodeId] };
        if (change.type === 'addVoter') conf = { voters: [...conf.voters, change.nodeId], learners: others(conf.learners) as never };
        done(++index);
      },
      transferLeader: () => {},
      stopRemoved: (id) => {
        removed.add(id);
        events.push(`stop ${id}`);
      },
      startRemoved: (id) => {
        removed.delete(id);
        events.push(`start ${id}`);
      },
      note: () => {},
    };
    const m = new MembershipController(host, new SeededPrng(4), true);
    m.start(0);
    while (m.cyclesDone === 0 && queue.now() < 20_000 * usPerMs) queue.pop()?.run();
    expect(m.cyclesDone).toBe(1);
    const victim = (events[0] as string).split(' ')[1] as string;
    expect(events.slice(0, 5)).toEqual([`removeNode ${victim}`, `stop ${victim}`, `addLearner ${victim}`, `start ${victim}`, `addVoter ${victim}`]);
    m.stop();
    expect(m.settled()).toBe(true);
  });
});

describe('replay command', () => {
  it('names the seed and the variant flags', () => {
    expect(replayCommand({ seed: 42 })).toBe('npm run sim -- --seed 42');
    expect(replayCommand({ seed: 7, nodes: 5, fault: 'voteWithoutPersist' })).toBe('npm run sim -- --seed 7 --nodes 5 --fault voteWithoutPersist');
  });
});
