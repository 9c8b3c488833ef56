/**
 * The Raft driver (docs/design.md, "The Ready loop"): the one place where the pure Raft core meets
 * time, disk and network. It ticks the core, steps peer messages into it, proposes client writes,
 * and runs the Ready loop: one Ready at a time (driver/ready-step.ts: persist as one synced batch,
 * send, apply, answer confirmed reads, advance). Proposals that arrive while a batch is being
 * fsynced wait in the core's unstable log and go out together in the next Ready: group commit.
 *
 * Its parts live in `driver/`, one concept each: the Ready step; leadership (role, leader, and
 * what a change of them does); the proposer (admission and proposals) and the proposal tracker
 * (pending writes); the apply step (the state machine and its batches); the read tracker (pending
 * and confirmed reads); the address book (member addresses, cluster id, promotions); state
 * capture (consistent reads of the stored state between Ready turns); the snapshot pipeline
 * (send, receive, install, take, compact); and the NOSPACE alarm's in-process recovery
 * (disk-fault-recovery.ts: after a disk fault the Raft instance is rebuilt from storage).
 */
import type { ClusterCommand, ClusterLimits, KvStateImage, KvStateMachine, WriteOp, WriteResult } from '../kv/index.js';
import type { ConfChange, ConfState, Message, RawNode, Role, SnapshotMessage } from '../raft/index.js';
import { assert, NotLeaderError, OutcomeUnknownError, UnavailableError } from '../util/index.js';
import type { LogIndex, NodeId } from '../util/index.js';
import { NoSpaceAlarmError } from './alarms/disk-fault.js';
import { DiskFaultRecovery } from './driver/disk-fault-recovery.js';
import type { RaftDriverDeps } from './driver/driver-deps.js';
import { Leadership } from './driver/leadership.js';
import { LeaseKeeper } from './driver/lease-keeper.js';
import { ProposalTracker } from './driver/proposal-tracker.js';
import { buildRaftInstance } from './driver/raft-instance.js';
import type { RaftInstance } from './driver/raft-instance.js';
import { ReadTracker } from './driver/read-tracker.js';
import { ReadyLoop } from './driver/ready-loop.js';
import { ReadyStep } from './driver/ready-step.js';
import { captureNow } from './driver/state-capture.js';
import type { StateCapture, WriteSession } from './driver/types.js';
import type { Cancellable, DriverStorage } from './driver/world.js';

export type { AppliedChange, StateCapture, WriteSession } from './driver/types.js';
export type { DriverFaults, RaftDriverDeps } from './driver/driver-deps.js';

/** The node's Raft driver. */
export class RaftDriver {
  /** Everything built from storage (raft-instance.ts): at construction, and again after a disk fault. */
  private inst!: RaftInstance;
  /** How many times the Raft instance was built (seeds each core differently). */
  private boots = 0;
  private readonly proposals = new ProposalTracker();
  private readonly reads: ReadTracker;
  /** The NOSPACE alarm this node holds locally after a disk fault, and its probe. */
  private readonly recovery: DiskFaultRecovery;
  /** Lease deadlines and expiry while this node leads (driver/lease-keeper.ts). */
  readonly leases: LeaseKeeper;
  /** The role and the leader this node knows, and what a change of them does (driver/leadership.ts). */
  private readonly leadership: Leadership;
  /** The Ready loop (driver/ready-loop.ts), one Ready at a time (driver/ready-step.ts). */
  private readonly loop: ReadyLoop;
  private stopped = false;
  private tickTimer: Cancellable | null = null;

  constructor(private readonly deps: RaftDriverDeps, image: KvStateImage) {
    this.reads = new ReadTracker((issuedAtMs, index) => this.inst.freshness.onReadReleased(issuedAtMs, index, this.kvMachine.appliedIndex));
    this.leases = new LeaseKeeper({
      nowMs: () => this.now(),
      leases: () => this.kvMachine.leases(),
      hasLease: (id) => this.kvMachine.leaseInfo(id) !== null,
      proposeRevoke: (id) => this.write({ type: 'leaseRevoke', id }, { clientId: '', seq: 0, ackSeq: 0 }),
    });
    const { proposals, reads, leases } = this;
    const instance = (): RaftInstance => this.inst;
    const nowMs = (): number => this.now();
    this.leadership = new Leadership({ deps, proposals, reads, leases, instance, nowMs });
    const readyStep = new ReadyStep({
      deps, proposals, reads, instance, nowMs,
      leading: () => this.leadership.leading,
      onSoftState: (s) => this.leadership.change(s),
      peers: () => this.peers(),
      updateGauges: () => this.updateGauges(),
    });
    this.loop = new ReadyLoop({
      scheduler: deps.world.scheduler,
      raw: () => this.raw,
      handle: (rd) => readyStep.handle(rd),
      running: () => !this.stopped && !this.recovery.held,
      // A full or failing disk raises the NOSPACE alarm and the node goes on without Raft until
      // the disk is writable again (disk-fault-recovery.ts); any other failure stops it.
      onFailure: (e) => {
        if (this.stopped || !this.recovery.suspendOn(e)) this.fail(e, 'the node stopped after a storage failure (see its alarm)');
      },
    });
    const { logger, world, reopenStorage, onDiskAlarm } = deps;
    this.recovery = new DiskFaultRecovery({ logger, scheduler: world.scheduler, reopenStorage, onDiskAlarm, isStopped: () => this.stopped, pause: (why) => this.pause(why), reboot: (st, im) => this.reboot(st, im), fatal: (e) => this.fail(e, 'the node stopped: its data dir could not be reopened') });
    this.boot(deps.storage, image);
  }

  /**
   * Builds the Raft instance: everything that comes from storage (raft-instance.ts). At
   * construction, and again after a disk fault (`reboot`), exactly as a restart would.
   */
  private boot(storage: DriverStorage, image: KvStateImage): void {
    const { deps, proposals, reads } = this;
    const boot = ++this.boots;
    this.inst = buildRaftInstance(
      {
        ...deps,
        raftTestFaults: deps.driverFaults?.raft,
        proposals,
        reads,
        onApplied: deps.onApplied,
        onResult: (r) => this.leases.onApplied(r),
        peers: () => this.peers(),
        captureState: () => this.captureState(),
        step: (m) => this.step(m),
        kick: () => this.kick(),
        requireLeader: () => this.requireLeader(),
        // A pipeline of an instance that a disk fault replaced stops with it.
        isRetired: () => this.stopped || this.boots !== boot,
      },
      storage,
      image,
      boot,
    );
  }

  /** The Raft core (rebuilt from storage after a disk fault, see `boot`). */
  get raw(): RawNode {
    return this.inst.raw;
  }

  /** The state machine (replaced when a snapshot is installed). */
  private get kvMachine(): KvStateMachine {
    return this.inst.applied.kv;
  }

  /** The membership as of the last applied entry. */
  private get conf(): ConfState {
    return this.inst.applied.conf;
  }

  /** The current state machine (read-only use: reads are served from it). */
  get kv(): KvStateMachine {
    return this.kvMachine;
  }

  /** The index of the last snapshot taken or installed. */
  get snapshotIndexNow(): LogIndex {
    return this.inst.snapshots.snapshotIndex;
  }

  /** The membership as of the last applied entry. */
  get confState(): ConfState {
    return this.conf;
  }

  /** The leader this node knows, or null. */
  get leader(): NodeId | null {
    return this.leadership.leader;
  }

  /** This node's role. */
  get role(): Role {
    return this.leadership.role;
  }

  /** Client addresses of members, by id, for leader hints. */
  get clientAddresses(): Map<NodeId, string> {
    return this.inst.book.clientAddresses;
  }

  /** Peer addresses of members, by id. */
  get peerAddresses(): Map<NodeId, string> {
    return this.inst.book.peerAddresses;
  }

  /** Learners to promote once caught up (added by `member add` without `--learner`). */
  get promoteWhenCaughtUp(): Set<NodeId> {
    return this.inst.book.promoteWhenCaughtUp;
  }

  /** The cluster id: the data dir's, else the one the last snapshot carried ('' if unknown). */
  get clusterId(): string {
    return this.inst.book.clusterId;
  }

  /**
   * The most this node's state may lag the cluster's commits, in ms, as far as it can prove
   * (freshness.ts); Infinity if it cannot prove any bound.
   */
  stalenessMs(): number {
    const leader = this.leadership.leading ? { self: this.deps.options.id, voters: this.conf.voters } : null;
    return this.inst.freshness.stalenessMs(leader, this.now(), this.kvMachine.appliedIndex);
  }

  /** The peers the transport should connect to (see `AddressBook.peers`). */
  peers(): Map<NodeId, string> {
    return this.inst.book.peers(this.conf);
  }

  /** Milliseconds since this node last received a message from `peer` (Infinity if never). */
  sinceHeardMs(peer: NodeId): number {
    return this.inst.contact.sinceHeardMs(peer, this.now());
  }

  /** Starts ticking. */
  start(): void {
    this.tickTimer = this.deps.world.scheduler.every(this.deps.options.tickIntervalMs, () => this.onTick());
    this.kick();
  }

  /** A message from a peer. Malformed or misaddressed messages are logged and dropped. */
  step(message: Message): void {
    // A node that cannot persist must not acknowledge: while the NOSPACE alarm holds, Raft
    // traffic is dropped (its peers see it as unreachable and retry).
    if (this.stopped || this.recovery.held) return;
    if (message.to !== this.deps.options.id) {
      this.deps.logger.warn({ from: message.from, to: message.to }, 'dropped a peer message addressed to another node');
      return;
    }
    if (message.type === 'append' && message.prevLogIndex === 0 && message.entries.length > 0 && this.awaitingFirstSnapshot()) {
      // A node that joined with no membership must start from a snapshot (which carries the
      // membership): replaying the log from index 1 would apply membership changes on top of an
      // empty configuration. Leaders compact index 1 away (see SnapshotPipeline.maybeTake).
      if (this.inst.contact.joinWarningDue(this.now())) {
        this.deps.logger.warn({ from: message.from }, 'join: waiting for a snapshot; dropped an append that would replay the log from index 1');
      }
      return;
    }
    const now = this.now();
    const roundTripMs = this.inst.contact.received(message, now, this.leadership.leading);
    if (roundTripMs !== null) this.deps.metrics.peerRoundTrip.observe({ peer: message.from }, roundTripMs / 1000);
    const termBefore = this.raw.term;
    this.raw.step(message);
    if (message.term === termBefore && message.term === this.raw.term) {
      // A leader's commit index is the cluster's only once it lies in the leader's own term (peer-contact.ts).
      const commitInLeaderTerm = (message.type === 'append' || message.type === 'heartbeat') && this.raw.hasEntry(message.commit, message.term);
      this.inst.contact.observeFreshness(message, now, { leading: this.leadership.leading, leader: this.leadership.leader, voters: this.conf.voters, appliedIndex: this.kvMachine.appliedIndex, commitInLeaderTerm });
    }
    this.kick();
  }

  /** The transport lost messages to `peer`: let the leader probe it. */
  reportUnreachable(peer: NodeId): void {
    if (!this.stopped && !this.recovery.held) this.raw.reportUnreachable(peer);
  }

  /**
   * Proposes a write and resolves with its result once applied. Throws `NotLeaderError` on a
   * follower, `OverloadedError` when too many writes are pending, `UnavailableError` when Raft
   * drops the proposal (all "not applied"), and `OutcomeUnknownError` if leadership is lost
   * while it is in flight.
   */
  async write(op: WriteOp, session: WriteSession): Promise<WriteResult> {
    return this.inst.proposer.write(op, session);
  }

  /**
   * Proposes new cluster limits (leader only) and resolves with the result once applied (a
   * `clusterLimits` result; INVALID_ARGUMENT if they are out of range).
   */
  async setClusterLimits(limits: ClusterLimits): Promise<WriteResult> {
    return this.proposeClusterCommand({ type: 'setClusterLimits', limits, ifUnset: false }, 'cluster limits');
  }

  /**
   * Proposes a cluster command (leader only: cluster limits, users, roles, the auth switch) and
   * resolves with its result once applied here.
   */
  async proposeClusterCommand(command: ClusterCommand, what: string): Promise<WriteResult> {
    return this.inst.proposer.proposeClusterCommand(command, what);
  }

  /**
   * Resolves once local state is at least as new as the cluster's commit index at the time of
   * the call (Raft thesis §6.4, ReadIndex): then a read of local state is linearizable.
   */
  async linearizableRead(timeoutMs: number): Promise<void> {
    const disk = this.diskAlarm;
    if (disk !== null) throw new UnavailableError(`this node holds the NOSPACE alarm (${disk}) and cannot confirm a linearizable read: read from another node, or use a STALE read here`);
    this.assertServing();
    if (this.deps.options.testFaults.staleLinearizableReads) return;
    return this.inst.linearizable.begin(timeoutMs);
  }

  /**
   * Proposes a membership change (leader only); resolves once it is applied. Throws
   * `FailedPreconditionError` if another change is not applied yet or the change is invalid.
   */
  async changeMembership(change: ConfChange): Promise<ConfState> {
    await this.inst.proposer.changeMembership(change, () => this.notLeader());
    return this.conf;
  }

  /** True while this node has no membership and no log: it joined and waits for a snapshot. */
  awaitingFirstSnapshot(): boolean {
    return this.conf.voters.length === 0 && this.conf.learners.length === 0 && this.inst.storage.lastIndex() === 0;
  }

  /**
   * A consistent capture of the state machine (see `StateCapture`). The storage snapshot is taken
   * between two turns of the Ready loop, when every apply batch has been written and the
   * in-memory state machine is at the same applied index as the stored one, so the counts and the
   * term taken from memory describe exactly the state the reader shows. Writes go on meanwhile.
   */
  captureState(): Promise<StateCapture> {
    this.assertServing();
    return new Promise<StateCapture>((resolve, reject) => {
      this.loop.whenQuiescent(() => void captureNow(this.kvMachine, this.inst.storage).then(resolve, reject));
    });
  }

  /** The snapshot data (address book and cluster id) for a snapshot of membership `conf`. */
  snapshotData(conf: ConfState): Uint8Array {
    return this.inst.book.snapshotData(conf);
  }

  /** Asks the core to hand leadership to `to`. */
  transferLeader(to: NodeId): void {
    this.assertServing();
    this.raw.transferLeader(to);
    this.kick();
  }

  /** A `NotLeaderError` naming the leader and its client address when known. */
  notLeader(): NotLeaderError {
    const leader = this.leadership.leader;
    return new NotLeaderError(leader, leader === null ? null : (this.inst.book.clientAddresses.get(leader) ?? null));
  }

  /** A peer is streaming a snapshot: stage it, then step it (see `SnapshotPipeline.receive`). */
  async receiveSnapshot(message: SnapshotMessage, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.assertServing();
    try {
      await this.inst.snapshots.receive(message, chunks);
    } catch (e) {
      // Staging writes to the data dir: a full or failing disk there is the NOSPACE alarm, as in
      // the Ready loop. It is raised between two Ready turns (a turn in flight keeps its instance).
      this.loop.whenQuiescent(() => {
        if (!this.stopped && !this.recovery.held) this.recovery.suspendOn(e);
      });
      throw e;
    }
  }

  /** Status for `/status`, `Cluster.Status` and readiness. */
  status(): ReturnType<RawNode['status']> {
    return this.raw.status();
  }

  /** The current Raft term (no allocation: for every response header). */
  get term(): number {
    return this.raw.term;
  }

  /** Stops the loop, failing every waiting request. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.tickTimer?.cancel();
    this.recovery.stop();
    this.deps.world.load?.close();
    this.failWaiting('the node is shutting down');
    await this.loop.settled();
  }

  /** Monotonic time for every duration the driver measures (see `Clock`). */
  private now(): number {
    return this.deps.world.clock.monotonicMs();
  }

  /** Fails every waiting write (outcome unknown) and read. */
  private failWaiting(why: string): void {
    this.proposals.failAll(new OutcomeUnknownError(`${why}; the write may or may not apply`));
    this.reads.failAll(new UnavailableError(why));
  }

  private assertServing(): void {
    if (this.stopped) throw new UnavailableError('the node is shutting down');
    const disk = this.diskAlarm;
    if (disk !== null) throw new NoSpaceAlarmError(disk);
  }

  /** The reason this node holds its NOSPACE alarm (a disk write failed), or null. */
  get diskAlarm(): string | null {
    return this.recovery.reason;
  }

  /**
   * Tries to leave the NOSPACE alarm now (`raftkv alarm disarm`; a probe also tries on its own):
   * true once the node runs again (or held no alarm), false if the disk is still not writable.
   */
  async resume(): Promise<boolean> {
    return this.recovery.resume();
  }

  /**
   * A disk fault: the Raft instance is dropped (its unstable entries and hard state may not be on
   * disk; disk-fault-recovery.ts). Waiting writes fail with an unknown outcome (the entry may have
   * reached other members), waiting reads fail; from now on no message is sent or acknowledged.
   */
  private pause(reason: string): void {
    this.leadership.change({ leader: null, role: 'follower' }); // a leader steps down as on losing leadership
    this.failWaiting(`a write to this node's data dir failed (${reason}); it holds the NOSPACE alarm`);
    this.updateGauges();
  }

  /** The data dir is writable again: a new Raft instance from it, as after a restart. */
  private reboot(storage: DriverStorage, image: KvStateImage): void {
    this.boot(storage, image);
    // The new core holds exactly what is on disk: no entry the failed instance had not written.
    assert(this.raw.status().lastIndex === storage.lastIndex(), () => `reboot: the core's last index ${this.raw.status().lastIndex} differs from the stored ${storage.lastIndex()}`);
    this.deps.transport.setPeers(this.peers());
    // The state machine restarted from the stored image: watchers resume from a reset.
    this.deps.onApplied?.([{ index: this.kvMachine.appliedIndex, revision: this.kvMachine.revision, mutations: [], reset: true }]);
    this.updateGauges();
    this.kick();
  }

  /** Stops the node after an error it cannot go on from: nobody waits forever on it. */
  private fail(e: unknown, why: string): void {
    this.stopped = true;
    this.tickTimer?.cancel();
    this.failWaiting(why);
    this.deps.onFatal(e);
  }

  private requireLeader(): void {
    this.assertServing();
    if (!this.leadership.leading) throw this.notLeader();
  }

  private onTick(): void {
    if (this.stopped || this.recovery.held) return;
    this.raw.tick();
    this.reads.expire(this.now());
    this.leases.tick();
    this.kick();
  }

  /** Schedules a turn of the Ready loop (coalesced). */
  private kick(): void {
    if (!this.recovery.held) this.loop.kick(); // while it is held, no Raft instance until `reboot`
  }

  private updateGauges(): void {
    // Cheap getters, not status(): this runs every Ready, and status() builds the progress map.
    const { metrics } = this.deps;
    metrics.isLeader.set(this.leadership.leading ? 1 : 0);
    metrics.term.set(this.raw.term);
    metrics.commitIndex.set(this.raw.commit);
    metrics.appliedIndex.set(this.kvMachine.appliedIndex);
    metrics.proposalsPending.set(this.proposals.size);
    metrics.readsPending.set(this.reads.size);
  }
}
