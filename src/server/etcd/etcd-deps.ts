/**
 * What the etcd services need, and the response header they all send. The header's ids are
 * etcd's uint64s (etcd-ids.ts), sent as decimal strings (protobufjs encodes them exactly).
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type * as M from '../../api/index.js';
import { toNumber } from '../../api/index.js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import type { Logger } from '../../util/index.js';
import type { ClusterServiceDeps } from '../cluster-service.js';
import type { LeaseApi } from '../leases/lease-api.js';
import { clusterIdOf, memberIdOf } from './etcd-ids.js';
import { toEtcdRevision } from './etcd-revision.js';

/** The alarms this node reports to etcd's Alarm GET (see etcd-maintenance-service.ts). */
export type EtcdAlarm = 'NOSPACE' | 'CORRUPT';

/** What the etcd services need. */
export interface EtcdServiceDeps extends ClusterServiceDeps {
  readonly logger: Logger;
  /** raftkv.v1.KV as registered on the client port (with write forwarding): etcd's KV runs through it. */
  readonly raftkvKv: UntypedServiceImplementation;
  /** raftkv's lease API: etcd's Lease runs through it. */
  readonly leases: LeaseApi;
  /** raftkv.v1.Auth: etcd's Auth runs through it. */
  readonly raftkvAuth: UntypedServiceImplementation;
  /** `http` or `https`: the scheme of the client URLs etcd clients are given. */
  readonly clientUrlScheme: 'http' | 'https';
  /** The `http` or `https` scheme of peer URLs. */
  readonly peerUrlScheme: 'http' | 'https';
  /**
   * The alarms active now, cluster-wide, with the member each is raised for: the replicated
   * NOSPACE and CORRUPT alarms, this node's local NOSPACE and its data-size quota (node.ts).
   */
  readonly activeAlarms: () => readonly { readonly member: string; readonly alarm: EtcdAlarm }[];
}

/** The header of an answer at raftkv revision `revision` (default: this node's applied revision), as etcd's revision. */
export function etcdHeader(deps: Pick<EtcdServiceDeps, 'driver' | 'options'>, revision?: number, raftTerm?: number): EtcdMsg {
  return {
    clusterId: clusterIdOf(deps.driver.clusterId).toString(),
    memberId: memberIdOf(deps.options.id).toString(),
    revision: toEtcdRevision(revision ?? deps.driver.kv.revision),
    raftTerm: (raftTerm ?? deps.driver.term).toString(),
  };
}

/** The header for raftkv's answer header `h` (its revision and term). */
export function etcdHeaderOf(deps: Pick<EtcdServiceDeps, 'driver' | 'options'>, h: M.ResponseHeaderMsg | undefined): EtcdMsg {
  return h === undefined ? etcdHeader(deps) : etcdHeader(deps, toNumber(h.revision), toNumber(h.raftTerm));
}
