/**
 * The typed errors of the lease API (lease-api.ts). Each extends the raftkv error with the same
 * gRPC status, so the raftkv.v1 services map them as usual; the etcd API maps them by class to
 * etcd's own messages (rpctypes: "etcdserver: requested lease not found", ...).
 */
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, OverloadedError } from '../../util/index.js';

/** The lease does not exist (never granted, revoked, or expired). */
export class LeaseNotFoundError extends NotFoundError {
  constructor(readonly leaseId: number) {
    super(`lease ${leaseId} not found`);
  }
}

/** A grant asked for an id that a live lease has. */
export class LeaseExistsError extends AlreadyExistsError {
  constructor(readonly leaseId: number) {
    super(`lease ${leaseId} already exists`);
  }
}

/** A grant's TTL is over the cluster's `leaseTtlSMax` (or not a positive integer). */
export class LeaseTtlOutOfRangeError extends InvalidArgumentError {
  constructor(readonly ttlS: number, readonly ttlSMax: number) {
    super('ttlS', `lease TTL ${ttlS} s is out of range: it must be an integer in [1, ${ttlSMax}] (leaseTtlSMax)`);
  }
}

/** A lease limit was hit: `leasesMax` on a grant, `leaseKeysMax` on a put. */
export class LeaseLimitError extends OverloadedError {
  constructor(message: string, readonly limit: 'leasesMax' | 'leaseKeysMax') {
    super(message, 1000);
  }
}
