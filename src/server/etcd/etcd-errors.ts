/**
 * The errors etcd clients recognise (etcd's api/v3rpc/rpctypes): a gRPC code and an exact
 * message, since clients match on the message (the npm etcd3 client maps them to its error
 * classes; clientv3 compares them). raftkv's own errors are translated here, in one place:
 * `etcdStatusOf` takes anything a handler threw or a raftkv.v1 handler answered.
 */
import { Metadata, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { ErrorTrailer } from '../../api/index.js';
import { RaftkvError } from '../../util/index.js';
import { toGrpcError } from '../grpc-errors.js';
import type { GrpcError } from '../grpc-errors.js';

/** An error answered to an etcd client as it is. */
export class EtcdError extends Error {
  constructor(
    readonly grpcCode: status,
    message: string,
  ) {
    super(message);
    this.name = 'EtcdError';
  }
}

const e = (code: status, message: string) => (): EtcdError => new EtcdError(code, message);

/** etcd's errors, by what they mean (messages exactly as rpctypes has them). */
export const etcdErrors = {
  emptyKey: e(status.INVALID_ARGUMENT, 'etcdserver: key is not provided'),
  keyNotFound: e(status.INVALID_ARGUMENT, 'etcdserver: key not found'),
  valueProvided: e(status.INVALID_ARGUMENT, 'etcdserver: value is provided'),
  leaseProvided: e(status.INVALID_ARGUMENT, 'etcdserver: lease is provided'),
  tooManyOps: e(status.INVALID_ARGUMENT, 'etcdserver: too many operations in txn request'),
  duplicateKey: e(status.INVALID_ARGUMENT, 'etcdserver: duplicate key given in txn request'),
  compacted: e(status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision has been compacted'),
  futureRev: e(status.OUT_OF_RANGE, 'etcdserver: mvcc: required revision is a future revision'),
  noSpace: e(status.RESOURCE_EXHAUSTED, 'etcdserver: mvcc: database space exceeded'),
  leaseNotFound: e(status.NOT_FOUND, 'etcdserver: requested lease not found'),
  leaseExists: e(status.FAILED_PRECONDITION, 'etcdserver: lease already exists'),
  leaseTtlTooLarge: e(status.OUT_OF_RANGE, 'etcdserver: too large lease TTL'),
  memberNotFound: e(status.NOT_FOUND, 'etcdserver: member not found'),
  noLeader: e(status.UNAVAILABLE, 'etcdserver: no leader'),
  notLeader: e(status.FAILED_PRECONDITION, 'etcdserver: not leader'),
  leaderChanged: e(status.UNAVAILABLE, 'etcdserver: leader changed'),
  timeout: e(status.UNAVAILABLE, 'etcdserver: request timed out'),
  tooManyRequests: e(status.RESOURCE_EXHAUSTED, 'etcdserver: too many requests'),
  requestTooLarge: e(status.INVALID_ARGUMENT, 'etcdserver: request is too large'),
  corrupt: e(status.DATA_LOSS, 'etcdserver: corrupt cluster'),
  permissionDenied: e(status.PERMISSION_DENIED, 'etcdserver: permission denied'),
  invalidAuthToken: e(status.UNAUTHENTICATED, 'etcdserver: invalid auth token'),
  userEmpty: e(status.INVALID_ARGUMENT, 'etcdserver: user name is empty'),
  authFailed: e(status.INVALID_ARGUMENT, 'etcdserver: authentication failed, invalid user ID or password'),
  authNotEnabled: e(status.FAILED_PRECONDITION, 'etcdserver: authentication is not enabled'),
  userAlreadyExists: e(status.FAILED_PRECONDITION, 'etcdserver: user name already exists'),
  userNotFound: e(status.FAILED_PRECONDITION, 'etcdserver: user name not found'),
  roleAlreadyExists: e(status.FAILED_PRECONDITION, 'etcdserver: role name already exists'),
  roleNotFound: e(status.FAILED_PRECONDITION, 'etcdserver: role name not found'),
  roleNotGranted: e(status.FAILED_PRECONDITION, 'etcdserver: role is not granted to the user'),
  permissionNotGranted: e(status.FAILED_PRECONDITION, 'etcdserver: permission is not granted to the role'),
  rootUserNotExist: e(status.FAILED_PRECONDITION, 'etcdserver: root user does not exist'),
} as const;

/** UNIMPLEMENTED for something of etcd's API raftkv does not have, saying what and why. */
export function etcdUnimplemented(what: string): EtcdError {
  return new EtcdError(status.UNIMPLEMENTED, `raftkv: ${what}`);
}

/** A raftkv.v1 handler's error answer, as it reached the etcd adapter. */
export class RaftkvAnswerError extends Error {
  constructor(readonly answer: GrpcError | ServiceError) {
    super(answer.details);
    this.name = 'RaftkvAnswerError';
  }
}

/** What to tell an etcd client for `error` (anything a handler threw). */
export function etcdStatusOf(error: unknown, options: { write: boolean }): { code: status; details: string; metadata: Metadata } {
  if (error instanceof EtcdError) return { code: error.grpcCode, details: error.message, metadata: new Metadata() };
  const answer = error instanceof RaftkvAnswerError ? error.answer : toGrpcError(error, options);
  const raftkvCode = String(answer.metadata?.get(ErrorTrailer.code)[0] ?? (error instanceof RaftkvError ? error.code : ''));
  const mapped = mapRaftkvCode(raftkvCode, answer.details ?? '', answer.metadata ?? new Metadata());
  // Keep raftkv's trailers (outcome, leader, field): they explain what the etcd message cannot.
  const metadata = answer.metadata ?? new Metadata();
  if (mapped === null) return { code: answer.code ?? status.UNKNOWN, details: `etcdserver: ${answer.details ?? 'unknown error'}`, metadata };
  return { code: mapped.grpcCode, details: mapped.message, metadata };
}

function mapRaftkvCode(code: string, details: string, metadata: Metadata): EtcdError | null {
  switch (code) {
    case 'NOT_LEADER':
      return metadata.get(ErrorTrailer.leaderId).length > 0 ? etcdErrors.leaderChanged() : etcdErrors.noLeader();
    case 'PROPOSAL_DROPPED':
      return etcdErrors.leaderChanged();
    case 'OUTCOME_UNKNOWN':
    case 'DEADLINE_EXCEEDED':
      return etcdErrors.timeout();
    case 'UNAVAILABLE':
      return /leader/i.test(details) ? etcdErrors.noLeader() : null;
    case 'OVERLOADED':
      return /dataBytesMax|space/i.test(details) ? etcdErrors.noSpace() : etcdErrors.tooManyRequests();
    case 'INVALID_ARGUMENT':
      if (/txnOpsMax/.test(details)) return etcdErrors.tooManyOps();
      if (/lease TTL .* out of range/.test(details)) return etcdErrors.leaseTtlTooLarge();
      if (/requestBytesMax/.test(details)) return etcdErrors.requestTooLarge();
      return null;
    case 'NOT_FOUND':
      if (/^key .* not found/.test(details)) return etcdErrors.keyNotFound();
      return /lease/.test(details) ? etcdErrors.leaseNotFound() : null;
    case 'ALREADY_EXISTS':
      return /lease/.test(details) ? etcdErrors.leaseExists() : null;
    case 'COMPACTED':
      return etcdErrors.compacted();
    case 'CORRUPTION':
      return etcdErrors.corrupt();
    case 'PERMISSION_DENIED':
      return etcdErrors.permissionDenied();
    case 'UNAUTHENTICATED':
      if (/wrong user name or password/.test(details)) return etcdErrors.authFailed();
      return metadata.get(ErrorTrailer.authRetry).length > 0 ? etcdErrors.invalidAuthToken() : etcdErrors.userEmpty();
    case 'FAILED_PRECONDITION':
      return authPrecondition(details);
    default:
      return null;
  }
}

/** raftkv's auth preconditions in etcd's words, where they have one. */
function authPrecondition(details: string): EtcdError | null {
  if (/user .*already exists|already a user/i.test(details)) return etcdErrors.userAlreadyExists();
  if (/role .*already exists|already a role/i.test(details)) return etcdErrors.roleAlreadyExists();
  if (/no (such )?user|user .*(not found|does not exist)/i.test(details)) return etcdErrors.userNotFound();
  if (/no (such )?role|role .*(not found|does not exist)/i.test(details)) return etcdErrors.roleNotFound();
  if (/root user/i.test(details)) return etcdErrors.rootUserNotExist();
  if (/auth(entication)? is not enabled/.test(details)) return etcdErrors.authNotEnabled();
  return null;
}
