/**
 * The trust rule of forwarding, in one place, for every client call a follower passes on to the
 * leader over the PEER port (ForwardedKV's writes, forwarded-kv-service.ts; the leader-only etcd
 * calls, server/etcd/etcd-leader-proxy.ts):
 *
 * - the follower names itself in `raftkv-from` and, for a client that signed in with a
 *   certificate, vouches for the user it names in `forwardedUserHeader` (`vouchFor`): the leader
 *   cannot see the client's certificate, only the follower's;
 * - the leader believes that user only from an admitted member (`admitForwarded`): the call is
 *   admitted like a Raft stream (with peer TLS the caller's node certificate must name the node
 *   it claims, and that node must be a member; without peer TLS the claim is all there is, as for
 *   every peer call), and only then is the call marked in `forwardedCalls` with the vouched user.
 *   Anyone else gets PERMISSION_DENIED and no handler runs.
 *
 * The client's token travels as it came; the handlers check it, or the vouched user, on the
 * leader, where the call runs. Nothing on the client port is ever marked: a client cannot vouch.
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import type { handleBidiStreamingCall, handleUnaryCall, Metadata, ServerUnaryCall, StatusObject } from '@grpc/grpc-js';
import { admitCall, peerMetadataKeys } from '../../transport/index.js';
import type { AdmissionContext } from '../../transport/index.js';
import type { NodeId } from '../../util/index.js';
import { certificateUser, forwardedCalls, forwardedUserHeader } from '../auth/authorizer.js';
import type { AuthorizedCall } from '../auth/authorizer.js';

/** Sets on `out` (the metadata of this node's forwarded call, made for the client's `call`) who forwards it and the certificate user it vouches for. */
export function vouchFor(call: AuthorizedCall, out: Metadata, selfId: NodeId): void {
  const certUser = certificateUser(call);
  if (certUser !== null) out.set(forwardedUserHeader, certUser);
  out.set(peerMetadataKeys.from, selfId);
}

/**
 * Admits a call that arrived forwarded on the peer port (`what` names it in refusals): null once
 * the caller is an admitted member, with `call` marked in `forwardedCalls` with the user it
 * vouches for ('' for none); else the PERMISSION_DENIED to answer (counted and logged).
 */
export function admitForwarded(admission: AdmissionContext, call: Pick<ServerUnaryCall<unknown, unknown>, 'metadata' | 'getAuthContext'>, what: string): Pick<StatusObject, 'code' | 'details'> | null {
  const claimed = call.metadata.get(peerMetadataKeys.from)[0];
  const admitted = admitCall(admission, typeof claimed === 'string' ? claimed : undefined, call.getAuthContext(), what);
  if (!admitted.ok || !admission.isKnownPeer(admitted.peer)) {
    const details = admitted.ok ? `node "${admitted.peer}" is not a member: it may not send a ${what}` : admitted.details;
    if (admitted.ok) admission.metrics.peerRejected('notMember', 1);
    return { code: grpcStatus.PERMISSION_DENIED, details };
  }
  // Never this peer call's own certificate, which names the follower: the user it vouches for.
  const vouched = call.metadata.get(forwardedUserHeader)[0];
  forwardedCalls.set(call, typeof vouched === 'string' ? vouched : '');
  return null;
}

/** `handler` for the peer port: run only for an admitted member (`admitForwarded`), else PERMISSION_DENIED and nothing runs. */
export function forwardedOnly(handler: handleUnaryCall<unknown, unknown>, admission: AdmissionContext, what: string): handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const refusal = admitForwarded(admission, call, what);
    if (refusal !== null) {
      callback(refusal);
      return;
    }
    handler(call, callback);
  };
}

/** A bidi-streaming `handler` for the peer port: run only for an admitted member, else the stream ends PERMISSION_DENIED and nothing runs. */
export function forwardedStreamOnly(handler: handleBidiStreamingCall<unknown, unknown>, admission: AdmissionContext, what: string): handleBidiStreamingCall<unknown, unknown> {
  return (call) => {
    const refusal = admitForwarded(admission, call, what);
    if (refusal !== null) {
      call.emit('error', Object.assign(new Error(refusal.details), refusal));
      return;
    }
    handler(call);
  };
}
