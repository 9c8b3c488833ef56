/**
 * One simulated raftkv node: a RawNode, a MemoryStorage ("the disk", which survives crashes), a
 * KvStateMachine, and the Ready loop of docs/design.md, driven by the simulator's events.
 *
 * Durability model:
 * - A Ready that must sync is written to MemoryStorage only when its simulated fsync completes
 *   (`fsyncUsMin..fsyncUsMax` later). Until then the node is busy: inputs wait in its inbox, since
 *   nothing may be stepped between ready() and advance(). A crash before the fsync completes loses
 *   the whole Ready: nothing of it was persisted and none of its messages were sent.
 * - The KV state machine is VOLATILE: a crash discards it, and a restart rebuilds it from the last
 *   snapshot in MemoryStorage; the core then re-delivers every committed entry after the snapshot
 *   (`RaftConfig.applied` is the snapshot index). Snapshots hold the encoded KV image.
 * - A pause (a stop-the-world stall) freezes the node: ticks are lost, inputs queue up and are
 *   processed when it resumes. A write already handed to the disk still completes during the
 *   pause (it survives a crash), but its messages leave only when the node resumes.
 */
import { MemoryStorage, RawNode, decodeConfChange, describeMessage, describeReady } from '../../src/raft/index.js';
import type { ConfChange, ConfState, Entry, Message, Ready, RaftConfig, Snapshot } from '../../src/raft/index.js';
import { KvStateMachine, decodeCommand, encodeCommand } from '../../src/kv/index.js';
import type { ApplyOutcome } from '../../src/kv/index.js';
import { FailedPreconditionError, ProposalDroppedError, logIndex, makeLimits } from '../../src/util/index.js';
import type { Limits, NodeId, Prng } from '../../src/util/index.js';
import type { EventQueue } from './event-queue.js';
import { usPerMs } from './event-queue.js';
import type { EntryLike, LogView, SafetyChecker } from './invariants.js';
import type { MemberNodeView } from './membership.js';
import type { ClusterEvent } from './nemesis.js';
import { decodeKvImage, encodeKvImage } from './kv-image-codec.js';
import type { SimParams } from './params.js';
import type { ClientRequest, ClientResponse } from './protocol.js';
import { broken } from './violation.js';

/** What a node needs from the simulation around it. */
export interface NodeHost {
  readonly queue: EventQueue;
  readonly checker: SafetyChecker;
  readonly params: SimParams;
  /** The membership every node starts with. */
  readonly bootstrapConf: ConfState;
  /** A fresh PRNG for a new RawNode (forked from the simulation's single seeded PRNG). */
  forkPrng(): Prng;
  /** Sends a Raft message through the simulated network. */
  sendRaft(m: Message): void;
  /** Sends an answer back to a client. */
  reply(client: string, response: ClientResponse): void;
  /** Reports what the nemesis may react to at once: a new leader, a leader's commit advancing. */
  observed(e: ClusterEvent): void;
  /** Draws how long the next synced write takes, in microseconds. */
  fsyncDelayUs(): number;
  /** Adds a line to the digest. */
  digest(text: string): void;
  /** Writes a trace line when tracing is on. */
  trace: ((line: string) => void) | null;
}

/** Something the node does when it gets to it. */
type Input =
  | { readonly kind: 'tick' }
  | { readonly kind: 'message'; readonly message: Message }
  | { readonly kind: 'client'; readonly request: ClientRequest }
  | { readonly kind: 'admin'; readonly label: string; readonly action: (raw: RawNode, node: SimNode) => void };

/** A write proposed by this node, waiting for its entry to apply. */
interface PendingWrite {
  readonly term: number;
  readonly reqId: number;
  readonly client: string;
}

/** A linearizable read waiting for its ReadState, then for `applied >= index`. */
interface PendingRead {
  readonly reqId: number;
  readonly client: string;
  readonly key: string;
  index: number | null;
}

/** Why a node is down. */
export type DownReason = 'crash' | 'removed';

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** One node of the simulated cluster. */
export class SimNode {
  /** The disk. Survives crashes; lost only if the test says so. */
  readonly storage: MemoryStorage;
  /** Null while the node is down. */
  raw: RawNode | null = null;
  /** The volatile state machine; null while down. */
  kv: KvStateMachine | null = null;
  /** Why the node is down, or null when it is up. */
  down: DownReason | null = 'crash';
  /** Bumped at every crash and restart: events of an older incarnation are ignored. */
  incarnation = 0;
  /** The membership as of `applied` (what a snapshot taken now must record). */
  conf: ConfState;
  /** The last index applied to `kv`. */
  applied = 0;
  /** Role, term, leader and commit as of the last observation. */
  role = 'follower';
  term = 0;
  leader: string | null = null;
  commit = 0;
  lastIndex = 0;
  /** True between ready() and the completion of its fsync. */
  private busy = false;
  /** Virtual time until which the node is paused (0: not paused). */
  pausedUntilUs = 0;
  /** A Ready whose fsync completed while the node was paused: handled when it resumes. */
  private synced: { raw: RawNode; rd: Ready } | null = null;
  private inbox: Input[] = [];
  private lastSnapshotIndex = 0;
  private readonly pendingWrites = new Map<number, PendingWrite>();
  private readonly pendingReads = new Map<string, PendingRead>();
  private readCounter = 0;
  private readonly limits: Limits;
  /** How many Readys this node handled (statistics). */
  readyCount = 0;
  /** How many snapshots it took and installed (statistics). */
  snapshotsTaken = 0;
  snapshotsInstalled = 0;

  constructor(
    readonly id: NodeId,
    private readonly host: NodeHost,
  ) {
    this.conf = host.bootstrapConf;
    this.storage = new MemoryStorage({ confState: host.bootstrapConf });
    this.limits = makeLimits();
  }

  /** True if the node is running (possibly paused). */
  get up(): boolean {
    return this.down === null;
  }

  /** What the membership controller reads. */
  memberView(): MemberNodeView {
    return { id: this.id, up: this.up, removed: this.down === 'removed', applied: this.applied, commit: this.commit, conf: this.conf };
  }

  /** A read-only view of the persisted log, for the checker. */
  logView(): LogView {
    const s = this.storage;
    return {
      firstIndex: () => s.firstIndex(),
      lastIndex: () => s.lastIndex(),
      term: (i: number) => s.term(logIndex(i)),
      entry: (i: number): EntryLike => {
        const e = s.entries({ lo: logIndex(i), hi: logIndex(i + 1), bytesMax: Number.MAX_SAFE_INTEGER })[0];
        if (e === undefined) broken('logMatching', `${this.id}: storage returned no entry at ${i}`);
        return e;
      },
    };
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /** Starts (or restarts) the node from its disk. */
  start(): void {
    const p = this.host.params;
    this.down = null;
    this.incarnation++;
    this.busy = false;
    this.synced = null;
    this.pausedUntilUs = 0;
    this.inbox = [];
    const snap = this.storage.snapshot();
    const snapIndex = snap.metadata.index as number;
    if (snapIndex > 0) {
      this.kv = this.restoreKv(snap);
      this.conf = snap.metadata.conf;
    } else {
      this.kv = new KvStateMachine({ limits: this.limits, sessionTtlMs: p.sessionTtlMs });
      this.conf = this.host.bootstrapConf;
    }
    this.applied = snapIndex;
    this.lastSnapshotIndex = snapIndex;
    const config: RaftConfig = {
      id: this.id,
      storage: this.storage,
      prng: this.host.forkPrng(),
      electionTicks: p.electionTicks,
      heartbeatTicks: p.heartbeatTicks,
      applied: logIndex(snapIndex),
      inflightAppendsMax: p.inflightAppendsMax,
      appendBytesMax: p.appendBytesMax,
      uncommittedBytesMax: p.uncommittedBytesMax,
      applyBytesMax: p.applyBytesMax,
      preVote: p.preVote,
      checkQuorum: p.checkQuorum,
      ...(p.fault === null ? {} : { testFaults: { [p.fault]: true } }),
    };
    this.raw = new RawNode(config);
    this.role = 'follower';
    this.leader = null;
    const st = this.raw.status();
    this.term = st.term;
    this.commit = st.commit;
    this.lastIndex = st.lastIndex;
    this.host.checker.observeRestart(this.id, st.commit);
    this.host.trace?.(`${this.id} starts: term ${st.term}, commit ${st.commit}, applied ${snapIndex}, log [${st.firstIndex}, ${st.lastIndex}], conf ${describeConf(this.conf)}`);
    this.scheduleTick(this.host.queue.now() % p.tickUs === 0 ? p.tickUs : p.tickUs - (this.host.queue.now() % p.tickUs));
    this.drive();
  }

  /** Crashes the node: everything not on its disk is lost. */
  crash(reason: DownReason): void {
    if (!this.up) {
      this.down = reason;
      return;
    }
    this.host.trace?.(`${this.id} ${reason === 'crash' ? 'crashes' : 'stops (removed)'}${this.busy ? ', losing an unsynced Ready' : ''}, ${this.inbox.length} queued inputs lost`);
    this.down = reason;
    this.incarnation++;
    this.raw = null;
    this.kv = null;
    this.busy = false;
    this.synced = null;
    this.inbox = [];
    this.pendingWrites.clear();
    this.pendingReads.clear();
    this.role = 'follower';
    this.leader = null;
    this.host.checker.forgetReads(this.id);
  }

  /** Stalls the node for `durationUs` (a long GC pause or a stopped VM). */
  pause(durationUs: number): void {
    if (!this.up) return;
    const until = this.host.queue.now() + durationUs;
    if (until <= this.pausedUntilUs) return;
    this.pausedUntilUs = until;
    const inc = this.incarnation;
    this.host.queue.schedule(durationUs, `resume ${this.id}`, () => {
      if (inc !== this.incarnation || this.host.queue.now() < this.pausedUntilUs) return;
      this.pausedUntilUs = 0;
      // The stalled timer fires once on wake-up.
      this.inbox.push({ kind: 'tick' });
      this.drive();
    });
  }

  /** Ends a pause at once (used when the faults stop). */
  unpause(): void {
    if (this.pausedUntilUs === 0) return;
    this.pausedUntilUs = 0;
    this.drive();
  }

  private get paused(): boolean {
    return this.pausedUntilUs !== 0;
  }

  private scheduleTick(delayUs: number): void {
    const inc = this.incarnation;
    this.host.queue.schedule(delayUs, `tick ${this.id}`, () => {
      if (inc !== this.incarnation) return;
      this.scheduleTick(this.host.params.tickUs);
      if (this.paused) return;
      this.input({ kind: 'tick' });
    });
  }

  // ---- inputs ------------------------------------------------------------------------------

  /** A Raft message arrives from the network. */
  receive(message: Message): void {
    if (!this.up) return;
    this.host.trace?.(`${this.id} <- ${describeMessage(message)}`);
    this.input({ kind: 'message', message });
  }

  /** A client request arrives. */
  receiveClient(request: ClientRequest): void {
    if (!this.up) return;
    this.input({ kind: 'client', request });
  }

  /** Runs an administrative action (transfer, membership change) against the core when the node gets to it. */
  admin(label: string, action: (raw: RawNode, node: SimNode) => void): void {
    if (!this.up) return;
    this.input({ kind: 'admin', label, action });
  }

  private input(item: Input): void {
    if (this.busy || this.paused || this.inbox.length > 0) {
      this.inbox.push(item);
      this.drive();
      return;
    }
    this.process(item);
    this.drive();
  }

  private process(item: Input): void {
    const raw = this.raw;
    if (raw === null) return;
    switch (item.kind) {
      case 'tick':
        raw.tick();
        break;
      case 'message':
        raw.step(item.message);
        break;
      case 'client':
        this.handleClient(raw, item.request);
        break;
      case 'admin':
        this.host.trace?.(`${this.id} admin: ${item.label}`);
        item.action(raw, this);
        break;
    }
  }

  /**
   * The Ready loop: take a Ready when the node is free; a Ready that must sync makes the node busy
   * until its fsync completes. Queued inputs are processed once no Ready is outstanding.
   */
  private drive(): void {
    for (;;) {
      const raw = this.raw;
      if (raw === null || this.paused) return;
      if (this.synced !== null) {
        const { raw: syncedRaw, rd } = this.synced;
        this.synced = null;
        this.busy = false;
        this.handleReady(syncedRaw, rd);
        continue;
      }
      if (this.busy) return;
      if (raw.hasReady()) {
        const rd = raw.ready();
        this.readyCount++;
        this.host.trace?.(`${this.id} ready: ${describeReady(rd)}`);
        this.observe(raw, rd);
        // A leader whose term and vote did not change sends while it persists (Raft thesis
        // §10.2.1, as the real driver does). Negative control: every node does, for every Ready.
        if (this.sendsFirst(rd)) this.send(rd);
        if (rd.mustSync) {
          this.busy = true;
          const inc = this.incarnation;
          const delay = this.host.fsyncDelayUs();
          this.host.queue.schedule(delay, `fsync ${this.id}`, () => {
            if (inc !== this.incarnation) return;
            // The write is durable now; a paused process sends and applies only when it resumes.
            this.persistReady(rd);
            this.synced = { raw, rd };
            this.drive();
          });
          return;
        }
        this.persistReady(rd);
        this.handleReady(raw, rd);
        continue;
      }
      const next = this.inbox.shift();
      if (next === undefined) return;
      this.process(next);
    }
  }

  // ---- the Ready contract ------------------------------------------------------------------

  /** True when this Ready's messages leave before its batch is durable. */
  private sendsFirst(rd: Ready): boolean {
    return rd.sendBeforePersist || this.host.params.driverFault === 'sendBeforePersist';
  }

  private send(rd: Ready): void {
    for (const m of rd.messages) {
      if (m.type === 'voteResponse' && !m.reject) this.host.checker.observeVoteGranted(m.from, m.term, m.to);
      this.host.sendRaft(m);
    }
  }

  /** Step 1 of the Ready contract: PERSIST snapshot, entries and hard state in ONE batch. */
  private persistReady(rd: Ready): void {
    const checker = this.host.checker;
    const first = rd.entries[0];
    if (first !== undefined) {
      const prev = (first.index as number) - 1;
      const prevTerm = rd.snapshot === null && prev >= this.storage.firstIndex() - 1 && prev <= this.storage.lastIndex() ? (this.storage.term(logIndex(prev)) as number) : null;
      checker.checkAppendBatch(this.id, rd.entries, prevTerm);
    }
    if (rd.hardState !== null || rd.entries.length > 0 || rd.snapshot !== null) {
      this.storage.persistSync({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot });
    }
    if (rd.hardState !== null) checker.observePersistedHardState(this.id, rd.hardState);
  }

  /** Steps 2-5 of the Ready contract, once the batch is durable: send, apply, read states, advance. */
  private handleReady(raw: RawNode, rd: Ready): void {
    const checker = this.host.checker;
    this.host.digest(`rd ${this.id} ${rd.hardState === null ? '-' : `${rd.hardState.term}/${rd.hardState.vote ?? '-'}/${rd.hardState.commit}`} e${rd.entries.length} c${rd.committedEntries.length} m${rd.messages.length}${rd.snapshot === null ? '' : ` s${rd.snapshot.metadata.index}`}`);
    if (rd.snapshot !== null) this.installSnapshot(rd.snapshot);
    // 2. SEND, only after the batch is durable (unless sent already, see sendsFirst).
    if (!this.sendsFirst(rd)) this.send(rd);
    // 3. APPLY committed entries in order.
    for (const e of rd.committedEntries) this.applyEntry(raw, e, this.term);
    // 4. Read states: answered once applied >= index.
    for (const rs of rd.readStates) {
      checker.observeReadState(this.id, rs.context, rs.index);
      const pending = this.pendingReads.get(rs.context);
      if (pending !== undefined) pending.index = rs.index;
    }
    // 5. ADVANCE.
    raw.advance();
    this.answerReads();
    this.maybeSnapshot();
    checker.observeApplied(this.id, this.applied, this.commit);
    if (rd.entries.length > 0 || rd.snapshot !== null) this.lastIndex = Math.max(this.lastIndex, this.storage.lastIndex());
  }

  private applyEntry(raw: RawNode, e: Entry, term: number): void {
    const kv = this.kv;
    if (kv === null) return;
    if (e.index !== this.applied + 1) broken('applyOrder', `${this.id} was handed committed entry ${e.index} after applying ${this.applied}`);
    if (e.index > this.storage.lastIndex()) broken('applyOrder', `${this.id} was handed committed entry ${e.index} beyond its persisted log (last ${this.storage.lastIndex()})`);
    this.host.checker.observeCommittedEntry(this.id, e, term);
    if (e.type === 'confChange') {
      const change: ConfChange = decodeConfChange(e.data);
      const conf = raw.applyConfChange(change);
      this.storage.setConfStateSync(conf);
      this.conf = conf;
      kv.applyNoop(e.index);
      this.host.trace?.(`${this.id} applies conf change ${change.type} ${change.nodeId} at ${e.index}: ${describeConf(conf)}`);
    } else if (e.data.length === 0) {
      kv.applyNoop(e.index);
    } else {
      const outcome = kv.apply(e.index, decodeCommand(e.data));
      this.answerWrite(e, outcome);
    }
    this.applied = e.index;
  }

  private installSnapshot(snap: Snapshot): void {
    const index = snap.metadata.index as number;
    if (index < this.applied) broken('applyOrder', `${this.id} was handed snapshot ${index} after applying ${this.applied}: the state machine would go back`);
    this.kv = this.restoreKv(snap);
    this.conf = snap.metadata.conf;
    this.applied = index;
    this.lastSnapshotIndex = index;
    this.snapshotsInstalled++;
    this.failPendingWritesUpTo(index);
    this.host.trace?.(`${this.id} installs snapshot ${index} (term ${snap.metadata.term}), conf ${describeConf(snap.metadata.conf)}`);
  }

  private restoreKv(snap: Snapshot): KvStateMachine {
    const image = decodeKvImage(snap.data);
    if (image.appliedIndex !== snap.metadata.index) broken('stateDivergence', `${this.id}: snapshot ${snap.metadata.index} carries a state applied to ${image.appliedIndex}`);
    const kv = new KvStateMachine({ limits: this.limits, sessionTtlMs: this.host.params.sessionTtlMs, image });
    this.host.checker.observeStateHash(this.id, snap.metadata.index, kv.stateHash());
    return kv;
  }

  /** Takes a snapshot every `snapshotEveryEntries` applied entries and compacts the log behind it. */
  private maybeSnapshot(): void {
    const p = this.host.params;
    const kv = this.kv;
    if (kv === null || this.applied - this.lastSnapshotIndex < p.snapshotEveryEntries) return;
    const index = this.applied;
    const data = encodeKvImage(kv.image());
    this.storage.createSnapshotSync(logIndex(index), this.conf, data);
    this.host.checker.observeStateHash(this.id, index, kv.stateHash());
    this.lastSnapshotIndex = index;
    this.snapshotsTaken++;
    const compactTo = index - p.snapshotTailEntries;
    if (compactTo >= this.storage.firstIndex()) this.storage.compactSync(logIndex(compactTo));
    this.host.digest(`snap ${this.id} ${index}`);
  }

  // ---- observation -------------------------------------------------------------------------

  /**
   * Checks the per-node properties on a Ready as soon as it is taken: every change of role, term
   * and commit index shows up in one (inputs are processed only when no Ready is outstanding, so
   * the Ready reflects the state right after the input that caused it).
   */
  private observe(raw: RawNode, rd: Ready): void {
    const checker = this.host.checker;
    const wasLeaderOfTerm = this.role === 'leader' ? this.term : -1;
    const commitBefore = this.commit;
    if (rd.hardState !== null) {
      this.term = rd.hardState.term;
      this.commit = rd.hardState.commit;
      checker.observeCommitIndex(this.id, rd.hardState.commit);
    }
    if (rd.softState !== null) {
      this.role = rd.softState.role;
      this.leader = rd.softState.leader;
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last !== undefined) this.lastIndex = last.index;
    if (this.role === 'leader') {
      checker.observeLeader(this.id, this.term);
      if (wasLeaderOfTerm !== this.term) {
        const st = raw.status();
        this.host.trace?.(`${this.id} becomes leader of term ${st.term}`);
        checker.checkLeaderCompleteness(this.id, st.term, this.logView(), st.lastIndex);
        this.host.observed({ kind: 'leader', node: this.id, term: this.term });
      }
      if (this.commit > commitBefore) this.host.observed({ kind: 'leaderCommit', node: this.id, term: this.term, commit: this.commit });
    }
    if (wasLeaderOfTerm !== -1 && (this.role !== 'leader' || this.term !== wasLeaderOfTerm)) this.failPendingWritesUpTo(Number.MAX_SAFE_INTEGER);
  }

  // ---- clients -----------------------------------------------------------------------------

  private handleClient(raw: RawNode, req: ClientRequest): void {
    if (req.kind === 'write') this.handleWrite(raw, req);
    else this.handleRead(raw, req);
  }

  private handleWrite(raw: RawNode, req: Extract<ClientRequest, { kind: 'write' }>): void {
    if (this.role !== 'leader') {
      this.host.reply(req.client, { type: 'notLeader', reqId: req.reqId, leader: this.leader });
      return;
    }
    const timeMs = Math.floor(this.host.queue.now() / usPerMs);
    const data = encodeCommand({ clientId: req.client, seq: req.seq, ackSeq: req.ackSeq, timeMs, op: req.op });
    try {
      const { index, term } = raw.propose(data);
      this.pendingWrites.set(index, { term, reqId: req.reqId, client: req.client });
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      this.host.reply(req.client, { type: 'dropped', reqId: req.reqId });
    }
  }

  private handleRead(raw: RawNode, req: Extract<ClientRequest, { kind: 'read' }>): void {
    if (this.role !== 'leader' && (!this.host.params.followerReads || this.leader === null)) {
      this.host.reply(req.client, { type: 'notLeader', reqId: req.reqId, leader: this.leader });
      return;
    }
    const context = `${this.id}.${this.incarnation}.${++this.readCounter}`;
    this.host.checker.observeReadIndexCall(this.id, context);
    try {
      raw.readIndex(context);
      this.pendingReads.set(context, { reqId: req.reqId, client: req.client, key: req.key, index: null });
    } catch (e) {
      if (!(e instanceof ProposalDroppedError)) throw e;
      this.host.reply(req.client, { type: 'notLeader', reqId: req.reqId, leader: this.leader });
    }
  }

  private answerWrite(e: Entry, outcome: ApplyOutcome): void {
    const pending = this.pendingWrites.get(e.index);
    if (pending === undefined) return;
    this.pendingWrites.delete(e.index);
    if (pending.term === e.term) this.host.reply(pending.client, { type: 'written', reqId: pending.reqId, result: outcome.result });
    else this.host.reply(pending.client, { type: 'unknown', reqId: pending.reqId });
  }

  /** Answers 'unknown' to pending writes at or below `index` (all of them for MAX_SAFE_INTEGER). */
  private failPendingWritesUpTo(index: number): void {
    if (this.pendingWrites.size === 0) return;
    for (const [i, pending] of this.pendingWrites) {
      if (i > index) continue;
      this.pendingWrites.delete(i);
      this.host.reply(pending.client, { type: 'unknown', reqId: pending.reqId });
    }
  }

  private answerReads(): void {
    const kv = this.kv;
    if (kv === null || this.pendingReads.size === 0) return;
    for (const [context, read] of this.pendingReads) {
      if (read.index === null || read.index > this.applied) continue;
      this.pendingReads.delete(context);
      const found = kv.get(utf8.encode(read.key));
      this.host.reply(read.client, { type: 'value', reqId: read.reqId, value: found === null ? null : utf8Decoder.decode(found.value) });
    }
  }
}

/** Describes a membership deterministically. */
export function describeConf(conf: ConfState): string {
  return `voters [${conf.voters.join(',')}]${conf.learners.length > 0 ? ` learners [${conf.learners.join(',')}]` : ''}`;
}

/** True if `e` is an error a membership or transfer request may legitimately fail with. */
export function isRefusal(e: unknown): boolean {
  return e instanceof ProposalDroppedError || e instanceof FailedPreconditionError;
}
