/**
 * The follower's side of write forwarding: a client write (Put, Delete, Txn) that reaches a node
 * which is not the leader is passed on to the leader over the peer port (`ForwardedKV`,
 * proto/forward.proto), so scripts, load balancers and plain gRPC tools can send writes to any
 * node. The request goes unchanged (client id and sequence number included, so a retried write
 * is still applied once) with the client's deadline; the leader's answer, or its status and
 * raftkv trailers, come back unchanged.
 *
 * Outcomes stay honest: if the leader cannot be reached before anything is sent, the write was
 * certainly not applied (UNAVAILABLE, `not_applied`); if the call fails after it was sent without
 * an answer from the leader's handlers, it may have been applied (`unknown`).
 *
 * Clients that prefer to find the leader themselves send `raftkv-forward: never` and get the
 * NOT_LEADER answer with the leader's id and address, as before (the client library does).
 */
import * as grpc from '@grpc/grpc-js';
import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { Counter, Gauge } from 'prom-client';
import { ErrorTrailer, RequestHeader } from '../../api/index.js';
import { DeadlineExceededError, OutcomeUnknownError, OverloadedError, UnavailableError } from '../../util/index.js';
import type { Logger, NodeId } from '../../util/index.js';
import { toGrpcError } from '../grpc-errors.js';
import { vouchFor } from './forwarded-identity.js';
import { forwardedKvService } from './forwarded-kv-service.js';
import type { ForwardedMethod } from './forwarded-kv-service.js';

/**
 * How long before the client's deadline the forwarded call gives up, so that this node can still
 * tell the client what it knows (an outcome trailer) before the client stops listening.
 */
export const forwardAnswerMarginMs = 100;
/** Longest wait for a connection to the leader before the write is refused as not applied. */
export const forwardConnectTimeoutMs = 1_000;
/** Client metadata carried to the leader with a forwarded write. */
const carriedHeaders = [RequestHeader.requestId, 'authorization'] as const;

/** What the forwarder needs to know about the node. */
export interface ForwardingView {
  readonly role: string;
  readonly leader: NodeId | null;
  readonly peerAddresses: ReadonlyMap<NodeId, string>;
}

/** What `WriteForwarder` needs. */
export interface WriteForwarderDeps {
  readonly selfId: NodeId;
  readonly view: ForwardingView;
  /** Credentials for a channel to a peer (the same as the Raft transport's: mutual TLS when on). */
  readonly credentials: (peer: NodeId) => grpc.ChannelCredentials;
  /** Forwarded writes in flight at most (`Limits.forwardsPendingMax`). */
  readonly forwardsPendingMax: number;
  /** Deadline for a request that came without one (the node's default request timeout). */
  readonly defaultTimeoutMs: number;
  readonly registry: Registry;
  readonly logger: Logger;
}

/** How a forwarded write ended, for the metric. */
type ForwardOutcome = 'ok' | 'leader_error' | 'unreachable' | 'unknown' | 'shed';

const ForwardedClient = grpc.makeGenericClientConstructor(forwardedKvService as unknown as grpc.ServiceDefinition, 'ForwardedKV');

/** Forwards client writes from a follower to the leader. */
export class WriteForwarder {
  /** One channel per leader (id and peer address), kept while the node runs. */
  private readonly clients = new Map<string, grpc.Client>();
  private pending = 0;
  private readonly forwarded: Counter<'method' | 'outcome'>;
  private closed = false;

  constructor(private readonly deps: WriteForwarderDeps) {
    this.forwarded = new Counter({
      name: 'raftkv_forwarded_writes_total',
      help: 'Client writes this follower forwarded to the leader, by method and outcome',
      labelNames: ['method', 'outcome'],
      registers: [deps.registry],
    });
    this.pendingGauge = new Gauge({ name: 'raftkv_forwarded_writes_pending', help: 'Client calls (writes, leader-only etcd calls) forwarded to the leader and not yet answered', registers: [deps.registry] });
  }

  private readonly pendingGauge: Gauge;

  /** The leader and its peer address when a write arriving here should be forwarded, else null. */
  target(): { readonly leader: NodeId; readonly address: string } | null {
    const { view, selfId } = this.deps;
    if (this.closed || view.role === 'leader' || view.leader === null || view.leader === selfId) return null;
    const address = view.peerAddresses.get(view.leader);
    return address === undefined || address === '' ? null : { leader: view.leader, address };
  }

  /** Forwards one call to `target` and answers it. */
  forward(method: ForwardedMethod, target: { readonly leader: NodeId; readonly address: string }, call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>): void {
    const { deps } = this;
    let release: () => void;
    try {
      release = this.reserve();
    } catch (e) {
      this.count(method, 'shed');
      callback(toGrpcError(e, { write: true }));
      return;
    }
    const done = (outcome: ForwardOutcome, err: grpc.StatusObject | Partial<grpc.StatusObject> | null, res?: unknown): void => {
      release();
      this.count(method, outcome);
      if (err === null) callback(null, res);
      else callback(err as grpc.ServerErrorResponse);
    };
    const clientDeadline = deadlineOf(call.getDeadline(), deps.defaultTimeoutMs);
    // Give up a little before the client does, to tell it the outcome (never below a few ms).
    const deadline = Math.max(Date.now() + 5, clientDeadline - Math.min(forwardAnswerMarginMs, (clientDeadline - Date.now()) / 10));
    const client = this.clientFor(target.leader, target.address);
    // Connect first: a failure here means nothing was sent, so the write was certainly not applied.
    whenConnected(client.getChannel(), Math.min(deadline, Date.now() + forwardConnectTimeoutMs), (connectError) => {
      if (connectError !== null) {
        const e = new UnavailableError(`this node is not the leader and cannot reach the leader ${target.leader} at ${target.address} to forward the write: ${connectError}`);
        done('unreachable', toGrpcError(e, { write: true }));
        return;
      }
      const metadata = new grpc.Metadata();
      for (const key of carriedHeaders) for (const value of call.metadata.get(key)) metadata.add(key, value);
      // A client that signed in with a certificate: the leader cannot see it, this node vouches for its name.
      vouchFor(call, metadata, deps.selfId);
      metadata.set(RequestHeader.forwardedBy, deps.selfId);
      const definition = forwardedKvService[method];
      client.makeUnaryRequest(definition.path, definition.requestSerialize as (r: unknown) => Buffer, definition.responseDeserialize, call.request, metadata, { deadline }, (e, res) => {
        if (e === null) {
          done('ok', null, res);
          return;
        }
        if (e.metadata !== undefined && e.metadata.get(ErrorTrailer.code).length > 0) {
          // The leader's handlers answered: their status and trailers are the truth, passed on as they are.
          done('leader_error', { code: e.code, details: e.details, metadata: raftkvTrailers(e.metadata) });
          return;
        }
        // The call was sent and failed without an answer from the leader: it may have been applied.
        deps.logger.warn({ leader: target.leader, method, code: e.code, err: e.details }, 'forwarding: the call to the leader failed after it was sent');
        const failure = e.code === grpc.status.DEADLINE_EXCEEDED ? new DeadlineExceededError(`the deadline passed while the write was forwarded to the leader ${target.leader}`) : new OutcomeUnknownError(`the write was forwarded to the leader ${target.leader}, which did not answer (${e.details}); it may or may not have been applied`);
        done('unknown', toGrpcError(failure, { write: true }));
      });
    });
  }

  /**
   * Takes one of the `forwardsPendingMax` places shared by every call this follower has passed on
   * to the leader and not yet seen answered (its writes, the etcd leader proxy's calls): returns
   * the function that gives it back (once; later calls do nothing). Throws `OverloadedError` when
   * none is free, so the call is shed before anything is sent.
   */
  reserve(): () => void {
    const max = this.deps.forwardsPendingMax;
    if (this.pending >= max) throw new OverloadedError(`too many calls forwarded to the leader and not yet answered (forwardsPendingMax ${max})`, 100);
    this.pendingGauge.set(++this.pending);
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      this.pendingGauge.set(--this.pending);
    };
  }

  /** Closes every channel. */
  close(): void {
    this.closed = true;
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }

  /**
   * The channel to `leader`'s peer port (one per leader id and address, shared by every call
   * forwarded there, the etcd leader proxy's included).
   */
  clientFor(leader: NodeId, address: string): grpc.Client {
    const key = `${leader}@${address}`;
    let client = this.clients.get(key);
    if (client === undefined) {
      // Reconnect quickly after a leader restarts (grpc-js backs off up to two minutes by default).
      client = new ForwardedClient(address, this.deps.credentials(leader), { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 });
      this.clients.set(key, client);
    }
    return client;
  }

  private count(method: ForwardedMethod, outcome: ForwardOutcome): void {
    this.forwarded.inc({ method, outcome });
  }
}

/** The KV service's write methods, by their name in the service and as forwarded. */
export const kvForwardedMethods: Readonly<Record<string, ForwardedMethod>> = { Put: 'Put', Delete: 'Delete', Txn: 'Txn' };
/** The Lease service's write methods, by their name in the service and as forwarded. */
export const leaseForwardedMethods: Readonly<Record<string, ForwardedMethod>> = { Grant: 'LeaseGrant', Revoke: 'LeaseRevoke' };

/**
 * A service (KV by default) with its write methods forwarding to the leader when this node is
 * not the leader (and the client did not refuse forwarding). Everything else is unchanged.
 */
export function withWriteForwarding(service: UntypedServiceImplementation, forwarder: WriteForwarder, methods: Readonly<Record<string, ForwardedMethod>> = kvForwardedMethods): UntypedServiceImplementation {
  const wrapped: UntypedServiceImplementation = { ...service };
  for (const [name, method] of Object.entries(methods)) {
    const local = service[name] as grpc.handleUnaryCall<unknown, unknown> | undefined;
    if (local === undefined) throw new Error(`the service has no ${name} handler`);
    wrapped[name] = ((call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
      const target = call.metadata.get(RequestHeader.forward)[0] === 'never' ? null : forwarder.target();
      if (target === null) local(call, callback);
      else forwarder.forward(method, target, call, callback);
    }) as grpc.handleUnaryCall<unknown, unknown>;
  }
  return wrapped;
}

/**
 * Calls back with null once `channel` is READY, or with why not: it failed to connect
 * (TRANSIENT_FAILURE: refused, unreachable) or `deadlineMs` passed. Never waits out a channel
 * that already failed.
 */
function whenConnected(channel: ReturnType<grpc.Client['getChannel']>, deadlineMs: number, callback: (error: string | null) => void): void {
  const state = channel.getConnectivityState(true);
  switch (state) {
    case grpc.connectivityState.READY:
      callback(null);
      return;
    case grpc.connectivityState.TRANSIENT_FAILURE:
      callback('the connection failed');
      return;
    case grpc.connectivityState.SHUTDOWN:
      callback('the node is shutting down');
      return;
    case grpc.connectivityState.IDLE:
    case grpc.connectivityState.CONNECTING:
      if (Date.now() >= deadlineMs) {
        callback('no connection within the time allowed');
        return;
      }
      channel.watchConnectivityState(state, deadlineMs, (e) => {
        if (e) callback('no connection within the time allowed');
        else whenConnected(channel, deadlineMs, callback);
      });
      return;
  }
}

/** Only raftkv's own trailers, so nothing of the peer hop's transport leaks to the client. */
function raftkvTrailers(metadata: grpc.Metadata): grpc.Metadata {
  const out = new grpc.Metadata();
  for (const [key, value] of Object.entries(metadata.getMap())) if (key.startsWith('raftkv-')) out.set(key, value);
  return out;
}

function deadlineOf(deadline: grpc.Deadline, defaultMs: number): number {
  const d = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(d) && d > 0 ? d : Date.now() + defaultMs;
}
