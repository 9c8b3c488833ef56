/**
 * Membership changes while the faults run: now and then one voter is removed (and its process
 * stopped, its disk kept), and later added back as a learner (its process restarted from that
 * disk), then promoted to voter once it has caught up (Raft thesis §4.2.1). The controller works
 * towards a target membership, one single-server change at a time, through whichever node leads;
 * lost proposals are simply proposed again. `stop()` sets every node's target back to voter, so the
 * final phase ends with the full cluster.
 */
import type { ConfChange, ConfState } from '../../src/raft/index.js';
import type { NodeId, Prng } from '../../src/util/index.js';
import type { EventQueue } from './event-queue.js';
import { usPerMs } from './event-queue.js';

/** What the controller wants for one node. */
export type MemberTarget = 'voter' | 'learner' | 'absent';

/** What the controller reads from a node. */
export interface MemberNodeView {
  readonly id: string;
  /** True if the process is running. */
  readonly up: boolean;
  /** True if the process was stopped because the node was removed. */
  readonly removed: boolean;
  readonly applied: number;
  readonly commit: number;
  /** The membership as of the node's applied index. */
  readonly conf: ConfState;
}

/** What the controller can do. */
export interface MembershipHost {
  readonly queue: EventQueue;
  nodeIds(): readonly string[];
  node(id: string): MemberNodeView;
  /** The node that believes it leads the highest term, if any. */
  leader(): string | null;
  /**
   * Proposes a conf change through node `via` when it gets to it; reports the entry index, or
   * null if the core refused (not leader, a change already pending).
   */
  propose(via: string, change: ConfChange, done: (index: number | null) => void): void;
  transferLeader(from: string, to: string): void;
  /** Stops the process of a removed node (keeps its disk). */
  stopRemoved(id: string): void;
  /** Restarts a removed node's process from its disk. */
  startRemoved(id: string): void;
  note(text: string): void;
}

/** Where the current remove/re-add cycle is. */
type Phase = 'removing' | 'away' | 'learning' | 'promoting';

const emptyContext = new Uint8Array(0);

/** Drives membership towards its targets. */
export class MembershipController {
  private readonly targets = new Map<string, MemberTarget>();
  /**
   * The cycle in progress. `keepRunning`: the removed node's process is left running (a removed
   * server that may not know it was removed, Raft thesis §4.2.3) instead of being stopped.
   * `selfRemoval`: if the victim leads, it proposes its own removal instead of handing over first.
   */
  private cycle: { victim: string; phase: Phase; untilUs: number; keepRunning: boolean; selfRemoval: boolean } | null = null;
  private active = false;
  /** A proposal believed to be in flight: no other is made until it applies or times out. */
  private inflight: { via: string; index: number | null; sinceUs: number } | null = null;
  /** Completed remove/re-add cycles (statistics). */
  cyclesDone = 0;
  /** Conf changes proposed (statistics). */
  proposals = 0;

  constructor(
    private readonly host: MembershipHost,
    private readonly prng: Prng,
    /** Whether this run changes membership at all. */
    private readonly enabled: boolean,
    /** A node outside the initial membership that joins later (started with `--join`), if any. */
    private readonly joiner: string | null = null,
  ) {
    for (const id of host.nodeIds()) this.targets.set(id, id === joiner ? 'absent' : 'voter');
  }

  /** Starts the reconcile loop, the first cycle after `firstCycleUs`, and the join after `joinUs`. */
  start(firstCycleUs: number, joinUs = 0): void {
    this.active = true;
    this.loop();
    if (this.enabled) this.host.queue.schedule(firstCycleUs, 'membership cycle', () => this.beginCycle());
    const joiner = this.joiner;
    if (joiner !== null) {
      this.host.queue.schedule(joinUs, 'membership join', () => {
        this.host.note(`membership: ${joiner} joins (added as a learner, promoted once caught up)`);
        this.targets.set(joiner, 'voter');
      });
    }
  }

  /** Ends the cycles: every node's target is voter again. The reconcile loop keeps going. */
  stop(): void {
    this.active = false;
    for (const id of this.host.nodeIds()) this.targets.set(id, 'voter');
    this.cycle = null;
  }

  /** True when the leader's membership has every node as a voter and all are running. */
  settled(): boolean {
    const leader = this.host.leader();
    if (leader === null) return false;
    const conf = this.host.node(leader).conf;
    return this.host.nodeIds().every((id) => conf.voters.includes(id as NodeId) && this.host.node(id).up) && conf.learners.length === 0;
  }

  private loop(): void {
    this.host.queue.schedule(this.prng.int(50, 150) * usPerMs, 'membership', () => {
      this.reconcile();
      this.loop();
    });
  }

  private beginCycle(): void {
    if (!this.active || this.cycle !== null) return;
    const leader = this.host.leader();
    if (leader === null) {
      this.host.queue.schedule(500 * usPerMs, 'membership cycle', () => this.beginCycle());
      return;
    }
    const voters = this.host.node(leader).conf.voters;
    if (voters.length < 3) {
      this.host.queue.schedule(500 * usPerMs, 'membership cycle', () => this.beginCycle());
      return;
    }
    const others = voters.filter((id) => id !== leader);
    const victim = this.prng.chance(0.25) ? leader : (others[this.prng.int(0, others.length - 1)] as string);
    this.targets.set(victim, 'absent');
    this.cycle = { victim, phase: 'removing', untilUs: 0, keepRunning: this.prng.chance(0.4), selfRemoval: this.prng.chance(0.5) };
    this.host.note(`membership: removing ${victim}${victim === leader ? ' (the leader)' : ''}${this.cycle.keepRunning ? ', leaving it running' : ''}`);
  }

  private endCycle(): void {
    this.cycle = null;
    this.cyclesDone++;
    if (this.active) this.host.queue.schedule(this.prng.int(1_000, 5_000) * usPerMs, 'membership cycle', () => this.beginCycle());
  }

  /** One step towards the targets. */
  private reconcile(): void {
    const leader = this.host.leader();
    if (leader === null) return;
    const lead = this.host.node(leader);
    const roleOf = (id: string): MemberTarget => (lead.conf.voters.includes(id as NodeId) ? 'voter' : lead.conf.learners.includes(id as NodeId) ? 'learner' : 'absent');
    this.lifecycle(roleOf);
    this.advanceCycle(roleOf, lead);
    if (this.inflight !== null) {
      const done = this.inflight.index !== null && this.inflight.via === leader && lead.applied >= this.inflight.index;
      const stale = this.host.queue.now() - this.inflight.sinceUs > 1_000 * usPerMs || this.inflight.via !== leader;
      if (!done && !stale) return;
      this.inflight = null;
    }
    for (const id of this.host.nodeIds()) {
      const target = this.targets.get(id) as MemberTarget;
      const role = roleOf(id);
      if (target === role) continue;
      if (target === 'absent') {
        if (id === leader && this.cycle?.selfRemoval !== true) {
          const others = lead.conf.voters.filter((v) => v !== id);
          if (others.length > 0) this.host.transferLeader(leader, others[this.prng.int(0, others.length - 1)] as string);
        } else this.proposeVia(leader, { type: 'removeNode', nodeId: id as NodeId, context: emptyContext });
        return;
      }
      if (role === 'absent') {
        this.proposeVia(leader, { type: 'addLearner', nodeId: id as NodeId, context: emptyContext });
        return;
      }
      if (target === 'voter' && role === 'learner') {
        const node = this.host.node(id);
        if (node.up && node.applied + 5 >= lead.commit) this.proposeVia(leader, { type: 'addVoter', nodeId: id as NodeId, context: emptyContext });
        return;
      }
    }
  }

  /** Stops removed processes once their removal applied; restarts them once re-added. */
  private lifecycle(roleOf: (id: string) => MemberTarget): void {
    for (const id of this.host.nodeIds()) {
      const node = this.host.node(id);
      const target = this.targets.get(id) as MemberTarget;
      if (target === 'absent' && roleOf(id) === 'absent' && !node.removed && this.cycle?.keepRunning !== true) this.host.stopRemoved(id);
      else if (target !== 'absent' && roleOf(id) !== 'absent' && node.removed) this.host.startRemoved(id);
    }
  }

  private advanceCycle(roleOf: (id: string) => MemberTarget, lead: MemberNodeView): void {
    const c = this.cycle;
    if (c === null) return;
    const now = this.host.queue.now();
    const node = this.host.node(c.victim);
    switch (c.phase) {
      case 'removing':
        if (roleOf(c.victim) === 'absent' && (node.removed || c.keepRunning)) {
          c.phase = 'away';
          c.untilUs = now + this.prng.int(300, 2_000) * usPerMs;
        }
        return;
      case 'away':
        if (now >= c.untilUs) {
          this.targets.set(c.victim, 'learner');
          c.phase = 'learning';
          this.host.note(`membership: adding ${c.victim} back as a learner`);
        }
        return;
      case 'learning':
        if (roleOf(c.victim) === 'learner' && node.up && node.applied + 5 >= lead.commit) {
          this.targets.set(c.victim, 'voter');
          c.phase = 'promoting';
          this.host.note(`membership: promoting ${c.victim}`);
        }
        return;
      case 'promoting':
        if (roleOf(c.victim) === 'voter') this.endCycle();
        return;
    }
  }

  private proposeVia(leader: string, change: ConfChange): void {
    const entry = { via: leader, index: null as number | null, sinceUs: this.host.queue.now() };
    this.inflight = entry;
    this.proposals++;
    this.host.propose(leader, change, (index) => {
      if (index !== null) entry.index = index;
      else if (this.inflight === entry) this.inflight = null;
    });
  }
}
