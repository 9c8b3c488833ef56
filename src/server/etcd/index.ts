/**
 * server/etcd: etcd's v3 API (proto/etcd/) on raftkv's client port, next to raftkv.v1, so
 * etcdctl, the npm etcd3 client and other etcd tools work against raftkv unchanged. README,
 * "etcd compatibility", says what works and what differs.
 */
import type { ChannelCredentials, Server } from '@grpc/grpc-js';
import { etcdAuthService, etcdClusterService, etcdKvService, etcdLeaseService, etcdMaintenanceService, etcdWatchService } from '../../api/etcd/index.js';
import { etcdAuthImplementation } from './etcd-auth-service.js';
import { etcdClusterImplementation } from './etcd-cluster-service.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { etcdKvImplementation } from './etcd-kv-service.js';
import { EtcdLeaderProxy } from './etcd-leader-proxy.js';
import { etcdLeaseImplementation } from './etcd-lease-service.js';
import { etcdMaintenanceImplementation } from './etcd-maintenance-service.js';
import { etcdWatchImplementation } from './etcd-watch-service.js';

export type { EtcdAlarm, EtcdServiceDeps } from './etcd-deps.js';
export { memberIdOf, clusterIdOf } from './etcd-ids.js';

/**
 * Registers every etcd service on `server` (the client port's); `close` releases their channels.
 * `leaderCredentials`: how a follower calls the leader's client port (etcd-leader-proxy.ts).
 */
export function addEtcdServices(server: Server, deps: EtcdServiceDeps, leaderCredentials: ChannelCredentials | null): { close(): void } {
  const proxy = new EtcdLeaderProxy(deps, leaderCredentials);
  server.addService(etcdKvService, etcdKvImplementation(deps, proxy));
  server.addService(etcdWatchService, etcdWatchImplementation(deps));
  server.addService(etcdLeaseService, etcdLeaseImplementation(deps, proxy));
  server.addService(etcdClusterService, etcdClusterImplementation(deps, proxy));
  server.addService(etcdMaintenanceService, etcdMaintenanceImplementation(deps, proxy));
  server.addService(etcdAuthService, etcdAuthImplementation(deps, proxy));
  return { close: () => proxy.close() };
}
