/**
 * Typed errors the client throws, and how a failed gRPC call becomes one. The classes are util's
 * (one class per stable `code`, shared with the server), so `instanceof` and `code` checks work
 * the same whether they are imported from the client or from util. The server puts the code and
 * its details in trailers (api's `ErrorTrailer`); a call that never reached a node (connection
 * refused, dropped, timed out) has none and is classified from the gRPC status.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import type { Metadata, ServiceError } from '@grpc/grpc-js';
import { ErrorTrailer } from '../api/index.js';
import {
  AlreadyExistsError,
  CompactedError,
  CorruptionError,
  DeadlineExceededError as UtilDeadlineExceededError,
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
} from '../util/index.js';
import type { ErrorCode, WriteOutcome } from '../util/index.js';

export {
  AlreadyExistsError,
  CompactedError,
  CorruptionError,
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
};
export type { ErrorCode, WriteOutcome };

/**
 * The call's deadline passed (code `DEADLINE_EXCEEDED`). For a write, `outcome` says whether it
 * may have been applied: `unknown` if any attempt may have reached the leader, else `not_applied`.
 * It is util's `DeadlineExceededError` with that field added.
 */
export class DeadlineExceededError extends UtilDeadlineExceededError {
  constructor(
    message: string,
    /** For a write: whether it may have been applied. Null for reads. */
    readonly outcome: WriteOutcome | null = null,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** How the retry loop treats a failed attempt. */
export type RetryClass =
  /** The node is not the leader: follow its hint at once. */
  | 'redirect'
  /** Certainly not applied (or a read): safe to retry after a backoff. */
  | 'retry'
  /** A write that may have been applied: retry only with the same client id and seq. */
  | 'retry-idempotent'
  /** Retrying cannot help (bad input, failed precondition, corruption). */
  | 'final';

/** A failed attempt, classified. */
export interface AttemptFailure {
  /** The typed error to surface if the client stops here. */
  readonly error: RaftkvError;
  readonly retry: RetryClass;
  /** True if the node did not answer (counts against its circuit breaker). */
  readonly nodeSilent: boolean;
  /** A write that may have been applied by this attempt. */
  readonly mayHaveApplied: boolean;
  /** The server's hint of when to retry (overload), else 0. */
  readonly retryAfterMs: number;
  /**
   * True if the request certainly reached no node (no connection could be made): retrying it
   * elsewhere adds no load to the cluster, so it costs no retry budget.
   */
  readonly notSent?: boolean;
}

function trailer(metadata: Metadata | undefined, key: string): string | null {
  const value = metadata?.get(key)[0];
  return value === undefined ? null : String(value);
}

/** Strips the `field: ` prefix the server's message already carries. */
function withoutField(details: string, field: string): string {
  return details.startsWith(`${field}: `) ? details.slice(field.length + 2) : details;
}

/** True if `e` looks like a gRPC `ServiceError`. */
export function isServiceError(e: unknown): e is ServiceError {
  return e instanceof Error && typeof (e as Partial<ServiceError>).code === 'number';
}

/**
 * Classifies a failed attempt of `method` at `endpoint`. `write` says whether the call changes
 * state (its outcome matters). Errors that are already typed (raised by the client itself) pass
 * through as final.
 */
export function classifyFailure(e: unknown, context: { write: boolean; endpoint: string; method: string }): AttemptFailure {
  if (e instanceof RaftkvError) return { error: e, retry: 'final', nodeSilent: false, mayHaveApplied: false, retryAfterMs: 0 };
  if (!isServiceError(e)) {
    const error = context.write
      ? new OutcomeUnknownError(`${context.method} at ${context.endpoint} failed: ${String(e)}`, { cause: e })
      : new UnavailableError(`${context.method} at ${context.endpoint} failed: ${String(e)}`, { cause: e });
    return { error, retry: 'final', nodeSilent: false, mayHaveApplied: context.write, retryAfterMs: 0 };
  }
  const code = trailer(e.metadata, ErrorTrailer.code);
  if (code !== null) return classifyCoded(e, code, context);
  return classifyTransport(e, context);
}

/** A failure the node reported itself, with a raftkv code in the trailers. */
function classifyCoded(e: ServiceError, code: string, context: { write: boolean; endpoint: string; method: string }): AttemptFailure {
  const details = e.details;
  const unknownOutcome = context.write && trailer(e.metadata, ErrorTrailer.outcome) === 'unknown';
  const answered = { nodeSilent: false, retryAfterMs: 0 } as const;
  switch (code as ErrorCode | 'INTERNAL') {
    case 'NOT_LEADER': {
      const error = new NotLeaderError(trailer(e.metadata, ErrorTrailer.leaderId), trailer(e.metadata, ErrorTrailer.leaderAddress));
      return { ...answered, error, retry: 'redirect', mayHaveApplied: false };
    }
    case 'UNAVAILABLE':
    case 'PROPOSAL_DROPPED':
      return { ...answered, error: new UnavailableError(details), retry: unknownOutcome ? 'retry-idempotent' : 'retry', mayHaveApplied: unknownOutcome };
    case 'OUTCOME_UNKNOWN':
      return { ...answered, error: new OutcomeUnknownError(details), retry: 'retry-idempotent', mayHaveApplied: context.write };
    case 'OVERLOADED': {
      const retryAfterMs = Number(trailer(e.metadata, ErrorTrailer.retryAfterMs) ?? 0);
      const safeRetryAfterMs = Number.isFinite(retryAfterMs) && retryAfterMs > 0 ? retryAfterMs : 0;
      return { error: new OverloadedError(details, safeRetryAfterMs || 100), retry: 'retry', nodeSilent: false, mayHaveApplied: false, retryAfterMs: safeRetryAfterMs };
    }
    case 'DEADLINE_EXCEEDED':
      return { ...answered, error: new DeadlineExceededError(details, context.write ? 'unknown' : null), retry: context.write ? 'retry-idempotent' : 'retry', mayHaveApplied: context.write };
    case 'INVALID_ARGUMENT': {
      const field = trailer(e.metadata, ErrorTrailer.field) ?? 'request';
      return { ...answered, error: new InvalidArgumentError(field, withoutField(details, field)), retry: 'final', mayHaveApplied: false };
    }
    case 'SESSION_EXPIRED':
      // Retrying this seq cannot help; the write may have been applied before.
      return { ...answered, error: new SessionExpiredError(details), retry: 'final', mayHaveApplied: true };
    case 'UNAUTHENTICATED':
      // A refused token (expired...) was dropped by the credentials interceptor: one more attempt
      // authenticates afresh. Wrong credentials are final. The node checks before proposing.
      return { ...answered, error: new UnauthenticatedError(details), retry: trailer(e.metadata, ErrorTrailer.authRetry) === 'token' ? 'retry' : 'final', mayHaveApplied: false };
    case 'PERMISSION_DENIED':
      return { ...answered, error: new PermissionDeniedError(details), retry: 'final', mayHaveApplied: false };
    case 'COMPACTED':
      return { ...answered, error: new CompactedError(details), retry: 'final', mayHaveApplied: false };
    case 'CORRUPTION':
      return { ...answered, error: new CorruptionError(details), retry: 'final', mayHaveApplied: false };
    case 'FAILED_PRECONDITION':
      return { ...answered, error: new FailedPreconditionError(details), retry: 'final', mayHaveApplied: false };
    case 'NOT_FOUND':
      return { ...answered, error: new NotFoundError(details), retry: 'final', mayHaveApplied: false };
    case 'ALREADY_EXISTS':
      return { ...answered, error: new AlreadyExistsError(details), retry: 'final', mayHaveApplied: false };
    default: {
      // INTERNAL or a code this client does not know: a bug on the node. A read may go elsewhere;
      // a write's outcome is whatever the trailer says, unknown by default.
      const message = `${context.method} at ${context.endpoint}: ${code}: ${details}`;
      if (!context.write) return { ...answered, error: new UnavailableError(message), retry: 'retry', mayHaveApplied: false };
      const notApplied = trailer(e.metadata, ErrorTrailer.outcome) === 'not_applied';
      return notApplied
        ? { ...answered, error: new UnavailableError(message), retry: 'retry', mayHaveApplied: false }
        : { ...answered, error: new OutcomeUnknownError(message), retry: 'retry-idempotent', mayHaveApplied: true };
    }
  }
}

/** gRPC's details without its boilerplate ("No connection established. Last error: Error: ... Resolution note: "). */
export function cleanDetails(details: string): string {
  return (
    details
      .replace(/^No connection established\. Last error: (Error: )?/, '')
      .replace(/\.?\s*Resolution note:.*$/s, '')
      .trim() || 'no details'
  );
}

/**
 * gRPC details that prove the request was never sent: no connection could be made, or the
 * address's name could not even be resolved (an advertised name only the cluster's own network
 * knows, say). Such a write certainly reached no leader, so its outcome is never "unknown".
 */
const notSentPattern = /^No connection established|ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|EAI_AGAIN|^Name resolution failed|getaddrinfo/;

/** A failure without a raftkv code: the call did not get a node's answer. */
function classifyTransport(e: ServiceError, context: { write: boolean; endpoint: string; method: string }): AttemptFailure {
  const where = `${context.method} at ${context.endpoint}`;
  const details = cleanDetails(e.details ?? '');
  if (e.code === GrpcStatus.UNAVAILABLE && notSentPattern.test(e.details ?? '')) {
    // gRPC had no connection to send on: the request reached no node, a write is certainly not applied.
    const error = new UnavailableError(`${where} failed: ${details}`, { cause: e });
    return { error, retry: 'retry', nodeSilent: true, mayHaveApplied: false, retryAfterMs: 0, notSent: true };
  }
  switch (e.code) {
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.DEADLINE_EXCEEDED:
    case GrpcStatus.UNKNOWN:
    case GrpcStatus.INTERNAL:
    case GrpcStatus.ABORTED: {
      // The request may have reached the node before the connection broke or the attempt timed out.
      const what = e.code === GrpcStatus.DEADLINE_EXCEEDED ? 'timed out' : 'failed';
      const error = context.write
        ? new OutcomeUnknownError(`${where} ${what} (${details}); the write may or may not have been applied`, { cause: e })
        : new UnavailableError(`${where} ${what}: ${details}`, { cause: e });
      return { error, retry: context.write ? 'retry-idempotent' : 'retry', nodeSilent: true, mayHaveApplied: context.write, retryAfterMs: 0 };
    }
    case GrpcStatus.CANCELLED: {
      const error = context.write ? new OutcomeUnknownError(`${where} was cancelled`, { cause: e }) : new UnavailableError(`${where} was cancelled`, { cause: e });
      return { error, retry: 'final', nodeSilent: false, mayHaveApplied: context.write, retryAfterMs: 0 };
    }
    case GrpcStatus.RESOURCE_EXHAUSTED:
    case GrpcStatus.INVALID_ARGUMENT:
    case GrpcStatus.OUT_OF_RANGE:
      // Without a raftkv code these come from gRPC itself, typically a message over a size limit.
      return { error: new InvalidArgumentError('request', `${where}: ${details}`), retry: 'final', nodeSilent: false, mayHaveApplied: false, retryAfterMs: 0 };
    default: {
      const error = new FailedPreconditionError(`${where}: ${GrpcStatus[e.code] ?? e.code}: ${details}`, { cause: e });
      return { error, retry: 'final', nodeSilent: false, mayHaveApplied: false, retryAfterMs: 0 };
    }
  }
}
