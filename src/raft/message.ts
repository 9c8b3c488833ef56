/**
 * Raft messages between peers: a readonly union tagged by `type`. Dispatch with a `switch` that
 * ends in `unreachable(m)` so a new message type cannot be forgotten.
 */
import type { LogIndex, NodeId, Term } from '../util/index.js';
import type { Entry, Snapshot } from './types.js';

/** Fields every message has. */
interface MessageBase {
  readonly from: NodeId;
  readonly to: NodeId;
  /** The sender's term. Messages from older terms are ignored (with the exceptions in Raft thesis §9.6). */
  readonly term: Term;
}

/** RequestVote, or the pre-vote probe (Raft thesis §9.6) sent with `term` = the candidate's term + 1. */
export interface VoteMessage extends MessageBase {
  readonly type: 'vote' | 'preVote';
  readonly lastLogIndex: LogIndex;
  readonly lastLogTerm: Term;
  /** Set when the election follows a leader transfer: voters skip the leader-lease check. */
  readonly transfer: boolean;
}

/** The answer to a vote or pre-vote. */
export interface VoteResponseMessage extends MessageBase {
  readonly type: 'voteResponse' | 'preVoteResponse';
  readonly reject: boolean;
}

/** AppendEntries (Raft paper §5.3). */
export interface AppendMessage extends MessageBase {
  readonly type: 'append';
  readonly prevLogIndex: LogIndex;
  readonly prevLogTerm: Term;
  readonly entries: readonly Entry[];
  /** The leader's commit index. */
  readonly commit: LogIndex;
}

/**
 * The answer to an append. On success `index` is the last index now matching the leader.
 * On rejection `index` is the rejected `prevLogIndex`, and `rejectHint`/`hintTerm` let the leader
 * skip a whole conflicting term at once (fast backtracking, Raft paper §5.3 last paragraphs).
 */
export interface AppendResponseMessage extends MessageBase {
  readonly type: 'appendResponse';
  readonly index: LogIndex;
  readonly reject: boolean;
  readonly rejectHint: LogIndex;
  readonly hintTerm: Term;
}

/** A heartbeat. `context` is set when it confirms leadership for pending ReadIndex requests. */
export interface HeartbeatMessage extends MessageBase {
  readonly type: 'heartbeat';
  readonly commit: LogIndex;
  readonly context: string;
}

/** The answer to a heartbeat, echoing its context. */
export interface HeartbeatResponseMessage extends MessageBase {
  readonly type: 'heartbeatResponse';
  readonly context: string;
}

/** InstallSnapshot (Raft paper §7). */
export interface SnapshotMessage extends MessageBase {
  readonly type: 'snapshot';
  readonly snapshot: Snapshot;
}

/** A follower's ReadIndex request, forwarded to the leader (Raft thesis §6.4). */
export interface ReadIndexMessage extends MessageBase {
  readonly type: 'readIndex';
  readonly context: string;
}

/** The leader's answer to a forwarded ReadIndex: the confirmed read index. */
export interface ReadIndexResponseMessage extends MessageBase {
  readonly type: 'readIndexResponse';
  readonly index: LogIndex;
  readonly context: string;
}

/** Leader transfer: tells the target to start an election at once (Raft thesis §3.10). */
export interface TimeoutNowMessage extends MessageBase {
  readonly type: 'timeoutNow';
}

/** A follower forwards a leadership transfer request to the leader. */
export interface TransferLeaderMessage extends MessageBase {
  readonly type: 'transferLeader';
  readonly transferee: NodeId;
}

/** Every message the core sends or receives. */
export type Message =
  | VoteMessage
  | VoteResponseMessage
  | AppendMessage
  | AppendResponseMessage
  | HeartbeatMessage
  | HeartbeatResponseMessage
  | SnapshotMessage
  | ReadIndexMessage
  | ReadIndexResponseMessage
  | TimeoutNowMessage
  | TransferLeaderMessage;

/** The tag of every message type. */
export type MessageType = Message['type'];
