/**
 * The Raft core's data types: log entries, hard state, membership and snapshots.
 * All are plain readonly data so they can be compared, printed and persisted without ceremony.
 */
import type { LogIndex, NodeId, Term } from '../util/index.js';

/** What an entry carries. `normal` entries hold application commands (empty data: a leader's no-op). */
export type EntryType = 'normal' | 'confChange';

/** One Raft log entry. */
export interface Entry {
  /** The term of the leader that created the entry. */
  readonly term: Term;
  /** Its position in the log (from 1). */
  readonly index: LogIndex;
  /** Normal command or membership change. */
  readonly type: EntryType;
  /** The command, opaque to the core (a `confChange` entry holds an encoded `ConfChange`). */
  readonly data: Uint8Array;
}

/**
 * The state Raft must persist before it answers anyone (Raft paper, Figure 2: currentTerm,
 * votedFor; plus the commit index, which is safe to persist lazily and saves work on restart).
 */
export interface HardState {
  /** The latest term this node has seen. */
  readonly term: Term;
  /** The candidate this node voted for in `term`, or null. */
  readonly vote: NodeId | null;
  /** The highest index known to be committed. */
  readonly commit: LogIndex;
}

/** The membership: voters decide elections and commits; learners only receive the log. */
export interface ConfState {
  /** Voting members. Invariant: disjoint from `learners`. */
  readonly voters: readonly NodeId[];
  /** Non-voting members (Raft thesis §4.2.1: catching up new servers). */
  readonly learners: readonly NodeId[];
}

/**
 * A single-server membership change (Raft thesis §4.1). `addVoter` also promotes a learner.
 */
export interface ConfChange {
  readonly type: 'addVoter' | 'addLearner' | 'removeNode';
  readonly nodeId: NodeId;
  /** Opaque application data (the node puts the member's peer and client address here). */
  readonly context: Uint8Array;
}

/** What a snapshot stands for: the state after applying every entry up to `index`. */
export interface SnapshotMetadata {
  /** The last index the snapshot includes. */
  readonly index: LogIndex;
  /** The term of the entry at `index`. */
  readonly term: Term;
  /** The membership as of `index`. */
  readonly conf: ConfState;
}

/**
 * A snapshot of the state machine. `data` is opaque to the core. The in-memory simulation puts
 * the whole state in it; the node may leave it empty and stream its state separately.
 */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

/** The role a node plays in its current term. */
export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader';

/** A linearizable read whose read index the leader has confirmed (Raft thesis §6.4). */
export interface ReadState {
  /** The commit index at the time the read was confirmed: apply up to here, then read. */
  readonly index: LogIndex;
  /** The context passed to `readIndex()`. */
  readonly context: string;
}

/** Volatile state that is useful to the application but never persisted. */
export interface SoftState {
  /** The leader this node knows for the current term, or null. */
  readonly leader: NodeId | null;
  readonly role: Role;
}

/** The empty hard state of a brand-new node. */
export const emptyHardState: HardState = Object.freeze({ term: 0 as Term, vote: null, commit: 0 as LogIndex });
