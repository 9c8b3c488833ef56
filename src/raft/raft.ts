/**
 * The Raft state machine of one node (after etcd-io/raft `raft.go`): term, vote, role, log,
 * membership and progress, the common message handling (terms, votes), the role transitions and
 * elections. Role-specific message handling lives in `step-follower.ts`, `step-candidate.ts` and
 * `step-leader.ts`; `becomeFollower()` and friends swap the active step and tick functions, which
 * are injected as a `RoleTable` so that this file does not import the role files.
 *
 * Everything here is pure and deterministic: time is `tick()`, randomness is `config.prng`.
 */
import { assert, InvalidArgumentError, logIndex, noopLogger, term as asTerm } from '../util/index.js';
import type { LogIndex, Logger, NodeId, Prng, Term } from '../util/index.js';
import { applyToConfState, checkConfChange } from './conf-change.js';
import type { RaftConfig, RaftTestFaults } from './config.js';
import type { Message, VoteMessage } from './message.js';
import type { Outgoing } from './outgoing.js';
import { ProgressTracker } from './progress-tracker.js';
import type { VoteResult } from './progress-tracker.js';
import { payloadBytes, RaftLog } from './raft-log.js';
import { ReadOnly } from './read-only.js';
import type { ReadRequest } from './read-only.js';
import { bcastAppend } from './replication.js';
import type { LeaderContext } from './replication.js';
import type { ConfChange, ConfState, Entry, EntryType, HardState, ReadState, Role, SoftState } from './types.js';

/** One role's behaviour: how it handles current-term messages and what a tick means to it. */
export interface RoleBehaviour {
  /** Handles a message of the current term (after `Raft.step`'s term checks). */
  readonly step: (r: Raft, m: Message) => void;
  /** Advances the role's logical clock by one tick. */
  readonly tick: (r: Raft) => void;
}

/** The behaviour of every role; `becomeFollower()` and friends pick from it. */
export type RoleTable = Readonly<Record<Role, RoleBehaviour>>;

/** Which kind of election a campaign runs: the pre-vote probe (Raft thesis §9.6) or the real one. */
export type CampaignKind = 'preVote' | 'vote';

/** Checks the configuration's numbers relate sensibly. Throws `InvalidArgumentError` otherwise. */
function checkConfig(config: RaftConfig): void {
  const positive = ['electionTicks', 'heartbeatTicks', 'inflightAppendsMax', 'appendBytesMax', 'uncommittedBytesMax', 'applyBytesMax'] as const;
  for (const name of positive) {
    if (!Number.isSafeInteger(config[name]) || config[name] <= 0) throw new InvalidArgumentError(name, `must be a positive integer, got ${config[name]}`);
  }
  if (config.heartbeatTicks >= config.electionTicks) {
    throw new InvalidArgumentError('heartbeatTicks', `(${config.heartbeatTicks}) must be less than electionTicks (${config.electionTicks})`);
  }
  if (config.id.length === 0) throw new InvalidArgumentError('id', 'must not be empty');
}

/** The Raft state of one node. Fields are public for the role files; only `RawNode` uses this class. */
export class Raft implements LeaderContext {
  /** This node's id. */
  readonly id: NodeId;
  /** Where diagnostics go. */
  readonly logger: Logger;
  /** The only source of randomness (election timeouts). */
  readonly prng: Prng;
  /** Base election timeout in ticks (Raft paper §5.2). */
  readonly electionTicks: number;
  /** Ticks between heartbeats. Invariant: heartbeatTicks < electionTicks. */
  readonly heartbeatTicks: number;
  /** Most entry bytes in one append message. */
  readonly appendBytesMax: number;
  /** Most uncommitted entry bytes on the leader before proposals are dropped. */
  readonly uncommittedBytesMax: number;
  /** Most committed entry bytes in one Ready. */
  readonly applyBytesMax: number;
  /** Raft thesis §9.6: probe with a pre-vote before disrupting the cluster with a new term. */
  readonly preVote: boolean;
  /** Raft thesis §6.2: leaders step down without a quorum; followers honour the leader lease. */
  readonly checkQuorum: boolean;
  /** Deliberate bugs for negative controls. */
  readonly testFaults: RaftTestFaults;

  /** The current term (Raft paper Figure 2: currentTerm). Persisted. */
  term: Term;
  /** The candidate voted for in `term`, or null (Figure 2: votedFor). Persisted. */
  vote: NodeId | null;
  /** The leader of `term` as far as this node knows, or null. */
  lead: NodeId | null = null;
  /** The role this node plays in `term`. */
  role: Role = 'follower';
  /** The log, with the commit and apply cursors. */
  readonly raftLog: RaftLog;
  /** Membership, per-member progress (on the leader) and election votes (on candidates). */
  readonly tracker: ProgressTracker;
  /** Ticks since the last election timeout reset (followers: since the leader was last heard). */
  electionElapsed = 0;
  /** Leader only: ticks since the last heartbeat broadcast. */
  heartbeatElapsed = 0;
  /** The current election timeout, drawn from [electionTicks, 2 * electionTicks - 1] (§5.2). */
  randomizedElectionTimeout = 0;
  /** Leader only: the target of a leadership transfer in progress (Raft thesis §3.10), or null. */
  leadTransferee: NodeId | null = null;
  /**
   * Leader only: the index of the latest configuration change proposed, or of the term's no-op.
   * A new change is refused while it exceeds `applied`: one change at a time, and never before
   * the leader committed an entry of its own term (the fix to Ongaro's 2015 single-server bug).
   */
  pendingConfIndex: LogIndex = logIndex(0);
  /**
   * Leader: new entries or a new commit index are waiting to be broadcast. Proposals and
   * acknowledgements only set it; `ready()` sends one append per follower for all of them, so a
   * burst of proposals (or of acknowledgements, each moving the commit index) between two Readys
   * costs one message per follower instead of one each (see `flushAppends`).
   */
  appendsDue = false;
  /** Leader only: bytes of proposed entries not yet handed out as committed. */
  uncommittedBytes = 0;
  /** Leader only: linearizable reads waiting for a heartbeat round (Raft thesis §6.4). */
  readOnly: ReadOnly;
  /** Leader only: reads that arrived before the leader committed an entry of its term. */
  pendingReads: ReadRequest[] = [];
  /** Messages waiting for the next Ready. */
  msgs: Message[] = [];
  /** Confirmed reads waiting for the next Ready. */
  readStates: ReadState[] = [];
  /** The active role's step and tick functions. */
  private behaviour: RoleBehaviour;

  /** Restores the node from `config.storage` and starts it as a follower. */
  constructor(
    config: RaftConfig,
    private readonly roles: RoleTable,
  ) {
    checkConfig(config);
    this.id = config.id;
    this.logger = config.logger ?? noopLogger;
    this.prng = config.prng;
    this.electionTicks = config.electionTicks;
    this.heartbeatTicks = config.heartbeatTicks;
    this.appendBytesMax = config.appendBytesMax;
    this.uncommittedBytesMax = config.uncommittedBytesMax;
    this.applyBytesMax = config.applyBytesMax;
    this.preVote = config.preVote ?? true;
    this.checkQuorum = config.checkQuorum ?? true;
    this.testFaults = config.testFaults ?? {};
    this.behaviour = roles.follower;
    const { hardState, confState } = config.storage.initialState();
    this.raftLog = new RaftLog(config.storage, this.logger);
    this.tracker = new ProgressTracker(config.inflightAppendsMax);
    this.tracker.setConf(confState, this.raftLog.lastIndex());
    this.term = hardState.term;
    this.vote = hardState.vote;
    this.readOnly = new ReadOnly(this.term);
    this.loadCursors(hardState, config.applied);
    this.becomeFollower(this.term, null);
    this.logger.info({ term: this.term, commit: this.raftLog.committed, applied: this.raftLog.applied, lastIndex: this.raftLog.lastIndex(), conf: confState }, 'raft node started');
  }

  private loadCursors(hardState: HardState, applied: LogIndex): void {
    const log = this.raftLog;
    // Assert each durable property after reading it back.
    assert(hardState.commit <= log.lastIndex(), () => `persisted commit ${hardState.commit} beyond last index ${log.lastIndex()}: was the log truncated or lost?`);
    log.commitTo(hardState.commit);
    assert(applied <= log.committed, () => `config.applied ${applied} beyond commit ${log.committed}`);
    assert(applied >= log.firstIndex() - 1, () => `config.applied ${applied} is below the storage snapshot at ${log.firstIndex() - 1}: restore the state machine from storage.snapshot() first`);
    log.appliedTo(applied);
  }

  /** Queues `m` for the next Ready, stamped with this node's id and (by default) its term. */
  send(m: Outgoing): void {
    assert(m.to !== this.id, () => `message ${m.type} addressed to self`);
    this.msgs.push({ ...m, from: this.id, term: m.term ?? this.term } as Message);
  }

  /** Advances the logical clock by one tick. */
  tick(): void {
    this.behaviour.tick(this);
  }

  /** Follower and candidate tick: start an election once the randomized timeout passes (§5.2). */
  tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.hup(false);
    }
  }

  /**
   * Handles a peer message: term checks common to every role (Raft paper §5.1, thesis §9.6 and
   * §6.2), vote requests, then the active role's step function.
   */
  step(m: Message): void {
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === 'vote' || m.type === 'preVote') this.handleVoteRequest(m);
    else this.behaviour.step(this, m);
  }

  /** A message from a later term. Returns false if it must be ignored. */
  private stepHigherTerm(m: Message): boolean {
    if ((m.type === 'vote' || m.type === 'preVote') && !m.transfer && this.inLease()) {
      // Raft thesis §6.2 / §4.2.3: we heard from a leader within the election timeout, so this
      // candidate cannot be needed (it is partitioned or removed): ignore it, term unchanged.
      this.logger.info({ term: this.term, from: m.from, msgTerm: m.term, type: m.type }, 'vote request ignored: leader lease');
      return false;
    }
    // Raft thesis §9.6: a pre-vote never changes our term; a granted pre-vote answer carries the
    // candidate's future term, which it adopts only once it wins.
    if (m.type === 'preVote') return true;
    if (m.type === 'preVoteResponse' && !m.reject) return true;
    const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot';
    this.logger.info({ term: this.term, from: m.from, msgTerm: m.term, type: m.type }, 'received a higher term: becoming follower');
    this.becomeFollower(m.term, fromLeader ? m.from : null);
    return true;
  }

  /** A message from an earlier term: ignored, but stale leaders and pre-candidates learn our term. */
  private stepLowerTerm(m: Message): void {
    if ((this.checkQuorum || this.preVote) && (m.type === 'heartbeat' || m.type === 'append')) {
      // A leader partitioned away must step down: with check-quorum or pre-vote we never raise
      // our term for its vote requests, so tell it the current term (as etcd does).
      this.send({ type: 'appendResponse', to: m.from, index: logIndex(0), reject: false, rejectHint: logIndex(0), hintTerm: asTerm(0) });
    } else if (m.type === 'preVote') {
      this.send({ type: 'preVoteResponse', to: m.from, reject: true });
    } else {
      this.logger.debug({ term: this.term, from: m.from, msgTerm: m.term, type: m.type }, 'ignored a message from an older term');
    }
  }

  /** Raft paper §5.2, §5.4.1 and thesis §9.6: grant a (pre-)vote to an up-to-date candidate. */
  private handleVoteRequest(m: VoteMessage): void {
    const response = m.type === 'vote' ? 'voteResponse' : 'preVoteResponse';
    const canVote = this.vote === m.from || (this.vote === null && this.lead === null) || (m.type === 'preVote' && m.term > this.term);
    const granted = canVote && this.raftLog.isUpToDate(m.lastLogIndex, m.lastLogTerm);
    this.logger.info({ term: this.term, from: m.from, type: m.type, granted, vote: this.vote }, 'vote request');
    if (!granted) {
      this.send({ type: response, to: m.from, reject: true });
      return;
    }
    // The answer carries the candidate's term: a granted pre-vote does not change ours.
    this.send({ type: response, to: m.from, term: m.term, reject: false });
    if (m.type === 'vote') {
      this.electionElapsed = 0;
      this.vote = m.from;
    }
  }

  /** Raft thesis §6.2: true while we heard from a leader within the (non-randomized) election timeout. */
  inLease(): boolean {
    return this.checkQuorum && this.lead !== null && this.electionElapsed < this.electionTicks;
  }

  /** True if this node may campaign: it is a voter and not installing a snapshot. */
  promotable(): boolean {
    return this.tracker.isVoter(this.id) && this.raftLog.unstable.snapshot === null;
  }

  /** Becomes a follower of `lead` (or of nobody yet) in `term`. */
  becomeFollower(term: Term, lead: NodeId | null): void {
    this.setRole('follower');
    this.reset(term);
    this.lead = lead;
    this.logger.info({ term, lead }, 'became follower');
  }

  /** Raft thesis §9.6: polls the voters without raising the term or voting. */
  becomePreCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition: leader -> preCandidate');
    this.setRole('preCandidate');
    this.tracker.resetVotes();
    this.lead = null;
    this.logger.info({ term: this.term }, 'became pre-candidate');
  }

  /** Raft paper §5.2: raises the term and votes for itself. */
  becomeCandidate(): void {
    assert(this.role !== 'leader', 'invalid transition: leader -> candidate');
    this.setRole('candidate');
    this.reset(asTerm(this.term + 1));
    this.vote = this.id;
    this.logger.info({ term: this.term }, 'became candidate');
  }

  /**
   * Raft paper §5.2 and thesis §6.4: takes the lead and appends an empty entry of its term. The
   * entry lets the leader commit the entries of earlier terms (§5.4.2) and serve reads.
   */
  becomeLeader(): void {
    assert(this.role === 'candidate', () => `invalid transition: ${this.role} -> leader`);
    this.setRole('leader');
    this.reset(this.term);
    this.lead = this.id;
    const self = this.tracker.progress.get(this.id);
    assert(self !== undefined, 'a leader is a member');
    self.becomeReplicate();
    self.recentActive = true;
    const noop = this.appendEntries([{ type: 'normal', data: new Uint8Array(0) }]);
    assert(noop !== null, 'the no-op entry is never dropped');
    // No configuration change until the no-op is applied (see `pendingConfIndex`).
    this.pendingConfIndex = noop;
    this.logger.info({ term: this.term, lastIndex: noop }, 'became leader');
    bcastAppend(this);
  }

  private setRole(role: Role): void {
    this.role = role;
    this.behaviour = this.roles[role];
  }

  /** Resets the volatile state for `term` (forgetting the vote if the term changes). */
  private reset(term: Term): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout = this.electionTicks + this.prng.int(0, this.electionTicks - 1);
    this.abortLeaderTransfer();
    this.tracker.resetVotes();
    this.tracker.resetProgress(this.raftLog.lastIndex(), this.id, this.raftLog.persistedLastIndex());
    this.pendingConfIndex = logIndex(0);
    this.appendsDue = false;
    this.uncommittedBytes = 0;
    this.readOnly = new ReadOnly(this.term);
    this.pendingReads = [];
  }

  /** Starts an election (pre-vote first unless `transfer`, Raft thesis §3.10 and §9.6). */
  hup(transfer: boolean): void {
    if (this.role === 'leader') return;
    if (!this.promotable()) {
      this.logger.warn({ term: this.term }, 'not campaigning: not a voter');
      return;
    }
    if (this.hasUnappliedConfChanges()) {
      // The membership may be about to change: wait until it is applied (etcd does the same).
      this.logger.warn({ term: this.term }, 'not campaigning: committed configuration changes are not applied yet');
      return;
    }
    this.logger.info({ term: this.term, transfer }, 'starting an election');
    this.campaign(this.preVote && !transfer ? 'preVote' : 'vote', transfer);
  }

  /** Runs one campaign: votes for itself, then asks every other voter. */
  campaign(kind: CampaignKind, transfer: boolean): void {
    if (kind === 'preVote') this.becomePreCandidate();
    else this.becomeCandidate();
    // Raft thesis §9.6: pre-votes are asked for the term the real election would use.
    const voteTerm = kind === 'preVote' ? asTerm(this.term + 1) : this.term;
    if (this.poll(this.id, true) === 'won') {
      // A single voter wins at once.
      if (kind === 'preVote') this.campaign('vote', transfer);
      else this.becomeLeader();
      return;
    }
    const lastLogIndex = this.raftLog.lastIndex();
    const lastLogTerm = this.raftLog.lastTerm();
    for (const to of this.tracker.voters) {
      if (to !== this.id) this.send({ type: kind, to, term: voteTerm, lastLogIndex, lastLogTerm, transfer });
    }
  }

  /** Records a (pre-)vote answer and returns the election's state. */
  poll(from: NodeId, granted: boolean): VoteResult {
    this.tracker.recordVote(from, granted);
    const tally = this.tracker.voteResult();
    this.logger.debug({ term: this.term, from, vote: granted, ...tally }, 'vote tallied');
    return tally.result;
  }

  /** True if a committed but unapplied entry changes the membership. */
  private hasUnappliedConfChanges(): boolean {
    const log = this.raftLog;
    let lo = logIndex(Math.max(log.applied + 1, log.firstIndex()));
    const hi = logIndex(log.committed + 1);
    while (lo < hi) {
      const entries = log.slice({ lo, hi, bytesMax: this.applyBytesMax });
      if (entries === null || entries.length === 0) return false;
      if (entries.some((e) => e.type === 'confChange')) return true;
      lo = logIndex((entries[entries.length - 1] as Entry).index + 1);
    }
    return false;
  }

  /**
   * Leader: appends new entries of the current term. Returns the new last index, or null if
   * they would push the uncommitted bytes past `uncommittedBytesMax` (a lone entry always fits).
   * The leader counts its own copy only once it is persisted (see `leaderSelfAck`).
   */
  appendEntries(items: ReadonlyArray<{ type: EntryType; data: Uint8Array }>): LogIndex | null {
    assert(this.role === 'leader', 'only a leader appends new entries');
    const last = this.raftLog.lastIndex();
    const entries: Entry[] = items.map((item, i) => ({ term: this.term, index: logIndex(last + 1 + i), type: item.type, data: item.data }));
    const bytes = payloadBytes(entries);
    if (this.uncommittedBytes > 0 && bytes > 0 && this.uncommittedBytes + bytes > this.uncommittedBytesMax) return null;
    this.uncommittedBytes += bytes;
    return this.raftLog.append(entries);
  }

  /** Leader: committed entries handed to the application no longer count as uncommitted. */
  reduceUncommittedBytes(entries: readonly Entry[]): void {
    if (this.role === 'leader') this.uncommittedBytes = Math.max(0, this.uncommittedBytes - payloadBytes(entries));
  }

  /**
   * Applies a committed membership change (Raft thesis §4.1, etcd-style: it takes effect when
   * applied). An invalid change is logged and ignored, identically on every node. A leader that
   * is no longer a voter steps down. Returns the membership now in force.
   */
  applyConfChange(change: ConfChange): ConfState {
    const current = this.tracker.confState();
    const problem = checkConfChange(current, change);
    if (problem !== null) {
      this.logger.warn({ term: this.term, change: { type: change.type, nodeId: change.nodeId }, problem }, 'configuration change ignored');
      return current;
    }
    const next = applyToConfState(current, change);
    this.tracker.setConf(next, this.raftLog.lastIndex());
    this.logger.info({ term: this.term, change: { type: change.type, nodeId: change.nodeId }, conf: next }, 'configuration change applied');
    if (this.leadTransferee !== null && !this.tracker.isVoter(this.leadTransferee)) this.abortLeaderTransfer();
    if (this.role !== 'follower' && !this.tracker.isVoter(this.id)) {
      // A leader (or candidate) that is no longer a voter steps down and never campaigns again.
      this.logger.info({ term: this.term, role: this.role }, 'removed from the voters: stepping down');
      this.becomeFollower(this.term, null);
    }
    return next;
  }

  /** Replaces the membership after installing a snapshot; progress starts over. */
  restoreConf(conf: ConfState): void {
    this.tracker.setConf(conf, this.raftLog.lastIndex());
    this.tracker.resetProgress(this.raftLog.lastIndex(), this.id, this.raftLog.persistedLastIndex());
  }

  /** Cancels a leadership transfer in progress. */
  abortLeaderTransfer(): void {
    if (this.leadTransferee !== null) this.logger.info({ term: this.term, transferee: this.leadTransferee }, 'leadership transfer aborted');
    this.leadTransferee = null;
  }

  /** The hard state as it must be persisted (the vote is left out under `voteWithoutPersist`). */
  hardState(): HardState {
    const vote = this.testFaults.voteWithoutPersist === true ? null : this.vote;
    return { term: this.term, vote, commit: this.raftLog.committed };
  }

  /** The volatile state reported in Ready. */
  softState(): SoftState {
    return { leader: this.lead, role: this.role };
  }
}
