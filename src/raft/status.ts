/** A snapshot of a node's Raft state, for the application, metrics, tests and the simulator. */
import type { LogIndex, NodeId, Term } from '../util/index.js';
import type { ProgressState } from './progress.js';
import type { Raft } from './raft.js';
import type { ConfState, Role } from './types.js';

/** The leader's view of one member's replication. */
export interface ProgressStatus {
  /** The highest index known to match the leader's log. */
  readonly match: LogIndex;
  /** The next index the leader will send. */
  readonly next: LogIndex;
  /** How the leader currently replicates to it. */
  readonly state: ProgressState;
}

/** What `RawNode.status()` reports. */
export interface RaftStatus {
  /** This node's id. */
  readonly id: NodeId;
  /** The current term. */
  readonly term: Term;
  /** The vote cast in `term`, or null. */
  readonly vote: NodeId | null;
  /** The commit index. */
  readonly commit: LogIndex;
  /** The index the application has applied (as acknowledged by `advance()`). */
  readonly applied: LogIndex;
  /** The known leader of `term`, or null. */
  readonly leader: NodeId | null;
  /** The role in `term`. */
  readonly role: Role;
  /** The membership in force. */
  readonly conf: ConfState;
  /** The last index of the log (persisted or not). */
  readonly lastIndex: LogIndex;
  /** The first index still in the log. */
  readonly firstIndex: LogIndex;
  /** On the leader, every member's progress (including its own); null elsewhere. */
  readonly progress: ReadonlyMap<NodeId, ProgressStatus> | null;
}

/** Builds the status of `r`. */
export function raftStatus(r: Raft): RaftStatus {
  let progress: Map<NodeId, ProgressStatus> | null = null;
  if (r.role === 'leader') {
    progress = new Map();
    for (const [id, pr] of r.tracker.progress) progress.set(id, { match: pr.match, next: pr.next, state: pr.state });
  }
  return {
    id: r.id,
    term: r.term,
    vote: r.vote,
    commit: r.raftLog.committed,
    applied: r.raftLog.applied,
    leader: r.lead,
    role: r.role,
    conf: r.tracker.confState(),
    lastIndex: r.raftLog.lastIndex(),
    firstIndex: r.raftLog.firstIndex(),
    progress,
  };
}
