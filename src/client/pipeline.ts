/**
 * The client's side of `Pipeline/Stream` (proto/kv.proto; server/pipeline-service.ts): with
 * `pipeline: true`, key-value calls go over one long-lived bidirectional stream per node instead
 * of one unary call each. Calls issued in the same event-loop turn are coalesced into one frame.
 *
 * This is only a transport: one attempt of a call (CallRunner) becomes one request on the stream,
 * and its answer, or its error as the node would have sent it for the unary call (the same status
 * and raftkv trailers), comes back to the runner, which retries, redirects and reports exactly as
 * for unary calls. When a stream breaks, every request in flight on it fails like a unary call
 * whose connection broke (UNAVAILABLE, outcome unknown for a write); the runner then resubmits it
 * with the SAME seq on a new stream, which exactly-once makes safe. Requests not yet sent wait for
 * the next stream.
 *
 * The client stays under the node's `pipelineLimits` (it splits frames by count and bytes and
 * holds requests back past the in-flight limit), so it never provokes RESOURCE_EXHAUSTED itself.
 */
import * as grpc from '@grpc/grpc-js';
import type { ClientDuplexStream, ServiceError } from '@grpc/grpc-js';
import type { PipelineErrorMsg, PipelineFrameMsg, PipelineOp, PipelineRequestMsg, PipelineResultFrameMsg, PipelineResultMsg } from '../api/index.js';
import { ErrorTrailer, pipelineRequestBytes, pipelineService, toNumber } from '../api/index.js';
import { pipelineLimits } from '../util/index.js';
import type { Endpoint } from './endpoint.js';

/** Room kept in a frame for its own framing, in bytes. */
const frameOverheadBytes = 1024;
/** A request larger than this goes as a unary call (it would not fit a frame). */
export const pipelinedRequestBytesMax = pipelineLimits.frameBytesMax - frameOverheadBytes;

/** One request of this client on a stream. */
interface Entry {
  readonly id: number;
  readonly op: PipelineOp;
  readonly message: PipelineRequestMsg;
  readonly bytes: number;
  readonly deadlineMs: number;
  readonly resolve: (response: unknown) => void;
  readonly reject: (e: ServiceError) => void;
  timer: NodeJS.Timeout | null;
  /** Removes the abort listener. */
  unlisten: () => void;
}

/** The pipelined streams of one client: one per endpoint, opened on first use. */
export class Pipelines {
  private readonly streams = new Map<Endpoint, PipelineStream>();
  private closed = false;

  /** Sends one request on `endpoint`'s stream; resolves with its response (the unary RPC's response message). */
  send(endpoint: Endpoint, op: PipelineOp, body: object, deadlineMs: number, signal: AbortSignal | undefined): Promise<unknown> {
    if (this.closed) return Promise.reject(streamError(grpc.status.CANCELLED, 'the client is closed'));
    let stream = this.streams.get(endpoint);
    if (stream === undefined) {
      stream = new PipelineStream(endpoint);
      this.streams.set(endpoint, stream);
    }
    return stream.send(op, body, deadlineMs, signal);
  }

  /** Whether a request fits a frame (a larger one must go as a unary call). */
  static fits(op: PipelineOp, body: object): boolean {
    return estimateBytes(op, body) <= pipelinedRequestBytesMax;
  }

  /** Ends every stream; requests in flight fail with CANCELLED. */
  close(): void {
    this.closed = true;
    for (const s of this.streams.values()) s.close();
    this.streams.clear();
  }
}

/** One endpoint's stream, reopened after it breaks. */
class PipelineStream {
  private call: ClientDuplexStream<PipelineFrameMsg, PipelineResultFrameMsg> | null = null;
  private nextId = 1;
  /** Sent and not answered, by id. */
  private readonly inFlight = new Map<number, Entry>();
  /** Not yet sent, in call order. */
  private queue: Entry[] = [];
  private flushScheduled = false;
  private closed = false;

  constructor(private readonly endpoint: Endpoint) {}

  send(op: PipelineOp, body: object, deadlineMs: number, signal: AbortSignal | undefined): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const id = this.nextId;
      this.nextId = this.nextId >= Number.MAX_SAFE_INTEGER ? 1 : this.nextId + 1;
      const timeoutMs = Math.max(1, Math.ceil(deadlineMs - Date.now()));
      const message: PipelineRequestMsg = { id, timeoutMs, [op]: body };
      const entry: Entry = { id, op, message, bytes: estimateBytes(op, body), deadlineMs, resolve, reject, timer: null, unlisten: () => {} };
      // The node answers at its deadline; this catches a node that has gone silent.
      entry.timer = setTimeout(() => this.settle(entry, streamError(grpc.status.DEADLINE_EXCEEDED, `no answer on the pipeline stream to ${this.endpoint.address} within ${timeoutMs} ms`)), timeoutMs + 50);
      if (signal !== undefined) {
        const abort = (): void => this.settle(entry, streamError(grpc.status.CANCELLED, 'cancelled by the caller'));
        if (signal.aborted) {
          abort();
          return;
        }
        signal.addEventListener('abort', abort, { once: true });
        entry.unlisten = () => signal.removeEventListener('abort', abort);
      }
      this.queue.push(entry);
      this.scheduleFlush();
    });
  }

  close(): void {
    this.closed = true;
    const call = this.call;
    this.call = null;
    call?.cancel();
    for (const e of [...this.inFlight.values(), ...this.queue]) this.settle(e, streamError(grpc.status.CANCELLED, 'the client is closed'));
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    // Everything issued in this event-loop turn goes in one frame (or as few as the limits allow).
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /** Sends queued requests, frame by frame, while the in-flight limit allows. */
  private flush(): void {
    if (this.closed || this.queue.length === 0) return;
    const call = this.call ?? this.open();
    let taken = 0;
    while (taken < this.queue.length && this.inFlight.size < pipelineLimits.requestsInFlightMax) {
      const requests: PipelineRequestMsg[] = [];
      let bytes = frameOverheadBytes;
      while (taken < this.queue.length && requests.length < pipelineLimits.requestsPerFrameMax && this.inFlight.size < pipelineLimits.requestsInFlightMax) {
        const e = this.queue[taken] as Entry;
        if (requests.length > 0 && bytes + e.bytes > pipelineLimits.frameBytesMax) break;
        taken += 1;
        requests.push(e.message);
        bytes += e.bytes;
        this.inFlight.set(e.id, e);
      }
      call.write({ requests });
    }
    this.queue = this.queue.slice(taken);
  }

  private open(): ClientDuplexStream<PipelineFrameMsg, PipelineResultFrameMsg> {
    const call = this.endpoint.duplex(pipelineService.Stream);
    this.call = call;
    call.on('data', (frame: PipelineResultFrameMsg) => {
      for (const r of frame.results ?? []) this.onResult(r);
      this.flush();
    });
    let live = false;
    const broken = (error: ServiceError): void => {
      if (this.call !== call) return;
      this.call = null;
      // A stream that never got an answer fails its requests as a unary call that found no
      // connection would (for "No connection established": certainly not sent). A live stream's
      // requests fail as calls whose connection broke: a write's outcome is unknown, and the
      // runner resubmits it with the same seq on a new stream. Only the first counts against the
      // node (circuit breaker, leader): one broken stream is one failure, not one per request.
      let first = true;
      for (const e of [...this.inFlight.values()]) {
        if (!live || first) this.settle(e, error);
        else this.settle(e, codedError(writeOps.has(e.op) ? 'OUTCOME_UNKNOWN' : 'UNAVAILABLE', `${error.details}; the request may or may not have run`));
        first = false;
      }
      if (this.queue.length > 0) this.scheduleFlush();
    };
    call.on('data', () => (live = true));
    call.on('error', (e: ServiceError) => broken(streamError(e.code, `the pipeline stream to ${this.endpoint.address} failed: ${e.details}`, e.code === grpc.status.UNAVAILABLE ? e.details : null)));
    call.on('end', () => broken(streamError(grpc.status.UNAVAILABLE, `the pipeline stream to ${this.endpoint.address} was ended by the node`)));
    return call;
  }

  private onResult(r: PipelineResultMsg): void {
    const entry = this.inFlight.get(toNumber(r.id));
    if (entry === undefined) return; // timed out or aborted meanwhile
    if (r.error) {
      this.settle(entry, errorOf(r.error));
      return;
    }
    const response = r[entry.op];
    if (response === undefined || response === null) this.settle(entry, streamError(grpc.status.INTERNAL, `the node answered a ${entry.op} request without a ${entry.op} result`));
    else this.settle(entry, null, response);
  }

  /** Settles `entry` once (answer, error, timeout, abort, break) and forgets it. */
  private settle(entry: Entry, error: ServiceError | null, response?: unknown): void {
    const wasInFlight = this.inFlight.delete(entry.id);
    const queuedAt = wasInFlight ? -1 : this.queue.indexOf(entry);
    if (!wasInFlight && queuedAt < 0) return;
    if (queuedAt >= 0) this.queue.splice(queuedAt, 1);
    if (entry.timer !== null) clearTimeout(entry.timer);
    entry.unlisten();
    if (error === null) entry.resolve(response);
    else entry.reject(error);
  }
}

/** A per-request error as the unary call would have failed: status, details, raftkv trailers. */
function errorOf(e: PipelineErrorMsg): ServiceError {
  const metadata = new grpc.Metadata();
  for (const [key, value] of Object.entries(e.trailers ?? {})) metadata.set(key, value);
  return Object.assign(new Error(e.details), { code: e.code, details: e.details, metadata });
}

/** An error without a raftkv code (classified like a transport failure); `rawDetails` keeps gRPC's own text, which tells an unsent call apart. */
function streamError(code: grpc.status, details: string, rawDetails: string | null = null): ServiceError {
  return Object.assign(new Error(details), { code, details: rawDetails ?? details, metadata: new grpc.Metadata() });
}

/** An error carrying a raftkv code, classified as the node's own answer would be. */
function codedError(code: 'OUTCOME_UNKNOWN' | 'UNAVAILABLE', details: string): ServiceError {
  const metadata = new grpc.Metadata();
  metadata.set(ErrorTrailer.code, code);
  return Object.assign(new Error(details), { code: grpc.status.UNAVAILABLE, details, metadata });
}

const writeOps: ReadonlySet<PipelineOp> = new Set(['put', 'delete', 'txn']);

/** A request's size on the wire: exact for the rare large kinds, a cheap bound for puts and gets. */
function estimateBytes(op: PipelineOp, body: object): number {
  const b = body as { key?: Uint8Array; value?: Uint8Array; clientId?: string };
  switch (op) {
    case 'put':
      return (b.key?.length ?? 0) + (b.value?.length ?? 0) + (b.clientId?.length ?? 0) + 64;
    case 'get':
      return (b.key?.length ?? 0) + 48;
    case 'delete':
    case 'range':
    case 'txn':
      return pipelineRequestBytes({ id: 0, timeoutMs: 0, [op]: body });
  }
}
