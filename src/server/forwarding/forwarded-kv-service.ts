/**
 * `raftkv.raft.v1.ForwardedKV` (proto/forward.proto): the leader's side of write forwarding. It
 * lives on the peer port and takes exactly raftkv.v1.KV's write messages, with the same codecs,
 * so what a follower forwards is the client's request byte for byte. The leader runs it through
 * the same handlers as a direct client call (deadline, error trailers, metrics) and never
 * forwards it again: a node that is no longer the leader answers NOT_LEADER, which the follower
 * hands back to the client, whose library follows the hint.
 */
import type { ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { kvService } from '../../api/index.js';

/** The client writes that can be forwarded. */
export const forwardedMethods = ['Put', 'Delete', 'Txn'] as const;
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
} satisfies ServiceDefinition;

/**
 * The leader's implementation: the KV service's own write handlers, unwrapped (never the
 * forwarding ones), so a forwarded request is handled once, by whoever receives it.
 */
export function forwardedKvImplementation(kv: UntypedServiceImplementation): UntypedServiceImplementation {
  const impl: UntypedServiceImplementation = {};
  for (const method of forwardedMethods) {
    const handler = kv[method];
    if (handler === undefined) throw new Error(`the KV service has no ${method} handler to forward to`);
    impl[method] = handler;
  }
  return impl;
}
