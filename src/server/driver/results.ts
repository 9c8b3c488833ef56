/** How the state machine's deterministic write results become what the driver answers. */
import type { WriteOp, WriteResult } from '../../kv/index.js';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, OverloadedError, revision, SessionExpiredError } from '../../util/index.js';
import type { Revision } from '../../util/index.js';

/** The typed error for a write the state machine refused (deterministically, on every replica). */
export function errorOfResult(result: Extract<WriteResult, { type: 'error' }>): Error {
  switch (result.code) {
    case 'INVALID_ARGUMENT':
      return new InvalidArgumentError('request', result.message);
    case 'OVERLOADED':
      return new OverloadedError(result.message, 1000);
    case 'FAILED_PRECONDITION':
      return new FailedPreconditionError(result.message);
    case 'SESSION_EXPIRED':
      return new SessionExpiredError(result.message);
    case 'NOT_FOUND':
      return new NotFoundError(result.message);
    case 'ALREADY_EXISTS':
      return new AlreadyExistsError(result.message);
  }
}

/** The result of an applied membership change (it changes no key). */
export function noopResult(rev: Revision): WriteResult {
  return { type: 'put', revision: rev, prevKv: null };
}

/** The answer the `ackBeforeCommit` negative control gives before anything committed. */
export function fabricatedSuccess(op: WriteOp, rev: Revision): WriteResult {
  const next = revision(rev + 1);
  switch (op.type) {
    case 'put':
      return { type: 'put', revision: next, prevKv: null };
    case 'delete':
      return { type: 'delete', revision: next, deleted: 1, prevKvs: [] };
    case 'txn':
      return { type: 'txn', revision: next, succeeded: true, results: [] };
    case 'leaseGrant':
      return { type: 'leaseGrant', revision: rev, id: op.id, ttlS: op.ttlS };
    case 'leaseRevoke':
      return { type: 'leaseRevoke', revision: next, id: op.id, deleted: 1 };
  }
}
