/**
 * The plumbing every etcd handler shares:
 *
 * - `etcdUnary`: a unary handler with a deadline (the client's, else the node's default),
 *   request metrics (method label `etcd.<Service>.<Method>`) and errors in etcd's words
 *   (etcd-errors.ts);
 * - `raftkvCall`: runs a raftkv.v1 handler (with write forwarding, validation, auth, sessions and
 *   metrics, exactly as for a raftkv client) on behalf of an etcd call, so the etcd API adds no
 *   second write or read path of its own;
 * - `authorizedCall`: the call as raftkv's authorizer sees it: etcd clients send their token in
 *   the `token` metadata, raftkv's clients in `authorization`.
 *
 * Both keep the caller's identity (`onBehalfOf`): for a call a follower passed on to this leader
 * over the peer port, the certificate user it vouched for.
 */
import { Metadata } from '@grpc/grpc-js';
import type { handleUnaryCall, sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import { RequestHeader } from '../../api/index.js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { requireEtcdWellFormed } from '../../api/etcd/index.js';
import { DeadlineExceededError } from '../../util/index.js';
import { onBehalfOf } from '../auth/authorizer.js';
import type { AuthorizedCall } from '../auth/authorizer.js';
import type { GrpcError } from '../grpc-errors.js';
import type { NodeMetrics } from '../metrics.js';
import type { NodeOptions } from '../options.js';
import { etcdStatusOf, RaftkvAnswerError } from './etcd-errors.js';

/** The metadata key etcd clients carry their auth token in. */
export const etcdTokenHeader = 'token';

/** A call's metadata and TLS context (what handlers and the authorizer read). */
export interface EtcdCallContext {
  readonly metadata: Metadata;
  getDeadline(): Date | number;
  getAuthContext?: AuthorizedCall['getAuthContext'];
}

/** An etcd request handler: the request, its absolute deadline (ms since the epoch), the call. */
export type EtcdHandler = (req: EtcdMsg, deadlineMs: number, call: EtcdCallContext) => Promise<EtcdMsg>;

/** The absolute deadline of a call (its own, else `defaultMs` from now). */
export function deadlineOf(deadline: Date | number, defaultMs: number): number {
  const d = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(d) && d > 0 ? d : Date.now() + defaultMs;
}

/** Wraps an etcd handler as a gRPC unary handler. */
export function etcdUnary(method: string, write: boolean, handler: EtcdHandler, deps: { readonly options: NodeOptions; readonly metrics: NodeMetrics }): handleUnaryCall<EtcdMsg, EtcdMsg> {
  return (call: ServerUnaryCall<EtcdMsg, EtcdMsg>, callback: sendUnaryData<EtcdMsg>) => {
    const end = deps.metrics.grpcCall(`etcd.${method}`);
    const deadlineMs = deadlineOf(call.getDeadline(), deps.options.requestTimeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineExceededError(`deadline of ${method} passed`)), Math.max(0, deadlineMs - Date.now()));
    });
    const run = async (): Promise<EtcdMsg> => {
      requireEtcdWellFormed(call.request);
      return handler(call.request, deadlineMs, call);
    };
    Promise.race([run(), expired]).then(
      (res) => {
        clearTimeout(timer);
        end('OK');
        callback(null, res);
      },
      (e: unknown) => {
        clearTimeout(timer);
        const err = etcdStatusOf(e, { write });
        end(grpcStatus[err.code] ?? String(err.code));
        callback({ ...err, name: 'EtcdError', message: err.details });
      },
    );
  };
}

/** The call's metadata as raftkv reads it: the etcd `token` also as `authorization`. */
export function raftkvMetadata(metadata: Metadata): Metadata {
  const out = metadata.clone();
  const token = metadata.get(etcdTokenHeader)[0];
  if (typeof token === 'string' && token !== '' && metadata.get('authorization').length === 0) out.set('authorization', `Bearer ${token}`);
  return out;
}

/** The call as raftkv's authorizer sees it. */
export function authorizedCall(call: EtcdCallContext): AuthorizedCall {
  const metadata = raftkvMetadata(call.metadata);
  return onBehalfOf(call, call.getAuthContext === undefined ? { metadata } : { metadata, getAuthContext: () => call.getAuthContext?.() ?? null });
}

/**
 * Runs raftkv.v1 method `method` of `service` with `request` on behalf of `call`, with its deadline
 * and its credentials (`noForward`: answered NOT_LEADER rather than forwarded on a follower).
 * Resolves with the raftkv response; rejects with `RaftkvAnswerError`.
 */
export function raftkvCall<Res>(service: UntypedServiceImplementation, method: string, request: unknown, call: EtcdCallContext, deadlineMs: number, options: { noForward?: boolean } = {}): Promise<Res> {
  const handler = service[method] as handleUnaryCall<unknown, unknown> | undefined;
  if (handler === undefined) return Promise.reject(new Error(`raftkv.v1 has no ${method} handler`));
  const metadata = raftkvMetadata(call.metadata);
  // A write that must run here (it carries what the forwarded wire cannot: a lease) is refused rather than forwarded.
  if (options.noForward === true) metadata.set(RequestHeader.forward, 'never');
  // The same caller: a call a follower passed on keeps the user it vouched for (etcd-leader-proxy.ts).
  const inner = onBehalfOf(call, {
    request,
    metadata,
    getDeadline: () => deadlineMs,
    getAuthContext: () => call.getAuthContext?.() ?? null,
    getPeer: () => 'etcd-adapter',
    cancelled: false,
  });
  return new Promise<Res>((resolve, reject) => {
    handler(inner as unknown as ServerUnaryCall<unknown, unknown>, ((err: GrpcError | null, res?: unknown) => {
      if (err !== null && err !== undefined) reject(new RaftkvAnswerError(err));
      else resolve(res as Res);
    }) as sendUnaryData<unknown>);
  });
}

/** A fresh metadata object (for handlers that build calls of their own). */
export function emptyMetadata(): Metadata {
  return new Metadata();
}
