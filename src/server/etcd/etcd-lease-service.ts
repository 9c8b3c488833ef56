/**
 * `etcdserverpb.Lease` on raftkv's lease API (leases/lease-api.ts, which is shaped after etcd's):
 *
 * - LeaseGrant, LeaseRevoke (writes) and LeaseTimeToLive (answered from the leader's deadlines)
 *   run on the leader: a follower passes the etcd call on (etcd-leader-proxy.ts);
 * - LeaseTimeToLive of an unknown (expired) lease answers TTL -1, as etcd does;
 * - LeaseKeepAlive: on the leader each request renews the lease and is answered with its TTL
 *   (TTL 0 for an unknown lease, as etcd); on a follower the stream is piped to the leader's,
 *   over the peer port (etcd-leader-proxy.ts); losing leadership ends the stream UNAVAILABLE, so
 *   the client opens a new one (etcd clients do);
 * - LeaseLeases: any node (a linearizable read).
 */
import * as grpc from '@grpc/grpc-js';
import type { ClientDuplexStream, ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { etcdLeaseService, requireEtcdWellFormed } from '../../api/etcd/index.js';
import { LeaseNotFoundError } from '../leases/lease-errors.js';
import { etcdUnary } from './etcd-call.js';
import type { EtcdHandler } from './etcd-call.js';
import { etcdHeader } from './etcd-deps.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { etcdErrors, etcdStatusOf } from './etcd-errors.js';
import { int } from './etcd-ids.js';
import type { EtcdLeaderProxy } from './etcd-leader-proxy.js';

/** Builds the `etcdserverpb.Lease` implementation. */
export function etcdLeaseImplementation(deps: EtcdServiceDeps, proxy: EtcdLeaderProxy): UntypedServiceImplementation {
  const { leases } = deps;
  const timeout = (deadlineMs: number): { timeoutMs: number } => ({ timeoutMs: Math.max(1, deadlineMs - Date.now()) });

  const grant: EtcdHandler = async (req, deadlineMs) => {
    const answer = await leases.grant(int(req.TTL, 'TTL'), int(req.ID, 'ID'), timeout(deadlineMs));
    return { header: etcdHeader(deps, answer.revision), ID: answer.id, TTL: answer.ttlS };
  };
  const revoke: EtcdHandler = async (req, deadlineMs) => {
    const answer = await leases.revoke(int(req.ID, 'ID'), timeout(deadlineMs));
    return { header: etcdHeader(deps, answer.revision) };
  };
  const timeToLive: EtcdHandler = async (req, deadlineMs) => {
    const id = int(req.ID, 'ID');
    try {
      const answer = await leases.timeToLive(id, { ...timeout(deadlineMs), keys: req.keys === true });
      return { header: etcdHeader(deps, answer.revision), ID: answer.id, TTL: answer.ttlS, grantedTTL: answer.grantedTtlS, keys: [...answer.keys] };
    } catch (e) {
      if (e instanceof LeaseNotFoundError) return { header: etcdHeader(deps), ID: id, TTL: -1 };
      throw e;
    }
  };
  const list: EtcdHandler = async (_req, deadlineMs) => {
    const answer = await leases.list(timeout(deadlineMs));
    return { header: etcdHeader(deps, answer.revision), leases: answer.ids.map((ID) => ({ ID })) };
  };

  return {
    LeaseGrant: etcdUnary('LeaseGrant', true, proxy.onLeader(etcdLeaseService.LeaseGrant, grant), deps),
    LeaseRevoke: etcdUnary('LeaseRevoke', true, proxy.onLeader(etcdLeaseService.LeaseRevoke, revoke), deps),
    LeaseTimeToLive: etcdUnary('LeaseTimeToLive', false, proxy.onLeader(etcdLeaseService.LeaseTimeToLive, timeToLive), deps),
    LeaseLeases: etcdUnary('LeaseLeases', false, list, deps),
    LeaseKeepAlive: (call: ServerDuplexStream<EtcdMsg, EtcdMsg>) => keepAliveStream(deps, proxy, call),
  };
}

/** One client's keep-alive stream. */
function keepAliveStream(deps: EtcdServiceDeps, proxy: EtcdLeaderProxy, call: ServerDuplexStream<EtcdMsg, EtcdMsg>): void {
  const end = deps.metrics.grpcCall('etcd.LeaseKeepAlive');
  let ended = false;
  let upstream: ClientDuplexStream<EtcdMsg, EtcdMsg> | null = null;
  const finish = (code: grpc.status | null, details: string): void => {
    if (ended) return;
    ended = true;
    upstream?.cancel();
    end(code === null ? 'OK' : (grpc.status[code] ?? String(code)));
    if (code === null) {
      if (!call.writableEnded) call.end();
    } else call.emit('error', Object.assign(new Error(details), { code, details }));
  };
  call.on('cancelled', () => finish(null, ''));
  call.on('error', () => finish(null, ''));
  call.on('end', () => finish(null, ''));

  const { driver } = deps;
  if (driver.role !== 'leader') {
    const target = proxy.keepAliveUpstream(call);
    if (target === null) {
      finish(grpc.status.UNAVAILABLE, driver.leader === null ? etcdErrors.noLeader().message : etcdErrors.notLeader().message);
      return;
    }
    upstream = target;
    target.on('data', (res: EtcdMsg) => {
      if (!ended) call.write(res);
    });
    target.on('error', (e: grpc.ServiceError) => finish(e.code === grpc.status.CANCELLED ? grpc.status.UNAVAILABLE : e.code, e.details.startsWith('etcdserver:') ? e.details : `etcdserver: the leader's keep-alive stream ended: ${e.details}`));
    target.on('end', () => finish(grpc.status.UNAVAILABLE, etcdErrors.leaderChanged().message));
    call.on('data', (req: EtcdMsg) => target.write(req));
    return;
  }
  // Requests are answered in order, one at a time (each waits for a ReadIndex round).
  let chain = Promise.resolve();
  call.on('data', (req: EtcdMsg) => {
    chain = chain.then(async () => {
      if (ended) return;
      try {
        requireEtcdWellFormed(req);
        const id = int(req.ID, 'ID');
        try {
          const answer = await deps.leases.keepAlive(id, { timeoutMs: deps.options.requestTimeoutMs });
          if (!ended) call.write({ header: etcdHeader(deps, answer.revision), ID: answer.id, TTL: answer.ttlS });
        } catch (e) {
          if (!(e instanceof LeaseNotFoundError)) throw e;
          if (!ended) call.write({ header: etcdHeader(deps), ID: id, TTL: 0 });
        }
      } catch (e) {
        const err = etcdStatusOf(e, { write: false });
        finish(err.code, err.details);
      }
    });
  });
}
