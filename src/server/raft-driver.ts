/**
 * The driver loop (DESIGN.md, "The Ready contract"): the one place where the pure Raft core meets
 * time, disk and network. It ticks the core, steps peer messages into it, proposes client writes,
 * and for every Ready: persists (one synced batch), sends, applies (one batch with the applied
 * index), answers confirmed reads, then advances. Proposals that arrive while a batch is being
 * fsynced wait in the core's unstable log and go out together in the next Ready: group commit.
 */
import { randomInt } from 'node:crypto';
import { decodeCommand, defaultClusterLimits, encodeClusterCommand, encodeCommand, KvStateMachine, validateCommand } from '../kv/index.js';
import type { ClusterLimits, KvCommand, Mutation, WriteOp, WriteResult } from '../kv/index.js';
import { decodeConfChange, RawNode } from '../raft/index.js';
import type { ConfChange, ConfState, Entry, Message, ReadState, Ready, Role, Snapshot, SnapshotMessage, SoftState } from '../raft/index.js';
import type { KvSnapshotReader, LevelStorage } from '../storage/index.js';
import type { Transport } from '../transport/index.js';
import {
  assert,
  FailedPreconditionError,
  InvalidArgumentError,
  isErrorCode,
  logIndex,
  NotLeaderError,
  OutcomeUnknownError,
  OverloadedError,
  revision,
  SeededPrng,
  SessionExpiredError,
  UnavailableError,
} from '../util/index.js';
import type { Logger, LogIndex, NodeId, Revision, Term } from '../util/index.js';
import { noteAppliedOutcome, proposeBootstrapLimits } from './apply-notes.js';
import { decodeChangeContext, decodeSnapshotData, encodeSnapshotData } from './member-addresses.js';
import type { MemberAddress } from './member-addresses.js';
import type { NodeMetrics } from './metrics.js';
import type { NodeOptions } from './options.js';
import { openStagedSnapshot, removeStagedSnapshots, stageSnapshot } from './snapshot-staging.js';
import type { StagedSnapshot } from './snapshot-staging.js';
import { encodeStateStream } from './state-stream.js';

/** Exactly-once identity of a write (Raft thesis §6.3). An empty clientId means none. */
export interface WriteSession {
  readonly clientId: string;
  readonly seq: number;
  readonly ackSeq: number;
}

/** A write waiting for its entry to be applied. */
interface PendingWrite {
  /** The term the entry was proposed in: a different entry at the same index means "not applied". */
  readonly term: number;
  readonly resolve: (r: WriteResult) => void;
  readonly reject: (e: Error) => void;
}

/** A linearizable read waiting for its read index, then for apply to reach it. */
interface PendingRead {
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  /** Wall-clock time after which the read is failed (its ReadIndex may have been lost). */
  readonly expiresAtMs: number;
}

/**
 * A consistent capture of the state machine for streaming (snapshots to followers, backups): a
 * point-in-time reader of the stored state, taken at a moment when the in-memory state machine
 * and the stored one are at the same applied index, with what the in-memory one says about it.
 */
export interface StateCapture {
  /** The reader (iterate once, or close it). */
  readonly reader: KvSnapshotReader;
  /** The term of the entry at the reader's applied index. */
  readonly term: Term;
  /** Number of keys in the captured state. */
  readonly keyCount: number;
  /** Number of client sessions in the captured state. */
  readonly sessionCount: number;
}

/** The changes one applied entry made, for watchers. */
export interface AppliedChange {
  readonly index: LogIndex;
  /** The revision the entry's writes happened at. */
  readonly revision: Revision;
  readonly mutations: readonly Mutation[];
  /** True when a snapshot replaced the whole state (watchers must resynchronise). */
  readonly reset?: boolean;
}

/** What the driver needs. */
export interface RaftDriverDeps {
  readonly options: NodeOptions;
  readonly storage: LevelStorage;
  readonly transport: Transport;
  readonly metrics: NodeMetrics;
  readonly logger: Logger;
  /** Called once if the node hits an error it cannot continue after (disk failure, corruption). */
  readonly onFatal: (e: unknown) => void;
  /** Called after every applied batch with each entry's changes, for watchers. */
  readonly onApplied?: (changes: readonly AppliedChange[]) => void;
}

/** The node's Raft driver. */
export class RaftDriver {
  /** The Raft core. */
  readonly raw: RawNode;
  /** The state machine (replaced when a snapshot is installed). */
  private kvMachine: KvStateMachine;
  /** The membership as of the last applied entry. */
  private conf: ConfState;
  private soft: SoftState = { leader: null, role: 'follower' };
  /** Wall-clock time this node last heard from (or, on the leader, was) the leader. */
  private leaderContactMs = 0;
  private readonly pendingWrites = new Map<number, PendingWrite>();
  private readonly pendingReads = new Map<string, PendingRead>();
  /** Reads whose read index is confirmed, waiting for apply to reach it. */
  private confirmedReads: { index: LogIndex; read: PendingRead }[] = [];
  private readCounter = 0;
  /** Incoming snapshots staged on disk (snapshot-staging.ts), by index, waiting for the core. */
  private readonly staged = new Map<number, StagedSnapshot>();
  /** Work that needs the in-memory and stored state machines to agree (see `captureState`). */
  private quiescentTasks: (() => void)[] = [];
  /** When this node last received a message from each peer (ms since the epoch). */
  private readonly lastHeardMs = new Map<NodeId, number>();
  /** When a dropped-append warning was last logged (rate limit). */
  private joinWarnedMs = 0;
  /** The index of the last snapshot taken or installed. */
  private snapshotIndex: LogIndex;
  private processing = false;
  private again = false;
  private stopped = false;
  private tickTimer: NodeJS.Timeout | null = null;
  private readonly snapshotsSending = new Set<NodeId>();
  /** Client addresses of members, by id, for leader hints. */
  readonly clientAddresses = new Map<NodeId, string>();
  /** Peer addresses of members, by id. */
  readonly peerAddresses = new Map<NodeId, string>();
  /** The cluster id: the data dir's, else the one the last snapshot carried ('' if unknown). */
  clusterId: string;
  /** Learners to promote once caught up (added by `member add` without `--learner`). */
  readonly promoteWhenCaughtUp = new Set<NodeId>();

  constructor(private readonly deps: RaftDriverDeps, image: Awaited<ReturnType<LevelStorage['loadKvImage']>>) {
    const { options, storage } = deps;
    // Apply runs by the replicated cluster limits, never this node's flags (kv/cluster-limits.ts).
    this.kvMachine = new KvStateMachine({ limits: defaultClusterLimits, sessionTtlMs: defaultClusterLimits.sessionTtlMs, image });
    this.conf = storage.initialState().confState;
    this.snapshotIndex = storage.snapshot().metadata.index;
    for (const m of options.initialCluster) this.peerAddresses.set(m.id, m.peerAddress);
    this.clusterId = storage.clusterId;
    this.loadAddressBook(storage.snapshot(), this.kvMachine.appliedIndex);
    this.clientAddresses.set(options.id, options.advertiseClient);
    this.peerAddresses.set(options.id, options.advertisePeer);
    this.raw = new RawNode({
      id: options.id,
      storage,
      prng: new SeededPrng(randomInt(0x7fffffff)),
      electionTicks: options.electionTicks,
      heartbeatTicks: options.heartbeatTicks,
      applied: this.kvMachine.appliedIndex,
      inflightAppendsMax: options.limits.inflightAppendsMax,
      appendBytesMax: options.limits.appendBytesMax,
      uncommittedBytesMax: options.limits.uncommittedBytesMax,
      applyBytesMax: options.limits.applyBytesMax,
      logger: deps.logger,
    });
  }

  /** The current state machine (read-only use: reads are served from it). */
  get kv(): KvStateMachine {
    return this.kvMachine;
  }

  /** The index of the last snapshot taken or installed. */
  get snapshotIndexNow(): LogIndex {
    return this.snapshotIndex;
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

  /** Milliseconds since this node last heard from a leader (0 on the leader). */
  stalenessMs(): number {
    if (this.soft.role === 'leader') return 0;
    return this.leaderContactMs === 0 ? Number.POSITIVE_INFINITY : Date.now() - this.leaderContactMs;
  }

  /**
   * The peers the transport should connect to: every member but this node. A node that has no
   * membership yet (started with `--join`, waiting for its first snapshot) connects to every
   * node it was told about, so that it can answer the leader.
   */
  peers(): Map<NodeId, string> {
    const members = new Set([...this.conf.voters, ...this.conf.learners]);
    const joining = members.size === 0;
    const peers = new Map<NodeId, string>();
    for (const [id, address] of this.peerAddresses) {
      if ((joining || members.has(id)) && id !== this.deps.options.id && address !== '') peers.set(id, address);
    }
    return peers;
  }

  /** Milliseconds since this node last received a message from `peer` (Infinity if never). */
  sinceHeardMs(peer: NodeId): number {
    const at = this.lastHeardMs.get(peer);
    return at === undefined ? Number.POSITIVE_INFINITY : Date.now() - at;
  }

  /** Starts ticking. */
  start(): void {
    this.tickTimer = setInterval(() => this.onTick(), this.deps.options.tickIntervalMs);
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
      // empty configuration. Leaders compact index 1 away (see maybeSnapshot), so they send one.
      if (Date.now() - this.joinWarnedMs > 5_000) {
        this.joinWarnedMs = Date.now();
        this.deps.logger.warn({ from: message.from }, 'join: waiting for a snapshot; dropped an append that would replay the log from index 1');
      }
      return;
    }
    this.lastHeardMs.set(message.from, Date.now());
    if (message.from === this.soft.leader && (message.type === 'append' || message.type === 'heartbeat' || message.type === 'snapshot')) {
      this.leaderContactMs = Date.now();
    }
    this.raw.step(message);
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
    this.assertServing();
    if (this.soft.role !== 'leader') throw this.notLeader();
    const { limits, testFaults } = this.deps.options;
    if (this.pendingWrites.size >= limits.proposalsPendingMax) {
      this.deps.metrics.shed.inc({ queue: 'proposals' });
      throw new OverloadedError(`too many writes pending (proposalsPendingMax ${limits.proposalsPendingMax})`, 50);
    }
    const command: KvCommand = { ...session, timeMs: Date.now(), op };
    validateCommand(command, limits); // this node's flags: admission only
    this.kvMachine.admit(command); // the cluster limits apply will use
    let at: { index: LogIndex; term: number };
    try {
      at = this.raw.propose(encodeCommand(command));
    } catch (e) {
      if (isErrorCode(e, 'PROPOSAL_DROPPED')) throw new UnavailableError(`write not accepted: ${(e as Error).message}`);
      throw e;
    }
    const result = new Promise<WriteResult>((resolve, reject) => this.pendingWrites.set(at.index, { term: at.term, resolve, reject }));
    this.deps.metrics.proposalsPending.set(this.pendingWrites.size);
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
    this.assertServing();
    if (this.soft.role !== 'leader') throw this.notLeader();
    const data = encodeClusterCommand({ type: 'setClusterLimits', limits, ifUnset: false });
    let at: { index: LogIndex; term: number };
    try {
      at = this.raw.propose(data);
    } catch (e) {
      if (isErrorCode(e, 'PROPOSAL_DROPPED')) throw new UnavailableError(`cluster limits not accepted: ${(e as Error).message}`);
      throw e;
    }
    this.kick();
    return new Promise<WriteResult>((resolve, reject) => this.pendingWrites.set(at.index, { term: at.term, resolve, reject }));
  }

  /**
   * Resolves once local state is at least as new as the cluster's commit index at the time of
   * the call (Raft thesis §6.4, ReadIndex): then a read of local state is linearizable.
   */
  async linearizableRead(timeoutMs: number): Promise<void> {
    this.assertServing();
    if (this.deps.options.testFaults.staleLinearizableReads) return;
    const { limits } = this.deps.options;
    if (this.pendingReads.size + this.confirmedReads.length >= limits.readsPendingMax) {
      this.deps.metrics.shed.inc({ queue: 'reads' });
      throw new OverloadedError(`too many reads pending (readsPendingMax ${limits.readsPendingMax})`, 50);
    }
    this.readCounter += 1;
    const context = `${this.deps.options.id}/${this.readCounter}`;
    try {
      this.raw.readIndex(context);
    } catch (e) {
      if (isErrorCode(e, 'PROPOSAL_DROPPED')) throw new UnavailableError('no leader is known: cannot confirm a linearizable read');
      throw e;
    }
    const done = new Promise<void>((resolve, reject) => {
      this.pendingReads.set(context, { resolve, reject, expiresAtMs: Date.now() + timeoutMs });
    });
    this.deps.metrics.readsPending.set(this.pendingReads.size + this.confirmedReads.length);
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
    await new Promise<WriteResult>((resolve, reject) => this.pendingWrites.set(at.index, { term: at.term, resolve, reject }));
    return this.conf;
  }

  /** True while this node has no membership and no log: it joined and waits for a snapshot. */
  awaitingFirstSnapshot(): boolean {
    return this.conf.voters.length === 0 && this.conf.learners.length === 0 && this.deps.storage.lastIndex() === 0;
  }

  /**
   * A consistent capture of the state machine (see `StateCapture`). The LevelDB snapshot is taken
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
          term = this.deps.storage.term(applied);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        // kvSnapshotIterator takes the LevelDB snapshot synchronously, before its first await.
        this.deps.storage.kvSnapshotIterator().then((reader) => {
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
    const members = new Map<NodeId, MemberAddress>();
    for (const id of [...conf.voters, ...conf.learners]) {
      const promote = conf.learners.includes(id) && this.promoteWhenCaughtUp.has(id);
      members.set(id, { peerAddress: this.peerAddresses.get(id) ?? '', clientAddress: this.clientAddresses.get(id) ?? '', ...(promote ? { promote } : {}) });
    }
    return encodeSnapshotData({ clusterId: this.clusterId, members });
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
    return new NotLeaderError(leader, leader === null ? null : (this.clientAddresses.get(leader) ?? null));
  }

  /**
   * A peer is streaming a snapshot. The state is written to a staging file as it arrives
   * (snapshot-staging.ts: memory stays bounded), every frame checked; once the whole transfer is
   * verified and the file is durable, the snapshot message is stepped into the core, which
   * decides whether to install it. An interrupted transfer leaves nothing behind; the leader
   * retries it from the start.
   */
  async receiveSnapshot(message: SnapshotMessage, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.assertServing();
    const { options, logger } = this.deps;
    const started = Date.now();
    const staged = await stageSnapshot({
      dataDir: options.dataDir,
      expectedIndex: message.snapshot.metadata.index,
      chunks,
      source: `snapshot from ${message.from}`,
      bytesMax: options.limits.dataBytesMax + 64 * 1024 * 1024,
    });
    logger.info({ from: message.from, index: staged.index, bytes: staged.bytes, ms: Date.now() - started }, 'snapshot: received and staged');
    if (this.stopped) return;
    this.staged.set(staged.index, staged);
    this.step(message);
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
    if (this.tickTimer) clearInterval(this.tickTimer);
    const shuttingDown = 'the node is shutting down';
    for (const w of this.pendingWrites.values()) w.reject(new OutcomeUnknownError(`${shuttingDown}; the write may or may not apply`));
    this.pendingWrites.clear();
    this.failReads(new UnavailableError(shuttingDown));
    while (this.processing) await new Promise((r) => setTimeout(r, 5));
    this.runQuiescentTasks();
  }

  private assertServing(): void {
    if (this.stopped) throw new UnavailableError('the node is shutting down');
  }

  private onTick(): void {
    if (this.stopped) return;
    this.raw.tick();
    const now = Date.now();
    for (const [context, read] of this.pendingReads) {
      if (read.expiresAtMs <= now) {
        this.pendingReads.delete(context);
        read.reject(new UnavailableError('the read index was not confirmed in time (no quorum reachable?)'));
      }
    }
    this.kick();
  }

  /** Schedules a turn of the Ready loop (coalesced). */
  private kick(): void {
    if (this.processing) {
      this.again = true;
      return;
    }
    this.processing = true;
    setImmediate(() => void this.loop());
  }

  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        while (!this.stopped && this.raw.hasReady()) {
          await this.handleReady(this.raw.ready());
          this.runQuiescentTasks();
        }
      } while (this.again && !this.stopped);
    } catch (e) {
      this.stopped = true;
      this.deps.onFatal(e);
    } finally {
      this.processing = false;
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
    const { storage, metrics } = this.deps;
    if (rd.softState) this.onSoftState(rd.softState);
    // A leader whose term and vote did not change sends while its own batch is written (Raft
    // thesis §10.2.1): its fsync and the followers' overlap. Every other Ready sends only after
    // its batch is durable: votes and append acknowledgements depend on it.
    const sendFirst = rd.sendBeforePersist;
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
    await this.maybeSnapshot();
  }

  private onSoftState(s: SoftState): void {
    const before = this.soft;
    this.soft = s;
    if (s.leader !== before.leader && s.leader !== null) this.deps.metrics.leaderChanges.inc();
    // Losing the leader keeps the last contact time: staleness keeps growing from it.
    if (s.leader !== before.leader && s.leader !== null) this.leaderContactMs = Date.now();
    // A new leader records its flags as the cluster limits if the log never set them.
    if (before.role !== 'leader' && s.role === 'leader') proposeBootstrapLimits(this.kvMachine, this.deps.options, this.deps.logger, (data) => this.raw.propose(data));
    if (before.role === 'leader' && s.role !== 'leader') {
      for (const w of this.pendingWrites.values()) {
        w.reject(new OutcomeUnknownError('leadership was lost while the write was in flight; it may or may not apply'));
      }
      this.pendingWrites.clear();
    }
    if (s.leader !== before.leader) this.failReads(new UnavailableError('the leader changed before the read was confirmed; retry'));
    this.deps.logger.info({ role: s.role, leader: s.leader, term: this.raw.term }, 'raft: role or leader changed');
  }

  private failReads(e: Error): void {
    for (const r of this.pendingReads.values()) r.reject(e);
    this.pendingReads.clear();
    for (const c of this.confirmedReads) c.read.reject(e);
    this.confirmedReads = [];
  }

  private send(messages: readonly Message[]): void {
    const plain: Message[] = [];
    for (const m of messages) {
      if (m.type === 'snapshot') void this.sendSnapshot(m);
      else plain.push(m);
    }
    if (plain.length > 0) this.deps.transport.send(plain);
  }

  /**
   * Streams the current state to a follower that is behind the log's first index. The state is
   * read from a LevelDB snapshot, so writes go on meanwhile; the metadata is rewritten to the
   * index that state is at (which is at or after the snapshot the core asked for), and its data
   * carries the members' addresses (member-addresses.ts).
   */
  private async sendSnapshot(m: SnapshotMessage): Promise<void> {
    const { transport, options, logger } = this.deps;
    if (this.snapshotsSending.has(m.to)) return;
    this.snapshotsSending.add(m.to);
    let ok = false;
    try {
      const { reader, term } = await this.captureState();
      const index = reader.appliedIndex;
      const message: SnapshotMessage = {
        ...m,
        snapshot: { metadata: { index, term, conf: reader.confState }, data: this.snapshotData(reader.confState) },
      };
      const started = Date.now();
      logger.info({ to: m.to, index }, 'snapshot: streaming the state to a follower');
      const records = (async function* () {
        for await (const r of reader) yield r;
      })();
      ok = await transport.sendSnapshot(m.to, message, encodeStateStream({ appliedIndex: index, revision: reader.revision, clockMs: reader.clockMs }, records, options.limits.snapshotChunkBytesMax));
      await reader.close();
      this.deps.metrics.snapshotsSent.inc({ result: ok ? 'ok' : 'failed' });
      logger.info({ to: m.to, index, ok, ms: Date.now() - started }, 'snapshot: stream finished');
    } catch (e) {
      logger.warn({ to: m.to, err: String(e) }, 'snapshot: sending failed');
    } finally {
      this.snapshotsSending.delete(m.to);
      if (!this.stopped) {
        this.raw.reportSnapshot(m.to, ok);
        this.kick();
      }
    }
  }

  /**
   * Installs the staged state of an incoming snapshot the core accepted (its metadata is already
   * persisted): replaces the stored KV state from the staging file, streamed, then loads it.
   */
  private async installSnapshot(snapshot: Snapshot): Promise<void> {
    const index = snapshot.metadata.index;
    const staged = this.staged.get(index);
    assert(staged !== undefined, () => `the core installed snapshot ${index} but no state is staged for it (staged: ${[...this.staged.keys()].join(', ') || 'none'})`);
    // A newer snapshot may already be staged (and stepped) while this one installs: keep it.
    for (const i of [...this.staged.keys()]) if (i <= index) this.staged.delete(i);
    const { storage, options, metrics, transport } = this.deps;
    const { source } = await openStagedSnapshot(staged.path, { verify: false });
    await storage.replaceKvState(source);
    await removeStagedSnapshots(options.dataDir, index);
    const image = await storage.loadKvImage();
    this.kvMachine = new KvStateMachine({ limits: defaultClusterLimits, sessionTtlMs: defaultClusterLimits.sessionTtlMs, image });
    this.conf = storage.initialState().confState;
    this.snapshotIndex = index;
    this.promoteWhenCaughtUp.clear();
    this.learnSnapshotData(snapshot.data);
    transport.setPeers(this.peers());
    for (const [i, w] of this.pendingWrites) {
      if (i <= index) {
        this.pendingWrites.delete(i);
        w.reject(new OutcomeUnknownError('a snapshot replaced the log while the write was in flight'));
      }
    }
    metrics.snapshotsInstalled.inc();
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
      if (entry.type === 'confChange') {
        confState = this.applyConfChange(entry);
        settled.push({ entry, result: noopResult(this.kvMachine.revision) });
      } else if (entry.data.length === 0) {
        this.kvMachine.applyNoop(entry.index);
        settled.push({ entry, result: null });
      } else {
        const outcome = skipDuplicateCheck
          ? this.kvMachine.apply(entry.index, { ...decodeCommand(entry.data), clientId: '' })
          : this.kvMachine.applyEncoded(entry.index, entry.data);
        noteAppliedOutcome(entry, outcome, this.deps);
        mutations.push(...outcome.mutations);
        if (outcome.mutations.length > 0) changes.push({ index: entry.index, revision: outcome.revision, mutations: outcome.mutations });
        settled.push({ entry, result: outcome.result });
      }
    }
    // Answer the clients now: their entries are committed and durable in the log, so a crash
    // before the apply batch below lands re-applies them (exactly once: sessions ride along).
    for (const { entry, result } of settled) this.settle(entry, result);
    this.releaseReads();
    if (settled.length > 0) {
      // The state machine's changes and its applied index: ONE batch.
      await this.deps.storage.applyBatch({
        appliedIndex: this.kvMachine.appliedIndex,
        revision: this.kvMachine.revision,
        clockMs: this.kvMachine.clockMs,
        mutations,
        ...(confState ? { confState } : {}),
      });
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

  /** Keeps the transport's peer list in step with the membership. */
  private onMembership(change: ConfChange, conf: ConfState): void {
    const { transport, logger, options } = this.deps;
    if (change.type !== 'removeNode' && change.context.length > 0 && !this.learnChangeContext(change)) {
      logger.warn({ nodeId: change.nodeId }, 'membership: change context is not the expected JSON; peer address unknown');
    }
    if (change.type !== 'addLearner') this.promoteWhenCaughtUp.delete(change.nodeId);
    transport.setPeers(this.peers());
    logger.info({ change: change.type, nodeId: change.nodeId, voters: conf.voters, learners: conf.learners }, 'membership: applied a change');
    if (change.type === 'removeNode' && change.nodeId === options.id) logger.warn({}, 'membership: this node was removed from the cluster; stop it');
  }

  /** Records the addresses a membership change carries; false if its context is unreadable. */
  private learnChangeContext(change: ConfChange): boolean {
    const address = decodeChangeContext(change.context);
    if (address === null) return false;
    if (change.type === 'addLearner' && address.promote === true) this.promoteWhenCaughtUp.add(change.nodeId);
    if (change.nodeId === this.deps.options.id) return true; // this node's own flags win
    if (address.peerAddress) this.peerAddresses.set(change.nodeId, address.peerAddress);
    if (address.clientAddress) this.clientAddresses.set(change.nodeId, address.clientAddress);
    return true;
  }

  /** Records the address book (and cluster id) a snapshot carries. */
  private learnSnapshotData(data: Uint8Array): void {
    const decoded = decodeSnapshotData(data);
    if (this.clusterId === '') this.clusterId = decoded.clusterId;
    for (const [id, address] of decoded.members) {
      if (address.promote === true && this.conf.learners.includes(id)) this.promoteWhenCaughtUp.add(id);
      if (id === this.deps.options.id) continue;
      if (address.peerAddress) this.peerAddresses.set(id, address.peerAddress);
      if (address.clientAddress) this.clientAddresses.set(id, address.clientAddress);
    }
  }

  /**
   * Rebuilds the address book at start-up (member-addresses.ts): the last snapshot's, then the
   * contexts of the membership changes applied since (still in the log, which is compacted only
   * up to the snapshot). Later changes are learned as they are applied.
   */
  private loadAddressBook(snapshot: Snapshot, applied: LogIndex): void {
    const { storage } = this.deps;
    this.learnSnapshotData(snapshot.data);
    const lo = Math.max(snapshot.metadata.index + 1, storage.firstIndex());
    for (let at = lo; at <= applied; ) {
      const entries = storage.entries({ lo: logIndex(at), hi: logIndex(applied + 1), bytesMax: 4 * 1024 * 1024 });
      if (entries.length === 0) break;
      for (const entry of entries) {
        if (entry.type !== 'confChange') continue;
        const change = decodeConfChange(entry.data);
        if (change.type !== 'removeNode') this.learnChangeContext(change);
        if (change.type !== 'addLearner') this.promoteWhenCaughtUp.delete(change.nodeId);
      }
      at = (entries[entries.length - 1]?.index ?? applied) + 1;
    }
  }

  private settle(entry: Entry, result: WriteResult | null): void {
    const pending = this.pendingWrites.get(entry.index);
    if (pending === undefined) return;
    this.pendingWrites.delete(entry.index);
    this.deps.metrics.proposalsPending.set(this.pendingWrites.size);
    if (pending.term !== entry.term || result === null) {
      pending.reject(new UnavailableError('the write was not applied: another entry was committed at its log position'));
      return;
    }
    if (result.type === 'error') {
      pending.reject(errorOfResult(result));
      return;
    }
    pending.resolve(result);
  }

  private onReadState(rs: ReadState): void {
    const read = this.pendingReads.get(rs.context);
    if (read === undefined) return;
    this.pendingReads.delete(rs.context);
    if (this.kvMachine.appliedIndex >= rs.index) read.resolve();
    else this.confirmedReads.push({ index: rs.index, read });
  }

  private releaseReads(): void {
    if (this.confirmedReads.length === 0) return;
    const applied = this.kvMachine.appliedIndex;
    const waiting: typeof this.confirmedReads = [];
    for (const c of this.confirmedReads) {
      if (c.index <= applied) c.read.resolve();
      else waiting.push(c);
    }
    this.confirmedReads = waiting;
  }

  /**
   * Every `snapshotEntries` applied entries, records a snapshot at the applied index and compacts
   * the log behind it, keeping `snapshotCatchupEntries` for slow followers. The snapshot's data
   * is the KV state already in LevelDB; the synced snapshot write also makes every earlier
   * (unsynced) apply batch durable, since LevelDB's write-ahead log is sequential.
   */
  private async maybeSnapshot(): Promise<void> {
    const { storage, options, metrics, logger } = this.deps;
    const applied = this.kvMachine.appliedIndex;
    // A log that still holds index 1 could be replayed from the start to a node that joined with
    // no membership (see conf-change.ts, "Joining nodes"). Compacting index 1 away as soon as it
    // is applied makes every leader send such a node a snapshot, which carries the membership.
    const holdsFirstEntry = storage.firstIndex() <= 1 && applied >= 1;
    if (applied - this.snapshotIndex < options.snapshotEntries && !holdsFirstEntry) return;
    await storage.createSnapshot(applied, this.conf, this.snapshotData(this.conf));
    this.snapshotIndex = applied;
    metrics.snapshotsTaken.inc();
    let compactTo = applied - options.snapshotCatchupEntries;
    if (holdsFirstEntry) compactTo = Math.max(compactTo, 1);
    if (compactTo >= storage.firstIndex()) await storage.compact(logIndex(compactTo));
    logger.info({ index: applied, firstIndex: storage.firstIndex() }, 'snapshot: taken, log compacted');
  }

  private updateGauges(): void {
    // Cheap getters, not status(): this runs every Ready, and status() builds the progress map.
    const { metrics } = this.deps;
    metrics.isLeader.set(this.soft.role === 'leader' ? 1 : 0);
    metrics.term.set(this.raw.term);
    metrics.commitIndex.set(this.raw.commit);
    metrics.appliedIndex.set(this.kvMachine.appliedIndex);
    metrics.proposalsPending.set(this.pendingWrites.size);
    metrics.readsPending.set(this.pendingReads.size + this.confirmedReads.length);
  }
}

/** The typed error for a write the state machine refused (deterministically, on every replica). */
function errorOfResult(result: Extract<WriteResult, { type: 'error' }>): Error {
  switch (result.code) {
    case 'INVALID_ARGUMENT':
      return new InvalidArgumentError('request', result.message);
    case 'OVERLOADED':
      return new OverloadedError(result.message, 1000);
    case 'FAILED_PRECONDITION':
      return new FailedPreconditionError(result.message);
    case 'SESSION_EXPIRED':
      return new SessionExpiredError(result.message);
  }
}

function noopResult(rev: Revision): WriteResult {
  return { type: 'put', revision: rev, prevKv: null };
}

/** The answer the `ackBeforeCommit` negative control gives before anything committed. */
function fabricatedSuccess(op: WriteOp, rev: Revision): WriteResult {
  const next = revision(rev + 1);
  switch (op.type) {
    case 'put':
      return { type: 'put', revision: next, prevKv: null };
    case 'delete':
      return { type: 'delete', revision: next, deleted: 1, prevKvs: [] };
    case 'txn':
      return { type: 'txn', revision: next, succeeded: true, results: [] };
  }
}
