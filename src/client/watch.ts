/**
 * `watch()`: an async iterator of changes to a key or a range that survives node failures. The
 * watch remembers the revision of the last change it received; when its stream breaks (the node
 * died or restarted, the connection dropped, the server ended the watch) it reopens on a healthy
 * node from `last + 1`, and drops anything at or below `last` that a lagging node sends again.
 * So the consumer sees every change exactly once, in revision order, or an error:
 * `CompactedError` when no node still keeps the history needed to resume.
 *
 * A watch "from now" first reads the range's current revision R linearizably, then watches from
 * R + 1: that makes even the first reconnect gap-free.
 */
import type { ClientReadableStream, ServiceError } from '@grpc/grpc-js';
import type * as M from '../api/index.js';
import { EventType, kvService, toNumber } from '../api/index.js';
import { CompactedError, UnavailableError } from '../util/index.js';
import type { RaftkvError } from '../util/index.js';
import { fullJitterDelayMs } from './backoff.js';
import type { Endpoint } from './endpoint.js';
import { classifyFailure } from './errors.js';
import { callHook } from './hook-call.js';
import type { ResolvedOptions } from './options.js';
import type { RangeFields } from './requests.js';
import { KeyValue } from './results.js';
import type { Router } from './router.js';

/** One change to one key. */
export interface WatchEvent {
  readonly type: 'put' | 'delete';
  /** The key after the change; for a delete, the key with an empty value. */
  readonly kv: KeyValue;
  /** The key before the change, when `prevKv` was asked for and the key existed. */
  readonly prevKv: KeyValue | null;
  /** The revision of the change. */
  readonly revision: number;
}

/** What the watch needs from the client. */
export interface WatchDeps {
  readonly options: ResolvedOptions;
  readonly router: Router;
  /** The range's current revision, read linearizably (for "from now"). */
  readonly currentRevision: () => Promise<number>;
  /** Rewrites each event before delivery (a namespace strips its prefix from the keys). */
  readonly mapEvent?: (event: WatchEvent) => WatchEvent;
}

/** The stream ended; why. */
type StreamEnd =
  | { readonly kind: 'error'; readonly error: unknown }
  | { readonly kind: 'canceled'; readonly reason: string; readonly compactRevision: number }
  | { readonly kind: 'ended' }
  | { readonly kind: 'closed' };

/** Events buffered before the stream is paused (and resumed below half of it). */
const bufferEventsMax = 1000;

/** A running watch. Iterate it with `for await`; `close()` (or `break`) ends it. */
export class Watch implements AsyncIterable<WatchEvent> {
  private readonly queue: WatchEvent[] = [];
  private waiter: { resolve: (r: IteratorResult<WatchEvent>) => void; reject: (e: unknown) => void } | null = null;
  private failure: Error | null = null;
  private closed = false;
  /** The next revision to deliver; 0 until "now" is known. Invariant: every delivered event's revision < next. */
  private next: number;
  private stream: ClientReadableStream<M.WatchResponseMsg> | null = null;
  private endStream: ((end: StreamEnd) => void) | null = null;
  private current: Endpoint | null = null;
  private paused = false;
  /** Ends the current pause early (set while pausing). */
  private wake: (() => void) | null = null;
  private readonly done: Promise<void>;

  constructor(
    private readonly deps: WatchDeps,
    private readonly request: RangeFields & { prevKv: boolean },
    fromRevision: number,
    signal?: AbortSignal,
  ) {
    this.next = fromRevision;
    if (signal?.aborted === true) this.closed = true;
    else signal?.addEventListener('abort', () => this.close(), { once: true });
    this.done = this.run().catch((e: unknown) => this.fail(e instanceof Error ? e : new Error(String(e))));
  }

  /** The revision of the last change received (0 before the first). */
  get lastRevision(): number {
    return Math.max(0, this.next - 1);
  }

  /** The endpoint the watch is streaming from now, or null between streams. */
  get endpoint(): string | null {
    return this.current?.address ?? null;
  }

  /** The node id the watch is streaming from now, when known. */
  get nodeId(): string | null {
    return this.current?.nodeId ?? null;
  }

  /** Ends the watch; a pending `next()` resolves as done. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const stream = this.stream;
    this.endStream?.({ kind: 'closed' });
    stream?.cancel();
    this.wake?.();
    this.settleWaiter();
  }

  /** Resolves once the watch has stopped (closed or failed). */
  async stopped(): Promise<void> {
    await this.done;
  }

  [Symbol.asyncIterator](): AsyncIterator<WatchEvent> {
    return {
      next: () => this.pull(),
      return: async () => {
        this.close();
        return { done: true, value: undefined };
      },
    };
  }

  private pull(): Promise<IteratorResult<WatchEvent>> {
    const event = this.queue.shift();
    if (event !== undefined) {
      if (this.paused && this.queue.length <= bufferEventsMax / 2) {
        this.paused = false;
        this.stream?.resume();
      }
      return Promise.resolve({ done: false, value: event });
    }
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.closed) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  private deliver(event: WatchEvent): void {
    if (this.waiter !== null) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ done: false, value: event });
      return;
    }
    this.queue.push(event);
    if (!this.paused && this.queue.length >= bufferEventsMax) {
      this.paused = true;
      this.stream?.pause();
    }
  }

  private fail(error: Error): void {
    if (this.closed) return;
    this.failure = error;
    this.closed = true;
    this.stream?.cancel();
    this.settleWaiter();
  }

  private settleWaiter(): void {
    if (this.waiter === null || this.queue.length > 0) return;
    const w = this.waiter;
    this.waiter = null;
    if (this.failure !== null) w.reject(this.failure);
    else w.resolve({ done: true, value: undefined });
  }

  /** Opens streams until closed, resuming after each break from the last revision received. */
  private async run(): Promise<void> {
    const { options, router } = this.deps;
    let failures = 0;
    /** Endpoints that no longer keep the history to resume from `next`. */
    const compacted = new Set<Endpoint>();
    let avoid: Endpoint | null = null;
    while (!this.closed) {
      if (this.next === 0) {
        try {
          this.next = (await this.deps.currentRevision()) + 1;
        } catch (e) {
          failures += 1;
          options.logger.warn({ err: String(e) }, 'raftkv client: watch cannot read the current revision yet');
          await this.pause(fullJitterDelayMs(failures, { ...options.backoff, maxDelayMs: Math.max(options.backoff.maxDelayMs, 2000) }));
          continue;
        }
      }
      const endpoint = pickEndpoint(router, compacted, avoid);
      if (endpoint === null) {
        if (compacted.size > 0 && compacted.size >= router.endpoints.length) {
          throw new CompactedError(`watch: no node keeps the history from revision ${this.next} any more; re-read the range and watch from its current revision`);
        }
        failures += 1;
        await this.pause(fullJitterDelayMs(failures, { ...options.backoff, maxDelayMs: Math.max(options.backoff.maxDelayMs, 2000) }));
        continue;
      }
      const before = this.next;
      const end = await this.stream1(endpoint);
      if (end.kind === 'closed' || this.closed) return;
      const progressed = this.next > before;
      if (progressed) compacted.clear();
      failures = progressed ? 1 : failures + 1;
      avoid = endpoint;
      const error = this.onStreamEnd(endpoint, end, compacted);
      if (error === null) continue; // compacted on that node: try another at once
      callHook(options, 'onWatchResume', { endpoint: endpoint.address, fromRevision: this.next, error });
      options.logger.info({ endpoint: endpoint.address, fromRevision: this.next, err: error.message }, 'raftkv client: watch stream ended; resuming');
      await this.pause(fullJitterDelayMs(failures, options.backoff));
    }
  }

  /** Bookkeeping after a stream ended: the error to report, or null to move on to another node at once. */
  private onStreamEnd(endpoint: Endpoint, end: Exclude<StreamEnd, { kind: 'closed' }>, compacted: Set<Endpoint>): RaftkvError | null {
    if (end.kind === 'canceled') {
      if (end.compactRevision > 0 && this.next <= end.compactRevision) {
        compacted.add(endpoint);
        return null;
      }
      return new UnavailableError(`watch canceled by ${endpoint.label}: ${end.reason}`);
    }
    if (end.kind === 'ended') return new UnavailableError(`watch stream from ${endpoint.label} ended`);
    const failure = classifyFailure(end.error, { write: false, endpoint: endpoint.label, method: 'Watch' });
    if (failure.nodeSilent) {
      endpoint.breaker?.onFailure();
      this.deps.router.onSilent(endpoint);
    }
    if (failure.retry === 'final' && !(end.error as Partial<ServiceError>).code) throw failure.error;
    return failure.error;
  }

  /** Streams from `endpoint` until the stream ends; resolves with why. */
  private stream1(endpoint: Endpoint): Promise<StreamEnd> {
    const { options, router } = this.deps;
    callHook(options, 'onAttempt', { method: 'Watch', endpoint: endpoint.address, nodeId: endpoint.nodeId, attempt: 1, write: false });
    return new Promise<StreamEnd>((resolve) => {
      let settled = false;
      const finish = (end: StreamEnd): void => {
        if (settled) return;
        settled = true;
        this.stream = null;
        this.endStream = null;
        this.current = null;
        this.paused = false;
        resolve(end);
      };
      const stream = endpoint.stream(kvService.Watch, { ...this.request, startRevision: this.next });
      this.stream = stream;
      this.current = endpoint;
      this.endStream = finish;
      stream.on('data', (res: M.WatchResponseMsg) => {
        if (settled) return;
        router.learnHeader(endpoint, res.header);
        endpoint.breaker?.onSuccess();
        this.accept(res);
        if (res.canceled) {
          finish({ kind: 'canceled', reason: res.cancelReason || 'no reason given', compactRevision: toNumber(res.compactRevision) });
          stream.cancel();
        }
      });
      stream.on('error', (error: unknown) => finish({ kind: 'error', error }));
      stream.on('end', () => finish({ kind: 'ended' }));
    });
  }

  /** Delivers a response's events, skipping any at or below the last revision received. */
  private accept(res: M.WatchResponseMsg): void {
    let highest = 0;
    for (const e of res.events ?? []) {
      const kv = KeyValue.fromMessage(e.kv);
      const revision = kv.modRevision;
      if (revision < this.next) continue; // already delivered (a lagging node replays it)
      highest = Math.max(highest, revision);
      const event: WatchEvent = { type: e.type === EventType.DELETE ? 'delete' : 'put', kv, prevKv: e.prevKv ? KeyValue.fromMessage(e.prevKv) : null, revision };
      this.deliver(this.deps.mapEvent === undefined ? event : this.deps.mapEvent(event));
    }
    if (highest >= this.next) this.next = highest + 1;
  }

  /** Sleeps `ms`, or less if the watch is closed meanwhile. */
  private pause(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }
}

/** A healthy endpoint that has not refused to resume, other than `avoid` when there is a choice. */
function pickEndpoint(router: Router, compacted: ReadonlySet<Endpoint>, avoid: Endpoint | null): Endpoint | null {
  const candidates = router.endpoints.filter((e) => e.available() && !compacted.has(e));
  const preferred = candidates.filter((e) => e !== avoid);
  const from = preferred.length > 0 ? preferred : candidates;
  // Random, so that many watches spread over the nodes.
  return from[Math.floor(Math.random() * from.length)] ?? null;
}
