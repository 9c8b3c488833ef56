/**
 * Calls that only the leader may run (auth and membership changes, lease grant, revoke,
 * time-to-live and keep-alive, alarm changes, a Put or Txn with a lease: `leaderOnlyEtcdMethods`
 * and `leaderOnlyEtcdStreams`) sent by an etcd client to a follower: etcd clients do not follow
 * raftkv's NOT_LEADER hint, so the follower passes the call on to the leader and hands the
 * leader's answers or error back.
 *
 * They go over the PEER port, like forwarded writes (forwarding/): the same etcd method under a
 * forwarded path (`forwardedEtcdPath`), with the client's token and deadline, and the follower's
 * word for the user the client's certificate names. The leader believes that word only from an
 * admitted member (forwarding/forwarded-identity.ts, the one trust rule for every forwarded call:
 * with peer TLS the caller's node certificate must name the member it claims), so a caller that
 * signs in with its client certificate alone is the same user on a follower as on the leader.
 * Nothing on the client port is trusted for it: no node calls another's client port, and no
 * client metadata names a user. The leader runs the call with the very handler its client port
 * has (deadline, metrics, errors in etcd's words), as if called directly, and never passes it on
 * again: if it no longer leads it answers etcd's "not leader", and a raftkv.v1 call the handler
 * makes is never forwarded (`raftkv-forward: never`). Without TLS on the peer port (plaintext dev
 * clusters) the peer port's usual rules decide, as for forwarded writes.
 *
 * The unary calls share write forwarding's channel to the leader and its `forwardsPendingMax`
 * places; a keep-alive stream holds none (it is one call for as long as the client keeps it).
 */
import * as grpc from '@grpc/grpc-js';
import type { handleBidiStreamingCall, handleUnaryCall, MethodDefinition, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { RequestHeader } from '../../api/index.js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { etcdAuthService, etcdClusterService, etcdKvService, etcdLeaseService, etcdMaintenanceService } from '../../api/etcd/index.js';
import type { AdmissionContext } from '../../transport/index.js';
import type { NodeId } from '../../util/index.js';
import { forwardedCalls } from '../auth/authorizer.js';
import { forwardedOnly, forwardedStreamOnly, vouchFor } from '../forwarding/forwarded-identity.js';
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

/** Whether `call` is one a follower passed on (admitted on the peer port, or so marked): it is never passed on again. */
function cameForwarded(call: EtcdCallContext): boolean {
  return forwardedCalls.has(call) || call.metadata.get(etcdForwardedHeader).length > 0;
}

/** The streaming etcd methods only the leader runs: a follower pipes them to the leader over the peer port. */
export const leaderOnlyEtcdStreams: readonly MethodDefinition<EtcdMsg, EtcdMsg>[] = [etcdLeaseService.LeaseKeepAlive];

/** What the proxy passes calls on with: the leader's peer port and the channel to it (write forwarding's, shared). */
export type EtcdUpstream = Pick<WriteForwarder, 'target' | 'clientFor' | 'reserve'>;

/** Passes leader-only etcd calls from a follower on to the leader. */
export class EtcdLeaderProxy {
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
      if (cameForwarded(call)) throw etcdErrors.notLeader();
      if (driver.leader === null) throw etcdErrors.noLeader();
      const target = this.upstream.target();
      if (target === null) throw etcdErrors.notLeader();
      return this.forward(definition, target, req, deadlineMs, call);
    };
  }

  private forward(definition: MethodDefinition<EtcdMsg, EtcdMsg>, target: { readonly leader: NodeId; readonly address: string }, req: EtcdMsg, deadlineMs: number, call: EtcdCallContext): Promise<EtcdMsg> {
    // One of the places every forwarded call shares (forwardsPendingMax), or shed now (OVERLOADED).
    const release = this.upstream.reserve();
    return new Promise<EtcdMsg>((resolve, reject) => {
      const client = this.upstream.clientFor(target.leader, target.address);
      client.makeUnaryRequest(forwardedEtcdPath(definition.path), definition.requestSerialize, definition.responseDeserialize, req, this.forwardedMetadata(call), { deadline: deadlineMs }, (e, res) => {
        if (e === null && res !== undefined) resolve(res);
        else if (e !== null && (e.code !== grpc.status.UNAVAILABLE || e.details.startsWith('etcdserver:'))) reject(new EtcdError(e.code, e.details));
        else reject(new EtcdError(grpc.status.UNAVAILABLE, `etcdserver: the leader ${target.leader} at ${target.address} could not be reached: ${e?.details ?? 'no answer'}`));
      });
    }).finally(release);
  }

  /**
   * A keep-alive stream to the leader's peer port for a follower's client `call`, or null when
   * there is none to open (no leader known, or `call` itself came passed on: it is not again).
   */
  keepAliveUpstream(call: EtcdCallContext): grpc.ClientDuplexStream<EtcdMsg, EtcdMsg> | null {
    if (cameForwarded(call)) return null;
    const target = this.upstream.target();
    if (target === null) return null;
    const definition = etcdLeaseService.LeaseKeepAlive;
    return this.upstream.clientFor(target.leader, target.address).makeBidiStreamRequest(forwardedEtcdPath(definition.path), definition.requestSerialize, definition.responseDeserialize, this.forwardedMetadata(call));
  }

  /** The metadata of `call` passed on: the client's token, and this node's name and word for the certificate user. */
  private forwardedMetadata(call: EtcdCallContext): grpc.Metadata {
    const metadata = new grpc.Metadata();
    for (const key of carried) for (const value of call.metadata.get(key)) metadata.add(key, value);
    metadata.set(etcdForwardedHeader, this.deps.options.id);
    vouchFor(call, metadata, this.deps.options.id);
    return metadata;
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
  for (const definition of [...leaderOnlyEtcdMethods, ...leaderOnlyEtcdStreams]) {
    const handler = handlers.get(definition.path);
    if (handler === undefined) throw new Error(`etcd leader proxy: no handler for leader-only ${definition.path}`);
    const name = definition.path.slice(1);
    service[name] = { ...definition, path: forwardedEtcdPath(definition.path) } as MethodDefinition<unknown, unknown>;
    const what = 'forwarded etcd call';
    if (definition.requestStream) {
      implementation[name] = forwardedStreamOnly(handler as handleBidiStreamingCall<unknown, unknown>, admission, what);
      continue;
    }
    const unary = handler as handleUnaryCall<unknown, unknown>;
    implementation[name] = forwardedOnly(
      (call, callback) => {
        call.metadata.set(RequestHeader.forward, 'never');
        unary(call, callback);
      },
      admission,
      what,
    );
  }
  return { service, implementation };
}
