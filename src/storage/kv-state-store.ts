/**
 * The persistence contract of the node's state machine: what `server/` calls to make applied
 * entries durable, to load the state at start-up, to stream a point-in-time copy of it (snapshots
 * to followers, online backups) and to replace it with an incoming snapshot. `LevelStorage`
 * implements it next to the Raft log, in the same LevelDB database.
 */
import type { LogIndex, Revision } from '../util/index.js';
import type { ConfState } from '../raft/index.js';
import type { KeyValue, KvStateImage, Mutation, SessionRecord } from '../kv/index.js';

/** What applying one or more committed entries changed; written in ONE LevelDB batch. */
export interface KvApplyBatch {
  /** The index of the last entry these mutations come from. Invariant: grows with every batch. */
  readonly appliedIndex: LogIndex;
  /** The store's revision after these mutations. */
  readonly revision: Revision;
  /** The state machine's clock after these entries (`ApplyOutcome.clockMs`). Invariant: never goes down. */
  readonly clockMs: number;
  /** The changes, in order (a later mutation of the same key wins). */
  readonly mutations: readonly Mutation[];
  /** The membership after a configuration change among these entries, if any. */
  readonly confState?: ConfState;
}

/** Options of `applyBatch`. */
export interface ApplyBatchOptions {
  /**
   * Fsync the batch. Default TRUE. Unsynced, the batch is durable only if a later synced write
   * lands in the same LevelDB write-ahead log file; after a rotation a later batch (carrying a
   * higher applied index) can survive a power loss while this one is lost, and the stored applied
   * index would claim writes that are not there. `false` is only safe when nothing written after
   * it can outlive it (no caller does that today).
   */
  readonly sync?: boolean;
}

/** One record of a KV snapshot stream. */
export type KvSnapshotRecord =
  | { readonly type: 'kv'; readonly kv: KeyValue }
  | { readonly type: 'session'; readonly session: SessionRecord };

/**
 * A consistent, point-in-time view of the state machine, taken when `kvSnapshotIterator()` was
 * called; writes that follow are not seen. Iterate it once (all `kv` records in key order, then all
 * `session` records), then it closes itself; call `close()` to stop early.
 */
export interface KvSnapshotReader extends AsyncIterable<KvSnapshotRecord> {
  /** The applied index of the state this reader shows. */
  readonly appliedIndex: LogIndex;
  /** The revision of the state this reader shows. */
  readonly revision: Revision;
  /** The state machine's clock in the state this reader shows. */
  readonly clockMs: number;
  /** The stored membership at the same point in time. */
  readonly confState: ConfState;
  /** Releases the underlying LevelDB snapshot. Idempotent. */
  close(): Promise<void>;
}

/** A state to install: like `KvStateImage`, but the records may also arrive as a stream. */
export interface KvStateSource {
  readonly appliedIndex: LogIndex;
  readonly revision: Revision;
  readonly clockMs: number;
  readonly kvs: Iterable<KeyValue> | AsyncIterable<KeyValue>;
  readonly sessions: Iterable<SessionRecord> | AsyncIterable<SessionRecord>;
}

/**
 * Whether the stored state machine can be used as is.
 * - `ok`: load it and re-apply the log from `appliedIndex + 1`.
 * - `restoreInterrupted`: a `replaceKvState` did not finish (crash or error midway); the KV data
 *   is a mix of old and new records and is never served. Fetch a snapshot and replace again.
 * - `behindLog`: the applied index is below the compaction point, so the entries needed to catch
 *   up are gone (a crash after an incoming snapshot was persisted but before its state was
 *   installed). Fetch a snapshot at or after `firstIndex - 1` and replace.
 */
export type KvRecovery =
  | { readonly status: 'ok' }
  | { readonly status: 'restoreInterrupted'; readonly targetIndex: LogIndex }
  | { readonly status: 'behindLog'; readonly appliedIndex: LogIndex; readonly firstIndex: LogIndex };

/** The durable store of the node's state machine. */
export interface KvStateStore {
  /** The applied index of the stored state. */
  kvAppliedIndex(): LogIndex;
  /** The revision of the stored state. */
  kvRevision(): Revision;
  /** The state machine's clock in the stored state. */
  kvClockMs(): number;
  /** Whether the stored state is usable; see `KvRecovery`. */
  kvRecovery(): KvRecovery;
  /** Writes mutations, applied index, revision, clock and (optionally) membership in ONE batch. */
  applyBatch(batch: KvApplyBatch, options?: ApplyBatchOptions): Promise<void>;
  /** Reads the whole stored state (start-up). Refuses unless `kvRecovery()` is `ok`. */
  loadKvImage(): Promise<KvStateImage>;
  /** A point-in-time reader of the stored state, taken now; writes may continue meanwhile. */
  kvSnapshotIterator(): Promise<KvSnapshotReader>;
  /** Atomically (as seen after any crash) replaces the whole stored state with `source`. */
  replaceKvState(source: KvStateSource): Promise<void>;
}
