/**
 * One node of the core simulator: the PRODUCTION RaftDriver (src/server/raft-driver.ts) on
 * LevelStorage on a simulated LevelDB disk (sim-level.ts), hosted by driver-host.ts's HostedNode,
 * the same host the node-layer front end uses. There is no Ready loop here: this file is what a
 * process and a machine do around the driver, and what the checker observes of it.
 *
 * - Lifecycle: start (open the disk, finish an interrupted snapshot install, start the driver),
 *   crash (the process dies, everything written stays), power loss (the disk loses what is not
 *   durable under LevelDB's model), pause (a stop-the-world stall: ticks are lost, messages,
 *   requests, timers and fsync completions wait until it resumes).
 * - Clients reach the driver the way kv-service.ts does: `write` for puts and compare-and-swaps,
 *   `awaitReadable` (kv-requests.ts) then the state machine for linearizable reads; the driver's
 *   errors become the simulated protocol's answers.
 * - Observation: the host wraps the core's `ready`, `readIndex` and `proposeConfChange` and the
 *   storage's `persist` of each driver it starts, so the checker sees every Ready as the driver
 *   takes it (roles, terms, commits, committed entries, read states), every batch written, and
 *   every vote and acknowledgement sent, without a copy of the loop.
 */
import { describeMessage, describeReady } from '../../src/raft/index.js';
import type { ConfChange, ConfState, Message, RawNode, Ready } from '../../src/raft/index.js';
import { awaitReadable } from '../../src/server/kv-requests.js';
import type { RaftDriver } from '../../src/server/raft-driver.js';
import type { LevelStorage } from '../../src/storage/index.js';
import { FailedPreconditionError, logIndex, NotLeaderError, OutcomeUnknownError, OverloadedError, ProposalDroppedError, SessionExpiredError, UnavailableError } from '../../src/util/index.js';
import type { NodeId } from '../../src/util/index.js';
import type { HostedNode } from './driver-host.js';
import type { EventQueue } from './event-queue.js';
import type { EntryLike, LogView, SafetyChecker } from './invariants.js';
import type { MemberNodeView } from './membership.js';
import type { ClusterEvent } from './nemesis.js';
import type { PauseGate } from './queue-world.js';
import type { SimParams } from './params.js';
import type { ClientRequest, ClientResponse } from './protocol.js';
import { broken } from './violation.js';

/** What a node needs from the simulation around it. */
export interface NodeHost {
  readonly queue: EventQueue;
  readonly checker: SafetyChecker;
  readonly params: SimParams;
  /** Sends an answer back to a client. */
  reply(client: string, response: ClientResponse): void;
  /** Reports what the nemesis may react to at once: a new leader, a leader's commit advancing. */
  observed(e: ClusterEvent): void;
  /** Draws how long the next synced write takes, in microseconds. */
  fsyncDelayUs(): number;
  /** Runs async host work (a start, a crash); a failure is reported by the simulation loop. */
  background(label: string, work: Promise<unknown>): void;
  /**
   * Runs a check from inside driver code (a Ready being taken, a batch written): a broken
   * property is reported by the simulation loop, never thrown into the driver, which would
   * take it for a storage failure and raise its alarm.
   */
  check(fn: () => void): void;
  /** Adds a line to the digest. */
  digest(text: string): void;
  /** Writes a trace line when tracing is on. */
  trace: ((line: string) => void) | null;
}

/** Why a node is down. */
export type DownReason = 'crash' | 'removed';

const utf8 = new TextEncoder();
const utf8Decoder = new TextDecoder();

/** One node of the simulated cluster. */
export class SimNode implements PauseGate {
  /** Why the node is down, or null when it is up. */
  down: DownReason | null = 'crash';
  /** Bumped at every crash and restart: events and answers of an older incarnation are dropped. */
  incarnation = 0;
  /** What the node last showed (kept while it is down, for the membership controller). */
  conf: ConfState;
  applied = 0;
  role = 'follower';
  term = 0;
  leader: string | null = null;
  commit = 0;
  lastIndex = 0;
  /** Virtual time until which the node is paused (0: not paused). */
  pausedUntilUs = 0;
  /** What waits for the node to resume: deliveries, requests, timers, fsync completions. */
  private deferred: (() => void)[] = [];
  /** The applied index whose state hash was last recorded, and the last snapshot index seen. */
  private hashedApplied = -1;
  private snapshotIndexSeen = 0;
  private installsAtLastSnapshot = 0;
  /** Index of the last conf change this node proposed (set synchronously by the proposal). */
  private lastConfChangeIndex: number | null = null;
  /** Statistics. */
  readyCount = 0;
  snapshotsTaken = 0;
  snapshotsInstalled = 0;

  constructor(
    readonly hosted: HostedNode,
    private readonly host: NodeHost,
    bootstrapConf: ConfState,
  ) {
    this.conf = bootstrapConf;
    const disk = hosted.disk;
    disk.fsyncWait = () =>
      new Promise<void>((resolve) => {
        const inc = this.incarnation;
        this.host.queue.schedule(this.host.fsyncDelayUs(), `fsync ${this.id}`, () => {
          // A dead process never hears back from its disk (the record may still be lost to power).
          if (inc !== this.incarnation) return;
          if (this.paused) this.whenResumed(resolve);
          else resolve();
        });
      });
  }

  get id(): NodeId {
    return this.hosted.id;
  }

  /** True if the node is running (possibly paused). */
  get up(): boolean {
    return this.down === null;
  }

  get paused(): boolean {
    return this.pausedUntilUs !== 0;
  }

  whenResumed(fn: () => void): void {
    this.deferred.push(fn);
  }

  /** The running driver, or null while down (or while it starts). */
  get driver(): RaftDriver | null {
    return this.up ? this.hosted.driver : null;
  }

  /** What the membership controller reads. */
  memberView(): MemberNodeView {
    return { id: this.id, up: this.up, removed: this.down === 'removed', applied: this.applied, commit: this.commit, conf: this.conf };
  }

  /** A read-only view of the persisted log, for the checker (null while down). */
  logView(): LogView | null {
    const s = this.hosted.storage;
    if (!this.up || s === null) return null;
    return storageView(this.id, s);
  }

  // ---- lifecycle -------------------------------------------------------------------------

  /** Starts (or restarts) the node from its disk. */
  start(): void {
    this.down = null;
    this.incarnation++;
    this.pausedUntilUs = 0;
    this.deferred = [];
    this.role = 'follower';
    this.leader = null;
    const inc = this.incarnation;
    this.host.background(
      `start ${this.id}`,
      this.hosted.start().then(() => {
        if (inc !== this.incarnation) return;
        this.refresh();
        this.host.trace?.(`${this.id} starts: term ${this.term}, commit ${this.commit}, applied ${this.applied}, ${describeConf(this.conf)}${this.hosted.installsFinished > 0 ? ` (${this.hosted.installsFinished} interrupted installs finished so far)` : ''}`);
      }),
    );
  }

  /** Called by the host for each new driver, before it starts: observe its core and storage. */
  instrument(driver: RaftDriver, storage: LevelStorage): void {
    const checker = this.host.checker;
    const raw = driver.raw;
    const status = raw.status();
    checker.observeRestart(this.id, status.commit);
    this.term = status.term;
    this.commit = status.commit;
    this.lastIndex = status.lastIndex;
    this.snapshotIndexSeen = driver.snapshotIndexNow;
    this.hashedApplied = -1;
    const ready = raw.ready.bind(raw);
    raw.ready = (): Ready => {
      const rd = ready();
      this.host.check(() => this.onReady(raw, rd));
      return rd;
    };
    const readIndex = raw.readIndex.bind(raw);
    raw.readIndex = (context: string): void => {
      this.host.check(() => checker.observeReadIndexCall(this.id, context));
      readIndex(context);
    };
    const proposeConfChange = raw.proposeConfChange.bind(raw);
    raw.proposeConfChange = (change: ConfChange) => {
      const at = proposeConfChange(change);
      this.lastConfChangeIndex = at.index;
      return at;
    };
    const persist = storage.persist.bind(storage);
    storage.persist = (args) => {
      const first = args.entries[0];
      if (first !== undefined) {
        const prev = (first.index as number) - 1;
        const prevTerm = args.snapshot === null && prev >= storage.firstIndex() - 1 && prev <= storage.lastIndex() ? (storage.term(logIndex(prev)) as number) : null;
        this.host.check(() => checker.checkAppendBatch(this.id, args.entries, prevTerm));
      }
      const written = persist(args);
      const hs = args.hardState;
      if (hs !== null) {
        written.then(
          () => this.host.check(() => checker.observePersistedHardState(this.id, hs, args.sync)),
          () => {},
        );
      }
      return written;
    };
  }

  /** Crashes the node: everything written to its disk stays, the rest of the process is gone. */
  crash(reason: DownReason): void {
    if (!this.up) {
      this.down = reason;
      return;
    }
    this.host.trace?.(`${this.id} ${reason === 'crash' ? 'crashes' : 'stops (removed)'}, ${this.deferred.length} deferred inputs lost`);
    this.goDown(reason);
    this.host.background(`crash ${this.id}`, this.hosted.crash());
  }

  /** The machine loses power: a crash, and the disk loses every write that is not durable. */
  powerLoss(onLost: (lost: number) => void): void {
    if (!this.up) return;
    this.goDown('crash');
    this.host.checker.observePowerLoss(this.id);
    this.host.background(
      `power loss ${this.id}`,
      this.hosted.powerLoss().then((lost) => {
        this.host.trace?.(`${this.id} loses power: ${lost} unsynced writes lost`);
        onLost(lost);
      }),
    );
  }

  private goDown(reason: DownReason): void {
    this.refresh();
    this.down = reason;
    this.incarnation++;
    this.deferred = [];
    this.pausedUntilUs = 0;
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
      this.unpause();
    });
  }

  /** Ends a pause at once (used when the faults stop). */
  unpause(): void {
    if (this.pausedUntilUs === 0) return;
    this.pausedUntilUs = 0;
    const work = this.deferred;
    this.deferred = [];
    for (const fn of work) fn();
  }

  // ---- inputs ------------------------------------------------------------------------------

  /** A Raft message arrives from the network. */
  receive(message: Message): void {
    if (!this.up) return;
    if (this.paused) {
      this.whenResumed(() => this.receive(message));
      return;
    }
    this.host.trace?.(`${this.id} <- ${describeMessage(message)}`);
    this.driver?.step(message);
  }

  /** A client request arrives. */
  receiveClient(request: ClientRequest): void {
    if (!this.up) return;
    if (this.paused) {
      this.whenResumed(() => this.receiveClient(request));
      return;
    }
    const driver = this.driver;
    if (driver === null) return;
    if (request.kind === 'write') this.handleWrite(driver, request);
    else this.handleRead(driver, request);
  }

  /** Runs an administrative action against the driver when the node gets to it. */
  admin(label: string, action: (driver: RaftDriver) => void): void {
    if (!this.up) return;
    if (this.paused) {
      this.whenResumed(() => this.admin(label, action));
      return;
    }
    const driver = this.driver;
    if (driver === null) return;
    this.host.trace?.(`${this.id} admin: ${label}`);
    action(driver);
  }

  /** Proposes a membership change through the driver; reports the entry index, or null if refused. */
  proposeMembership(change: ConfChange, done: (index: number | null) => void): void {
    this.admin(`propose ${change.type} ${change.nodeId}`, (driver) => {
      this.lastConfChangeIndex = null;
      // changeMembership proposes synchronously, before its first await.
      driver.changeMembership(change).catch((e: unknown) => {
        if (!isRefusal(e)) this.host.background(`membership ${this.id}`, Promise.reject(e));
      });
      done(this.lastConfChangeIndex);
    });
  }

  /** A reply for this incarnation's client (a dead process answers nobody). */
  private replier(client: string): (r: ClientResponse) => void {
    const inc = this.incarnation;
    return (r) => {
      if (inc === this.incarnation) this.host.reply(client, r);
    };
  }

  private handleWrite(driver: RaftDriver, req: Extract<ClientRequest, { kind: 'write' }>): void {
    const reply = this.replier(req.client);
    driver.write(req.op, { clientId: req.client, seq: req.seq, ackSeq: req.ackSeq }).then(
      (result) => reply({ type: 'written', reqId: req.reqId, result }),
      (e: unknown) => reply(this.failure(req.reqId, e, 'write')),
    );
  }

  private handleRead(driver: RaftDriver, req: Extract<ClientRequest, { kind: 'read' }>): void {
    const reply = this.replier(req.client);
    if (driver.role !== 'leader' && (!this.host.params.followerReads || driver.leader === null)) {
      reply({ type: 'notLeader', reqId: req.reqId, leader: driver.leader });
      return;
    }
    awaitReadable(driver, { kind: 'linearizable' }, this.host.params.attemptTimeoutUs / 1000).then(
      () => {
        const found = driver.kv.get(utf8.encode(req.key));
        reply({ type: 'value', reqId: req.reqId, value: found === null ? null : utf8Decoder.decode(found.value) });
      },
      (e: unknown) => reply(this.failure(req.reqId, e, 'read')),
    );
  }

  /** The protocol's answer for an error of the driver; anything unexpected is a violation. */
  private failure(reqId: number, e: unknown, what: 'write' | 'read'): ClientResponse {
    if (e instanceof NotLeaderError) return { type: 'notLeader', reqId, leader: e.leaderId };
    // A write refused at apply as a possible replay (FAILED_PRECONDITION) or because its session is
    // gone (SESSION_EXPIRED, an earlier attempt may have applied): its outcome is unknown.
    const unknown = e instanceof OutcomeUnknownError || e instanceof SessionExpiredError || e instanceof FailedPreconditionError;
    if (unknown) return what === 'write' ? { type: 'unknown', reqId } : { type: 'dropped', reqId };
    if (e instanceof UnavailableError || e instanceof OverloadedError) return { type: 'dropped', reqId };
    this.host.background(`${what} on ${this.id}`, Promise.reject(e));
    return { type: 'dropped', reqId };
  }

  // ---- observation -------------------------------------------------------------------------

  /** Refreshes what the node shows and checks what changed since the last event. */
  afterEvent(): void {
    const driver = this.driver;
    if (driver === null) return;
    this.refresh();
    const checker = this.host.checker;
    checker.observeApplied(this.id, this.applied, driver.raw.commit);
    if (this.applied !== this.hashedApplied) {
      this.hashedApplied = this.applied;
      checker.observeStateHash(this.id, this.applied, driver.kv.stateHash());
    }
    const snapshotIndex = driver.snapshotIndexNow as number;
    if (snapshotIndex > this.snapshotIndexSeen) {
      this.snapshotIndexSeen = snapshotIndex;
      // A new snapshot index without an install since the last one: the node took it.
      if (this.snapshotsInstalled === this.installsAtLastSnapshot) this.snapshotsTaken++;
      this.installsAtLastSnapshot = this.snapshotsInstalled;
      this.host.digest(`snap ${this.id} ${snapshotIndex}`);
    }
  }

  private refresh(): void {
    const driver = this.hosted.driver;
    if (driver === null) return;
    this.applied = driver.kv.appliedIndex;
    this.commit = driver.raw.commit;
    this.conf = driver.confState;
    const storage = this.hosted.storage;
    if (storage !== null) this.lastIndex = storage.lastIndex();
  }

  /**
   * Checks a Ready as the driver takes it: every change of role, term and commit index, every
   * committed entry and read state passes through one.
   */
  private onReady(raw: RawNode, rd: Ready): void {
    const checker = this.host.checker;
    this.readyCount++;
    this.host.trace?.(`${this.id} ready: ${describeReady(rd)}`);
    this.host.digest(`rd ${this.id} ${rd.hardState === null ? '-' : `${rd.hardState.term}/${rd.hardState.vote ?? '-'}/${rd.hardState.commit}`} e${rd.entries.length} c${rd.committedEntries.length} m${rd.messages.length}${rd.snapshot === null ? '' : ` s${rd.snapshot.metadata.index}`}`);
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
        const view = this.hosted.storage;
        if (view !== null) checker.checkLeaderCompleteness(this.id, st.term, storageView(this.id, view), st.lastIndex);
        this.host.observed({ kind: 'leader', node: this.id, term: this.term });
      }
      if (this.commit > commitBefore) this.host.observed({ kind: 'leaderCommit', node: this.id, term: this.term, commit: this.commit });
    }
    if (rd.snapshot !== null) this.snapshotsInstalled++;
    for (const e of rd.committedEntries) checker.observeCommittedEntry(this.id, e, raw.term);
    for (const rs of rd.readStates) checker.observeReadState(this.id, rs.context, rs.index);
  }

}

/** The checker's view of a node's stored log. */
function storageView(id: string, s: LevelStorage): LogView {
  return {
    firstIndex: () => s.firstIndex(),
    lastIndex: () => s.lastIndex(),
    term: (i: number) => s.term(logIndex(i)),
    entry: (i: number): EntryLike => {
      const e = s.entries({ lo: logIndex(i), hi: logIndex(i + 1), bytesMax: Number.MAX_SAFE_INTEGER })[0];
      if (e === undefined) broken('logMatching', `${id}: storage returned no entry at ${i}`);
      return e;
    },
  };
}

/** Describes a membership deterministically. */
export function describeConf(conf: ConfState): string {
  return `voters [${conf.voters.join(',')}]${conf.learners.length > 0 ? ` learners [${conf.learners.join(',')}]` : ''}`;
}

/** True if `e` is an error a membership or transfer request may legitimately fail with. */
export function isRefusal(e: unknown): boolean {
  return e instanceof ProposalDroppedError || e instanceof FailedPreconditionError || e instanceof NotLeaderError || e instanceof UnavailableError || e instanceof OutcomeUnknownError;
}
