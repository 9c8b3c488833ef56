/**
 * `LeaseApi` on a node, over the production driver (the simulator runs this same code): grant and
 * revoke are writes proposed through the log; keep-alive and time-to-live are answered by the
 * leader from its deadlines (driver/lease-keeper.ts) after a ReadIndex round, which proves it is
 * still leader and has applied every earlier entry (an expiry revoke of a previous leader among
 * them), so an answered keep-alive is never undone by a revoke already in the log.
 */
import type { WriteResult } from '../../kv/index.js';
import { checkLeaseId } from '../../kv/index.js';
import { InvalidArgumentError, NotFoundError, AlreadyExistsError, OverloadedError } from '../../util/index.js';
import type { RaftDriver } from '../raft-driver.js';
import type { LeaseApi, LeaseCallOptions, LeaseGrantAnswer, LeaseKeepAliveAnswer, LeaseRevokeAnswer, LeaseTimeToLiveAnswer, LeaseWriteOptions } from './lease-api.js';
import { LeaseExistsError, LeaseLimitError, LeaseNotFoundError, LeaseTtlOutOfRangeError } from './lease-errors.js';
import { leaseTimeToLiveKeysMax } from './lease-limits.js';

/** What the lease API uses of the driver. */
export type LeaseDriver = Pick<RaftDriver, 'write' | 'linearizableRead' | 'kv' | 'leases' | 'notLeader'>;

const noSession = { clientId: '', seq: 0, ackSeq: 0 } as const;

/** The lease API of one node. */
export class NodeLeaseApi implements LeaseApi {
  constructor(
    private readonly driver: LeaseDriver,
    /** The timeout of a call that gives none (the node's request timeout). */
    private readonly defaultTimeoutMs: number,
  ) {}

  async grant(ttlS: number, id = 0, options: LeaseWriteOptions = {}): Promise<LeaseGrantAnswer> {
    if (id !== 0) checkLeaseId(id, 'id');
    const ttlSMax = this.driver.kv.limits.leaseTtlSMax;
    if (!Number.isSafeInteger(ttlS) || ttlS < 1 || ttlS > ttlSMax) throw new LeaseTtlOutOfRangeError(ttlS, ttlSMax);
    const result = await this.write({ type: 'leaseGrant', id, ttlS }, options, id);
    if (result.type !== 'leaseGrant') throw unexpected(result);
    return { id: result.id, ttlS: result.ttlS, revision: result.revision };
  }

  async revoke(id: number, options: LeaseWriteOptions = {}): Promise<LeaseRevokeAnswer> {
    checkLeaseId(id, 'id');
    const result = await this.write({ type: 'leaseRevoke', id }, options, id);
    if (result.type !== 'leaseRevoke') throw unexpected(result);
    return { revision: result.revision, deleted: result.deleted };
  }

  async keepAlive(id: number, options: LeaseCallOptions = {}): Promise<LeaseKeepAliveAnswer> {
    checkLeaseId(id, 'id');
    await this.confirmLeader(options);
    const lease = this.driver.kv.leaseInfo(id);
    if (lease === null) throw new LeaseNotFoundError(id);
    const answer = this.driver.leases.keepAlive(id, lease.ttlS);
    switch (answer.type) {
      case 'renewed':
        return { id, ttlS: answer.ttlS, revision: this.driver.kv.revision };
      case 'expired':
        throw new LeaseNotFoundError(id);
      case 'notLeader':
        throw this.driver.notLeader();
    }
  }

  async timeToLive(id: number, options: LeaseCallOptions & { readonly keys?: boolean } = {}): Promise<LeaseTimeToLiveAnswer> {
    checkLeaseId(id, 'id');
    await this.confirmLeader(options);
    const info = this.driver.kv.leaseInfo(id);
    if (info === null) throw new LeaseNotFoundError(id);
    const remainingMs = this.driver.leases.remainingMs(id);
    if (remainingMs === null) throw this.driver.notLeader();
    const keys = options.keys === true ? (this.driver.kv.lease(id)?.keys ?? []).slice(0, leaseTimeToLiveKeysMax) : [];
    return { id, ttlS: Math.ceil(remainingMs / 1000), grantedTtlS: info.ttlS, keys, keyCount: info.keyCount, revision: this.driver.kv.revision };
  }

  async list(options: LeaseCallOptions = {}): Promise<{ readonly ids: readonly number[]; readonly revision: number }> {
    await this.driver.linearizableRead(options.timeoutMs ?? this.defaultTimeoutMs);
    return { ids: this.driver.kv.leases().map((l) => l.id), revision: this.driver.kv.revision };
  }

  /** Leader only, and confirmed by a ReadIndex round (see the top of the file). */
  private async confirmLeader(options: LeaseCallOptions): Promise<void> {
    if (!this.driver.leases.isLeading) throw this.driver.notLeader();
    await this.driver.linearizableRead(options.timeoutMs ?? this.defaultTimeoutMs);
    if (!this.driver.leases.isLeading) throw this.driver.notLeader();
  }

  /** Proposes a lease write and maps the state machine's refusals to the lease errors. */
  private async write(op: Parameters<LeaseDriver['write']>[0], options: LeaseWriteOptions, id: number): Promise<WriteResult> {
    try {
      return await this.driver.write(op, options.session ?? noSession);
    } catch (e) {
      if (e instanceof NotFoundError) throw new LeaseNotFoundError(id);
      if (e instanceof AlreadyExistsError) throw new LeaseExistsError(id);
      // A grant writes no key, so the quota cannot refuse it: OVERLOADED is leasesMax; and its
      // input was checked above, so INVALID_ARGUMENT is a leaseTtlSMax lowered meanwhile.
      if (e instanceof OverloadedError && op.type === 'leaseGrant') throw new LeaseLimitError(e.message, 'leasesMax');
      if (e instanceof InvalidArgumentError && op.type === 'leaseGrant') throw new LeaseTtlOutOfRangeError(op.ttlS, this.driver.kv.limits.leaseTtlSMax);
      throw e;
    }
  }
}

function unexpected(result: WriteResult): Error {
  return new Error(`unexpected result ${result.type} for a lease write`);
}
