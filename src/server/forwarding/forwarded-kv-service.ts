/**
 * `raftkv.raft.v1.ForwardedKV` (proto/forward.proto): the leader's side of write forwarding. It
 * lives on the peer port and takes exactly raftkv.v1.KV's write messages, with the same codecs,
 * so what a follower forwards is the client's request byte for byte. The leader runs it through
 * the same handlers as a direct client call (deadline, error trailers, metrics) and never
 * forwards it again: a node that is no longer the leader answers NOT_LEADER, which the follower
 * hands back to the client, whose library follows the hint. The client's permission is checked
 * by those handlers, on the leader (the follower did not check it). Who may forward, and whose
 * certificate user the leader then believes, is forwarded-identity.ts's rule.
 */
import type { handleUnaryCall, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { kvService, leaseService } from '../../api/index.js';
import type { AdmissionContext } from '../../transport/index.js';
import { forwardedOnly } from './forwarded-identity.js';

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
 * member may forward (forwarded-identity.ts: admitted like a Raft stream, else PERMISSION_DENIED
 * and nothing runs). The handler checks the client's permission here, where the write runs: with
 * the token the follower passed on, or the certificate user the admitted member vouches for.
 */
export function forwardedKvImplementation(handlers: Readonly<Record<ForwardedMethod, UntypedServiceImplementation[string]>>, admission: AdmissionContext): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const method of forwardedMethods) {
    const handler = handlers[method] as handleUnaryCall<unknown, unknown> | undefined;
    if (handler === undefined) throw new Error(`the KV service has no ${method} handler to forward to`);
    impl[method] = forwardedOnly(handler, admission, 'forwarded write');
  }
  return impl;
}
