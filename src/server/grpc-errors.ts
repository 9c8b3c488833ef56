/**
 * Maps raftkv's typed errors to gRPC statuses with trailers (docs/design.md, "The client protocol and errors").
 * This is the only place codes become gRPC statuses; the client maps them back.
 */
import { Metadata, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { ErrorTrailer } from '../api/index.js';
import {
  AlreadyExistsError,
  CompactedError,
  CorruptionError,
  DeadlineExceededError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotLeaderError,
  OutcomeUnknownError,
  OverloadedError,
  PermissionDeniedError,
  ProposalDroppedError,
  RaftkvError,
  SessionExpiredError,
  UnauthenticatedError,
  UnavailableError,
} from '../util/index.js';

/** A gRPC error as handlers pass it to their callback. */
export type GrpcError = Partial<ServiceError> & { code: status; details: string; metadata: Metadata };

function grpcStatusOf(e: RaftkvError): status {
  if (e instanceof NotLeaderError || e instanceof SessionExpiredError) return status.FAILED_PRECONDITION;
  if (e instanceof UnavailableError || e instanceof OutcomeUnknownError || e instanceof ProposalDroppedError) return status.UNAVAILABLE;
  if (e instanceof InvalidArgumentError) return status.INVALID_ARGUMENT;
  if (e instanceof OverloadedError) return status.RESOURCE_EXHAUSTED;
  if (e instanceof DeadlineExceededError) return status.DEADLINE_EXCEEDED;
  if (e instanceof CompactedError) return status.OUT_OF_RANGE;
  if (e instanceof FailedPreconditionError) return status.FAILED_PRECONDITION;
  if (e instanceof CorruptionError) return status.DATA_LOSS;
  if (e instanceof UnauthenticatedError) return status.UNAUTHENTICATED;
  if (e instanceof PermissionDeniedError) return status.PERMISSION_DENIED;
  if (e instanceof NotFoundError) return status.NOT_FOUND;
  if (e instanceof AlreadyExistsError) return status.ALREADY_EXISTS;
  return status.INTERNAL;
}

/**
 * The gRPC error for `e`. For writes, the `outcome` trailer says whether the write may have been
 * applied: only errors raised before the proposal reached Raft are `not_applied`.
 */
export function toGrpcError(e: unknown, options: { write: boolean }): GrpcError {
  const metadata = new Metadata();
  if (!(e instanceof RaftkvError)) {
    metadata.set(ErrorTrailer.code, 'INTERNAL');
    if (options.write) metadata.set(ErrorTrailer.outcome, 'unknown');
    return { code: status.INTERNAL, details: `internal error: ${e instanceof Error ? e.message : String(e)}`, metadata, name: 'Error', message: '' };
  }
  metadata.set(ErrorTrailer.code, e.code);
  if (e instanceof NotLeaderError) {
    if (e.leaderId !== null) metadata.set(ErrorTrailer.leaderId, e.leaderId);
    if (e.leaderAddress !== null) metadata.set(ErrorTrailer.leaderAddress, e.leaderAddress);
  }
  if (e instanceof OverloadedError) metadata.set(ErrorTrailer.retryAfterMs, String(e.retryAfterMs));
  if (e instanceof InvalidArgumentError) metadata.set(ErrorTrailer.field, e.field);
  if (e instanceof UnauthenticatedError && e.tokenRefused) metadata.set(ErrorTrailer.authRetry, 'token');
  if (options.write) metadata.set(ErrorTrailer.outcome, writeOutcome(e));
  return { code: grpcStatusOf(e), details: e.message, metadata, name: e.name, message: e.message };
}

/** Whether a write that failed with `e` may have been applied. */
function writeOutcome(e: RaftkvError): 'not_applied' | 'unknown' {
  return e instanceof OutcomeUnknownError || e instanceof DeadlineExceededError || e instanceof SessionExpiredError ? 'unknown' : 'not_applied';
}
