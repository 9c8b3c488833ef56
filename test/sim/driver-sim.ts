/**
 * The randomized simulation of the PRODUCTION node layer: RaftDriver (and the KV read path of
 * kv-requests.ts) on LevelStorage on simulated LevelDB disks (sim-level.ts), in virtual time, from
 * one seed. Clients write unique values and read at both consistencies while a nemesis injects
 * the faults of issue 10: power loss of one node, a minority, a majority or all; process crashes;
 * fsync errors and full disks (the node raises its NOSPACE alarm, drops its Raft instance, and
 * rebuilds it from reopened storage in process);
 * WAL rotations at random points; partitions; clock jumps and skew between nodes; a node started
 * with different flags; crashes in the middle of a snapshot install; a node joining with --join.
 *
 * Checks: no acknowledged write is lost (the final state holds each at least as new); a
 * linearizable read sees every write acknowledged before it began; a bounded STALE read that was
 * served is as fresh as the staleness it reported; after the faults stop a write commits and every
 * node converges to the same applied index and state hash. The core simulator (simulation.ts)
 * still covers the Raft core's own properties with its larger fault space.
 */
import { createHash } from 'node:crypto';
import type { Message } from '../../src/raft/index.js';
import { encodeChangeContext } from '../../src/server/member-addresses.js';
import { awaitReadable } from '../../src/server/kv-requests.js';
import type { DriverFaults } from '../../src/server/raft-driver.js';
import { nodeId, SeededPrng } from '../../src/util/index.js';
import { DriverCluster } from './driver-host.js';
import type { HostedNode } from './driver-host.js';

/** Fault and workload counts of one run (summed over runs by the CLI). */
export interface DriverSimStats {
  powerLosses: number;
  nodesPowerLost: number;
  /** Power losses right after a node granted a vote or acknowledged entries. */
  crashAfterAck: number;
  unsyncedWritesLost: number;
  rotations: number;
  crashes: number;
  fsyncErrors: number;
  diskFullErrors: number;
  /** NOSPACE alarms raised by a disk fault, and cleared by reopening storage in process. */
  diskAlarmsRaised: number;
  diskAlarmsCleared: number;
  diskAlarmsEndedByCrash: number;
  fatalRestarts: number;
  partitions: number;
  clockJumps: number;
  restartsMidInstall: number;
  snapshotsStaged: number;
  joins: number;
  writesAcked: number;
  linearizableReads: number;
  staleReadsServed: number;
  staleReadsRefused: number;
  simulatedMs: number;
}

export interface DriverSimResult {
  readonly seed: number;
  readonly violations: readonly string[];
  readonly stats: DriverSimStats;
  readonly digest: string;
}

/** The negative controls of the node layer: driver bugs, and the core's own, run in the production driver. */
export const nodeFaultNames = ['unsyncedApplyBatches', 'sendBeforePersist', 'commitPreviousTermByCounting', 'voteWithoutPersist', 'readIndexWithoutHeartbeat'] as const;
export type NodeFaultName = (typeof nodeFaultNames)[number];

function driverFaultsOf(fault: NodeFaultName): DriverFaults {
  switch (fault) {
    case 'unsyncedApplyBatches':
    case 'sendBeforePersist':
      return { [fault]: true };
    case 'commitPreviousTermByCounting':
    case 'voteWithoutPersist':
    case 'readIndexWithoutHeartbeat':
      return { raft: { [fault]: true } };
  }
}

export interface DriverSimOptions {
  /** Negative control: the driver (or core) bug every node runs with. */
  readonly fault?: NodeFaultName;
  /** Virtual ms of the fault phase. */
  readonly chaosMs?: number;
  readonly trace?: (line: string) => void;
}

export function emptyDriverSimStats(): DriverSimStats {
  return {
    powerLosses: 0,
    nodesPowerLost: 0,
    crashAfterAck: 0,
    unsyncedWritesLost: 0,
    rotations: 0,
    crashes: 0,
    fsyncErrors: 0,
    diskFullErrors: 0,
    diskAlarmsRaised: 0,
    diskAlarmsCleared: 0,
    diskAlarmsEndedByCrash: 0,
    fatalRestarts: 0,
    partitions: 0,
    clockJumps: 0,
    restartsMidInstall: 0,
    snapshotsStaged: 0,
    joins: 0,
    writesAcked: 0,
    linearizableReads: 0,
    staleReadsServed: 0,
    staleReadsRefused: 0,
    simulatedMs: 0,
  };
}

interface AckedWrite {
  readonly key: string;
  readonly revision: number;
  readonly ackedAtMs: number;
}

const utf8 = new TextEncoder();
const keys = ['k0', 'k1', 'k2'];
const stepMs = 5;
/** A bounded STALE read's bound. */
const staleBoundMs = 300;

/** Runs one seed. */
export async function runDriverSim(seed: number, options: DriverSimOptions = {}): Promise<DriverSimResult> {
  const ids = ['n1', 'n2', 'n3'];
  const setup = new SeededPrng(seed);
  // One node runs with different local flags (snapshot cadence, tick interval): allowed to differ.
  const odd = ids[setup.int(0, ids.length - 1)] as string;
  const cluster = new DriverCluster(ids, {
    seed,
    raw: { snapshotEntries: setup.int(8, 30), snapshotCatchupEntries: setup.int(1, 5) },
    perNode: { [odd]: { snapshotEntries: setup.int(5, 50), tickIntervalMs: setup.int(8, 12) } },
  });
  const prng = cluster.prng.fork();
  // Messages are delayed (so reordered) and sometimes duplicated; a bounded STALE read may lag by
  // up to one message delay (a contact counts from when it arrives), so the check allows for it.
  cluster.latencyMsMax = setup.int(0, 8);
  cluster.duplicateChance = setup.float() * 0.05;
  const stats = emptyDriverSimStats();
  const violations: string[] = [];
  const digest = createHash('sha256');
  const log = (line: string): void => {
    digest.update(`${cluster.world.nowMs} ${line}\n`);
    options.trace?.(`${cluster.world.nowMs} ${line}`);
  };
  const startMs = cluster.world.nowMs;
  const now = (): number => cluster.world.nowMs;
  const fsyncMsMax = setup.int(0, 4);
  const withFsyncLatency = (n: HostedNode): void => {
    if (fsyncMsMax > 0) n.disk.fsyncWait = () => new Promise((resolve) => cluster.world.scheduler.after(prng.int(1, fsyncMsMax), resolve));
  };
  for (const n of cluster.nodes.values()) {
    withFsyncLatency(n);
    n.disk.rotationChance = prng.float() * 0.3;
    n.skewMs = prng.int(-200, 200);
    if (options.fault !== undefined) n.faults = driverFaultsOf(options.fault);
    watchInstalls(n);
  }
  await cluster.startAll();

  const acked: AckedWrite[] = [];
  const restartAt = new Map<HostedNode, number>();
  let isolated: { node: HostedNode; untilMs: number } | null = null;
  let joinState: 'none' | 'started' | 'learner' | 'voter' = prng.chance(0.5) ? 'none' : 'voter';
  let writeSeq = 0;
  let clientsBusy = 0;
  const chaosEnd = now() + (options.chaosMs ?? 4_000);

  function watchInstalls(n: HostedNode): void {
    n.staging.onOpen = () => {
      // A crash in the middle of an install: before, or a few writes into, replacing the state.
      if (now() < chaosEnd && prng.chance(0.3)) {
        log(`${n.id} will crash during its snapshot install`);
        n.disk.injectFault('crash');
        n.disk.onCrash = () => {
          stats.crashes++;
          void n.crash();
          restartAt.set(n, now() + prng.int(10, 200));
        };
      }
    };
  }

  const up = (): HostedNode[] => [...cluster.nodes.values()].filter((n) => n.driver !== null);
  const leaderOf = (): HostedNode | null => up().find((n) => n.d.role === 'leader') ?? null;

  // Crash-after-ack windows: a node that grants a vote or acknowledges entries loses power right
  // after sending, before anything later reaches its disk. What it promised must have been durable.
  const crashAfterAck = setup.float() * 0.004;
  cluster.onSend = (m: Message) => {
    if (now() >= chaosEnd) return;
    const promise = (m.type === 'voteResponse' || m.type === 'appendResponse') && !m.reject;
    if (!promise || !prng.chance(crashAfterAck)) return;
    const n = cluster.nodes.get(m.from);
    if (n === undefined || n.driver === null) return;
    cluster.world.scheduler.immediate(() => {
      if (n.driver === null) return;
      void n.powerLoss().then((lost) => {
        stats.powerLosses++;
        stats.nodesPowerLost++;
        stats.crashAfterAck++;
        log(`power loss ${n.id} right after it sent ${m.type} (${lost} unsynced writes lost)`);
        restartAt.set(n, now() + prng.int(1, 50));
      });
    });
  };
  /** The leader of each term seen so far: two in one term is a safety violation. */
  const leaders = new Map<number, string>();
  const checkOneLeaderPerTerm = (): void => {
    for (const n of up()) {
      if (n.d.role !== 'leader') continue;
      const seen = leaders.get(n.d.term);
      if (seen === undefined) leaders.set(n.d.term, n.id);
      else if (seen !== n.id) violations.push(`two leaders in term ${n.d.term}: ${seen} and ${n.id}`);
    }
  };

  cluster.filter = (m: Message) => (isolated !== null && (m.from === isolated.node.id || m.to === isolated.node.id) ? 'drop' : 'deliver');

  /** One client operation, run in the background. */
  function clientOp(): void {
    const key = keys[prng.int(0, keys.length - 1)] as string;
    const nodes = up();
    if (nodes.length === 0) return;
    const kind = prng.int(0, 2);
    clientsBusy++;
    const done = (): void => {
      clientsBusy--;
    };
    if (kind === 0) {
      const leader = leaderOf();
      if (leader === null) return done();
      const value = `s${seed}-${++writeSeq}`;
      leader.d.write({ type: 'put', key: utf8.encode(key), value: utf8.encode(value) }, { clientId: '', seq: 0, ackSeq: 0 }).then(
        (r) => {
          acked.push({ key, revision: r.type === 'put' ? r.revision : 0, ackedAtMs: now() });
          stats.writesAcked++;
          log(`put ${key}=${value} acked at revision ${r.type === 'put' ? r.revision : '?'} by ${leader.id}`);
          done();
        },
        () => done(),
      );
      return;
    }
    const node = nodes[prng.int(0, nodes.length - 1)] as HostedNode;
    const startedMs = now();
    const linearizable = kind === 1;
    const before = acked.filter((w) => w.key === key && w.ackedAtMs < startedMs);
    awaitReadable(node.d, linearizable ? { kind: 'linearizable' } : { kind: 'stale', maxStalenessMs: staleBoundMs }, 1_000).then(
      (stalenessMs) => {
        done();
        if (node.driver === null) return;
        const kv = node.d.kv.get(utf8.encode(key));
        const rev = kv?.modRevision ?? 0;
        if (linearizable) {
          stats.linearizableReads++;
          for (const w of before) if (rev < w.revision) violations.push(`stale linearizable read: ${node.id} read ${key} at revision ${rev} after a write at revision ${w.revision} was acknowledged at ${w.ackedAtMs - startMs} ms`);
        } else {
          stats.staleReadsServed++;
          // Fresh as of (now - staleness): every write acknowledged before then must be visible.
          const freshAt = now() - stalenessMs - stepMs - cluster.latencyMsMax;
          for (const w of acked) {
            if (w.key === key && w.ackedAtMs < freshAt && rev < w.revision) violations.push(`dishonest staleness: ${node.id} reported ${stalenessMs} ms but missed ${key}@${w.revision} acknowledged ${now() - w.ackedAtMs} ms ago`);
          }
        }
      },
      () => {
        done();
        if (!linearizable) stats.staleReadsRefused++;
      },
    );
  }

  async function nemesis(): Promise<void> {
    const roll = prng.float();
    const nodes = [...cluster.nodes.values()].filter((n) => n.driver !== null);
    const pick = (): HostedNode | null => (nodes.length === 0 ? null : (nodes[prng.int(0, nodes.length - 1)] as HostedNode));
    if (roll < 0.15) {
      const scope = prng.int(0, 3); // one, minority, majority, all
      const count = [1, Math.floor(ids.length / 2), Math.floor(ids.length / 2) + 1, cluster.nodes.size][scope] as number;
      const victims = [...nodes];
      for (let i = victims.length - 1; i > 0; i--) {
        const j = prng.int(0, i);
        [victims[i], victims[j]] = [victims[j] as HostedNode, victims[i] as HostedNode];
      }
      victims.length = Math.min(count, victims.length);
      if (victims.length === 0) return;
      stats.powerLosses++;
      for (const v of victims) {
        const lost = await v.powerLoss();
        stats.nodesPowerLost++;
        log(`power loss ${v.id} (${['one', 'minority', 'majority', 'all'][scope]}), ${lost} unsynced writes lost`);
        restartAt.set(v, now() + prng.int(20, 400));
      }
    } else if (roll < 0.3) {
      const v = pick();
      if (v === null) return;
      stats.crashes++;
      log(`crash ${v.id}`);
      await v.crash();
      restartAt.set(v, now() + prng.int(10, 300));
    } else if (roll < 0.4) {
      const v = pick();
      if (v === null) return;
      const fault = prng.chance(0.5) ? 'fsyncError' : 'diskFull';
      log(`${fault} on ${v.id}'s next write`);
      v.disk.injectFault(fault);
    } else if (roll < 0.6) {
      const v = pick();
      if (v === null || isolated !== null) return;
      stats.partitions++;
      isolated = { node: v, untilMs: now() + prng.int(100, 1_500) };
      log(`isolate ${v.id} until ${isolated.untilMs - startMs}`);
    } else if (roll < 0.75) {
      const v = pick();
      if (v === null) return;
      stats.clockJumps++;
      const jump = prng.chance(0.5) ? prng.int(100, 3_000) : -prng.int(100, 3_000);
      v.skewMs += jump;
      log(`clock of ${v.id} jumps ${jump} ms`);
    } else if (roll < 0.85 && joinState === 'none') {
      const leader = leaderOf();
      if (leader === null) return;
      const joiner = cluster.addNode('n4', true);
      joiner.disk.rotationChance = prng.float() * 0.3;
      withFsyncLatency(joiner);
      if (options.fault !== undefined) joiner.faults = driverFaultsOf(options.fault);
      watchInstalls(joiner);
      await joiner.start();
      joinState = 'started';
      stats.joins++;
      log('n4 starts with --join');
    }
  }

  /** Drives the join: learner, then voter once caught up. */
  function advanceJoin(): void {
    if (joinState !== 'started' && joinState !== 'learner') return;
    const leader = leaderOf();
    const joiner = cluster.nodes.get(nodeId('n4'));
    if (leader === null || joiner === undefined || clientsBusy > 8) return;
    const conf = leader.d.confState;
    const change =
      joinState === 'started' && !conf.learners.includes(nodeId('n4')) && !conf.voters.includes(nodeId('n4'))
        ? ({ type: 'addLearner', nodeId: nodeId('n4'), context: encodeChangeContext({ peerAddress: '127.0.0.1:7104', clientAddress: '127.0.0.1:7004' }) } as const)
        : joiner.driver !== null && conf.learners.includes(nodeId('n4')) && joiner.d.kv.appliedIndex + 2 >= leader.d.kv.appliedIndex
          ? ({ type: 'addVoter', nodeId: nodeId('n4'), context: new Uint8Array(0) } as const)
          : null;
    if (change === null) return;
    clientsBusy++;
    leader.d.changeMembership(change).then(
      () => {
        clientsBusy--;
        joinState = change.type === 'addLearner' ? 'learner' : 'voter';
        log(`n4 ${change.type} applied`);
      },
      () => clientsBusy--,
    );
  }

  async function supervise(): Promise<void> {
    for (const n of cluster.nodes.values()) {
      if (n.fatal !== null && n.driver !== null) {
        stats.fatalRestarts++;
        log(`${n.id} raised its fatal alarm (${String(n.fatal)}); the supervisor restarts it`);
        n.fatal = null;
        await n.crash();
        restartAt.set(n, now() + prng.int(10, 200));
      }
    }
    for (const [n, at] of [...restartAt]) {
      if (at <= now()) {
        restartAt.delete(n);
        n.fatal = null;
        const before = n.installsFinished;
        try {
          await n.start();
        } catch (e) {
          violations.push(`${n.id} cannot restart: ${e instanceof Error ? e.message : String(e)}`);
          continue;
        }
        if (n.installsFinished > before) stats.restartsMidInstall++;
        log(`${n.id} restarts${n.installsFinished > before ? ', finishing an interrupted snapshot install' : ''}`);
      }
    }
    if (isolated !== null && isolated.untilMs <= now()) {
      log(`heal ${isolated.node.id}`);
      isolated = null;
    }
  }

  // Fault phase.
  while (now() < chaosEnd && violations.length === 0) {
    if (clientsBusy < 4 && prng.chance(0.6)) clientOp();
    if (prng.chance(0.01)) await nemesis();
    advanceJoin();
    await supervise();
    await cluster.world.advance(stepMs);
    checkOneLeaderPerTerm();
  }

  // Final phase: heal, restart everything, then liveness and convergence.
  isolated = null;
  for (const n of cluster.nodes.values()) restartAt.set(n, n.driver === null ? now() : Number.POSITIVE_INFINITY);
  for (const [n, at] of [...restartAt]) if (at === Number.POSITIVE_INFINITY) restartAt.delete(n);
  await supervise();
  const finalDeadline = now() + 15_000;
  let finalWrite = false;
  while (violations.length === 0 && now() < finalDeadline) {
    await supervise();
    advanceJoin();
    const leader = leaderOf();
    if (leader !== null && !finalWrite && clientsBusy === 0) {
      clientsBusy++;
      leader.d.write({ type: 'put', key: utf8.encode('final'), value: utf8.encode('done') }, { clientId: '', seq: 0, ackSeq: 0 }).then(
        () => {
          finalWrite = true;
          clientsBusy--;
        },
        () => clientsBusy--,
      );
    }
    if (finalWrite && leader !== null && converged(leader)) break;
    await cluster.world.advance(stepMs);
    checkOneLeaderPerTerm();
  }
  const leader = leaderOf();
  if (violations.length === 0) {
    if (!finalWrite || leader === null) violations.push(`liveness: no write committed within 15 s after the faults stopped (${describeNodes()})`);
    else if (!converged(leader)) {
      violations.push(`convergence: ${up().map((n) => `${n.id} applied ${n.d.kv.appliedIndex} hash ${n.d.kv.stateHash().slice(0, 8)}`).join(', ')}`);
    } else {
      for (const w of acked) {
        const rev = leader.d.kv.get(utf8.encode(w.key))?.modRevision ?? 0;
        if (rev < w.revision) violations.push(`lost acknowledged write: ${w.key}@${w.revision}, the final state has revision ${rev}`);
      }
    }
  }

  function describeNodes(): string {
    return [...cluster.nodes.values()]
      .map((n) => (n.driver === null ? `${n.id} down` : `${n.id} ${n.d.role} term ${n.d.term} leader ${n.d.leader ?? '-'} commit ${n.d.status().commit} applied ${n.d.kv.appliedIndex}${n.fatal === null ? '' : ` FATAL ${String(n.fatal)}`}`))
      .join('; ');
  }

  function converged(l: HostedNode): boolean {
    const members = new Set([...l.d.confState.voters, ...l.d.confState.learners]);
    const nodes = up().filter((n) => members.has(n.id));
    return nodes.length === members.size && nodes.every((n) => n.d.kv.appliedIndex === l.d.kv.appliedIndex && n.d.kv.stateHash() === l.d.kv.stateHash());
  }

  for (const n of cluster.nodes.values()) {
    stats.rotations += n.disk.stats.rotations;
    stats.unsyncedWritesLost += n.disk.stats.unsyncedWritesLost;
    stats.fsyncErrors += n.disk.stats.fsyncErrors;
    stats.diskFullErrors += n.disk.stats.diskFullErrors;
    stats.diskAlarmsRaised += n.diskAlarmsRaised;
    stats.diskAlarmsCleared += n.diskAlarmsCleared;
    stats.diskAlarmsEndedByCrash += n.diskAlarmsEndedByCrash;
    stats.snapshotsStaged += n.staging.staged;
    if (n.driver !== null) await n.crash();
  }
  stats.simulatedMs = now() - startMs;
  for (const v of violations) log(`VIOLATION ${v}`);
  return { seed, violations, stats, digest: digest.digest('hex').slice(0, 16) };
}

/** Adds `b` into `a`. */
export function addDriverSimStats(a: DriverSimStats, b: DriverSimStats): void {
  for (const k of Object.keys(a) as (keyof DriverSimStats)[]) a[k] += b[k];
}

