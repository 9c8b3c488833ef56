/** The driver's public value types, shared by its parts and by the services around it. */
import type { Mutation } from '../../kv/index.js';
import type { KvSnapshotReader } from '../../storage/index.js';
import type { LogIndex, Revision, Term } from '../../util/index.js';

/** Exactly-once identity of a write (Raft thesis §6.3). An empty clientId means none. */
export interface WriteSession {
  readonly clientId: string;
  readonly seq: number;
  readonly ackSeq: number;
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
