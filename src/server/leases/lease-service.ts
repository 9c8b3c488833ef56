/**
 * The public `raftkv.v1.Lease` gRPC service (proto/kv.proto), a thin mapping onto `LeaseApi`
 * (lease-api.ts). Grant and Revoke are writes (forwarded from followers like Put, see node.ts);
 * KeepAlive (a bidirectional stream: one answer per request, in order) and TimeToLive are answered
 * by the leader only, a follower refusing with the leader hint; Leases is a linearizable read.
 *
 * Permissions (auth on): Grant, KeepAlive and Leases need a user that may write somewhere (a
 * readwrite permission on some prefix, or root): a read-only user cannot create keys that expire.
 * Revoke needs write permission on every key attached to the lease, since it deletes them;
 * TimeToLive with `keys` needs read permission on each key it lists. Put{lease} needs what Put needs.
 */
import type { handleBidiStreamingCall, ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import type * as M from '../../api/index.js';
import { requireWellFormed, toNumber } from '../../api/index.js';
import { isRoot } from '../../kv/index.js';
import { OverloadedError, PermissionDeniedError } from '../../util/index.js';
import type { AuthorizedCall } from '../auth/authorizer.js';
import { toGrpcError } from '../grpc-errors.js';
import { assertReadable } from '../alarms/alarm-guards.js';
import { responseHeader, sessionOf, unary } from '../kv-service.js';
import type { Handler, KvServiceDeps } from '../kv-service.js';
import type { LeaseApi } from './lease-api.js';
import { leaseKeepAliveStreamsMax } from './lease-limits.js';

/** Most keep-alive requests one stream may have waiting for their answers; beyond it the stream ends (RESOURCE_EXHAUSTED). */
export const leaseKeepAliveQueuedMax = 128;

/** What the Lease service needs: the KV service's dependencies and the node's lease API. */
export interface LeaseServiceDeps extends KvServiceDeps {
  readonly leases: LeaseApi;
}

/** Builds the `Lease` service implementation. */
export function leaseServiceImplementation(deps: LeaseServiceDeps): UntypedServiceImplementation {
  const { leases, authorizer, driver, options } = deps;
  const header = (revision?: number): M.ResponseHeaderMsg => responseHeader(deps, revision);
  const timeoutMs = (deadlineMs: number): number => Math.max(1, deadlineMs - Date.now());
  let streams = 0;

  /** Throws unless the caller may write some key (see the top of the file). */
  const requireWriter = (call: AuthorizedCall, method: string): void => {
    const user = authorizer.authenticate(call);
    if (user === null || isRoot(user)) return;
    const state = driver.kv.auth;
    const writes = user.roles.some((name) => state.roles.get(name)?.permissions.some((p) => p.access === 'readwrite') === true);
    if (!writes) throw new PermissionDeniedError(`permission denied: user "${user.name}" may not write any key (${method} needs a readwrite permission on some prefix; the user has roles ${JSON.stringify(user.roles)})`);
  };

  const grant: Handler<M.LeaseGrantRequestMsg, M.LeaseGrantResponseMsg> = async (req, deadlineMs, call) => {
    requireWriter(call, 'Lease/Grant');
    const answer = await leases.grant(toNumber(req.ttlS), toNumber(req.id), { timeoutMs: timeoutMs(deadlineMs), session: sessionOf(req) });
    return { header: header(answer.revision), id: answer.id, ttlS: answer.ttlS };
  };
  const revoke: Handler<M.LeaseRevokeRequestMsg, M.LeaseRevokeResponseMsg> = async (req, deadlineMs, call) => {
    const id = toNumber(req.id);
    const attached = driver.kv.lease(id)?.keys ?? [];
    authorizer.requireKeys(call, attached.map((key) => ({ range: { key }, access: 'readwrite' as const })), 'Lease/Revoke');
    requireWriter(call, 'Lease/Revoke');
    const answer = await leases.revoke(id, { timeoutMs: timeoutMs(deadlineMs), session: sessionOf(req) });
    return { header: header(answer.revision), deleted: answer.deleted };
  };
  const timeToLive: Handler<M.LeaseTimeToLiveRequestMsg, M.LeaseTimeToLiveResponseMsg> = async (req, deadlineMs, call) => {
    authorizer.authenticate(call);
    assertReadable(driver.kv.alarms, options.id); // a CORRUPT member serves no reads
    const answer = await leases.timeToLive(toNumber(req.id), { timeoutMs: timeoutMs(deadlineMs), keys: req.keys === true });
    authorizer.requireKeys(call, answer.keys.map((key) => ({ range: { key }, access: 'read' as const })), 'Lease/TimeToLive');
    return { header: header(answer.revision), id: answer.id, ttlS: answer.ttlS, grantedTtlS: answer.grantedTtlS, keys: [...answer.keys], keyCount: answer.keyCount };
  };
  const list: Handler<object, M.LeaseLeasesResponseMsg> = async (_req, deadlineMs, call) => {
    requireWriter(call, 'Lease/Leases');
    assertReadable(driver.kv.alarms, options.id);
    const answer = await leases.list({ timeoutMs: timeoutMs(deadlineMs) });
    return { header: header(answer.revision), ids: [...answer.ids] };
  };

  const keepAlive: handleBidiStreamingCall<M.LeaseKeepAliveRequestMsg, M.LeaseKeepAliveResponseMsg> = (call: ServerDuplexStream<M.LeaseKeepAliveRequestMsg, M.LeaseKeepAliveResponseMsg>) => {
    const end = deps.metrics.grpcCall('Lease/KeepAlive');
    let finished = false;
    let queued = 0;
    let chain: Promise<void> = Promise.resolve();
    const fail = (e: unknown): void => {
      if (finished) return;
      finished = true;
      streams -= 1;
      const err = toGrpcError(e, { write: false });
      end(grpcStatus[err.code] ?? String(err.code));
      // 'error' (not destroy): grpc-js then sends the status; a destroyed stream never sends one.
      if (!call.cancelled) call.emit('error', Object.assign(new Error(err.details), err));
    };
    const close = (): void => {
      if (finished) return;
      finished = true;
      streams -= 1;
      end('OK');
      if (!call.writableEnded) call.end();
    };
    if (streams >= leaseKeepAliveStreamsMax) {
      streams += 1; // fail() gives it back
      fail(new OverloadedError(`too many keep-alive streams on this node (leaseKeepAliveStreamsMax ${leaseKeepAliveStreamsMax})`, 1000));
      return;
    }
    streams += 1;
    try {
      requireWriter(call, 'Lease/KeepAlive');
    } catch (e) {
      fail(e);
      return;
    }
    call.on('data', (req: M.LeaseKeepAliveRequestMsg) => {
      if (finished) return;
      if (queued >= leaseKeepAliveQueuedMax) {
        fail(new OverloadedError(`too many keep-alives waiting on this stream (leaseKeepAliveQueuedMax ${leaseKeepAliveQueuedMax}): wait for answers before sending more`, 100));
        return;
      }
      queued += 1;
      // One at a time, in order: each answer says the lease has its TTL again from then.
      chain = chain.then(async () => {
        if (finished) return;
        try {
          requireWellFormed(req);
          const answer = await leases.keepAlive(toNumber(req.id), { timeoutMs: options.requestTimeoutMs });
          if (!finished) call.write({ header: header(answer.revision), id: answer.id, ttlS: answer.ttlS });
        } catch (e) {
          fail(e);
        } finally {
          queued -= 1;
        }
      });
    });
    call.on('end', () => void chain.then(close));
    call.on('cancelled', () => {
      if (finished) return;
      finished = true;
      streams -= 1;
      end('CANCELLED');
    });
    call.on('error', () => close());
  };

  return {
    Grant: unary('Lease/Grant', true, grant, deps),
    Revoke: unary('Lease/Revoke', true, revoke, deps),
    KeepAlive: keepAlive,
    TimeToLive: unary('Lease/TimeToLive', false, timeToLive, deps),
    Leases: unary('Lease/Leases', false, list, deps),
  };
}
