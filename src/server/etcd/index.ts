/**
 * server/etcd: etcd's v3 API (proto/etcd/) on raftkv's client port, next to raftkv.v1, so
 * etcdctl, the npm etcd3 client and other etcd tools work against raftkv unchanged. README,
 * "etcd compatibility", says what works and what differs.
 */
import type { Server } from '@grpc/grpc-js';
import { etcdKvService } from '../../api/etcd/index.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { etcdKvImplementation } from './etcd-kv-service.js';

export type { EtcdAlarm, EtcdServiceDeps } from './etcd-deps.js';

/** Registers every etcd service on `server` (the client port's). */
export function addEtcdServices(server: Server, deps: EtcdServiceDeps): void {
  server.addService(etcdKvService, etcdKvImplementation(deps));
}
