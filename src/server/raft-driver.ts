/**
 * The driver loop (docs/design.md, "The Ready loop"): the one place where the pure Raft core meets
 * time, disk and network. It ticks the core, steps peer messages into it, proposes client writes,
 * and for every Ready: persists (one synced batch), sends, applies (one batch with the applied
 * index), answers confirmed reads, then advances. Proposals that arrive while a batch is being
 * fsynced wait in the core's unstable log and go out together in the next Ready: group commit.
 *
 * Its parts live in `driver/`, one concept each: the proposer (admission and proposals) and the
 * proposal tracker (pending writes), the apply step (the state machine and its batches), the read
 * tracker (pending and confirmed reads), the address book (member addresses, cluster id,
 * promotions), state capture (consistent reads of the stored state between Ready turns), and
 * the snapshot pipeline (send, receive, install, take, compact).
 */
import type { ClusterCommand, ClusterLimits, KvStateImage, KvStateMachine, WriteOp, WriteResult } from '../kv/index.js';
import { RawNode } from '../raft/index.js';
import type { ConfChange, ConfState, Entry, Message, RaftTestFaults, ReadState, Ready, Role, Snapshot, SnapshotMessage, SoftState } from '../raft/index.js';
import type { Transport } from '../transport/index.js';
import { assert, NotLeaderError, OutcomeUnknownError, SeededPrng, UnavailableError } from '../util/index.js';
import type { Logger, LogIndex, NodeId } from '../util/index.js';
import { proposeBootstrapLimits } from './apply-notes.js';
import { AddressBook } from './driver/address-book.js';
import { ApplyStep } from './driver/apply-step.js';
import { LeaseKeeper } from './driver/lease-keeper.js';
import { Freshness } from './driver/freshness.js';
import { LinearizableReads } from './driver/linearizable-reads.js';
import { PeerContact } from './driver/peer-contact.js';
import { ProposalTracker } from './driver/proposal-tracker.js';
import { Proposer } from './driver/proposer.js';
import { ReadTracker } from './driver/read-tracker.js';
import { SnapshotPipeline } from './driver/snapshot-pipeline.js';
import { captureNow, QuiescentTasks } from './driver/state-capture.js';
import type { AppliedChange, StateCapture, WriteSession } from './driver/types.js';
import type { Cancellable, DriverStorage, DriverWorld, SnapshotStaging } from './driver/world.js';
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
  /** The Raft core. */
  readonly raw: RawNode;
  /** The state machine and the membership as of its applied index. */
  private readonly applied: ApplyStep;
  private readonly proposer: Proposer;
  private soft: SoftState = { leader: null, role: 'follower' };
  /** How stale this node's state may be, as far as it can prove (freshness.ts). */
  private readonly freshness: Freshness;
  private readonly proposals = new ProposalTracker();
  private readonly reads: ReadTracker;
  private readonly linearizable: LinearizableReads;
  private readonly book: AddressBook;
  private readonly snapshots: SnapshotPipeline;
  /** Work that needs the in-memory and stored state machines to agree (see `captureState`). */
  private readonly quiescentTasks = new QuiescentTasks();
  /** Last contact, heartbeat round trips and freshness evidence by peer. */
  private readonly contact: PeerContact;
  /** Lease deadlines and expiry while this node leads (driver/lease-keeper.ts). */
  readonly leases: LeaseKeeper;
  private processing = false;
  private again = false;
  private stopped = false;
  private tickTimer: Cancellable | null = null;
  /** Settles when the running turn of the loop ends (see `stop`). */
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => {};

  constructor(private readonly deps: RaftDriverDeps, image: KvStateImage) {
    const { options, storage, metrics, logger, transport } = deps;
    this.freshness = new Freshness(options.electionTicks * options.tickIntervalMs);
    this.contact = new PeerContact(this.freshness);
    this.reads = new ReadTracker((issuedAtMs, index) => this.freshness.onReadReleased(issuedAtMs, index, this.kvMachine.appliedIndex));
    this.book = new AddressBook({ id: options.id, peerAddress: options.advertisePeer, clientAddress: options.advertiseClient }, storage.clusterId);
    const { book, proposals, reads, freshness } = this;
    this.applied = new ApplyStep(
      { options, metrics, logger, transport, book, proposals, reads, freshness, applyConfChange: (c) => this.raw.applyConfChange(c), peers: () => this.peers(), onResult: (r) => this.leases.onApplied(r), ...(deps.onApplied ? { onApplied: deps.onApplied } : {}) },
      image,
      storage.initialState().confState,
    );
    for (const m of options.initialCluster) book.peerAddresses.set(m.id, m.peerAddress);
    book.load(storage, storage.snapshot(), this.conf, this.kvMachine.appliedIndex);
    this.snapshots = new SnapshotPipeline(
      { options, storage, staging: deps.staging, transport: deps.transport, metrics: deps.metrics, logger: deps.logger, nowMs: () => this.now() },
      {
        captureState: () => this.captureState(),
        snapshotData: (conf) => this.book.snapshotData(conf),
        step: (m) => this.step(m),
        reportSnapshot: (to, ok) => {
          this.raw.reportSnapshot(to, ok);
          this.kick();
        },
        isStopped: () => this.stopped,
      },
    );
    this.leases = new LeaseKeeper({
      nowMs: () => this.now(),
      leases: () => this.kvMachine.leases(),
      hasLease: (id) => this.kvMachine.leaseInfo(id) !== null,
      proposeRevoke: (id) => this.write({ type: 'leaseRevoke', id }, { clientId: '', seq: 0, ackSeq: 0 }),
    });
    this.raw = new RawNode({
      id: options.id,
      storage,
      prng: new SeededPrng(deps.world.seed),
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
    this.linearizable = new LinearizableReads({ options, metrics, world: deps.world, raw: this.raw, reads, kick: () => this.kick() });
    this.proposer = new Proposer({ options, metrics, clock: deps.world.clock, raw: this.raw, proposals, kv: () => this.kvMachine, requireLeader: () => this.requireLeader(), kick: () => this.kick() });
  }

  /** The state machine (replaced when a snapshot is installed). */
  private get kvMachine(): KvStateMachine {
    return this.applied.kv;
  }

  /** The membership as of the last applied entry. */
  private get conf(): ConfState {
    return this.applied.conf;
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
    return this.contact.sinceHeardMs(peer, this.now());
  }

  /** Starts ticking. */
  start(): void {
    this.tickTimer = this.deps.world.scheduler.every(this.deps.options.tickIntervalMs, () => this.onTick());
    this.kick();
  }

  /** A message from a peer. Malformed or misaddressed messages are logged and dropped. */
  step(message: Message): void {
    if (this.stopped) return;
    if (message.to !== this.deps.options.id) {
      this.deps.logger.warn({ from: message.from, to: message.to }, 'dropped a peer message addressed to another node');
      return;
    }
    if (message.type === 'append' && message.prevLogIndex === 0 && message.entries.length > 0 && this.awaitingFirstSnapshot()) {
      // A node that joined with no membership must start from a snapshot (which carries the
      // membership): replaying the log from index 1 would apply membership changes on top of an
      // empty configuration. Leaders compact index 1 away (see SnapshotPipeline.maybeTake).
      if (this.contact.joinWarningDue(this.now())) {
        this.deps.logger.warn({ from: message.from }, 'join: waiting for a snapshot; dropped an append that would replay the log from index 1');
      }
      return;
    }
    const now = this.now();
    const roundTripMs = this.contact.received(message, now, this.soft.role === 'leader');
    if (roundTripMs !== null) this.deps.metrics.peerRoundTrip.observe({ peer: message.from }, roundTripMs / 1000);
    const termBefore = this.raw.term;
    this.raw.step(message);
    if (message.term === termBefore && message.term === this.raw.term) {
      this.contact.observeFreshness(message, now, { leading: this.soft.role === 'leader', leader: this.soft.leader, voters: this.conf.voters, appliedIndex: this.kvMachine.appliedIndex });
    }
    this.kick();
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
    return this.proposer.write(op, session);
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
    return this.proposer.proposeClusterCommand(command, what);
  }

  /**
   * Resolves once local state is at least as new as the cluster's commit index at the time of
   * the call (Raft thesis §6.4, ReadIndex): then a read of local state is linearizable.
   */
  async linearizableRead(timeoutMs: number): Promise<void> {
    this.assertServing();
    if (this.deps.options.testFaults.staleLinearizableReads) return;
    return this.linearizable.begin(timeoutMs);
  }

  /**
   * Proposes a membership change (leader only); resolves once it is applied. Throws
   * `FailedPreconditionError` if another change is not applied yet or the change is invalid.
   */
  async changeMembership(change: ConfChange): Promise<ConfState> {
    await this.proposer.changeMembership(change, () => this.notLeader());
    return this.conf;
  }

  /** True while this node has no membership and no log: it joined and waits for a snapshot. */
  awaitingFirstSnapshot(): boolean {
    return this.conf.voters.length === 0 && this.conf.learners.length === 0 && this.deps.storage.lastIndex() === 0;
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
      this.quiescentTasks.push(() => captureNow(this.kvMachine, this.deps.storage).then(resolve, reject));
      if (!this.processing) this.quiescentTasks.run();
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
    this.failWaiting('the node is shutting down');
    if (this.processing) await this.idle;
    this.quiescentTasks.run();
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
  }

  private requireLeader(): void {
    this.assertServing();
    if (this.soft.role !== 'leader') throw this.notLeader();
  }

  private onTick(): void {
    if (this.stopped) return;
    this.raw.tick();
    this.reads.expire(this.now());
    this.leases.tick();
    this.kick();
  }

  /** Schedules a turn of the Ready loop (coalesced). */
  private kick(): void {
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
        while (!this.stopped && this.raw.hasReady()) {
          await this.handleReady(this.raw.ready());
          this.quiescentTasks.run();
        }
      } while (this.again && !this.stopped);
    } catch (e) {
      this.stopped = true;
      this.tickTimer?.cancel();
      // Nobody waits forever on a node that cannot go on: its clients get an honest error.
      this.failWaiting('the node stopped after a storage failure (see its alarm)');
      this.deps.onFatal(e);
    } finally {
      this.processing = false;
      this.markIdle();
      this.quiescentTasks.run();
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    const { storage, metrics } = this.deps;
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
      this.leases.onBecameLeader();
      // A new leader records its flags as the cluster limits if the log never set them.
      proposeBootstrapLimits(this.kvMachine, this.deps.options, this.deps.logger, (data) => this.raw.propose(data));
    }
    if (before.role === 'leader' && s.role !== 'leader') {
      this.freshness.onLostLeadership(this.deps.options.id, this.conf.voters, this.now());
      this.contact.lostLeadership();
      this.leases.onLostLeadership();
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
    }
    this.contact.sending(messages, this.now());
    if (plain.length > 0) this.deps.transport.send(plain);
  }

  /** Installs an incoming snapshot the core accepted and swaps in the state machine it holds. */
  private async installSnapshot(snapshot: Snapshot): Promise<void> {
    const index = snapshot.metadata.index;
    const { image, conf, staged } = await this.snapshots.install(snapshot);
    const { transport } = this.deps;
    this.applied.replace(image, conf);
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

  /** Applies `entries` (apply-step.ts) and writes their batch, synced (defect c). */
  private async apply(entries: readonly Entry[]): Promise<void> {
    const applied = this.applied.applyInMemory(entries);
    if (applied === null) return;
    // The state machine's changes and its applied index: ONE batch, SYNCED. Unsynced, a power
    // loss after a write-ahead log rotation could keep this batch's applied index (made durable
    // by a later synced write in the new file) and lose an earlier batch in the old file: the
    // replica would silently miss that batch's writes forever (design-notes.md, "The storage
    // fault model").
    await this.deps.storage.applyBatch(applied.batch, { sync: this.deps.driverFaults?.unsyncedApplyBatches !== true });
    this.applied.written(applied);
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
