/**
 * Expected failures, as typed errors with stable codes (after abstract-level). Codes are part of
 * the public contract: `server/` maps them to gRPC statuses and `client/` maps them back.
 */

/** Every stable error code raftkv uses. */
export type ErrorCode =
  | 'NOT_LEADER'
  | 'UNAVAILABLE'
  | 'OUTCOME_UNKNOWN'
  | 'INVALID_ARGUMENT'
  | 'OVERLOADED'
  | 'DEADLINE_EXCEEDED'
  | 'NOT_FOUND'
  | 'COMPACTED'
  | 'PROPOSAL_DROPPED'
  | 'CORRUPTION'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'SESSION_EXPIRED'
  | 'UNAUTHENTICATED'
  | 'PERMISSION_DENIED';

/** Whether a failed write may have been applied. */
export type WriteOutcome = 'not_applied' | 'unknown';

/** Base class of all expected raftkv errors. */
export abstract class RaftkvError extends Error {
  /** The stable, machine-readable code. */
  abstract readonly code: ErrorCode;
}

/** This node is not the leader. `leaderHint` names the leader when it is known. */
export class NotLeaderError extends RaftkvError {
  readonly code = 'NOT_LEADER';
  constructor(
    /** The id of the current leader, if known. */
    readonly leaderId: string | null,
    /** The client address of the current leader, if known. */
    readonly leaderAddress: string | null = null,
  ) {
    super(leaderId === null ? 'not the leader, and no leader is known' : `not the leader; the leader is ${leaderId}${leaderAddress ? ` at ${leaderAddress}` : ''}`);
  }
}

/** No leader or no quorum: the request was certainly not applied. */
export class UnavailableError extends RaftkvError {
  readonly code = 'UNAVAILABLE';
  readonly outcome: WriteOutcome = 'not_applied';
}

/** A write was in flight when leadership was lost or the node stopped: it may or may not apply. */
export class OutcomeUnknownError extends RaftkvError {
  readonly code = 'OUTCOME_UNKNOWN';
  readonly outcome: WriteOutcome = 'unknown';
}

/**
 * An exactly-once write that may be a retry of one applied under a session the cluster no longer
 * has (it expired or was evicted while the client retried): it was not applied now and may have
 * been applied before, so its outcome is unknown (Raft thesis §6.3). Retrying the same seq cannot
 * help; read to find out. Later seqs of the client start a new session.
 */
export class SessionExpiredError extends RaftkvError {
  readonly code = 'SESSION_EXPIRED';
  readonly outcome: WriteOutcome = 'unknown';
}

/** Bad input: names the field and, where one applies, the limit. Nothing was changed. */
export class InvalidArgumentError extends RaftkvError {
  readonly code = 'INVALID_ARGUMENT';
  constructor(
    /** The offending field. */
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
  }
}

/** A bounded queue or quota is full. The request was not applied; retry after `retryAfterMs`. */
export class OverloadedError extends RaftkvError {
  readonly code = 'OVERLOADED';
  constructor(
    message: string,
    /** A hint for when a retry may succeed. */
    readonly retryAfterMs = 100,
  ) {
    super(message);
  }
}

/** The deadline passed. For a write, the outcome is unknown. */
export class DeadlineExceededError extends RaftkvError {
  readonly code = 'DEADLINE_EXCEEDED';
}

/** A requested log position or revision has been compacted away. */
export class CompactedError extends RaftkvError {
  readonly code = 'COMPACTED';
}

/** The Raft core refused a proposal (not leader, leadership transfer in progress, too much uncommitted). */
export class ProposalDroppedError extends RaftkvError {
  readonly code = 'PROPOSAL_DROPPED';
}

/** Stored data failed a check (checksum, format, truncation). The node must stop. */
export class CorruptionError extends RaftkvError {
  readonly code = 'CORRUPTION';
}

/** An operation's precondition does not hold (for example, a membership change is already pending). */
export class FailedPreconditionError extends RaftkvError {
  readonly code = 'FAILED_PRECONDITION';
}

/** True if `e` is a raftkv error with the given code. */
export function isErrorCode(e: unknown, code: ErrorCode): boolean {
  return e instanceof RaftkvError && e.code === code;
}

/** No credentials, or bad or expired ones (gRPC UNAUTHENTICATED). Never applied. */
export class UnauthenticatedError extends RaftkvError {
  readonly code = 'UNAUTHENTICATED';
  constructor(
    message: string,
    /** True when a token was sent and refused (expired, re-enabled...): authenticating again may succeed. */
    readonly tokenRefused = false,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** The authenticated user lacks the permission the call needs (gRPC PERMISSION_DENIED). Never applied. */
export class PermissionDeniedError extends RaftkvError {
  readonly code = 'PERMISSION_DENIED';
}

/** The thing a request names does not exist (a lease, for example: gRPC NOT_FOUND). Never applied. */
export class NotFoundError extends RaftkvError {
  readonly code = 'NOT_FOUND';
}

/** The thing a request would create exists already (a lease id, for example: gRPC ALREADY_EXISTS). Never applied. */
export class AlreadyExistsError extends RaftkvError {
  readonly code = 'ALREADY_EXISTS';
}
