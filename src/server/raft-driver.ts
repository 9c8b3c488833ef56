/**
 * The driver loop (docs/design.md, "The Ready loop"): the one place where the pure Raft core meets
 * time, disk and network. It ticks the core, steps peer messages into it, proposes client writes,
 * and for every Ready: persists (one synced batch), sends, applies (one batch with the applied
 * index), answers confirmed reads, then advances. Proposals that arrive while a batch is being
 * fsynced wait in the core's unstable log and go out together in the next Ready: group commit.
 *
 * Its parts live in `driver/`, one concept each: the proposal tracker (pending writes), the read
 * tracker (pending and confirmed reads), the address book (member addresses, cluster id,
 * promotions), and the snapshot pipeline (send, receive, install, take, compact).
 */
import { defaultClusterLimits, encodeClusterCommand, encodeCommand, KvStateMachine, validateCommand } from '../kv/index.js';
import type { ClusterCommand, ClusterLimits, KvCommand, KvStateImage, Mutation, WriteOp, WriteResult } from '../kv/index.js';
import { decodeConfChange, RawNode } from '../raft/index.js';
import type { ConfChange, ConfState, Entry, Message, RaftTestFaults, ReadState, Ready, Role, Snapshot, SnapshotMessage, SoftState } from '../raft/index.js';
import type { Transport } from '../transport/index.js';
import { assert, isErrorCode, NotLeaderError, OutcomeUnknownError, OverloadedError, SeededPrng, term as toTerm, UnavailableError } from '../util/index.js';
import type { Logger, LogIndex, NodeId, Term } from '../util/index.js';
import { applySkippingDuplicateCheck, noteAppliedOutcome, proposeBootstrapLimits } from './apply-notes.js';
import { AddressBook } from './driver/address-book.js';
import { Freshness } from './driver/freshness.js';
import { PeerRoundTrips } from './driver/peer-round-trips.js';
import { ProposalTracker } from './driver/proposal-tracker.js';
import { ReadTracker } from './driver/read-tracker.js';
import { fabricatedSuccess, noopResult } from './driver/results.js';
import { SnapshotPipeline } from './driver/snapshot-pipeline.js';
import type { AppliedChange, StateCapture, WriteSession } from './driver/types.js';
import type { Cancellable, DriverStorage, DriverWorld, SnapshotStaging } from './driver/world.js';
import { classifyDiskFault, diskAlarmLimits, NoSpaceAlarmError } from './alarms/disk-fault.js';
import type { DiskFault } from './alarms/disk-fault.js';
import type { NodeMetrics } from './metrics.js';
import type { NodeOptions } from './options.js';

export type { AppliedChange, StateCapture, WriteSession } from './driver/types.js';

/** What the driver needs. */
export interface RaftDriverDeps {
  readonly options: NodeOptions;
  /** The durable Raft log and hard state, and the KV state store (LevelStorage in production). */
  readonly storage: DriverStorage;
  /** Where incoming snapshots are staged before the core installs them. */
  readonly staging: SnapshotStaging;
  readonly transport: Transport;
  /** Clock, scheduler, seed and incarnation (system-world.ts in production). */
  readonly world: DriverWorld;
  readonly metrics: NodeMetrics;
  readonly logger: Logger;
  /** Called once if the node hits an error it cannot continue after (disk failure, corruption). */
  readonly onFatal: (e: unknown) => void;
  /** Called after every applied batch with each entry's changes, for watchers. */
  readonly onApplied?: (changes: readonly AppliedChange[]) => void;
  /** Negative controls for the simulator: deliberately broken driver behaviour. Never set outside tests. */
  readonly driverFaults?: DriverFaults;
  /**
   * Reopens storage after a disk fault (docs/design-notes.md, "Alarms"): closes the failed handle,
   * checks there is space again, opens the data dir and loads its image, as a restart would. It
   * throws while the disk is still full. Without it a disk fault is fatal (`onFatal`).
   */
  readonly reopenStorage?: () => Promise<{ readonly storage: DriverStorage; readonly image: KvStateImage }>;
  /** Called when this node's NOSPACE alarm is raised (a write failed: the reason) or cleared (null). */
  readonly onDiskAlarm?: (reason: string | null) => void;
}

/** Deliberate driver bugs the simulator must catch (negative controls). */
export interface DriverFaults {
  /** Write apply batches without fsync (defect c's shape: a rotation can lose one while a later one survives). */
  readonly unsyncedApplyBatches?: boolean;
  /** Send every Ready's messages before its batch is durable (votes and acknowledgements too). */
  readonly sendBeforePersist?: boolean;
  /** Deliberate bugs of the Raft core itself, run inside the production driver. */
  readonly raft?: RaftTestFaults;
}

/** The node's Raft driver. */
export class RaftDriver {
  /** The Raft core (rebuilt from storage after a disk fault, see `resume`). */
  private rawNode!: RawNode;
  /** The durable log and KV store (reopened after a disk fault). */
  private storage!: DriverStorage;
  /** The state machine (replaced when a snapshot is installed). */
  private kvMachine!: KvStateMachine;
  /** The membership as of the last applied entry. */
  private conf!: ConfState;
  private soft: SoftState = { leader: null, role: 'follower' };
  /** How stale this node's state may be, as far as it can prove (freshness.ts). */
  private freshness!: Freshness;
  private readonly proposals = new ProposalTracker();
  private readonly reads: ReadTracker;
  private readCounter = 0;
  private book!: AddressBook;
  private snapshots!: SnapshotPipeline;
  /** Set while a disk fault holds the NOSPACE alarm: the Raft instance is gone until `resume`. */
  private diskFault: { readonly reason: string; probeMs: number; probe: Cancellable | null } | null = null;
  /** True while `resume` reopens storage (one attempt at a time). */
  private resuming = false;
  /** How many times the Raft instance was built (seeds each core differently). */
  private boots = 0;
  /** Work that needs the in-memory and stored state machines to agree (see `captureState`). */
  private quiescentTasks: (() => void)[] = [];
  /** When this node last received a message from each peer (monotonic ms). */
  private readonly lastHeardMs = new Map<NodeId, number>();
  /** Heartbeat round trips to each peer, while this node leads (the peer round-trip metric). */
  private readonly roundTrips = new PeerRoundTrips();
  /** When a dropped-append warning was last logged (rate limit). */
  private joinWarnedMs = Number.NEGATIVE_INFINITY;
  private processing = false;
  private again = false;
  private stopped = false;
  private tickTimer: Cancellable | null = null;
  /** Settles when the running turn of the loop ends (see `stop`). */
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => {};

  constructor(private readonly deps: RaftDriverDeps, image: KvStateImage) {
    this.reads = new ReadTracker((issuedAtMs, index) => this.freshness.onReadReleased(issuedAtMs, index, this.kvMachine.appliedIndex));
    this.boot(deps.storage, image);
  }

  /**
   * Builds everything that comes from storage: the state machine, the membership, the address
   * book, the snapshot pipeline and the Raft core. At construction, and again in `resume` after a
   * disk fault, exactly as a restart would (the core then holds only what is on disk).
   */
  private boot(storage: DriverStorage, image: KvStateImage): void {
    const { options } = this.deps;
    const deps = this.deps;
    this.storage = storage;
    this.boots++;
    // Apply runs by the replicated cluster limits, never this node's flags (kv/cluster-limits.ts).
    this.kvMachine = new KvStateMachine({ limits: defaultClusterLimits, sessionTtlMs: defaultClusterLimits.sessionTtlMs, image });
    this.conf = storage.initialState().confState;
    this.freshness = new Freshness(options.electionTicks * options.tickIntervalMs);
    this.book = new AddressBook({ id: options.id, peerAddress: options.advertisePeer, clientAddress: options.advertiseClient }, storage.clusterId);
    for (const m of options.initialCluster) this.book.peerAddresses.set(m.id, m.peerAddress);
    this.book.load(storage, storage.snapshot(), this.conf, this.kvMachine.appliedIndex);
    const pipeline: SnapshotPipeline = new SnapshotPipeline(
      { options, storage, staging: deps.staging, transport: deps.transport, metrics: deps.metrics, logger: deps.logger, nowMs: () => this.now() },
      {
        captureState: () => this.captureState(),
        snapshotData: (conf) => this.book.snapshotData(conf),
        step: (m) => this.step(m),
        reportSnapshot: (to, ok) => {
          this.raw.reportSnapshot(to, ok);
          this.kick();
        },
        // A pipeline of a Raft instance that a disk fault replaced stops with it.
        isStopped: (): boolean => this.stopped || this.snapshots !== pipeline,
      },
    );
    this.snapshots = pipeline;
    this.rawNode = new RawNode({
      id: options.id,
      storage,
      prng: new SeededPrng(deps.world.seed + this.boots - 1),
      electionTicks: options.electionTicks,
      heartbeatTicks: options.heartbeatTicks,
      applied: this.kvMachine.appliedIndex,
      inflightAppendsMax: options.limits.inflightAppendsMax,
      appendBytesMax: options.limits.appendBytesMax,
      uncommittedBytesMax: options.limits.uncommittedBytesMax,
      applyBytesMax: options.limits.applyBytesMax,
      logger: deps.logger,
      ...(deps.driverFaults?.raft ? { testFaults: deps.driverFaults.raft } : {}),
    });
  }

  /** The Raft core. */
  get raw(): RawNode {
    return this.rawNode;
  }

  /** The current state machine (read-only use: reads are served from it). */
  get kv(): KvStateMachine {
    return this.kvMachine;
  }

  /** The index of the last snapshot taken or installed. */
  get snapshotIndexNow(): LogIndex {
    return this.snapshots.snapshotIndex;
  }

  /** The membership as of the last applied entry. */
  get confState(): ConfState {
    return this.conf;
  }

  /** The leader this node knows, or null. */
  get leader(): NodeId | null {
    return this.soft.leader;
  }

  /** This node's role. */
  get role(): Role {
    return this.soft.role;
  }

  /** Client addresses of members, by id, for leader hints. */
  get clientAddresses(): Map<NodeId, string> {
    return this.book.clientAddresses;
  }

  /** Peer addresses of members, by id. */
  get peerAddresses(): Map<NodeId, string> {
    return this.book.peerAddresses;
  }

  /** Learners to promote once caught up (added by `member add` without `--learner`). */
  get promoteWhenCaughtUp(): Set<NodeId> {
    return this.book.promoteWhenCaughtUp;
  }

  /** The cluster id: the data dir's, else the one the last snapshot carried ('' if unknown). */
  get clusterId(): string {
    return this.book.clusterId;
  }

  /**
   * The most this node's state may lag the cluster's commits, in ms, as far as it can prove
   * (freshness.ts); Infinity if it cannot prove any bound.
   */
  stalenessMs(): number {
    const leader = this.soft.role === 'leader' ? { self: this.deps.options.id, voters: this.conf.voters } : null;
    return this.freshness.stalenessMs(leader, this.now());
  }

  /** The peers the transport should connect to (see `AddressBook.peers`). */
  peers(): Map<NodeId, string> {
    return this.book.peers(this.conf);
  }

  /** Milliseconds since this node last received a message from `peer` (Infinity if never). */
  sinceHeardMs(peer: NodeId): number {
    const at = this.lastHeardMs.get(peer);
    return at === undefined ? Number.POSITIVE_INFINITY : this.now() - at;
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
    if (this.stopped || this.diskFault !== null) return;
    if (message.to !== this.deps.options.id) {
      this.deps.logger.warn({ from: message.from, to: message.to }, 'dropped a peer message addressed to another node');
      return;
    }
    if (message.type === 'append' && message.prevLogIndex === 0 && message.entries.length > 0 && this.awaitingFirstSnapshot()) {
      // A node that joined with no membership must start from a snapshot (which carries the
      // membership): replaying the log from index 1 would apply membership changes on top of an
      // empty configuration. Leaders compact index 1 away (see SnapshotPipeline.maybeTake).
      if (this.now() - this.joinWarnedMs > 5_000) {
        this.joinWarnedMs = this.now();
        this.deps.logger.warn({ from: message.from }, 'join: waiting for a snapshot; dropped an append that would replay the log from index 1');
      }
      return;
    }
    const now = this.now();
    this.lastHeardMs.set(message.from, now);
    if (message.type === 'heartbeatResponse' && this.soft.role === 'leader') {
      const ms = this.roundTrips.answered(message.from, now);
      if (ms !== null) this.deps.metrics.peerRoundTrip.observe({ peer: message.from }, ms / 1000);
    }
    const termBefore = this.raw.term;
    this.raw.step(message);
    if (message.term === termBefore && message.term === this.raw.term) this.observeFreshness(message, now);
    this.kick();
  }

  /** What a message of the current term proves about this node's freshness (freshness.ts). */
  private observeFreshness(message: Message, nowMs: number): void {
    if (this.soft.role === 'leader') {
      if ((message.type === 'appendResponse' || message.type === 'heartbeatResponse') && this.conf.voters.includes(message.from)) this.freshness.onAck(message.from, nowMs);
    } else if (message.from === this.soft.leader && (message.type === 'append' || message.type === 'heartbeat')) {
      this.freshness.onLeaderContact(message.type, message.commit, nowMs, this.kvMachine.appliedIndex);
    }
  }

  /** The transport lost messages to `peer`: let the leader probe it. */
  reportUnreachable(peer: NodeId): void {
    if (!this.stopped) this.raw.reportUnreachable(peer);
  }

  /**
   * Proposes a write and resolves with its result once applied. Throws `NotLeaderError` on a
   * follower, `OverloadedError` when too many writes are pending, `UnavailableError` when Raft
   * drops the proposal (all "not applied"), and `OutcomeUnknownError` if leadership is lost
   * while it is in flight.
   */
  async write(op: WriteOp, session: WriteSession): Promise<WriteResult> {
    this.assertServing();
    if (this.soft.role !== 'leader') throw this.notLeader();
    const { limits, testFaults } = this.deps.options;
    if (this.proposals.size >= limits.proposalsPendingMax) {
      this.deps.metrics.shed.inc({ queue: 'proposals' });
      throw new OverloadedError(`too many writes pending (proposalsPendingMax ${limits.proposalsPendingMax})`, 50);
    }
    const command: KvCommand = { ...session, timeMs: this.deps.world.clock.nowMs(), op };
    validateCommand(command, limits); // this node's flags: admission only
    this.kvMachine.admit(command); // the cluster limits apply will use
    let at: { index: LogIndex; term: number };
    try {
      at = this.raw.propose(encodeCommand(command));
    } catch (e) {
      if (isErrorCode(e, 'PROPOSAL_DROPPED')) throw new UnavailableError(`write not accepted: ${(e as Error).message}`);
      throw e;
    }
    const result = this.proposals.track(at.index, toTerm(at.term));
    this.deps.metrics.proposalsPending.set(this.proposals.size);
    this.kick();
    if (testFaults.ackBeforeCommit) {
      // Negative control: acknowledge before commit. A fabricated success; never set outside tests.
      result.catch(() => {});
      return fabricatedSuccess(op, this.kvMachine.revision);
    }
    return result;
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
    this.assertServing();
    if (this.soft.role !== 'leader') throw this.notLeader();
    const data = encodeClusterCommand(command);
    let at: { index: LogIndex; term: number };
    try {
      at = this.raw.propose(data);
    } catch (e) {
      if (isErrorCode(e, 'PROPOSAL_DROPPED')) throw new UnavailableError(`${what} not accepted: ${(e as Error).message}`);
      throw e;
    }
    const result = this.proposals.track(at.index, toTerm(at.term));
    this.kick();
    return result;
  }

  /**
   * Resolves once local state is at least as new as the cluster's commit index at the time of
   * the call (Raft thesis §6.4, ReadIndex): then a read of local state is linearizable.
   */
  async linearizableRead(timeoutMs: number): Promise<void> {
    if (this.diskFault !== null) throw new UnavailableError(`this node holds the NOSPACE alarm (${this.diskFault.reason}) and cannot confirm a linearizable read: read from another node, or use a STALE read here`);
    this.assertServing();
    if (this.deps.options.testFaults.staleLinearizableReads) return;
    const { limits } = this.deps.options;
    if (this.reads.size >= limits.readsPendingMax) {
      this.deps.metrics.shed.inc({ queue: 'reads' });
      throw new OverloadedError(`too many reads pending (readsPendingMax ${limits.readsPendingMax})`, 50);
    }
    this.readCounter += 1;
    // Unique per process incarnation: the counter restarts at every start, and a leader's late
    // answer to a read of an earlier incarnation must not confirm a new read at an old index.
    const context = `${this.deps.options.id}/${this.deps.world.incarnation}/${this.readCounter}`;
    try {
      this.raw.readIndex(context);
    } catch (e) {
      if (isErrorCode(e, 'PROPOSAL_DROPPED')) throw new UnavailableError('no leader is known: cannot confirm a linearizable read');
      throw e;
    }
    const now = this.now();
    const done = this.reads.begin(context, now, now + timeoutMs);
    this.deps.metrics.readsPending.set(this.reads.size);
    this.kick();
    return done;
  }

  /**
   * Proposes a membership change (leader only); resolves once it is applied. Throws
   * `FailedPreconditionError` if another change is not applied yet or the change is invalid.
   */
  async changeMembership(change: ConfChange): Promise<ConfState> {
    this.assertServing();
    if (this.soft.role !== 'leader') throw this.notLeader();
    let at: { index: LogIndex; term: number };
    try {
      at = this.raw.proposeConfChange(change);
    } catch (e) {
      if (isErrorCode(e, 'PROPOSAL_DROPPED')) throw this.notLeader();
      throw e;
    }
    this.kick();
    await this.proposals.track(at.index, toTerm(at.term));
    return this.conf;
  }

  /** True while this node has no membership and no log: it joined and waits for a snapshot. */
  awaitingFirstSnapshot(): boolean {
    return this.conf.voters.length === 0 && this.conf.learners.length === 0 && this.storage.lastIndex() === 0;
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
      this.quiescentTasks.push(() => {
        const applied = this.kvMachine.appliedIndex;
        const keyCount = this.kvMachine.keyCount;
        const sessionCount = this.kvMachine.sessionRecordCount(); // what the stored session keyspace holds
        let term: Term;
        try {
          term = this.storage.term(applied);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        // kvSnapshotIterator takes the storage snapshot synchronously, before its first await.
        this.storage.kvSnapshotIterator().then((reader) => {
          if (reader.appliedIndex !== applied) {
            void reader.close();
            reject(new Error(`state capture raced with apply: stored ${reader.appliedIndex}, in memory ${applied}`));
            return;
          }
          resolve({ reader, term, keyCount, sessionCount });
        }, reject);
      });
      if (!this.processing) this.runQuiescentTasks();
    });
  }

  /** The snapshot data (address book and cluster id) for a snapshot of membership `conf`. */
  snapshotData(conf: ConfState): Uint8Array {
    return this.book.snapshotData(conf);
  }

  /** Asks the core to hand leadership to `to`. */
  transferLeader(to: NodeId): void {
    this.assertServing();
    this.raw.transferLeader(to);
    this.kick();
  }

  /** A `NotLeaderError` naming the leader and its client address when known. */
  notLeader(): NotLeaderError {
    const leader = this.soft.leader;
    return new NotLeaderError(leader, leader === null ? null : (this.book.clientAddresses.get(leader) ?? null));
  }

  /** A peer is streaming a snapshot: stage it, then step it (see `SnapshotPipeline.receive`). */
  async receiveSnapshot(message: SnapshotMessage, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.assertServing();
    await this.snapshots.receive(message, chunks);
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
    this.diskFault?.probe?.cancel();
    this.failWaiting('the node is shutting down');
    if (this.processing) await this.idle;
    this.runQuiescentTasks();
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
    if (this.diskFault !== null) throw new NoSpaceAlarmError(this.diskFault.reason);
  }

  /** The reason this node holds its NOSPACE alarm (a disk write failed), or null. */
  get diskAlarm(): string | null {
    return this.diskFault?.reason ?? null;
  }

  /**
   * A write to the data dir failed with a disk fault: raise the NOSPACE alarm and drop the Raft
   * instance, whose unstable entries and hard state may not be on disk (docs/design-notes.md,
   * "Alarms"). Nothing it held is acknowledged afterwards: acknowledgements were only ever sent
   * after their batch was durable, and from now on messages are dropped. Writes waiting for an
   * entry fail with an unknown outcome (the entry may have reached other members); reads waiting
   * for confirmation fail. A probe then tries `resume` with a bounded back-off.
   */
  private suspend(fault: DiskFault): void {
    const reason = `${fault.code}: ${fault.message}`;
    assert(this.diskFault === null, 'suspend: the NOSPACE alarm is already held');
    this.diskFault = { reason, probeMs: diskAlarmLimits.probeIntervalMs, probe: null };
    this.failWaiting(`a write to this node's data dir failed (${reason}); it holds the NOSPACE alarm`);
    if (this.soft.role === 'leader') {
      this.freshness.onLostLeadership(this.deps.options.id, this.conf.voters, this.now());
      this.roundTrips.clear();
    }
    this.soft = { leader: null, role: 'follower' };
    this.deps.logger.error({ kind: fault.kind, err: reason }, 'storage: a write failed; NOSPACE alarm raised, Raft paused until the data dir is writable again');
    this.deps.onDiskAlarm?.(reason);
    this.updateGauges();
    this.scheduleProbe();
  }

  private scheduleProbe(): void {
    const fault = this.diskFault;
    if (fault === null || this.stopped) return;
    fault.probe = this.deps.world.scheduler.after(fault.probeMs, () => void this.resume());
  }

  /**
   * Tries to leave the NOSPACE alarm now (the probe's timer, or \`raftkv alarm disarm\`): reopens
   * storage and rebuilds the Raft instance from it, as a restart would. Resolves true once the
   * node runs again (or held no alarm), false if the disk is still not writable.
   */
  async resume(): Promise<boolean> {
    const fault = this.diskFault;
    const reopen = this.deps.reopenStorage;
    if (fault === null) return true;
    if (this.stopped || this.resuming || reopen === undefined) return false;
    fault.probe?.cancel();
    fault.probe = null;
    this.resuming = true;
    try {
      const { storage, image } = await reopen();
      if (this.stopped) return false;
      this.boot(storage, image);
      // The new core holds exactly what is on disk: no entry the failed instance had not written.
      assert(this.raw.status().lastIndex === storage.lastIndex(), () => `resume: the core's last index ${this.raw.status().lastIndex} differs from the stored ${storage.lastIndex()}`);
      this.diskFault = null;
      this.deps.transport.setPeers(this.peers());
      // The state machine restarted from the stored image: watchers resume from a reset.
      this.deps.onApplied?.([{ index: this.kvMachine.appliedIndex, revision: this.kvMachine.revision, mutations: [], reset: true }]);
      this.deps.onDiskAlarm?.(null);
      this.deps.logger.warn({ applied: this.kvMachine.appliedIndex, lastIndex: storage.lastIndex() }, 'storage: the data dir is writable again; NOSPACE alarm cleared, Raft restarted from storage');
      this.updateGauges();
      this.kick();
      return true;
    } catch (e) {
      if (classifyDiskFault(e) === null) {
        this.deps.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'storage: reopening the data dir failed with an error that is not a disk fault');
        this.stopped = true;
        this.tickTimer?.cancel();
        this.deps.onFatal(e);
        return false;
      }
      fault.probeMs = Math.min(fault.probeMs * 2, diskAlarmLimits.probeIntervalMsMax);
      this.deps.logger.warn({ err: e instanceof Error ? e.message : String(e), nextProbeMs: fault.probeMs }, 'storage: the data dir is still not writable; NOSPACE alarm kept');
      this.scheduleProbe();
      return false;
    } finally {
      this.resuming = false;
    }
  }

  private onTick(): void {
    if (this.stopped || this.diskFault !== null) return;
    this.raw.tick();
    this.reads.expire(this.now());
    this.kick();
  }

  /** Schedules a turn of the Ready loop (coalesced). */
  private kick(): void {
    if (this.diskFault !== null) return; // no Raft instance until `resume`
    if (this.processing) {
      this.again = true;
      return;
    }
    this.processing = true;
    this.idle = new Promise<void>((resolve) => (this.markIdle = resolve));
    this.deps.world.scheduler.immediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        while (!this.stopped && this.diskFault === null && this.raw.hasReady()) {
          await this.handleReady(this.raw.ready());
          this.runQuiescentTasks();
        }
      } while (this.again && !this.stopped && this.diskFault === null);
    } catch (e) {
      // A full or failing disk raises the NOSPACE alarm and the node goes on without Raft until
      // the disk is writable again (suspend/resume); any other failure stops it.
      const fault = this.deps.reopenStorage === undefined || this.stopped ? null : classifyDiskFault(e);
      if (fault !== null) {
        this.suspend(fault);
        return;
      }
      this.stopped = true;
      this.tickTimer?.cancel();
      // Nobody waits forever on a node that cannot go on: its clients get an honest error.
      this.failWaiting('the node stopped after a storage failure (see its alarm)');
      this.deps.onFatal(e);
    } finally {
      this.processing = false;
      this.markIdle();
      this.runQuiescentTasks();
    }
  }

  /** Runs the tasks waiting for a moment between Ready turns (see `captureState`). */
  private runQuiescentTasks(): void {
    const tasks = this.quiescentTasks;
    if (tasks.length === 0) return;
    this.quiescentTasks = [];
    for (const task of tasks) task();
  }

  private async handleReady(rd: Ready): Promise<void> {
    const { metrics } = this.deps;
    const storage = this.storage;
    if (rd.softState) this.onSoftState(rd.softState);
    // A leader whose term and vote did not change sends while its own batch is written (Raft
    // thesis §10.2.1): its fsync and the followers' overlap. Every other Ready sends only after
    // its batch is durable: votes and append acknowledgements depend on it.
    const sendFirst = rd.sendBeforePersist || this.deps.driverFaults?.sendBeforePersist === true;
    if (sendFirst) this.send(rd.messages);
    let persisted: Promise<void> | null = null;
    if (rd.snapshot || rd.hardState || rd.entries.length > 0) {
      const end = metrics.fsyncDuration.startTimer();
      // PERSIST hard state, entries and snapshot in one batch; fsynced unless it only moves the
      // commit index (not mustSync), in which case nothing below waits for it: the commit index is
      // written before the apply batch all the same, LevelStorage keeping writes in call order.
      persisted = storage.persist({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot, sync: rd.mustSync }).then(() => {
        end();
        metrics.entriesPersisted.inc(rd.entries.length);
      });
      persisted.catch(() => {}); // awaited below; a failure stops the loop there
      if (rd.mustSync) await persisted;
    }
    if (rd.snapshot) await this.installSnapshot(rd.snapshot);
    if (!sendFirst) this.send(rd.messages);
    if (rd.committedEntries.length > 0) await this.apply(rd.committedEntries);
    for (const rs of rd.readStates) this.onReadState(rs);
    if (persisted !== null) await persisted;
    this.raw.advance();
    this.updateGauges();
    await this.snapshots.maybeTake(this.kvMachine.appliedIndex, this.conf);
  }

  private onSoftState(s: SoftState): void {
    const before = this.soft;
    this.soft = s;
    if (s.leader !== before.leader && s.leader !== null) this.deps.metrics.leaderChanges.inc();
    if (before.role !== 'leader' && s.role === 'leader') {
      this.freshness.onBecameLeader();
      // A new leader records its flags as the cluster limits if the log never set them.
      proposeBootstrapLimits(this.kvMachine, this.deps.options, this.deps.logger, (data) => this.raw.propose(data));
    }
    if (before.role === 'leader' && s.role !== 'leader') {
      this.freshness.onLostLeadership(this.deps.options.id, this.conf.voters, this.now());
      this.roundTrips.clear();
      this.proposals.failAll(new OutcomeUnknownError('leadership was lost while the write was in flight; it may or may not apply'));
    }
    if (s.leader !== before.leader) this.reads.failAll(new UnavailableError('the leader changed before the read was confirmed; retry'));
    this.deps.logger.info({ role: s.role, leader: s.leader, term: this.raw.term }, 'raft: role or leader changed');
  }

  private send(messages: readonly Message[]): void {
    const plain: Message[] = [];
    for (const m of messages) {
      if (m.type === 'snapshot') void this.snapshots.send(m);
      else plain.push(m);
      if (m.type === 'heartbeat') this.roundTrips.sent(m.to, this.now());
    }
    if (plain.length > 0) this.deps.transport.send(plain);
  }

  /** Installs an incoming snapshot the core accepted and swaps in the state machine it holds. */
  private async installSnapshot(snapshot: Snapshot): Promise<void> {
    const index = snapshot.metadata.index;
    const { image, conf, staged } = await this.snapshots.install(snapshot);
    const { transport } = this.deps;
    // Apply runs by the replicated cluster limits, never this node's flags (kv/cluster-limits.ts).
    this.kvMachine = new KvStateMachine({ limits: defaultClusterLimits, sessionTtlMs: defaultClusterLimits.sessionTtlMs, image });
    this.conf = conf;
    this.book.learnSnapshotData(snapshot.data, conf, true);
    transport.setPeers(this.peers());
    this.proposals.failUpTo(index, new OutcomeUnknownError('a snapshot replaced the log while the write was in flight'));
    // Reads confirmed at or below the snapshot's index are answered now: nothing else may be
    // applied for a long time on an idle cluster.
    this.reads.release(this.kvMachine.appliedIndex);
    this.freshness.onApplied(this.kvMachine.appliedIndex);
    this.deps.logger.info({ index, keys: this.kvMachine.keyCount, voters: this.conf.voters, learners: this.conf.learners }, 'snapshot: installed');
    this.deps.onApplied?.([{ index, revision: staged.revision, mutations: [], reset: true }]);
  }

  private async apply(entries: readonly Entry[]): Promise<void> {
    const end = this.deps.metrics.applyDuration.startTimer();
    const mutations: Mutation[] = [];
    const changes: AppliedChange[] = [];
    /** Each applied entry with its result; null for a leader's no-op (no client waits on one). */
    const settled: { entry: Entry; result: WriteResult | null }[] = [];
    let confState: ConfState | undefined;
    const skipDuplicateCheck = this.deps.options.testFaults.skipDuplicateCheck;
    for (const entry of entries) {
      if (entry.index <= this.kvMachine.appliedIndex) continue; // already in an installed snapshot
      // Applied entries are contiguous and follow the applied index: a gap would skip writes.
      assert(entry.index === this.kvMachine.appliedIndex + 1, () => `apply: entry ${entry.index} does not follow the applied index ${this.kvMachine.appliedIndex}`);
      if (entry.type === 'confChange') {
        confState = this.applyConfChange(entry);
        settled.push({ entry, result: noopResult(this.kvMachine.revision) });
      } else if (entry.data.length === 0) {
        this.kvMachine.applyNoop(entry.index);
        settled.push({ entry, result: null });
      } else {
        const outcome = skipDuplicateCheck ? applySkippingDuplicateCheck(this.kvMachine, entry) : this.kvMachine.applyEncoded(entry.index, entry.data);
        noteAppliedOutcome(entry, outcome, this.deps);
        mutations.push(...outcome.mutations);
        if (outcome.mutations.length > 0) changes.push({ index: entry.index, revision: outcome.revision, mutations: outcome.mutations });
        settled.push({ entry, result: outcome.result });
      }
      assert(this.kvMachine.appliedIndex === entry.index, () => `apply: the state machine is at ${this.kvMachine.appliedIndex} after applying entry ${entry.index}`);
    }
    // Answer the clients now: their entries are committed and durable in the log, so a crash
    // before the apply batch below lands re-applies them (exactly once: sessions ride along).
    for (const { entry, result } of settled) this.proposals.settle(entry, result);
    this.deps.metrics.proposalsPending.set(this.proposals.size);
    this.reads.release(this.kvMachine.appliedIndex);
    this.freshness.onApplied(this.kvMachine.appliedIndex);
    if (settled.length > 0) {
      // The state machine's changes and its applied index: ONE batch, SYNCED. Unsynced, a power
      // loss after a write-ahead log rotation could keep this batch's applied index (made durable
      // by a later synced write in the new file) and lose an earlier batch in the old file: the
      // replica would silently miss that batch's writes forever (design-notes.md, "The storage
      // fault model").
      await this.storage.applyBatch(
        {
          appliedIndex: this.kvMachine.appliedIndex,
          revision: this.kvMachine.revision,
          clockMs: this.kvMachine.clockMs,
          mutations,
          ...(confState ? { confState } : {}),
        },
        { sync: this.deps.driverFaults?.unsyncedApplyBatches !== true },
      );
    }
    end();
    this.deps.metrics.entriesApplied.inc(settled.length);
    if (changes.length > 0) this.deps.onApplied?.(changes);
  }

  private applyConfChange(entry: Entry): ConfState {
    const change = decodeConfChange(entry.data);
    const conf = this.raw.applyConfChange(change);
    this.conf = conf;
    this.kvMachine.applyNoop(entry.index);
    this.onMembership(change, conf);
    return conf;
  }

  /** Keeps the address book and the transport's peer list in step with the membership. */
  private onMembership(change: ConfChange, conf: ConfState): void {
    const { transport, logger, options } = this.deps;
    if (!this.book.onChange(change)) logger.warn({ member: change.nodeId }, 'membership: change context is not the expected JSON; peer address unknown');
    transport.setPeers(this.peers());
    logger.info({ change: change.type, member: change.nodeId, voters: conf.voters, learners: conf.learners }, 'membership: applied a change');
    if (change.type === 'removeNode' && change.nodeId === options.id) logger.warn({}, 'membership: this node was removed from the cluster; stop it');
  }

  private onReadState(rs: ReadState): void {
    // The leader confirms a read at its own commit index; a read index beyond it is a core bug.
    // (A follower's read index is the leader's commit, which may be ahead of the follower's.)
    if (this.soft.role === 'leader') assert(rs.index <= this.raw.commit, () => `read index ${rs.index} beyond the leader's commit index ${this.raw.commit}`);
    this.reads.confirm(rs, this.kvMachine.appliedIndex);
  }

  private updateGauges(): void {
    // Cheap getters, not status(): this runs every Ready, and status() builds the progress map.
    const { metrics } = this.deps;
    metrics.isLeader.set(this.soft.role === 'leader' ? 1 : 0);
    metrics.term.set(this.raw.term);
    metrics.commitIndex.set(this.raw.commit);
    metrics.appliedIndex.set(this.kvMachine.appliedIndex);
    metrics.proposalsPending.set(this.proposals.size);
    metrics.readsPending.set(this.reads.size);
  }
}
