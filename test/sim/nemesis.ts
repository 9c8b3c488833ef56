/**
 * The nemesis: the fault schedule of one run, drawn step by step from the seeded PRNG while the
 * run goes (so it can aim at the current leader). Every few hundred virtual milliseconds it picks
 * one action by weight: partitions (isolate a node, isolate the leader, majority/minority split,
 * bridge, rapid churn), crashes (a node, the leader, everyone), pauses, leader transfers, a lossy
 * network, crash-after-ack windows (a node that grants a vote or acknowledges entries is crashed
 * right after sending it and restarted at once, so anything acknowledged but not persisted would be
 * forgotten while it still matters), and a staged Figure 8 (see `figure8`).
 *
 * Each run weighs the actions differently (drawn from the seed), so some runs are partition-heavy,
 * some crash-heavy. `stop()` heals everything: it is the start of the final, fault-free phase.
 */
import type { Prng } from '../../src/util/index.js';
import type { EventQueue } from './event-queue.js';
import { usPerMs } from './event-queue.js';
import type { NetworkQuality, Partition } from './network.js';
import { calmNetwork, describePartition, partitions } from './network.js';

/** What the nemesis can do to the cluster. */
export interface NemesisHost {
  readonly queue: EventQueue;
  /** All node ids, in order. */
  nodeIds(): readonly string[];
  /** The node that believes it leads the highest term, if any. */
  leader(): string | null;
  /** Current voters (as the leader, or any up node, sees them). */
  voters(): readonly string[];
  /** True if the node is up. */
  isUp(id: string): boolean;
  /** True if the node is down because the nemesis crashed it (not removed from the cluster). */
  isCrashed(id: string): boolean;
  crash(id: string): void;
  /** The node's machine loses power: its disk keeps only what LevelDB's model makes durable. */
  powerLoss(id: string): void;
  restart(id: string): void;
  /** The node's next disk write fails: an fsync error or a full disk. */
  diskFault(id: string, fault: 'fsyncError' | 'diskFull'): void;
  /** The node's wall clock steps by `jumpMs` (either way). */
  clockJump(id: string, jumpMs: number): void;
  /** The node crashes a few writes into its next snapshot install. */
  crashDuringInstall(id: string): void;
  pause(id: string, durationUs: number): void;
  unpauseAll(): void;
  setPartition(p: Partition): void;
  setQuality(q: NetworkQuality): void;
  transferLeader(from: string, to: string): void;
  /**
   * While > 0: probability that a node that just sent a granted vote is crashed and restarted at
   * once (a tenth of it for a successful append acknowledgement).
   */
  setCrashAfterVote(probability: number): void;
  /** Writes a line to the trace. */
  note(text: string): void;
}

/** Something the nemesis may react to at once (fed by the simulator as nodes report it). */
export type ClusterEvent =
  /** `node` just became leader of `term` (before any of its messages left). */
  | { readonly kind: 'leader'; readonly node: string; readonly term: number }
  /** Leader `node` just advanced its commit index in `term` (before announcing it). */
  | { readonly kind: 'leaderCommit'; readonly node: string; readonly term: number; readonly commit: number };

/** The actions, with their base weights. */
const actionWeights = {
  isolateNode: 3,
  isolateLeader: 4,
  split: 3,
  bridge: 2,
  churn: 2,
  heal: 3,
  crashNode: 3,
  crashLeader: 3,
  crashAll: 0.5,
  pauseNode: 2,
  pauseLeader: 2,
  transferLeader: 2,
  lossy: 2,
  crashAfterVote: 2,
  figure8: 2,
  powerLoss: 3,
  diskFault: 1.5,
  clockJump: 1.5,
  crashDuringInstall: 1.5,
} as const;

/** Actions that change the partition (they wait while a scenario owns the network). */
const partitionActions: ReadonlySet<string> = new Set(['isolateNode', 'isolateLeader', 'split', 'bridge', 'churn', 'heal', 'figure8']);

/** One kind of nemesis action. */
export type NemesisAction = keyof typeof actionWeights;

/** How the nemesis behaves in one run. */
export interface NemesisProfile {
  /** Weight of each action in this run. */
  readonly weights: Readonly<Record<NemesisAction, number>>;
  /** Range of the pause between two actions. */
  readonly stepUsMin: number;
  readonly stepUsMax: number;
}

/** Draws a run's profile: each action's weight is dropped, kept or tripled. */
export function drawProfile(prng: Prng, emphasis: readonly NemesisAction[] = []): NemesisProfile {
  const weights = {} as Record<NemesisAction, number>;
  for (const action of Object.keys(actionWeights) as NemesisAction[]) {
    const r = prng.float();
    const factor = r < 0.2 ? 0 : r < 0.8 ? 1 : 3;
    weights[action] = actionWeights[action] * factor + (emphasis.includes(action) ? 6 : 0);
  }
  return { weights, stepUsMin: 100 * usPerMs, stepUsMax: prng.int(300, 900) * usPerMs };
}

/** The fault schedule of one run. */
export class Nemesis {
  private active = false;
  /** Bumped at every partition change: a scheduled heal only undoes its own partition. */
  private partitionToken = 0;
  private qualityToken = 0;
  private voteCrashToken = 0;
  /** A multi-step scenario waiting for cluster events, or null. */
  private script: ((e: ClusterEvent) => void) | null = null;
  /** Actions taken, by kind (statistics). */
  readonly counts = new Map<NemesisAction, number>();

  constructor(
    private readonly host: NemesisHost,
    private readonly prng: Prng,
    private readonly profile: NemesisProfile,
    /** The network quality when no storm is on. */
    private readonly baseQuality: NetworkQuality,
  ) {}

  /** Starts taking actions after `delayUs`. */
  start(delayUs: number): void {
    this.active = true;
    this.host.setQuality(this.baseQuality);
    this.scheduleStep(delayUs);
  }

  /** Stops all faults: heals the network, restarts crashed nodes, ends pauses and storms. */
  stop(): void {
    this.active = false;
    this.script = null;
    this.partitionToken++;
    this.qualityToken++;
    this.voteCrashToken++;
    this.host.setPartition(null);
    this.host.setQuality(calmNetwork);
    this.host.setCrashAfterVote(0);
    this.host.unpauseAll();
    for (const id of this.host.nodeIds()) if (this.host.isCrashed(id)) this.host.restart(id);
    this.host.note('nemesis stops: network healed, crashed nodes restarted');
  }

  private scheduleStep(delayUs: number): void {
    this.host.queue.schedule(delayUs, 'nemesis', () => {
      if (!this.active) return;
      this.step();
      this.scheduleStep(this.prng.int(this.profile.stepUsMin, this.profile.stepUsMax));
    });
  }

  private pick(): NemesisAction | null {
    const entries = Object.entries(this.profile.weights) as [NemesisAction, number][];
    const total = entries.reduce((sum, [, w]) => sum + w, 0);
    if (total <= 0) return null;
    let r = this.prng.float() * total;
    for (const [action, w] of entries) {
      r -= w;
      if (r < 0) return action;
    }
    return null;
  }

  /** Lets a running scenario react to what just happened in the cluster. */
  observe(e: ClusterEvent): void {
    if (this.active) this.script?.(e);
  }

  private step(): void {
    const action = this.pick();
    if (action === null) return;
    // A scenario in progress owns the network: partition actions wait for it to finish.
    if (this.script !== null && partitionActions.has(action)) return;
    this.counts.set(action, (this.counts.get(action) ?? 0) + 1);
    this.act(action);
  }

  /** Performs one action now (exposed for tests). */
  act(action: NemesisAction): void {
    const host = this.host;
    const all = host.nodeIds();
    const prng = this.prng;
    switch (action) {
      case 'isolateNode':
        this.partitionFor(partitions.isolate(all, this.randomNode(all)), this.duration(200, 2_000));
        return;
      case 'isolateLeader': {
        const leader = host.leader();
        if (leader !== null) this.partitionFor(partitions.isolate(all, leader), this.duration(300, 3_000));
        return;
      }
      case 'split':
        this.partitionFor(partitions.split(all, prng, prng.int(1, Math.floor((all.length - 1) / 2))), this.duration(300, 3_000));
        return;
      case 'bridge':
        this.partitionFor(partitions.bridge(all, prng), this.duration(300, 3_000));
        return;
      case 'churn':
        this.churn(prng.int(5, 25));
        return;
      case 'heal':
        this.partitionToken++;
        host.setPartition(null);
        host.note('nemesis heals the network');
        return;
      case 'crashNode':
        this.crashFor(this.randomNode(all.filter((id) => host.isUp(id))));
        return;
      case 'crashLeader': {
        const leader = host.leader();
        if (leader !== null) this.crashFor(leader);
        return;
      }
      case 'crashAll': {
        const down = this.duration(10, 300);
        for (const id of all) if (host.isUp(id)) this.crashFor(id, down);
        return;
      }
      case 'pauseNode':
        this.pause(this.randomNode(all.filter((id) => host.isUp(id))));
        return;
      case 'pauseLeader': {
        const leader = host.leader();
        if (leader !== null) this.pause(leader);
        return;
      }
      case 'transferLeader': {
        const leader = host.leader();
        const candidates = host.voters().filter((id) => id !== leader);
        if (leader !== null && candidates.length > 0) host.transferLeader(leader, candidates[prng.int(0, candidates.length - 1)] as string);
        return;
      }
      case 'lossy':
        this.storm();
        return;
      case 'crashAfterVote':
        this.voteCrashWindow();
        return;
      case 'figure8':
        this.figure8();
        return;
      case 'powerLoss': {
        // One node, a minority, a majority or all of them.
        const up = all.filter((id) => host.isUp(id));
        const scope = prng.int(0, 3);
        const count = Math.min(up.length, [1, Math.floor(all.length / 2), Math.floor(all.length / 2) + 1, all.length][scope] as number);
        for (let i = up.length - 1; i > 0; i--) {
          const j = prng.int(0, i);
          [up[i], up[j]] = [up[j] as string, up[i] as string];
        }
        const down = this.duration(10, 500);
        host.note(`nemesis cuts the power of ${['one node', 'a minority', 'a majority', 'every node'][scope] as string}: ${up.slice(0, count).join(', ')}`);
        for (const id of up.slice(0, count)) this.crashFor(id, down, true);
        return;
      }
      case 'diskFault': {
        const id = this.randomNode(all.filter((n) => host.isUp(n)));
        const fault = prng.chance(0.5) ? 'fsyncError' : 'diskFull';
        host.note(`nemesis: ${id}'s next write hits ${fault}`);
        host.diskFault(id, fault);
        return;
      }
      case 'clockJump': {
        const id = this.randomNode(all);
        const jump = (prng.chance(0.5) ? 1 : -1) * prng.int(100, 5_000);
        host.note(`nemesis: ${id}'s wall clock jumps ${jump} ms`);
        host.clockJump(id, jump);
        return;
      }
      case 'crashDuringInstall': {
        const id = this.randomNode(all.filter((n) => host.isUp(n)));
        host.note(`nemesis: ${id} will crash during its next snapshot install`);
        host.crashDuringInstall(id);
        return;
      }
    }
  }

  /**
   * The Raft paper's Figure 8, staged (§5.4.2): isolate leader L while it still takes proposals
   * (entries of its term on L alone); as soon as another node S wins the next term, isolate S too
   * (its no-op stays on S alone, conflicting with L's entries); if L then wins a later term, isolate
   * L again the moment it first advances its commit index, before it can tell anyone. A leader
   * that committed an old-term entry by counting replicas has now applied it, while S, whose log
   * ends in a higher term, can still win the next election without it.
   */
  private figure8(): void {
    const leader = this.host.leader();
    if (this.script !== null || leader === null) return;
    const all = this.host.nodeIds();
    const token = ++this.partitionToken;
    let phase: 'electOther' | 'electLeaderAgain' | 'awaitCommit' | 'done' = 'electOther';
    let leaderTerm = -1;
    const isolate = (id: string, why: string): void => {
      this.host.setPartition(partitions.isolate(all, id));
      this.host.note(`nemesis figure-8: isolates ${id} (${why})`);
    };
    const finish = (why: string): void => {
      if (this.script !== handler) return;
      this.script = null;
      if (token === this.partitionToken) this.host.setPartition(null);
      this.host.note(`nemesis figure-8 ends: ${why}`);
    };
    const handler = (e: ClusterEvent): void => {
      if (phase === 'electOther' && e.kind === 'leader' && e.node !== leader) {
        phase = 'electLeaderAgain';
        isolate(e.node, `it just won term ${e.term}`);
      } else if (phase === 'electLeaderAgain' && e.kind === 'leader') {
        if (e.node !== leader) {
          finish(`${e.node} won term ${e.term} instead of ${leader}`);
          return;
        }
        phase = 'awaitCommit';
        leaderTerm = e.term;
      } else if (phase === 'awaitCommit' && e.kind === 'leaderCommit' && e.node === leader && e.term === leaderTerm) {
        phase = 'done';
        isolate(leader, `it just committed up to ${e.commit} in term ${e.term}`);
        this.host.queue.schedule(this.duration(500, 2_000), 'nemesis figure-8 heal', () => finish('healed'));
      }
    };
    this.script = handler;
    isolate(leader, 'it leads and takes proposals');
    this.host.queue.schedule(4_000 * usPerMs, 'nemesis figure-8 timeout', () => {
      if (phase !== 'done') finish(`timed out in phase ${phase}`);
    });
  }

  private randomNode(ids: readonly string[]): string {
    return ids.length === 0 ? (this.host.nodeIds()[0] as string) : (ids[this.prng.int(0, ids.length - 1)] as string);
  }

  /** A duration drawn from [loMs, hiMs], skewed towards short ones. */
  private duration(loMs: number, hiMs: number): number {
    const f = this.prng.float();
    return Math.floor((loMs + (hiMs - loMs) * f * f) * usPerMs);
  }

  private partitionFor(p: Partition, durationUs: number): void {
    const token = ++this.partitionToken;
    this.host.setPartition(p);
    this.host.note(`nemesis partitions ${describePartition(p)} for ${(durationUs / usPerMs).toFixed(0)} ms`);
    this.host.queue.schedule(durationUs, 'nemesis heal', () => {
      if (token !== this.partitionToken || !this.active) return;
      this.host.setPartition(null);
      this.host.note('nemesis heals the network');
    });
  }

  /** Figure-8 style churn: a new random partition every 30-200 ms, then healed. */
  private churn(rounds: number): void {
    const token = ++this.partitionToken;
    const all = this.host.nodeIds();
    const round = (left: number): void => {
      if (token !== this.partitionToken || !this.active) return;
      if (left === 0) {
        this.host.setPartition(null);
        this.host.note('nemesis churn ends');
        return;
      }
      const p = this.prng.chance(0.5) ? partitions.random(all, this.prng) : partitions.isolate(all, this.randomNode(all));
      this.host.setPartition(p);
      this.host.note(`nemesis churn ${describePartition(p)}`);
      if (this.prng.chance(0.25)) {
        const leader = this.host.leader();
        if (leader !== null) this.crashFor(leader, this.duration(5, 400));
      }
      this.host.queue.schedule(this.prng.int(30, 200) * usPerMs, 'nemesis churn', () => round(left - 1));
    };
    round(rounds);
  }

  private crashFor(id: string, downUs?: number, powerLoss = false): void {
    if (!this.host.isUp(id)) return;
    const r = this.prng.float();
    const down = downUs ?? (r < 0.3 ? this.duration(1, 50) : r < 0.8 ? this.duration(50, 1_000) : this.duration(1_000, 3_000));
    if (powerLoss) this.host.powerLoss(id);
    else this.host.crash(id);
    this.host.note(`nemesis ${powerLoss ? 'cuts the power of' : 'crashes'} ${id} for ${(down / usPerMs).toFixed(1)} ms`);
    this.host.queue.schedule(down, `nemesis restart ${id}`, () => {
      if (this.active && this.host.isCrashed(id)) this.host.restart(id);
    });
  }

  private pause(id: string): void {
    const d = this.duration(50, 1_000);
    this.host.pause(id, d);
    this.host.note(`nemesis pauses ${id} for ${(d / usPerMs).toFixed(0)} ms`);
  }

  private storm(): void {
    const token = ++this.qualityToken;
    const q: NetworkQuality = {
      dropRate: this.prng.int(5, 40) / 100,
      duplicateRate: this.prng.int(0, 20) / 100,
      latencyUsMin: 500,
      latencyUsMax: this.prng.int(3, 30) * usPerMs,
      slowRate: this.prng.int(0, 20) / 100,
      slowLatencyUsMax: this.prng.int(50, 300) * usPerMs,
    };
    this.host.setQuality(q);
    const d = this.duration(300, 3_000);
    this.host.note(`nemesis network storm for ${(d / usPerMs).toFixed(0)} ms: drop ${q.dropRate}, duplicate ${q.duplicateRate}, slow ${q.slowRate}`);
    this.host.queue.schedule(d, 'nemesis storm ends', () => {
      if (token !== this.qualityToken || !this.active) return;
      this.host.setQuality(this.baseQuality);
    });
  }

  private voteCrashWindow(): void {
    const token = ++this.voteCrashToken;
    const p = this.prng.int(30, 100) / 100;
    const d = this.duration(500, 3_000);
    this.host.setCrashAfterVote(p);
    this.host.note(`nemesis crash-after-vote window (p ${p}) for ${(d / usPerMs).toFixed(0)} ms`);
    // Elections only happen when something goes wrong: knock the leader over to start one.
    const leader = this.host.leader();
    if (leader !== null && this.prng.chance(0.7)) this.crashFor(leader, this.duration(5, 300));
    this.host.queue.schedule(d, 'nemesis crash-after-vote ends', () => {
      if (token === this.voteCrashToken) this.host.setCrashAfterVote(0);
    });
  }
}

/** The network quality of the fault phase when no storm is on: mild loss and reordering. */
export function drawBaseQuality(prng: Prng): NetworkQuality {
  return {
    dropRate: prng.int(0, 5) / 100,
    duplicateRate: prng.int(0, 5) / 100,
    latencyUsMin: 200,
    latencyUsMax: prng.int(2, 10) * usPerMs,
    slowRate: prng.int(0, 5) / 100,
    slowLatencyUsMax: prng.int(20, 150) * usPerMs,
  };
}

