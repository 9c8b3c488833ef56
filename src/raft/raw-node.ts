/**
 * `RawNode`: the public face of the Raft core (after etcd-io/raft `rawnode.go`). The driver
 * feeds it ticks, messages and proposals, and follows the Ready contract (see `ready.ts`):
 * PERSIST, then SEND, then APPLY, then `advance()`.
 */
import { assert, FailedPreconditionError, ProposalDroppedError } from '../util/index.js';
import type { LogIndex, NodeId, Term } from '../util/index.js';
import { checkConfChange, encodeConfChange } from './conf-change.js';
import type { RaftConfig } from './config.js';
import { leaderTransfer } from './leader-transfer.js';
import type { Message } from './message.js';
import { checkMessage } from './message-check.js';
import { Raft } from './raft.js';
import { flushReadRounds, leaderReadIndex } from './read-index.js';
import type { Ready } from './ready.js';
import { roleTable } from './roles.js';
import { raftStatus } from './status.js';
import type { RaftStatus } from './status.js';
import { forwardTransfer } from './step-follower.js';
import { flushAppends, leaderAfterConfChange, leaderPropose, leaderReportSnapshot, leaderReportUnreachable, leaderSelfAck } from './step-leader.js';
import type { ConfChange, ConfState, HardState, SoftState } from './types.js';

/** What a Ready handed out, to be marked done by `advance()`. */
interface Outstanding {
  /** The last entry handed out for persisting, or null. */
  readonly lastEntry: { readonly index: LogIndex; readonly term: Term } | null;
  /** The index of the snapshot handed out for persisting, or null. */
  readonly snapshotIndex: LogIndex | null;
  /** The index the application will have applied once it applied this Ready. */
  readonly applying: LogIndex;
}

const sameHardState = (a: HardState, b: HardState): boolean => a.term === b.term && a.vote === b.vote && a.commit === b.commit;
const sameSoftState = (a: SoftState, b: SoftState): boolean => a.leader === b.leader && a.role === b.role;

/**
 * One Raft node, without I/O. Not re-entrant; call it from one driver loop.
 *
 * Notes for drivers:
 * - At most one Ready is outstanding: `hasReady()` is false and `ready()` asserts until
 *   `advance()`. `tick()`, `step()`, `propose()` and friends may be called meanwhile (their
 *   effects go into the next Ready), which is how group commit happens.
 * - A Ready's `snapshot` replaces the state machine: after installing it the application has
 *   applied exactly `snapshot.metadata.index`; committed entries then continue after it.
 * - A committed `confChange` entry is applied by calling `applyConfChange()` while applying it;
 *   persist the returned membership with the applied index (`setConfState`).
 * - Reads and proposals are not tracked across leadership changes: a read that is never
 *   confirmed, or a proposal whose index is overwritten, must be timed out by the caller.
 * - A node joining a cluster must start from the cluster's bootstrap membership (see
 *   `conf-change.ts`), never from an empty one.
 */
export class RawNode {
  private readonly raft: Raft;
  /** The soft state last reported in a Ready. */
  private prevSoftState: SoftState;
  /** The hard state last handed out for persisting (initially the persisted one). */
  private prevHardState: HardState;
  /** The Ready handed out and not yet advanced, or null. */
  private outstanding: Outstanding | null = null;

  /**
   * Restores a node from `config.storage` (hard state, membership, log). `config.applied` is the
   * last index the application applied; committed entries after it are handed out again.
   */
  constructor(config: RaftConfig) {
    this.raft = new Raft(config, roleTable);
    this.prevSoftState = this.raft.softState();
    this.prevHardState = config.storage.initialState().hardState;
  }

  /** Advances the logical clock by one tick (election and heartbeat timeouts count ticks). */
  tick(): void {
    this.raft.tick();
  }

  /**
   * Handles a message from a peer. Messages for another node, malformed ones and stale ones are
   * logged and dropped; peer input never throws.
   */
  step(message: Message): void {
    const r = this.raft;
    if (message.to !== r.id || message.from === r.id) {
      r.logger.warn({ from: message.from, to: message.to, type: message.type }, 'message not addressed to this node from a peer: dropped');
      return;
    }
    const problem = checkMessage(message);
    if (problem !== null) {
      r.logger.warn({ from: message.from, type: message.type, problem }, 'malformed message dropped');
      return;
    }
    r.step(message);
  }

  /** Proposes a command. Throws `ProposalDroppedError` unless this node is a leader able to take it. */
  propose(data: Uint8Array): { index: LogIndex; term: Term } {
    this.requireLeader('proposal');
    return leaderPropose(this.raft, { type: 'normal', data });
  }

  /**
   * Proposes a single-server membership change (Raft thesis §4.1). Throws `ProposalDroppedError`
   * if not leader (or transferring leadership), and `FailedPreconditionError` if a previous change
   * (or this term's no-op) is not applied yet, or if the change is invalid for the membership.
   */
  proposeConfChange(change: ConfChange): { index: LogIndex; term: Term } {
    this.requireLeader('configuration change');
    const r = this.raft;
    if (r.pendingConfIndex > r.raftLog.applied) {
      throw new FailedPreconditionError(`a configuration change (or the term's first entry) at index ${r.pendingConfIndex} is not applied yet (applied ${r.raftLog.applied})`);
    }
    const problem = checkConfChange(r.tracker.confState(), change);
    if (problem !== null) throw new FailedPreconditionError(`invalid configuration change: ${problem}`);
    const proposed = leaderPropose(r, { type: 'confChange', data: encodeConfChange(change) });
    r.pendingConfIndex = proposed.index;
    return proposed;
  }

  /**
   * Applies a committed `confChange` entry's change: call it while applying that entry. Returns
   * the membership now in force, for the application to persist with its applied index.
   */
  applyConfChange(change: ConfChange): ConfState {
    const conf = this.raft.applyConfChange(change);
    if (this.raft.role === 'leader') leaderAfterConfChange(this.raft);
    return conf;
  }

  /**
   * Asks for a linearizable read (Raft thesis §6.4). The confirmed `ReadState` with the same
   * `context` arrives in a later Ready. Throws `ProposalDroppedError` if no leader is known.
   * A read is silently forgotten if leadership changes before it is confirmed: time it out.
   */
  readIndex(context: string): void {
    const r = this.raft;
    if (r.role === 'leader') {
      leaderReadIndex(r, { context, from: r.id });
      return;
    }
    if (r.lead === null) throw new ProposalDroppedError('no leader known for a linearizable read');
    r.send({ type: 'readIndex', to: r.lead, context });
  }

  /** Starts a leadership transfer to `to` (Raft thesis §3.10); a follower forwards it to the leader. */
  transferLeader(to: NodeId): void {
    const r = this.raft;
    if (r.role === 'leader') leaderTransfer(r, to);
    else forwardTransfer(r, to);
  }

  /** The transport failed to deliver to `id`: the leader stops pipelining to it. */
  reportUnreachable(id: NodeId): void {
    if (this.raft.role === 'leader') leaderReportUnreachable(this.raft, id);
  }

  /** The transport finished sending a snapshot to `id`, successfully or not. */
  reportSnapshot(id: NodeId, ok: boolean): void {
    if (this.raft.role === 'leader') leaderReportSnapshot(this.raft, id, ok);
  }

  /** True if `ready()` has work. False while a Ready is outstanding (before `advance()`). */
  hasReady(): boolean {
    if (this.outstanding !== null) return false;
    const r = this.raft;
    const unstable = r.raftLog.unstable;
    return (
      (r.role === 'leader' && (r.readOnly.hasUnflushed() || r.appendsDue)) ||
      !sameSoftState(r.softState(), this.prevSoftState) ||
      !sameHardState(r.hardState(), this.prevHardState) ||
      unstable.nextSnapshot() !== null ||
      unstable.hasNextEntries() ||
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.raftLog.hasNextCommittedEntries()
    );
  }

  /**
   * What the driver must do now, in the order documented in `ready.ts`. At most one Ready is
   * outstanding: call `advance()` before the next `ready()`.
   */
  ready(): Ready {
    assert(this.outstanding === null, 'ready() called again before advance()');
    const r = this.raft;
    const log = r.raftLog;
    flushAppends(r);
    flushReadRounds(r);
    const soft = r.softState();
    const hard = r.hardState();
    const snapshot = log.unstable.nextSnapshot();
    const entries = log.unstable.nextEntries();
    if (snapshot !== null) log.acceptApplying(snapshot.metadata.index);
    const committedEntries = log.nextCommittedEntries(r.applyBytesMax);
    const lastCommitted = committedEntries[committedEntries.length - 1];
    if (lastCommitted !== undefined) log.acceptApplying(lastCommitted.index);
    r.reduceUncommittedBytes(committedEntries);
    log.unstable.acceptInProgress();
    const hardChanged = !sameHardState(hard, this.prevHardState);
    const termOrVoteChanged = hard.term !== this.prevHardState.term || hard.vote !== this.prevHardState.vote;
    const ready: Ready = {
      softState: sameSoftState(soft, this.prevSoftState) ? null : soft,
      hardState: hardChanged ? hard : null,
      entries,
      snapshot,
      messages: r.msgs,
      committedEntries,
      readStates: r.readStates,
      mustSync: snapshot !== null || entries.length > 0 || termOrVoteChanged,
      sendBeforePersist: soft.role === 'leader' && !termOrVoteChanged && snapshot === null,
    };
    r.msgs = [];
    r.readStates = [];
    this.prevSoftState = soft;
    this.prevHardState = hard;
    const last = entries[entries.length - 1];
    this.outstanding = {
      lastEntry: last === undefined ? null : { index: last.index, term: last.term },
      snapshotIndex: snapshot === null ? null : snapshot.metadata.index,
      applying: log.applying,
    };
    return ready;
  }

  /**
   * The driver persisted, sent and applied everything in the last Ready. Marks its entries and
   * snapshot stable and its committed entries applied; a leader now counts its own copy.
   */
  advance(): void {
    const done = this.outstanding;
    assert(done !== null, 'advance() without an outstanding Ready');
    this.outstanding = null;
    const log = this.raft.raftLog;
    if (done.snapshotIndex !== null) log.stableSnapTo(done.snapshotIndex);
    if (done.lastEntry !== null) log.stableTo(done.lastEntry.index, done.lastEntry.term);
    log.appliedTo(done.applying);
    if (this.raft.role === 'leader') leaderSelfAck(this.raft);
  }

  /** The node's current state. */
  status(): RaftStatus {
    return raftStatus(this.raft);
  }

  /** The id of this node. */
  get id(): NodeId {
    return this.raft.id;
  }

  /** The current term; cheap, unlike `status()`, for per-request response headers. */
  get term(): Term {
    return this.raft.term;
  }

  /** True if the log holds an entry at `index` with `term` (the snapshot's last entry included). */
  hasEntry(index: LogIndex, term: Term): boolean {
    return this.raft.raftLog.matchTerm(index, term);
  }

  /** The highest index known to be committed (no allocation, unlike `status()`). */
  get commit(): LogIndex {
    return this.raft.raftLog.committed;
  }

  private requireLeader(what: string): void {
    const r = this.raft;
    if (r.role !== 'leader') {
      throw new ProposalDroppedError(`${what} dropped: not the leader (leader: ${r.lead ?? 'unknown'}, term ${r.term})`);
    }
  }
}
