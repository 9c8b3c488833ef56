/**
 * `raftkv.v1.Pipeline/Stream` (proto/kv.proto): many requests per frame on one long-lived
 * bidirectional stream, for clients that pipeline like database drivers do.
 *
 * Each request runs through the node's OWN unary KV handlers, the very functions `KV/Put`,
 * `KV/Get`, ... run (with write forwarding on a follower, see forwarding/), called with a
 * `PipelinedCall` standing for the unary call: the request, the stream's metadata (token,
 * `raftkv-forward`, request id), the request's own deadline and the stream's TLS context. So
 * checks, permissions, exactly-once sessions, deadlines, NOT_LEADER, forwarding, errors and
 * request metrics are those of the unary path, not a copy.
 *
 * Order: requests are handed to the handlers synchronously, in the order they arrive, and a write
 * handler proposes before its first await, so one stream's writes are proposed (and applied) in
 * order. Results are sent as they complete, gathered into one frame per event-loop turn.
 *
 * Bounds (util/limits.ts `pipelineLimits`): streams per node, requests per frame, bytes per frame,
 * requests in flight per stream, frames pending per stream. A request past a count limit is
 * answered RESOURCE_EXHAUSTED (OVERLOADED, retry hint, outcome not_applied: it never ran); a frame
 * over the byte limit ends the stream with RESOURCE_EXHAUSTED before any of it runs.
 */
import type { Metadata, ServerDuplexStream, ServerUnaryCall, ServiceError, UntypedServiceImplementation, handleUnaryCall } from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import { Gauge } from 'prom-client';
import { ErrorTrailer } from '../api/index.js';
import type { DecodedPipelineFrame, DecodedPipelineRequest, PipelineErrorMsg, PipelineOp, PipelineResultFrameMsg, PipelineResultMsg } from '../api/index.js';
import { assert, InvalidArgumentError, OverloadedError, pipelineLimits } from '../util/index.js';
import type { Logger } from '../util/index.js';
import { toGrpcError } from './grpc-errors.js';
import type { NodeMetrics } from './metrics.js';

/** The unary KV method each pipelined operation runs through. */
const methodOf = { put: 'Put', get: 'Get', delete: 'Delete', range: 'Range', txn: 'Txn' } as const satisfies Record<PipelineOp, string>;
const writeOps: ReadonlySet<PipelineOp> = new Set(['put', 'delete', 'txn']);

/**
 * What the KV handlers may use of a unary call (kv-service.ts `unary`, the authorizer, the write
 * forwarder): a pipelined request provides exactly this. A handler that needs more of the call
 * must add it here.
 */
type PipelinedCall = Pick<ServerUnaryCall<unknown, unknown>, 'request' | 'metadata' | 'getDeadline' | 'getAuthContext' | 'getPeer'>;

/** What the service needs. */
export interface PipelineServiceDeps {
  /** The client port's KV implementation (with write forwarding), whose unary handlers run each request. */
  readonly kv: UntypedServiceImplementation;
  readonly metrics: NodeMetrics;
  readonly logger: Logger;
}

type Stream = ServerDuplexStream<DecodedPipelineFrame, PipelineResultFrameMsg>;

/** Builds the `Pipeline` service implementation. */
export function pipelineServiceImplementation(deps: PipelineServiceDeps): UntypedServiceImplementation {
  const handlers = new Map<PipelineOp, handleUnaryCall<unknown, unknown>>();
  for (const [op, method] of Object.entries(methodOf) as [PipelineOp, string][]) {
    const handler = deps.kv[method] as handleUnaryCall<unknown, unknown> | undefined;
    if (handler === undefined) throw new Error(`the KV service has no ${method} handler for pipelined ${op} requests`);
    handlers.set(op, handler);
  }
  let open = 0;
  const streamsGauge = new Gauge({ name: 'raftkv_pipeline_streams', help: 'Pipeline streams open on this node', registers: [deps.metrics.registry] });
  return {
    Stream: (call: Stream) => {
      const end = deps.metrics.grpcCall('Pipeline');
      if (open >= pipelineLimits.streamsMax) {
        end('RESOURCE_EXHAUSTED');
        failStream(call, new OverloadedError(`too many pipeline streams open on this node (pipelineLimits.streamsMax ${pipelineLimits.streamsMax})`, pipelineLimits.retryAfterMs));
        return;
      }
      streamsGauge.set(++open);
      const session = new PipelineSession(call, handlers, deps.logger, () => {
        streamsGauge.set(--open);
        assert(open >= 0, 'pipeline stream count went negative');
      });
      session.start(end);
    },
  };
}

/** One stream's state: requests in flight, frames pending, results waiting to be sent. */
class PipelineSession {
  private inFlight = 0;
  private framesPending = 0;
  private readonly ids = new Set<number>();
  private outgoing: PipelineResultMsg[] = [];
  private flushScheduled = false;
  /** The client half-closed: end once every request is answered. */
  private halfClosed = false;
  /** The stream is over (ended, cancelled, failed): results are dropped. */
  private done = false;
  /** Set when the node refused the stream's token: the stream ends after this turn's results. */
  private endWith: ServiceError | null = null;

  constructor(
    private readonly call: Stream,
    private readonly handlers: ReadonlyMap<PipelineOp, handleUnaryCall<unknown, unknown>>,
    private readonly logger: Logger,
    private readonly onClosed: () => void,
  ) {}

  /** Counts the stream as closed, once, however it ended (set by `start`). */
  private close: (code: string) => void = () => {};

  start(end: (code: string) => void): void {
    let closed = false;
    const close = (code: string): void => {
      if (closed) return;
      closed = true;
      this.done = true;
      end(code);
      this.onClosed();
    };
    this.close = close;
    this.call.on('data', (frame: DecodedPipelineFrame) => this.onFrame(frame));
    this.call.on('end', () => {
      this.halfClosed = true;
      this.maybeEnd();
    });
    this.call.on('cancelled', () => close('CANCELLED'));
    this.call.on('error', () => close('ERROR'));
    this.call.on('close', () => close('OK'));
    this.call.on('finish', () => close('OK'));
  }

  private onFrame(frame: DecodedPipelineFrame): void {
    if (this.done) return;
    if (frame.bytes > pipelineLimits.frameBytesMax) {
      this.fail(new OverloadedError(`a frame of ${frame.bytes} bytes is over pipelineLimits.frameBytesMax (${pipelineLimits.frameBytesMax}); nothing in it ran`, pipelineLimits.retryAfterMs));
      return;
    }
    const refuseAll = this.framesPending >= pipelineLimits.framesPendingMax;
    let running = 0;
    const frameDone = (): void => {
      running -= 1;
      if (running === 0) this.framesPending -= 1;
    };
    // Counted as pending before any request runs: a request may complete synchronously.
    running += 1;
    this.framesPending += 1;
    frame.requests.forEach((r, i) => {
      if (r.ok === false) {
        if (r.id === null) this.fail(r.error);
        else this.answerError(r.id, r.error, false);
        return;
      }
      const refusal = refuseAll
        ? `too many frames of this stream pending (pipelineLimits.framesPendingMax ${pipelineLimits.framesPendingMax})`
        : i >= pipelineLimits.requestsPerFrameMax
          ? `request ${i + 1} of a frame of ${frame.requests.length} is past pipelineLimits.requestsPerFrameMax (${pipelineLimits.requestsPerFrameMax})`
          : this.inFlight >= pipelineLimits.requestsInFlightMax
            ? `too many requests of this stream in flight (pipelineLimits.requestsInFlightMax ${pipelineLimits.requestsInFlightMax})`
            : null;
      if (refusal !== null) {
        this.answerError(r.id, new OverloadedError(`${refusal}; it was not run`, pipelineLimits.retryAfterMs), writeOps.has(r.op));
        return;
      }
      if (this.ids.has(r.id)) {
        this.answerError(r.id, new InvalidArgumentError('id', `${r.id} is already in flight on this stream`), writeOps.has(r.op));
        return;
      }
      running += 1;
      this.run(r, frameDone);
    });
    frameDone();
  }

  /** Runs one request through its unary handler. */
  private run(r: Extract<DecodedPipelineRequest, { ok: true }>, frameDone: () => void): void {
    this.inFlight += 1;
    this.ids.add(r.id);
    const deadlineMs = r.timeoutMs > 0 ? Date.now() + r.timeoutMs : Number.POSITIVE_INFINITY;
    const unaryCall: PipelinedCall = {
      request: r.body,
      metadata: this.call.metadata,
      getDeadline: () => deadlineMs,
      getAuthContext: () => this.call.getAuthContext(),
      getPeer: () => this.call.getPeer(),
    };
    const handler = this.handlers.get(r.op);
    assert(handler !== undefined, `no handler for ${r.op}`);
    let answered = false;
    handler(unaryCall as ServerUnaryCall<unknown, unknown>, (err, res) => {
      assert(!answered, `pipelined request ${r.id} answered twice`);
      answered = true;
      this.inFlight -= 1;
      this.ids.delete(r.id);
      frameDone();
      if (err) {
        const e = err as Partial<ServiceError>;
        this.push({ id: r.id, error: errorMsg(e.code ?? grpcStatus.INTERNAL, e.details ?? e.message ?? 'error', e.metadata) });
        // A refused token (expired): end the stream with UNAUTHENTICATED so the client's
        // credentials drop it and the next stream signs in afresh.
        if (e.code === grpcStatus.UNAUTHENTICATED && e.metadata?.get(ErrorTrailer.authRetry)[0] === 'token') this.endWith ??= e as ServiceError;
      } else {
        this.push({ id: r.id, [r.op]: res });
      }
      this.maybeEnd();
    });
  }

  private answerError(id: number, e: unknown, write: boolean): void {
    const g = toGrpcError(e, { write });
    this.push({ id, error: errorMsg(g.code, g.details, g.metadata) });
  }

  private push(result: PipelineResultMsg): void {
    if (this.done) return;
    this.outgoing.push(result);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Every result of this event-loop turn goes in one frame.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.done) return;
    const results = this.outgoing;
    this.outgoing = [];
    if (results.length > 0) this.call.write({ results });
    if (this.endWith !== null) {
      this.done = true;
      this.call.emit('error', this.endWith);
      this.close('UNAUTHENTICATED');
      return;
    }
    this.maybeEnd();
  }

  /** Ends the stream once the client half-closed and everything is answered and sent. */
  private maybeEnd(): void {
    if (this.done || !this.halfClosed || this.inFlight > 0 || this.outgoing.length > 0 || this.flushScheduled) return;
    this.done = true;
    this.call.end();
    this.close('OK');
  }

  private fail(e: unknown): void {
    if (this.done) return;
    this.done = true;
    this.logger.debug({ err: e instanceof Error ? e.message : String(e) }, 'pipeline stream refused');
    failStream(this.call, e);
    this.close('REFUSED');
  }
}

/** Ends `call` with the gRPC status of `e` (`emit('error')`: grpc-js then sends the status and trailers). */
function failStream(call: Stream, e: unknown): void {
  const g = toGrpcError(e, { write: false });
  call.emit('error', Object.assign(new Error(g.details), g));
}

/** A result's error: the status and only raftkv's own trailers. */
function errorMsg(code: number, details: string, metadata: Metadata | undefined): PipelineErrorMsg {
  const trailers: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata?.getMap() ?? {})) if (key.startsWith('raftkv-') && typeof value === 'string') trailers[key] = value;
  return { code, details, trailers };
}
