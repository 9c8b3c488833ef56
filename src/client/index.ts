/**
 * client: the TypeScript client library of raftkv (the package's main export).
 *
 * ```ts
 * import { connect } from 'raftkv';
 * const kv = await connect({ endpoints: '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003' });
 * await kv.put('greeting', 'hello');
 * const r = await kv.get('greeting');
 * console.log(r.found, r.text);
 * kv.close();
 * ```
 */
import { RaftkvClient } from './kv-client.js';
import type { ClientOptions } from './options.js';
import { resolveOptions } from './options.js';

/**
 * Creates a client and finds the leader (waiting at most `discoveryTimeoutMs`). It does not fail
 * when no node answers: calls then fail with typed errors, and the client keeps looking.
 * Throws `InvalidArgumentError` for bad options.
 */
export async function connect(options: ClientOptions): Promise<RaftkvClient> {
  const client = new RaftkvClient(resolveOptions(options));
  await client.discover();
  return client;
}

/** Creates a client without contacting the cluster (it finds the leader on first use). */
export function createClient(options: ClientOptions): RaftkvClient {
  return new RaftkvClient(resolveOptions(options));
}

export { RaftkvClient } from './kv-client.js';
export { TxnBuilder } from './txn-builder.js';
export type { TxnSpec } from './txn-builder.js';
export type { CallOptions, DeleteOptions, GetOptions, PutOptions, RangeAllOptions, RangeOptions, ReadConsistency, ReadOptions, WatchOptions } from './call-options.js';
export type { KeyValueApi } from './kv-api.js';
export { Namespace } from './namespace.js';
export { rangePageSizeDefault, rangePageSizeMax } from './range-all.js';
export type { BackupChunk, BackupInfo, BackupOptions } from './backup.js';
export type { ClientOptions } from './options.js';
export { defaultEndpoints, parseEndpoint, parseEndpoints } from './options.js';
export type { EndpointSpec } from './options.js';
export type { ClientTlsOptions } from './tls.js';
export { clientCredentials, endpointSchemes, resolveTls } from './tls.js';
export type { Bytes } from './bytes.js';
export { isUtf8, utf8 } from './bytes.js';
export { compare, op } from './requests.js';
export type { Compare, CompareOp, CompareTargetName, KeySelector, RangeShape, TxnOp } from './requests.js';
export { KeyValue } from './results.js';
export type { Answered, CasResult, DeleteResult, Freshness, GetFound, GetMissing, GetResult, PutResult, RangeResult, TxnOpResult, TxnResult } from './results.js';
export { Watch } from './watch.js';
export { Lease, LeaseClient } from './lease.js';
export type { LeaseLostReason, LeaseOptions, LeaseTimeToLive } from './lease.js';
export { lockTtlSDefault } from './lock.js';
export type { Lock, LockOptions } from './lock.js';
export { Election } from './election.js';
export type { ElectionOptions } from './election.js';
export type { WatchEvent } from './watch.js';
export { leaderTransferTimeoutDefaultMs, membershipTimeoutDefaultMs } from './cluster-api.js';
export type { AdminCallOptions, AlarmEntry, ClusterApi, EndpointStatus, LeaderTransferResult, Member, MemberToAdd, NodeRole, NodeStatus, StatusOptions } from './cluster-api.js';
export { packageInfo } from '../api/package-info.js';
export type { AttemptDoneEvent, AttemptEvent, BreakerStateChangeEvent, ClientHooks, LeaderChangeEvent, RetryEvent, WatchResumeEvent } from './hooks.js';
export type { BackoffOptions } from './backoff.js';
export type { RetryBudgetOptions } from './retry-budget.js';
export type { BreakerState, CircuitBreakerOptions } from './circuit-breaker.js';
export {
  AlreadyExistsError,
  CompactedError,
  CorruptionError,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  isErrorCode,
  NotFoundError,
  NotLeaderError,
  OutcomeUnknownError,
  OverloadedError,
  PermissionDeniedError,
  RaftkvError,
  SessionExpiredError,
  UnauthenticatedError,
  UnavailableError,
} from './errors.js';
export { TokenSource, tokenRefreshMarginMs } from './credentials.js';
export type { UserCredentials } from './credentials.js';
export type { ErrorCode, WriteOutcome } from './errors.js';
export type { Logger } from '../util/index.js';
