/**
 * server/etcd: etcd's v3 API (proto/etcd/) on raftkv's client port, next to raftkv.v1, so
 * etcdctl, the npm etcd3 client and other etcd tools work against raftkv unchanged. README,
 * "etcd compatibility", says what works and what differs.
 */
import type { Server, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { etcdAuthService, etcdClusterService, etcdKvService, etcdLeaseService, etcdMaintenanceService, etcdWatchService } from '../../api/etcd/index.js';
import { etcdAuthImplementation } from './etcd-auth-service.js';
import { etcdClusterImplementation } from './etcd-cluster-service.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { etcdKvImplementation } from './etcd-kv-service.js';
import { EtcdLeaderProxy, leaderOnlyEtcdMethods, leaderOnlyEtcdStreams } from './etcd-leader-proxy.js';
import type { EtcdUpstream } from './etcd-leader-proxy.js';
import { etcdLeaseImplementation } from './etcd-lease-service.js';
import { etcdMaintenanceImplementation } from './etcd-maintenance-service.js';
import { etcdWatchImplementation } from './etcd-watch-service.js';

export type { EtcdAlarm, EtcdServiceDeps } from './etcd-deps.js';
export { memberIdOf, clusterIdOf } from './etcd-ids.js';
export { forwardedEtcdPath, forwardedEtcdService, leaderOnlyEtcdMethods, leaderOnlyEtcdStreams } from './etcd-leader-proxy.js';

/** What `addEtcdServices` leaves the node: the leader-only handlers for the peer port. */
export interface EtcdServices {
  /** The client port's handler of each leader-only etcd method, by its path (for `forwardedEtcdService` on the peer port). */
  readonly leaderOnly: ReadonlyMap<string, UntypedServiceImplementation[string]>;
}

/**
 * Registers every etcd service on `server` (the client port's). `upstream`: how a follower
 * passes leader-only calls on to the leader (etcd-leader-proxy.ts).
 */
export function addEtcdServices(server: Server, deps: EtcdServiceDeps, upstream: EtcdUpstream): EtcdServices {
  const proxy = new EtcdLeaderProxy(deps, upstream);
  const services: readonly (readonly [ServiceDefinition, UntypedServiceImplementation])[] = [
    [etcdKvService, etcdKvImplementation(deps, proxy)],
    [etcdWatchService, etcdWatchImplementation(deps)],
    [etcdLeaseService, etcdLeaseImplementation(deps, proxy)],
    [etcdClusterService, etcdClusterImplementation(deps, proxy)],
    [etcdMaintenanceService, etcdMaintenanceImplementation(deps, proxy)],
    [etcdAuthService, etcdAuthImplementation(deps, proxy)],
  ];
  const leaderOnly = new Map<string, UntypedServiceImplementation[string]>();
  const leaderOnlyPaths = new Set([...leaderOnlyEtcdMethods, ...leaderOnlyEtcdStreams].map((m) => m.path));
  for (const [definition, implementation] of services) {
    server.addService(definition, implementation);
    for (const [name, method] of Object.entries(definition)) {
      const handler = implementation[name];
      if (leaderOnlyPaths.has(method.path) && handler !== undefined) leaderOnly.set(method.path, handler);
    }
  }
  return { leaderOnly };
}
