/**
 * The options of the client's key-value calls, shared by `RaftkvClient` and `Namespace`.
 */
import type { Bytes } from './bytes.js';
import type { RangeAllPaging } from './range-all.js';
import type { KeySelector, RangeShape } from './requests.js';

/** Options every call takes. */
export interface CallOptions {
  /** This call's deadline, in ms (default: the client's `timeoutMs`). */
  readonly timeoutMs?: number;
  /**
   * Aborts the call: the attempt in flight is cancelled and the call rejects with the signal's
   * reason, or with `OutcomeUnknownError` for a write that may already have reached a leader.
   */
  readonly signal?: AbortSignal;
}

/** How a read is served. */
export type ReadConsistency = 'linearizable' | 'stale';

/** Options of reads (`get`, `range`). */
export interface ReadOptions extends CallOptions {
  /** `linearizable` (default): sees every write acknowledged before the read began. `stale`: the answering node's local state, maybe behind. */
  readonly consistency?: ReadConsistency;
  /** Stale reads: refuse answers from a node that cannot prove it is at most this far behind (ms). */
  readonly maxStalenessMs?: number;
  /**
   * Graceful degradation (opt-in): if a linearizable read cannot be served (no quorum, no leader)
   * within 60% of the deadline, answer with a stale read instead. The result says `stale: true`.
   */
  readonly fallbackToStale?: boolean;
}

/** Options of `get`. */
export type GetOptions = ReadOptions;

/** Options of `range`: which keys (`KeySelector`; none selects every key), what to return, and how to read. */
export interface RangeOptions extends KeySelector, RangeShape, ReadOptions {}

/** Options of `put`. */
export interface PutOptions extends CallOptions {
  /** Return the previous key-value in the result. */
  readonly prevKv?: boolean;
  /**
   * Attach the key to this lease (an id, or the handle `kv.lease()` returned): the key is deleted
   * when the lease expires or is revoked. Absent: the key has no lease after the put.
   */
  readonly lease?: number | { readonly id: number };
}

/** Options of `delete`. */
export interface DeleteOptions extends CallOptions {
  /** Return the deleted key-values in the result. */
  readonly prevKv?: boolean;
}

/** Options of `watch`. */
export interface WatchOptions {
  /** Watch every key that starts with `key`. */
  readonly prefix?: boolean;
  /** Watch the span `[key, end)`. */
  readonly end?: Bytes;
  /** Deliver changes from this revision on (inclusive); default: from now. */
  readonly fromRevision?: number;
  /** Include each changed key's previous value (when the server sends it). */
  readonly prevKv?: boolean;
  /** Ends the watch when aborted. */
  readonly signal?: AbortSignal;
}

/** Options of `rangeAll`: how to read each page, and how many keys per page. */
export interface RangeAllOptions extends ReadOptions, RangeAllPaging {
  /** Return keys and metadata without values. */
  readonly keysOnly?: boolean;
}
