/**
 * Calls that only the leader may run (auth and membership changes, lease grant, revoke and
 * time-to-live, alarm changes, a Put or Txn with a lease: `leaderOnlyEtcdMethods`) sent by an
 * etcd client to a follower: etcd clients do not follow raftkv's NOT_LEADER hint, so the follower
 * passes the call on to the leader and hands the leader's answer or error back.
 *
 * Unary calls go over the PEER port, like forwarded writes (forwarding/): the same etcd method
 * under a forwarded path (`forwardedEtcdPath`), with the client's token and deadline, and the
 * follower's word for the user the client's certificate names. The leader believes that word only
 * from an admitted member (forwarding/forwarded-identity.ts, the one trust rule for every
 * forwarded call: with peer TLS the caller's node certificate must name the member it claims), so
 * a caller that signs in with its client certificate alone is the same user on a follower as on
 * the leader. Nothing on the client port is trusted for it: a node certificate presented there is
 * never a user, and no client metadata names one. The leader runs the call with the very handler
 * its client port has (deadline, metrics, errors in etcd's words), as if called directly, and
 * never passes it on again: if it no longer leads it answers etcd's "not leader", and a raftkv.v1
 * call the handler makes is never forwarded (`raftkv-forward: never`). Without TLS on the peer
 * port (plaintext dev clusters) the peer port's usual rules decide, as for forwarded writes.
 *
 * LeaseKeepAlive, a stream, is piped to the leader's client port as before (`keepAliveUpstream`),
 * over TLS with the node's credentials when the client port has TLS (node-tls.ts); it carries the
 * token only, and the leader renews leases without asking who calls (as etcd does).
 */
import * as grpc from '@grpc/grpc-js';
import type { handleUnaryCall, MethodDefinition, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { RequestHeader } from '../../api/index.js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { etcdAuthService, etcdClusterService, etcdKvService, etcdLeaseService, etcdMaintenanceService } from '../../api/etcd/index.js';
import type { AdmissionContext } from '../../transport/index.js';
import type { NodeId } from '../../util/index.js';
import { forwardedCalls } from '../auth/authorizer.js';
import { forwardedOnly, vouchFor } from '../forwarding/forwarded-identity.js';
import type { WriteForwarder } from '../forwarding/write-forwarder.js';
import type { EtcdCallContext, EtcdHandler } from './etcd-call.js';
import { etcdTokenHeader } from './etcd-call.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { EtcdError, etcdErrors } from './etcd-errors.js';

/** Set on a call a follower passed on to the leader. */
export const etcdForwardedHeader = 'raftkv-etcd-forwarded';
/** Client metadata carried to the leader. */
const carried = [etcdTokenHeader, 'authorization'] as const;

/** The unary etcd methods only the leader runs: a follower passes them on over the peer port. */
export const leaderOnlyEtcdMethods: readonly MethodDefinition<EtcdMsg, EtcdMsg>[] = [
  etcdKvService.Put,
  etcdKvService.Txn,
  etcdLeaseService.LeaseGrant,
  etcdLeaseService.LeaseRevoke,
  etcdLeaseService.LeaseTimeToLive,
  etcdClusterService.MemberAdd,
  etcdClusterService.MemberRemove,
  etcdClusterService.MemberUpdate,
  etcdClusterService.MemberPromote,
  etcdMaintenanceService.Alarm,
  etcdAuthService.AuthEnable,
  etcdAuthService.AuthDisable,
  etcdAuthService.UserAdd,
  etcdAuthService.UserDelete,
  etcdAuthService.UserChangePassword,
  etcdAuthService.UserGrantRole,
  etcdAuthService.UserRevokeRole,
  etcdAuthService.RoleAdd,
  etcdAuthService.RoleDelete,
  etcdAuthService.RoleGrantPermission,
  etcdAuthService.RoleRevokePermission,
];
const leaderOnlyPaths: ReadonlySet<string> = new Set(leaderOnlyEtcdMethods.map((m) => m.path));

/** The peer-port path of leader-only etcd method `path` (`/etcdserverpb.Lease/LeaseGrant` is `/raftkv.raft.v1.forwarded.etcdserverpb.Lease/LeaseGrant`). */
export function forwardedEtcdPath(path: string): string {
  return `/raftkv.raft.v1.forwarded.${path.slice(1)}`;
}

/** What the proxy passes calls on with. */
export interface EtcdUpstream {
  /** The leader's peer port and the channel to it (write forwarding's, shared). */
  readonly forwarder: Pick<WriteForwarder, 'target' | 'clientFor' | 'reserve'>;
  /** Credentials for the leader's client port (keep-alive streams); null when the follower cannot call it. */
  readonly keepAliveCredentials: grpc.ChannelCredentials | null;
}

/** Passes leader-only etcd calls from a follower on to the leader. */
export class EtcdLeaderProxy {
  /** Keep-alive channels, one per leader client address, kept while the node runs. */
  private readonly clients = new Map<string, grpc.Client>();

  constructor(
    private readonly deps: Pick<EtcdServiceDeps, 'driver' | 'options'>,
    private readonly upstream: EtcdUpstream,
  ) {}

  /** `handler`, run on the leader: here if this node leads, else passed on to it. */
  onLeader(definition: MethodDefinition<EtcdMsg, EtcdMsg>, handler: EtcdHandler): EtcdHandler {
    if (!leaderOnlyPaths.has(definition.path)) throw new Error(`etcd leader proxy: ${definition.path} is not in leaderOnlyEtcdMethods, so the peer port cannot take it`);
    return async (req, deadlineMs, call) => {
      const { driver } = this.deps;
      if (driver.role === 'leader') return handler(req, deadlineMs, call);
      // Passed on once already: this node led when the follower sent it, and no longer does.
      if (forwardedCalls.has(call) || call.metadata.get(etcdForwardedHeader).length > 0) throw etcdErrors.notLeader();
      if (driver.leader === null) throw etcdErrors.noLeader();
      const target = this.upstream.forwarder.target();
      if (target === null) throw etcdErrors.notLeader();
      return this.forward(definition, target, req, deadlineMs, call);
    };
  }

  private forward(definition: MethodDefinition<EtcdMsg, EtcdMsg>, target: { readonly leader: NodeId; readonly address: string }, req: EtcdMsg, deadlineMs: number, call: EtcdCallContext): Promise<EtcdMsg> {
    // One of the places every forwarded call shares (forwardsPendingMax), or shed now (OVERLOADED).
    const release = this.upstream.forwarder.reserve();
    const client = this.upstream.forwarder.clientFor(target.leader, target.address);
    const metadata = new grpc.Metadata();
    for (const key of carried) for (const value of call.metadata.get(key)) metadata.add(key, value);
    metadata.set(etcdForwardedHeader, this.deps.options.id);
    vouchFor(call, metadata, this.deps.options.id);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(forwardedEtcdPath(definition.path), definition.requestSerialize, definition.responseDeserialize, req, metadata, { deadline: deadlineMs }, (e, res) => {
        release();
        if (e === null && res !== undefined) resolve(res);
        else if (e !== null && (e.code !== grpc.status.UNAVAILABLE || e.details.startsWith('etcdserver:'))) reject(new EtcdError(e.code, e.details));
        else reject(new EtcdError(grpc.status.UNAVAILABLE, `etcdserver: the leader ${target.leader} at ${target.address} could not be reached: ${e?.details ?? 'no answer'}`));
      });
    });
  }

  /**
   * A keep-alive stream to the leader's client port for a follower's client, or null when there
   * is none to open (no leader known, already passed on once, or no credentials for the leader).
   */
  keepAliveUpstream(metadata: grpc.Metadata): grpc.ClientDuplexStream<EtcdMsg, EtcdMsg> | null {
    const { driver } = this.deps;
    const leader = driver.leader;
    if (leader === null || metadata.get(etcdForwardedHeader).length > 0 || this.upstream.keepAliveCredentials === null) return null;
    const address = driver.clientAddresses.get(leader) ?? '';
    if (address === '') return null;
    const out = new grpc.Metadata();
    for (const key of carried) for (const value of metadata.get(key)) out.add(key, value);
    out.set(etcdForwardedHeader, this.deps.options.id);
    const definition = etcdLeaseService.LeaseKeepAlive;
    return this.clientFor(address, this.upstream.keepAliveCredentials).makeBidiStreamRequest(definition.path, definition.requestSerialize, definition.responseDeserialize, out);
  }

  private clientFor(address: string, credentials: grpc.ChannelCredentials): grpc.Client {
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new grpc.Client(address, credentials, { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 });
      this.clients.set(address, client);
    }
    return client;
  }

  /** Closes every channel of its own (the peer channels are the forwarder's). */
  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}

/**
 * The leader's side, for the peer port: each leader-only etcd method under its forwarded path,
 * run by `handlers` (the client port's own handler for each path) for an admitted member only.
 * Whatever the handler does for the call runs here: a raftkv.v1 call it makes is never forwarded.
 */
export function forwardedEtcdService(handlers: ReadonlyMap<string, UntypedServiceImplementation[string]>, admission: AdmissionContext): { service: ServiceDefinition; implementation: UntypedServiceImplementation } {
  const service: Record<string, MethodDefinition<unknown, unknown>> = {};
  const implementation: UntypedServiceImplementation = {};
  for (const definition of leaderOnlyEtcdMethods) {
    const handler = handlers.get(definition.path) as handleUnaryCall<unknown, unknown> | undefined;
    if (handler === undefined) throw new Error(`etcd leader proxy: no handler for leader-only ${definition.path}`);
    const name = definition.path.slice(1);
    service[name] = { ...definition, path: forwardedEtcdPath(definition.path) } as MethodDefinition<unknown, unknown>;
    implementation[name] = forwardedOnly(
      (call, callback) => {
        call.metadata.set(RequestHeader.forward, 'never');
        handler(call, callback);
      },
      admission,
      'forwarded etcd call',
    );
  }
  return { service, implementation };
}
