/**
 * The replicated key-value state machine's data types. Keys and values are bytes. Every write
 * raises the global revision by one; each key records the revision that created it, the revision
 * that last changed it, and how many times it was written since creation (etcd's MVCC model).
 */
import type { LogIndex, Revision } from '../util/index.js';

/** One live key and its metadata. */
export interface KeyValue {
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  /** The revision of the put that created the key (since its last deletion). */
  readonly createRevision: Revision;
  /** The revision of the last put to the key. */
  readonly modRevision: Revision;
  /** Number of puts since creation: 1 after the first. */
  readonly version: number;
  /** The lease the key is attached to (lease.ts); absent when it has none. */
  readonly lease?: number;
}

/** Selects keys: one key, `[key, rangeEnd)`, or (with `prefix`) every key starting with `key`. */
export interface KeyRange {
  readonly key: Uint8Array;
  /** Exclusive end of the range; absent for a single key. An empty array means "to the end". */
  readonly rangeEnd?: Uint8Array;
  /** Select every key starting with `key` (overrides `rangeEnd`). */
  readonly prefix?: boolean;
}

/** Put `value` at `key`. */
export interface PutOp {
  readonly type: 'put';
  readonly key: Uint8Array;
  readonly value: Uint8Array;
  /** Return the previous key-value in the response. */
  readonly prevKv?: boolean;
  /**
   * Attach the key to this lease (lease.ts), replacing any previous attachment; absent: the key
   * has no lease after the put. A lease that does not exist refuses the whole command (NOT_FOUND).
   */
  readonly lease?: number;
  /**
   * Keep the key's current value (etcd's ignore_value; `value` is then empty). The key must exist
   * when the put runs, or the whole command is refused (NOT_FOUND).
   */
  readonly ignoreValue?: boolean;
  /** Keep the key's current lease, or none (etcd's ignore_lease; `lease` is then absent); the key must exist. */
  readonly ignoreLease?: boolean;
}

/** Delete a key or a range of keys. */
export interface DeleteOp extends KeyRange {
  readonly type: 'delete';
  readonly prevKv?: boolean;
}

/** Read a key or a range of keys (inside a transaction, or as a read-only query). */
export interface RangeOp extends KeyRange {
  readonly type: 'range';
  /** Most keys to return (0 = the server's limit). */
  readonly limit?: number;
  readonly keysOnly?: boolean;
  readonly countOnly?: boolean;
}

/**
 * A transaction guard (etcd's Compare): one key, or with `rangeEnd` every live key in
 * `[key, rangeEnd)` (an empty `rangeEnd` means "every key >= key").
 *
 * Over a range the compare holds only if it holds for EVERY live key in it; a range holding no key
 * is judged as one missing key (so a value compare on it holds only for `!=`, and
 * `createRevision = 0` holds), which is etcd's `applyCompare` once its VALUE rule is added (the
 * etcd adapter adds it, etcd-txn.ts). A range compare visits at most `compareRangeKeysMax` keys
 * (txn-limits.ts): a range with more live keys refuses the command (INVALID_ARGUMENT).
 */
export interface Compare {
  readonly key: Uint8Array;
  readonly target: 'value' | 'version' | 'modRevision' | 'createRevision' | 'lease';
  readonly op: '=' | '!=' | '<' | '>';
  /**
   * For `value`: bytes. For the others: a number (a missing key has version 0 and revisions 0;
   * `lease` is the attached lease's id, 0 for a key without a lease or a missing key).
   */
  readonly value: Uint8Array | number;
  /** Exclusive end of the compared range; absent for a single key. Empty: every key >= `key`. */
  readonly rangeEnd?: Uint8Array;
}

/** An operation allowed in a txn branch: a nested txn too (etcd's RequestOp.request_txn). */
export type TxnBranchOp = PutOp | DeleteOp | RangeOp | TxnOp;

/**
 * If every compare holds, apply `success`, else `failure`; atomically, at one revision.
 *
 * A nested txn in the chosen branch decides ITS branch on the state before the outer txn ran any
 * operation (etcd's `compareToPath`): every compare of the tree is judged first, on one view; then
 * the chosen operations run in order. Nesting is bounded by `txnNestingDepthMax` (txn-limits.ts),
 * and compares and operations of the whole tree (a nested txn counting as one operation besides
 * its own) by the cluster's `txnOpsMax`.
 */
export interface TxnOp {
  readonly type: 'txn';
  readonly compares: readonly Compare[];
  readonly success: readonly TxnBranchOp[];
  readonly failure: readonly TxnBranchOp[];
}

/**
 * Create a lease (lease.ts). `id` 0 lets the state machine choose one; `ttlS` below the cluster's
 * `leaseTtlSMin` is raised to it (etcd does the same), above `leaseTtlSMax` it is refused.
 */
export interface LeaseGrantOp {
  readonly type: 'leaseGrant';
  readonly id: number;
  readonly ttlS: number;
}

/** Remove a lease and delete every key attached to it, at one revision (NOT_FOUND if it does not exist). */
export interface LeaseRevokeOp {
  readonly type: 'leaseRevoke';
  readonly id: number;
}

/** Every write operation a command can carry. */
export type WriteOp = PutOp | DeleteOp | TxnOp | LeaseGrantOp | LeaseRevokeOp;

/**
 * What a client write proposes through Raft. `clientId`/`seq` make it exactly-once (Raft thesis
 * §6.3): `ackSeq` says the client has received answers for every seq <= ackSeq, so their saved
 * responses can be dropped. `timeMs` is the proposing leader's clock, the only clock the pure state
 * machine sees (it drives session expiry identically on every replica).
 */
export interface KvCommand {
  readonly clientId: string;
  readonly seq: number;
  readonly ackSeq: number;
  readonly timeMs: number;
  readonly op: WriteOp;
}

/** The answer to a put. */
export interface PutResult {
  readonly type: 'put';
  readonly revision: Revision;
  readonly prevKv: KeyValue | null;
}

/** The answer to a delete. */
export interface DeleteResult {
  readonly type: 'delete';
  readonly revision: Revision;
  readonly deleted: number;
  readonly prevKvs: readonly KeyValue[];
}

/** The answer to a range read. */
export interface RangeResult {
  readonly type: 'range';
  readonly revision: Revision;
  readonly kvs: readonly KeyValue[];
  /** Keys in the range (regardless of `limit`). */
  readonly count: number;
  /** True if `limit` cut the result. */
  readonly more: boolean;
}

/** The answer to a transaction. */
export interface TxnResult {
  readonly type: 'txn';
  readonly revision: Revision;
  readonly succeeded: boolean;
  /** One result per operation of the chosen branch, in order (a nested txn's is a TxnResult). */
  readonly results: readonly TxnBranchResult[];
}

/** The answer to one operation of a txn branch. */
export type TxnBranchResult = PutResult | DeleteResult | RangeResult | TxnResult;

/** The answer to a lease grant: the lease's id and its granted TTL (after raising it to the minimum). */
export interface LeaseGrantResult {
  readonly type: 'leaseGrant';
  readonly revision: Revision;
  readonly id: number;
  readonly ttlS: number;
}

/** The answer to a lease revoke: how many attached keys it deleted. */
export interface LeaseRevokeResult {
  readonly type: 'leaseRevoke';
  readonly revision: Revision;
  readonly id: number;
  readonly deleted: number;
}

/**
 * A write refused by the state machine (a limit or quota, a stale sequence number); deterministic
 * on every replica. A refused write changed nothing. One exception, for exactly-once replay only: a
 * retried write whose first answer was too large to keep gets FAILED_PRECONDITION saying it WAS
 * applied and its answer was not kept (see `savedResultBytesMax`).
 */
export interface ErrorResult {
  readonly type: 'error';
  /**
   * `SESSION_EXPIRED`: a write that may be a retry of one applied under a session that expired or
   * was evicted (retired-sessions.ts); its outcome is unknown and it was not applied now (Raft
   * thesis §6.3).
   */
  readonly code: 'INVALID_ARGUMENT' | 'OVERLOADED' | 'FAILED_PRECONDITION' | 'SESSION_EXPIRED' | 'NOT_FOUND' | 'ALREADY_EXISTS';
  readonly message: string;
}

/** The answer to a `setClusterLimits` cluster command (never saved in a session). */
export interface ClusterLimitsResult {
  readonly type: 'clusterLimits';
  /** The cluster limits after the command. */
  readonly limits: ClusterLimits;
  /** The index of the entry that set them (0 if never set). */
  readonly setIndex: number;
  /** False if the command changed nothing (an `ifUnset` command on limits already set). */
  readonly changed: boolean;
}

/** The answer to an `auth` cluster command that was applied (a refused one is an ErrorResult). */
export interface AuthResult {
  readonly type: 'auth';
  /** The index of the entry (the auth state's `setIndex` after it). */
  readonly setIndex: number;
}

/** An alarm type (alarm-state.ts): a full or failing disk, or a replica whose state diverged. */
export type AlarmType = 'nospace' | 'corrupt';

/** One raised alarm of the replicated list (alarm-state.ts). */
export interface Alarm {
  readonly member: string;
  readonly type: AlarmType;
  /** The index of the entry that raised it. */
  readonly raisedIndex: number;
  /** Why, in words (the disk error, the digests that differed). */
  readonly reason: string;
}

/** The answer to an `alarm` cluster command (alarm-state.ts). */
export interface AlarmResult {
  readonly type: 'alarm';
  /** The alarm list after the command. */
  readonly alarms: readonly Alarm[];
  /** False if the command changed nothing (the alarm was already raised, or none matched). */
  readonly changed: boolean;
}

/** The answer to a `memberUpdate` cluster command (member-update.ts): the addresses to record. */
export interface MemberUpdateResult {
  readonly type: 'memberUpdate';
  readonly member: string;
  readonly peerAddress: string;
  /** '' keeps the client address the address book has. */
  readonly clientAddress: string;
}

/** The answer to a write command. */
export type WriteResult = PutResult | DeleteResult | TxnResult | LeaseGrantResult | LeaseRevokeResult | ErrorResult | ClusterLimitsResult | AuthResult | AlarmResult | MemberUpdateResult;

/** A client session: the saved answers that make retried writes exactly-once. */
export interface SessionRecord {
  readonly clientId: string;
  /** Every seq <= ackSeq has been answered and acknowledged by the client. */
  readonly ackSeq: number;
  /** Encoded `WriteResult`s of applied seqs > ackSeq, by seq. */
  readonly responses: readonly { readonly seq: number; readonly result: Uint8Array }[];
  /** `timeMs` of the last command from this client: the session expires sessionTtlMs after it. */
  readonly lastSeenMs: number;
}

/**
 * One change the state machine made while applying an entry. The node writes all mutations of an
 * entry and the new applied index and revision in ONE LevelDB batch.
 */
export type Mutation =
  /** `prev`: the key before the command, if it existed (for watchers; never persisted). */
  | { readonly type: 'putKey'; readonly kv: KeyValue; readonly prev?: KeyValue }
  | { readonly type: 'deleteKey'; readonly key: Uint8Array; readonly prev?: KeyValue }
  | { readonly type: 'putSession'; readonly session: SessionRecord }
  | { readonly type: 'deleteSession'; readonly clientId: string };

/** What applying one entry produced. */
export interface ApplyOutcome {
  /** The answer for the client (a duplicate gets the saved answer). */
  readonly result: WriteResult;
  /** The changes to persist with `appliedIndex`, `revision` and `clockMs`. Empty for a duplicate. */
  readonly mutations: readonly Mutation[];
  /** True if this was a retried command answered from its session. */
  readonly duplicate: boolean;
  readonly appliedIndex: LogIndex;
  readonly revision: Revision;
  /**
   * The state machine's clock after this entry: the largest `KvCommand.timeMs` applied so far.
   * Added to the contract: it decides session expiry, so it is replicated state and must be
   * persisted with `appliedIndex` (LevelDB `kv-meta/clockMs`) and restored in the image.
   */
  readonly clockMs: number;
  /**
   * Set when the entry's data did not decode (or had an unknown format): the result is an
   * INVALID_ARGUMENT error, the same on every replica, and nothing but `appliedIndex` changed.
   * The driver logs it at error level and counts it.
   */
  readonly undecodable?: true;
}

/** The full persisted state, as loaded at start-up or carried in a snapshot. */
export interface KvStateImage {
  readonly appliedIndex: LogIndex;
  readonly revision: Revision;
  /** The state machine's clock (see `ApplyOutcome.clockMs`). Added to the contract. */
  readonly clockMs: number;
  /** The live keys; storage hands out a `LoadedKeys` (loaded-keys.ts), which the state machine adopts without a copy. */
  readonly kvs: Iterable<KeyValue>;
  /** Client sessions, the auth record once auth was changed (auth-state.ts) and the cluster limits record once limits were set (cluster-limits.ts). */
  readonly sessions: Iterable<SessionRecord>;
}

/** The limits every replica must agree on (kv/cluster-limits.ts). Units as in util's `Limits`. */
export interface ClusterLimits {
  readonly keyBytesMax: number;
  readonly valueBytesMax: number;
  readonly requestBytesMax: number;
  readonly txnOpsMax: number;
  readonly rangeKeysMax: number;
  readonly dataBytesMax: number;
  readonly sessionsMax: number;
  /** A client session expires once the replicated clock passes its last write by more than this. */
  readonly sessionTtlMs: number;
  /** Most live leases; a grant beyond it is refused (OVERLOADED). */
  readonly leasesMax: number;
  /** Most keys attached to one lease; a put that would attach more is refused (OVERLOADED). */
  readonly leaseKeysMax: number;
  /** Shortest lease TTL in seconds: a shorter grant is raised to it. */
  readonly leaseTtlSMin: number;
  /** Longest lease TTL in seconds: a longer grant is refused (INVALID_ARGUMENT). */
  readonly leaseTtlSMax: number;
}

/** The cluster limits as the state machine holds them. */
export interface ClusterSettings {
  readonly limits: ClusterLimits;
  /** The index of the committed entry that set them; 0 while no entry did (the state machine's initial values). */
  readonly setIndex: number;
}

