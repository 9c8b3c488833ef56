/**
 * `raftkv.raft.v1.ForwardedKV` (proto/forward.proto): the leader's side of write forwarding. It
 * lives on the peer port and takes exactly raftkv.v1.KV's write messages, with the same codecs,
 * so what a follower forwards is the client's request byte for byte. The leader runs it through
 * the same handlers as a direct client call (deadline, error trailers, metrics) and never
 * forwards it again: a node that is no longer the leader answers NOT_LEADER, which the follower
 * hands back to the client, whose library follows the hint. The client's permission is checked
 * by those handlers, on the leader (the follower did not check it).
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import type { handleUnaryCall, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { kvService, leaseService } from '../../api/index.js';
import { admitCall, peerMetadataKeys } from '../../transport/index.js';
import type { AdmissionContext } from '../../transport/index.js';
import { forwardedCalls, forwardedUserHeader } from '../auth/authorizer.js';

/** The client writes that can be forwarded (the lease writes are raftkv.v1.Lease's Grant and Revoke). */
export const forwardedMethods = ['Put', 'Delete', 'Txn', 'LeaseGrant', 'LeaseRevoke'] as const;
/** One of them. */
export type ForwardedMethod = (typeof forwardedMethods)[number];

/** The service path of a forwarded method. */
export function forwardedPath(method: ForwardedMethod): string {
  return `/raftkv.raft.v1.ForwardedKV/${method}`;
}

/** `ForwardedKV` for `grpc.Server.addService` and `makeGenericClientConstructor`: KV's codecs under the peer service's paths. */
export const forwardedKvService = {
  Put: { ...kvService.Put, path: forwardedPath('Put') },
  Delete: { ...kvService.Delete, path: forwardedPath('Delete') },
  Txn: { ...kvService.Txn, path: forwardedPath('Txn') },
  LeaseGrant: { ...leaseService.Grant, path: forwardedPath('LeaseGrant') },
  LeaseRevoke: { ...leaseService.Revoke, path: forwardedPath('LeaseRevoke') },
} satisfies ServiceDefinition;

/**
 * The leader's implementation: the KV service's own write handlers, unwrapped (never the
 * forwarding ones), so a forwarded request is handled once, by whoever receives it. Only a
 * member may forward: the caller is admitted like a Raft stream (its certificate names the node
 * it claims in `raftkv-from`, when the peer port has TLS, and that node is a member); anyone
 * else gets PERMISSION_DENIED and nothing runs.
 */
export function forwardedKvImplementation(handlers: Readonly<Record<ForwardedMethod, UntypedServiceImplementation[string]>>, admission: AdmissionContext): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const method of forwardedMethods) {
    const handler = handlers[method] as handleUnaryCall<unknown, unknown> | undefined;
    if (handler === undefined) throw new Error(`the KV service has no ${method} handler to forward to`);
    impl[method] = ((call, callback) => {
      const claimed = call.metadata.get(peerMetadataKeys.from)[0];
      const admitted = admitCall(admission, typeof claimed === 'string' ? claimed : undefined, call.getAuthContext(), 'forwarded write');
      if (!admitted.ok || !admission.isKnownPeer(admitted.peer)) {
        const details = admitted.ok ? `node "${admitted.peer}" is not a member: it may not forward writes` : admitted.details;
        if (admitted.ok) admission.metrics.peerRejected('notMember', 1);
        callback({ code: grpcStatus.PERMISSION_DENIED, details });
        return;
      }
      // The handler checks the client's permission here, where the write runs: with the token the
      // follower passed on, or the certificate user an admitted member vouches for (never this
      // peer stream's own certificate, which names the follower).
      const vouched = call.metadata.get(forwardedUserHeader)[0];
      forwardedCalls.set(call, typeof vouched === 'string' ? vouched : '');
      handler(call, callback);
    }) as handleUnaryCall<unknown, unknown>;
  }
  return impl;
}
