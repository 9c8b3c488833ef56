/**
 * The storage interface shared by the in-memory storage (simulation, tests) and the LevelDB
 * storage (the node). The core reads through `RaftStorage` synchronously; the driver writes
 * through `DurableRaftStorage`. One conformance suite (test/storage-conformance.ts) runs against
 * every implementation.
 *
 * Index conventions (as in etcd-io/raft): the storage holds a snapshot at `firstIndex() - 1`
 * (index 0, term 0 for a new log) and entries `[firstIndex(), lastIndex()]`. `term(firstIndex() - 1)`
 * is the snapshot's term and is always available.
 */
import type { LogIndex, Term } from '../util/index.js';
import type { ConfState, Entry, HardState, Snapshot } from './types.js';

/** What a node recovers at start-up. */
export interface InitialState {
  readonly hardState: HardState;
  /** The membership as of the last applied configuration change or snapshot. */
  readonly confState: ConfState;
}

/** Options for reading a range of entries. */
export interface EntriesQuery {
  /** First index wanted (inclusive). */
  readonly lo: LogIndex;
  /** One past the last index wanted (exclusive). */
  readonly hi: LogIndex;
  /** Stop once this many bytes of entry data are collected; at least one entry is always returned. */
  readonly bytesMax: number;
}

/** The read side of Raft's storage, used by the core. Every method is synchronous. */
export interface RaftStorage {
  /** The persisted hard state and membership. */
  initialState(): InitialState;
  /**
   * Entries `[lo, hi)`, cut at `bytesMax` (but never empty when `lo < hi`).
   * Throws `CompactedError` if `lo < firstIndex()`; asserts `hi <= lastIndex() + 1`.
   */
  entries(query: EntriesQuery): readonly Entry[];
  /** The term of the entry at `index`, for `firstIndex() - 1 <= index <= lastIndex()`. Throws `CompactedError` below. */
  term(index: LogIndex): Term;
  /** The first index still in the log (the snapshot's index + 1). */
  firstIndex(): LogIndex;
  /** The last index in the log (the snapshot's index if the log is empty). */
  lastIndex(): LogIndex;
  /** The most recent snapshot. */
  snapshot(): Snapshot;
}

/** What one Ready asks to persist: written atomically, and durably (fsync) before it resolves. */
export interface PersistBatch {
  readonly hardState: HardState | null;
  /** Entries to append; any stored entries at or after `entries[0].index` are replaced. */
  readonly entries: readonly Entry[];
  /** A snapshot to install first: every entry up to its index is discarded, unless kept by Figure 13's rule. */
  readonly snapshot: Snapshot | null;
  /**
   * Whether the batch must be fsynced (default true). Pass the Ready's `mustSync`: a batch that
   * only moves the commit index may be written without fsync.
   */
  readonly sync?: boolean;
}

/** The write side, used by the driver loop. */
export interface DurableRaftStorage extends RaftStorage {
  /**
   * Persists one Ready's hard state, entries and snapshot in one batch, synced unless
   * `batch.sync` is false.
   */
  persist(batch: PersistBatch): Promise<void>;
  /**
   * Records a snapshot the application took at `index` (which must be applied and in the log),
   * with the membership `conf` as of that index. Does not compact the log.
   */
  createSnapshot(index: LogIndex, conf: ConfState, data: Uint8Array): Promise<Snapshot>;
  /**
   * Discards every entry up to and including `index`, which must be <= the latest snapshot's index.
   * Afterwards `firstIndex() === index + 1` and `term(index)` is still answered.
   */
  compact(index: LogIndex): Promise<void>;
  /** Records the membership after the application applied a configuration change. */
  setConfState(conf: ConfState): Promise<void>;
}
