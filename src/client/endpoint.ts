/**
 * One node's client address: a long-lived gRPC channel (created on first use and shared by every
 * call to the node: HTTP/2 multiplexes them), its circuit breaker, and the node id behind it once
 * learned. Channels are never created per call.
 */
import * as grpc from '@grpc/grpc-js';
import type { ClientDuplexStream, ClientReadableStream, MethodDefinition, ServiceError } from '@grpc/grpc-js';
import { RequestHeader } from '../api/index.js';
import { CircuitBreaker } from './circuit-breaker.js';
import type { BreakerState } from './circuit-breaker.js';
import type { ResolvedOptions } from './options.js';

/** Channel options tuned for a database client on a LAN. */
const baseChannelOptions: grpc.ChannelOptions = {
  // A restarted node is found again within a second, not after gRPC's default of up to 2 minutes.
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.min_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  // Detects a silent peer (paused, partitioned) on long-lived watch streams.
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  // Large ranges: the server sends up to 64 MiB.
  'grpc.max_receive_message_length': 64 * 1024 * 1024 + 1024,
  'grpc.max_send_message_length': 64 * 1024 * 1024,
  // The client retries itself, with exactly-once semantics gRPC cannot know about.
  'grpc.enable_retries': 0,
};

let requestCounter = 0;

/** A node's endpoint. */
export class Endpoint {
  /** The node id behind this address: from its own answers, or as the cluster advertises it. */
  nodeId: string | null = null;
  /**
   * True once the node at this address answered with `nodeId` itself: the address is proven to
   * reach that node. An advertised address (member list, NOT_LEADER hint) is not, until it answers:
   * in a container layout a node may advertise a name only its peers can resolve.
   */
  verified = false;
  /** Null when circuit breaking is off. */
  readonly breaker: CircuitBreaker | null;
  private client: grpc.Client | null = null;
  private closed = false;

  constructor(
    /** host:port. */
    readonly address: string,
    /** True if the address was given to the client (an endpoint of `connect`), not learned. */
    readonly seed: boolean,
    private readonly options: ResolvedOptions,
    onBreakerChange: (endpoint: Endpoint, from: BreakerState, to: BreakerState) => void,
  ) {
    this.breaker = options.circuitBreaker ? new CircuitBreaker(options.circuitBreaker, (from, to) => onBreakerChange(this, from, to)) : null;
  }

  /** Whether calls may go here now (circuit closed, or half-open with no probe in flight). */
  available(): boolean {
    return !this.closed && (this.breaker?.available() ?? true);
  }

  /** A description for messages: `n2 (127.0.0.1:7002)` or the address. */
  get label(): string {
    return this.nodeId === null ? this.address : `${this.nodeId} (${this.address})`;
  }

  /** The shared gRPC client, created on first use. */
  private grpcClient(): grpc.Client {
    if (this.closed) throw new Error(`endpoint ${this.address} is closed`);
    this.client ??= new grpc.Client(this.address, this.options.credentials, { ...baseChannelOptions, ...this.options.channelOptions });
    return this.client;
  }

  /**
   * A unary call with an absolute deadline (ms since the epoch), sent as the gRPC deadline. An
   * abort of `signal` cancels the call (it then fails with gRPC's CANCELLED).
   */
  unary<Req, Res>(method: MethodDefinition<Req, Res>, request: Req, deadlineMs: number, signal?: AbortSignal): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      let call: grpc.ClientUnaryCall | null = null;
      const cancel = (): void => call?.cancel();
      call = this.grpcClient().makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        requestMetadata(),
        { deadline: deadlineMs },
        (err: ServiceError | null, res?: Res) => {
          signal?.removeEventListener('abort', cancel);
          if (err) reject(err);
          else resolve(res as Res);
        },
      );
      if (signal?.aborted) cancel();
      else signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  /** A server-streaming call: with no `deadlineMs` it lives until cancelled. */
  stream<Req, Res>(method: MethodDefinition<Req, Res>, request: Req, deadlineMs?: number): ClientReadableStream<Res> {
    return this.grpcClient().makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, request, requestMetadata(), deadlineMs === undefined ? {} : { deadline: deadlineMs });
  }

  /**
   * One request and its one answer on a bidirectional stream (etcd's KeepAliveOnce shape): the
   * stream is opened, the request written, the writing side closed, and the first answer taken.
   */
  bidiOnce<Req, Res>(method: MethodDefinition<Req, Res>, request: Req, deadlineMs: number, signal?: AbortSignal): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      const call = this.grpcClient().makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, requestMetadata(), { deadline: deadlineMs });
      let answered = false;
      const cancel = (): void => call.cancel();
      const finish = (): void => {
        signal?.removeEventListener('abort', cancel);
      };
      call.on('data', (res: Res) => {
        if (answered) return;
        answered = true;
        finish();
        resolve(res);
        call.cancel();
      });
      call.on('error', (err: ServiceError) => {
        finish();
        if (!answered) reject(err);
      });
      call.on('end', () => {
        finish();
        if (!answered) reject(Object.assign(new Error('the stream ended without an answer'), { code: grpc.status.UNAVAILABLE, details: 'the stream ended without an answer', metadata: new grpc.Metadata() }));
      });
      if (signal?.aborted) cancel();
      else signal?.addEventListener('abort', cancel, { once: true });
      call.write(request);
      call.end();
    });
  }

  /** A bidirectional stream with no deadline (it lives until ended or cancelled): the pipeline's (pipeline.ts). */
  duplex<Req, Res>(method: MethodDefinition<Req, Res>): ClientDuplexStream<Req, Res> {
    return this.grpcClient().makeBidiStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, requestMetadata());
  }

  /** Closes the channel; later calls fail. */
  close(): void {
    this.closed = true;
    this.client?.close();
    this.client = null;
  }
}

function requestMetadata(): grpc.Metadata {
  const metadata = new grpc.Metadata();
  requestCounter = (requestCounter + 1) % Number.MAX_SAFE_INTEGER;
  metadata.set(RequestHeader.requestId, `${process.pid.toString(36)}-${requestCounter.toString(36)}`);
  // The library finds the leader itself (NOT_LEADER hints, the cached leader): a follower should
  // answer with the hint rather than forward, so the client learns the leader and saves the hop.
  metadata.set(RequestHeader.forward, 'never');
  return metadata;
}
