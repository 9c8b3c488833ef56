/**
 * `etcdserverpb.Lease`: raftkv has no leases yet (they are being built on another branch), so
 * every method answers UNIMPLEMENTED saying so, and Put or Txn with a lease answers etcd's
 * "requested lease not found" (etcd-txn.ts). Once leases are in the state machine, this file maps
 * etcd's methods onto them.
 */
import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { etcdUnary } from './etcd-call.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { etcdUnimplemented } from './etcd-errors.js';

const noLeases = (method: string): Error => etcdUnimplemented(`${method}: leases are not available in this raftkv version`);

/** Builds the `etcdserverpb.Lease` implementation. */
export function etcdLeaseImplementation(deps: EtcdServiceDeps): UntypedServiceImplementation {
  const refuse = (method: string) =>
    etcdUnary(method, false, async () => {
      throw noLeases(method);
    }, deps);
  return {
    LeaseGrant: refuse('LeaseGrant'),
    LeaseRevoke: refuse('LeaseRevoke'),
    LeaseTimeToLive: refuse('LeaseTimeToLive'),
    LeaseLeases: refuse('LeaseLeases'),
    LeaseKeepAlive: (call: ServerDuplexStream<EtcdMsg, EtcdMsg>) => {
      const end = deps.metrics.grpcCall('etcd.LeaseKeepAlive');
      end('UNIMPLEMENTED');
      const e = noLeases('LeaseKeepAlive');
      call.emit('error', Object.assign(new Error(e.message), { code: 12, details: e.message }));
    },
  };
}
