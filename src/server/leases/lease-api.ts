/**
 * The server-side lease API: what a gRPC service (raftkv.v1 `Lease`, etcd's `Lease`) calls. It is
 * shaped so that etcd's Lease RPCs map onto it one to one:
 *
 * | etcd                                   | LeaseApi                                              |
 * | -------------------------------------- | ----------------------------------------------------- |
 * | LeaseGrant{TTL, ID} -> {ID, TTL}        | grant(ttlS, id?) -> {id, ttlS, revision}              |
 * | LeaseRevoke{ID}                         | revoke(id) -> {revision, deleted}                     |
 * | LeaseKeepAlive stream {ID} -> {ID, TTL} | keepAlive(id) -> {id, ttlS} (one call per message)    |
 * | LeaseTimeToLive{ID, keys}               | timeToLive(id, {keys}) -> {id, ttlS, grantedTtlS, keys} |
 * | LeaseLeases -> ids                      | list() -> {ids}                                       |
 *
 * Lease ids are etcd's int64 restricted to [1, 2^53 - 1] (what a JS number holds exactly); a
 * larger id is refused with INVALID_ARGUMENT. Errors are typed (lease-errors.ts):
 * `LeaseNotFoundError`, `LeaseExistsError`, `LeaseTtlOutOfRangeError`, `LeaseLimitError`; and the
 * usual ones: `NotLeaderError` (keepAlive and timeToLive are answered by the leader only: the
 * deadlines live there; grant and revoke are writes), `UnavailableError`, `OutcomeUnknownError`,
 * `DeadlineExceededError`.
 */
import type { WriteSession } from '../driver/types.js';

/** The answer to a grant. */
export interface LeaseGrantAnswer {
  readonly id: number;
  /** The granted TTL: the asked one, raised to the cluster's `leaseTtlSMin`. */
  readonly ttlS: number;
  /** The store revision after the grant (a grant writes no key, so it does not raise it). */
  readonly revision: number;
}

/** The answer to a revoke. */
export interface LeaseRevokeAnswer {
  readonly revision: number;
  /** Keys deleted with the lease (all at `revision`). */
  readonly deleted: number;
}

/** The answer to one keep-alive. */
export interface LeaseKeepAliveAnswer {
  readonly id: number;
  /** The TTL the lease has again from now, in seconds (its granted TTL). */
  readonly ttlS: number;
  readonly revision: number;
}

/** The answer to a time-to-live query. */
export interface LeaseTimeToLiveAnswer {
  readonly id: number;
  /** Seconds left before the lease expires, rounded up (0: expiring now). */
  readonly ttlS: number;
  readonly grantedTtlS: number;
  /** The attached keys when asked for (at most `leaseTimeToLiveKeysMax`), else empty. */
  readonly keys: readonly Uint8Array[];
  /** Attached keys in all (also when `keys` was not asked for, or was cut). */
  readonly keyCount: number;
  readonly revision: number;
}

/** The server-side lease operations (node-lease-api.ts implements them on the node). */
export interface LeaseApi {
  /** Grants a lease; `id` 0 or absent lets the cluster choose. A retried grant with the same session is applied once. */
  grant(ttlS: number, id?: number, options?: LeaseWriteOptions): Promise<LeaseGrantAnswer>;
  /** Revokes a lease, deleting every attached key at one revision. */
  revoke(id: number, options?: LeaseWriteOptions): Promise<LeaseRevokeAnswer>;
  /** Renews a lease to its full TTL from now (leader only). */
  keepAlive(id: number, options?: LeaseCallOptions): Promise<LeaseKeepAliveAnswer>;
  /** A lease's remaining and granted TTL, and its keys if asked (leader only). */
  timeToLive(id: number, options?: LeaseCallOptions & { readonly keys?: boolean }): Promise<LeaseTimeToLiveAnswer>;
  /** Every live lease id, in order (a linearizable read: any node). */
  list(options?: LeaseCallOptions): Promise<{ readonly ids: readonly number[]; readonly revision: number }>;
}

/** Options of every lease call. */
export interface LeaseCallOptions {
  /** How long the call may wait (ReadIndex, proposal), in ms; the node's request timeout if absent. */
  readonly timeoutMs?: number;
}

/** Options of a lease write. */
export interface LeaseWriteOptions extends LeaseCallOptions {
  /** Exactly-once identity (client id and sequence numbers), as for Put. */
  readonly session?: WriteSession;
}
