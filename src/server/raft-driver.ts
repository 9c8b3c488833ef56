/**
 * The driver loop (DESIGN.md, "The Ready contract"): the one place where the pure Raft core meets
 * time, disk and network. It ticks the core, steps peer messages into it, proposes client writes,
 * and for every Ready: persists (one synced batch), sends, applies (one batch with the applied
 * index), answers confirmed reads, then advances. Proposals that arrive while a batch is being
 * fsynced wait in the core's unstable log and go out together in the next Ready: group commit.
 */
import { randomInt } from 'node:crypto';
import { decodeCommand, encodeCommand, KvStateMachine, validateCommand } from '../kv/index.js';
import type { KeyValue, KvCommand, Mutation, SessionRecord, WriteOp, WriteResult } from '../kv/index.js';
import { decodeConfChange, RawNode } from '../raft/index.js';
import type { ConfChange, ConfState, Entry, Message, ReadState, Ready, Role, SnapshotMessage, SoftState } from '../raft/index.js';
import type { LevelStorage } from '../storage/index.js';
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
  UnavailableError,
} from '../util/index.js';
import type { Logger, LogIndex, NodeId, Revision } from '../util/index.js';
import type { NodeMetrics } from './metrics.js';
import type { NodeOptions } from './options.js';
import { decodeStateStream, encodeStateStream } from './state-stream.js';

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

/** An incoming snapshot's state, received in full and waiting for the core to accept it. */
interface StagedState {
  readonly index: LogIndex;
  readonly revision: Revision;
  readonly clockMs: number;
  readonly kvs: KeyValue[];
  readonly sessions: SessionRecord[];
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
  private staged: StagedState | null = null;
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

  constructor(private readonly deps: RaftDriverDeps, image: Awaited<ReturnType<LevelStorage['loadKvImage']>>) {
    const { options, storage } = deps;
    this.kvMachine = new KvStateMachine({ limits: options.limits, sessionTtlMs: options.sessionTtlMs, image });
    this.conf = storage.initialState().confState;
    this.snapshotIndex = storage.snapshot().metadata.index;
    this.clientAddresses.set(options.id, options.advertiseClient);
    for (const m of options.initialCluster) this.peerAddresses.set(m.id, m.peerAddress);
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

  /** The peers the transport should connect to: every member but this node. */
  peers(): Map<NodeId, string> {
    const members = new Set([...this.conf.voters, ...this.conf.learners]);
    const peers = new Map<NodeId, string>();
    for (const [id, address] of this.peerAddresses) if (members.has(id) && id !== this.deps.options.id) peers.set(id, address);
    return peers;
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
    validateCommand(command, limits);
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

  /** Proposes a membership change (leader only); resolves once it is applied. */
  async changeMembership(change: ConfChange): Promise<ConfState> {
    this.assertServing();
    if (this.soft.role !== 'leader') throw this.notLeader();
    const at = this.raw.proposeConfChange(change);
    this.kick();
    await new Promise<WriteResult>((resolve, reject) => this.pendingWrites.set(at.index, { term: at.term, resolve, reject }));
    return this.conf;
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
   * A peer is streaming a snapshot. The whole state is received and checked first; only then is
   * the snapshot message stepped into the core, which decides whether to install it.
   */
  async receiveSnapshot(message: SnapshotMessage, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.assertServing();
    const meta = message.snapshot.metadata;
    let header: { index: LogIndex; revision: Revision; clockMs: number } | null = null;
    const kvs: KeyValue[] = [];
    const sessions: SessionRecord[] = [];
    let bytes = 0;
    const bytesMax = this.deps.options.limits.dataBytesMax + 64 * 1024 * 1024;
    for await (const frame of decodeStateStream(chunks, `snapshot from ${message.from}`)) {
      if (frame.type === 'header') header = { index: frame.appliedIndex, revision: frame.revision, clockMs: frame.clockMs };
      else if (frame.type === 'kv') {
        bytes += frame.kv.key.length + frame.kv.value.length;
        if (bytes > bytesMax) throw new OverloadedError(`incoming snapshot exceeds ${bytesMax} bytes`);
        kvs.push(frame.kv);
      } else if (frame.type === 'session') sessions.push(frame.session);
    }
    if (header === null || header.index !== meta.index) {
      throw new InvalidArgumentError('snapshot', `state is at index ${header?.index ?? 'none'} but the metadata says ${meta.index}`);
    }
    if (this.stopped) return;
    this.staged = { index: header.index, revision: header.revision, clockMs: header.clockMs, kvs, sessions };
    this.step(message);
  }

  /** Status for `/status`, `Cluster.Status` and readiness. */
  status(): ReturnType<RawNode['status']> {
    return this.raw.status();
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
        while (!this.stopped && this.raw.hasReady()) await this.handleReady(this.raw.ready());
      } while (this.again && !this.stopped);
    } catch (e) {
      this.stopped = true;
      this.deps.onFatal(e);
    } finally {
      this.processing = false;
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    const { storage, metrics } = this.deps;
    if (rd.softState) this.onSoftState(rd.softState);
    if (rd.snapshot || rd.hardState || rd.entries.length > 0) {
      const end = metrics.fsyncDuration.startTimer();
      // PERSIST hard state, entries and snapshot in one synced batch BEFORE sending anything.
      await storage.persist({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot });
      end();
      metrics.entriesPersisted.inc(rd.entries.length);
    }
    if (rd.snapshot) await this.installSnapshot(rd.snapshot.metadata.index);
    this.send(rd.messages);
    if (rd.committedEntries.length > 0) await this.apply(rd.committedEntries);
    for (const rs of rd.readStates) this.onReadState(rs);
    this.raw.advance();
    this.updateGauges();
    await this.maybeSnapshot();
  }

  private onSoftState(s: SoftState): void {
    const before = this.soft;
    this.soft = s;
    if (s.leader !== before.leader && s.leader !== null) this.deps.metrics.leaderChanges.inc();
    if (s.leader !== before.leader) this.leaderContactMs = s.leader === null ? 0 : Date.now();
    if (before.role === 'leader' && s.role !== 'leader') {
      for (const w of this.pendingWrites.values()) {
        w.reject(new OutcomeUnknownError('leadership was lost while the write was in flight; it may or may not apply'));
      }
      this.pendingWrites.clear();
    }
    if (s.leader !== before.leader) this.failReads(new UnavailableError('the leader changed before the read was confirmed; retry'));
    this.deps.logger.info({ role: s.role, leader: s.leader, term: this.raw.status().term }, 'raft: role or leader changed');
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
   * index that state is at (which is at or after the snapshot the core asked for).
   */
  private async sendSnapshot(m: SnapshotMessage): Promise<void> {
    const { storage, transport, options, logger } = this.deps;
    if (this.snapshotsSending.has(m.to)) return;
    this.snapshotsSending.add(m.to);
    let ok = false;
    try {
      const reader = await storage.kvSnapshotIterator();
      const index = reader.appliedIndex;
      const message: SnapshotMessage = {
        ...m,
        snapshot: { metadata: { index, term: storage.term(index), conf: reader.confState }, data: new Uint8Array(0) },
      };
      logger.info({ to: m.to, index }, 'snapshot: streaming the state to a follower');
      const records = (async function* () {
        for await (const r of reader) yield r;
      })();
      ok = await transport.sendSnapshot(m.to, message, encodeStateStream({ appliedIndex: index, revision: reader.revision, clockMs: reader.clockMs }, records, options.limits.snapshotChunkBytesMax));
      await reader.close();
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

  /** Installs the staged state of an incoming snapshot the core accepted. */
  private async installSnapshot(index: LogIndex): Promise<void> {
    const staged = this.staged;
    assert(staged !== null && staged.index === index, `the core installed snapshot ${index} but the staged state is ${staged?.index ?? 'none'}`);
    this.staged = null;
    const { storage, options, metrics } = this.deps;
    const image = { appliedIndex: staged.index, revision: staged.revision, clockMs: staged.clockMs, kvs: staged.kvs, sessions: staged.sessions };
    await storage.replaceKvState(image);
    this.kvMachine = new KvStateMachine({ limits: options.limits, sessionTtlMs: options.sessionTtlMs, image });
    this.conf = storage.initialState().confState;
    this.snapshotIndex = index;
    for (const [i, w] of this.pendingWrites) {
      if (i <= index) {
        this.pendingWrites.delete(i);
        w.reject(new OutcomeUnknownError('a snapshot replaced the log while the write was in flight'));
      }
    }
    metrics.snapshotsInstalled.inc();
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
        const command = decodeCommand(entry.data);
        const outcome = this.kvMachine.apply(entry.index, skipDuplicateCheck ? { ...command, clientId: '' } : command);
        mutations.push(...outcome.mutations);
        if (outcome.mutations.length > 0) changes.push({ index: entry.index, revision: outcome.revision, mutations: outcome.mutations });
        settled.push({ entry, result: outcome.result });
      }
    }
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
    for (const { entry, result } of settled) this.settle(entry, result);
    this.releaseReads();
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
    const { transport, logger } = this.deps;
    if (change.type !== 'removeNode' && change.context.length > 0) {
      try {
        const ctx = JSON.parse(new TextDecoder().decode(change.context)) as { peerAddress?: string; clientAddress?: string };
        if (ctx.peerAddress) this.peerAddresses.set(change.nodeId, ctx.peerAddress);
        if (ctx.clientAddress) this.clientAddresses.set(change.nodeId, ctx.clientAddress);
      } catch {
        logger.warn({ nodeId: change.nodeId }, 'membership: change context is not JSON; peer address unknown');
      }
    }
    transport.setPeers(this.peers());
    logger.info({ change: change.type, nodeId: change.nodeId, voters: conf.voters, learners: conf.learners }, 'membership: applied a change');
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
    if (applied - this.snapshotIndex < options.snapshotEntries) return;
    await storage.createSnapshot(applied, this.conf, new Uint8Array(0));
    this.snapshotIndex = applied;
    metrics.snapshotsTaken.inc();
    const compactTo = applied - options.snapshotCatchupEntries;
    if (compactTo >= storage.firstIndex()) await storage.compact(logIndex(compactTo));
    logger.info({ index: applied, firstIndex: storage.firstIndex() }, 'snapshot: taken, log compacted');
  }

  private updateGauges(): void {
    const s = this.raw.status();
    const { metrics } = this.deps;
    metrics.isLeader.set(s.role === 'leader' ? 1 : 0);
    metrics.term.set(s.term);
    metrics.commitIndex.set(s.commit);
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
