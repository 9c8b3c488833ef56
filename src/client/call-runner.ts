/**
 * Runs one call to completion: picks an endpoint, sends an attempt with the call's deadline (as
 * the gRPC deadline), and on failure decides whether and where to try again. Retries use
 * exponential backoff with full jitter, take a token from the retry budget, and happen only where
 * safe: reads, writes certainly not applied, and writes whose outcome is unknown when they carry
 * a client id and seq (the retry reuses the seq, so the server applies the write at most once).
 * Following a NOT_LEADER hint is not a retry: it costs no budget and no delay (at most 3 per call).
 * Nor does an attempt that reached no node (connection refused): it adds no load to the cluster.
 *
 * An abort of the call's `signal` cancels the attempt in flight and any wait between attempts. The
 * call then rejects with the signal's reason (an `AbortError` unless the caller gave another),
 * except a write that may already have reached a leader: that is an `OutcomeUnknownError` whose
 * `cause` is the reason, because aborting cannot take back a write the leader has.
 */
import type * as M from '../api/index.js';
import { OutcomeUnknownError, UnavailableError } from '../util/index.js';
import type { RaftkvError } from '../util/index.js';
import { fullJitterDelayMs } from './backoff.js';
import type { Endpoint } from './endpoint.js';
import { classifyFailure, DeadlineExceededError, NotLeaderError } from './errors.js';
import type { AttemptFailure } from './errors.js';
import { callHook } from './hook-call.js';
import type { ResolvedOptions } from './options.js';
import { attemptTimeoutOf } from './options.js';
import type { RetryBudget } from './retry-budget.js';
import type { Router } from './router.js';

/** Most NOT_LEADER hints followed within one call. */
const redirectsMax = 3;

/** One call, as the runner needs it. */
export interface CallSpec<Res> {
  /** The RPC name, for hooks, logs and errors. */
  readonly method: string;
  /** True if the call changes state. */
  readonly write: boolean;
  /** `leader` for writes; `any` for reads (which still go to the leader with `readFrom: 'leader'`). */
  readonly target: 'leader' | 'any';
  /** A write that may be resent when its outcome is unknown (it carries a client id and seq). */
  readonly idempotent: boolean;
  /** Absolute deadline of the whole call (ms since the epoch). */
  readonly deadlineMs: number;
  /** The call's timeout, in ms (for messages and the attempt timeout). */
  readonly timeoutMs: number;
  /** Deadline of one attempt, in ms, instead of the client's attempt timeout (calls that wait on the server, such as membership changes). */
  readonly attemptTimeoutMs?: number;
  /** Aborts the call. */
  readonly signal?: AbortSignal | undefined;
  /** Sends one attempt with the given absolute deadline; `signal` cancels it. */
  send(endpoint: Endpoint, deadlineMs: number, signal: AbortSignal | undefined): Promise<Res>;
  /** The answer's header. */
  header(response: Res): M.ResponseHeaderMsg | null | undefined;
}

/** The state of a call between attempts. */
interface CallState {
  attempt: number;
  redirects: number;
  waits: number;
  last: AttemptFailure | null;
  mayHaveApplied: boolean;
  avoid: Endpoint | null;
  redirectTo: Endpoint | null;
}

/** Runs calls with retries, backoff, budget, breakers and leader routing. */
export class CallRunner {
  private closed = false;
  private readonly sleeping = new Set<{ timer: NodeJS.Timeout; resolve: () => void }>();

  constructor(
    private readonly options: ResolvedOptions,
    private readonly router: Router,
    private readonly budget: RetryBudget | null,
  ) {}

  /** Runs `spec`; resolves with the first successful answer or rejects with a typed error. */
  async run<Res>(spec: CallSpec<Res>): Promise<{ response: Res; endpoint: Endpoint }> {
    this.budget?.onRequest();
    const state: CallState = { attempt: 0, redirects: 0, waits: 0, last: null, mayHaveApplied: false, avoid: null, redirectTo: null };
    for (;;) {
      this.assertOpen();
      if (spec.signal?.aborted) throw this.abortError(spec, state);
      if (Date.now() >= spec.deadlineMs) throw this.deadlineError(spec, state);
      const endpoint = state.redirectTo ?? (await this.pick(spec, state.avoid));
      state.redirectTo = null;
      if (spec.signal?.aborted) throw this.abortError(spec, state);
      if (endpoint === null || !(endpoint.breaker?.acquire() ?? true)) {
        await this.waitForEndpoint(spec, state);
        continue;
      }
      state.attempt += 1;
      const outcome = await this.attempt(spec, endpoint, state.attempt);
      if (outcome.ok) return { response: outcome.response, endpoint };
      if (spec.signal?.aborted) {
        // Cancelled in flight: unless it certainly never left, a write may have reached the leader.
        if (outcome.failure.notSent !== true && spec.write) state.mayHaveApplied = true;
        throw this.abortError(spec, state);
      }
      await this.afterFailure(spec, state, endpoint, outcome.failure);
    }
  }

  /** One attempt: hooks, the call, breaker bookkeeping, learning from the answer. */
  private async attempt<Res>(spec: CallSpec<Res>, endpoint: Endpoint, attempt: number): Promise<{ ok: true; response: Res } | { ok: false; failure: AttemptFailure }> {
    const event = { method: spec.method, endpoint: endpoint.address, nodeId: endpoint.nodeId, attempt, write: spec.write };
    callHook(this.options, 'onAttempt', event);
    const started = Date.now();
    const deadlineMs = Math.min(spec.deadlineMs, started + (spec.attemptTimeoutMs ?? attemptTimeoutOf(this.options, spec.timeoutMs)));
    try {
      const response = await spec.send(endpoint, deadlineMs, spec.signal);
      endpoint.breaker?.onSuccess();
      const header = spec.header(response);
      this.router.learnHeader(endpoint, header);
      // Only the leader answers a write, so the answering node leads.
      if (spec.write && header?.nodeId) this.router.setLeader(header.nodeId);
      callHook(this.options, 'onAttemptDone', { ...event, durationMs: Date.now() - started, error: null });
      return { ok: true, response };
    } catch (e) {
      const failure = classifyFailure(e, { write: spec.write, endpoint: endpoint.label, method: spec.method });
      if (failure.nodeSilent) {
        endpoint.breaker?.onFailure();
        this.router.onSilent(endpoint);
      } else {
        endpoint.breaker?.onSuccess();
      }
      callHook(this.options, 'onAttemptDone', { ...event, durationMs: Date.now() - started, error: failure.error });
      return { ok: false, failure };
    }
  }

  /** Decides what follows a failed attempt: throw, follow a hint, or back off and retry. */
  private async afterFailure<Res>(spec: CallSpec<Res>, state: CallState, endpoint: Endpoint, failure: AttemptFailure): Promise<void> {
    state.last = failure;
    if (failure.mayHaveApplied) state.mayHaveApplied = true;
    if (failure.retry === 'final') throw this.finalError(spec, state, failure.error, false);
    if (failure.retry === 'retry-idempotent' && !spec.idempotent) throw this.finalError(spec, state, failure.error, false);
    if (failure.retry === 'redirect' && failure.error instanceof NotLeaderError && failure.error.leaderId !== null && state.redirects < redirectsMax) {
      state.redirects += 1;
      const target = this.router.followHint(failure.error);
      state.redirectTo = target === endpoint ? null : target;
      return;
    }
    if (failure.retry === 'redirect') this.router.followHint({ leaderId: null, leaderAddress: null });
    if (state.attempt >= this.options.maxAttempts) throw this.finalError(spec, state, failure.error, true);
    if (failure.notSent !== true && this.budget !== null && !this.budget.tryRetry()) {
      this.options.logger.warn({ method: spec.method, err: failure.error.message }, 'raftkv client: retry budget exhausted; not retrying');
      throw this.finalError(spec, state, failure.error, true);
    }
    const delayMs = Math.max(failure.retryAfterMs, fullJitterDelayMs(state.attempt, this.options.backoff));
    if (Date.now() + delayMs >= spec.deadlineMs) throw this.deadlineError(spec, state);
    callHook(this.options, 'onRetry', { method: spec.method, attempt: state.attempt, delayMs, error: failure.error, endpoint: endpoint.address });
    this.options.logger.debug({ method: spec.method, attempt: state.attempt, delayMs, endpoint: endpoint.address, err: failure.error.message }, 'raftkv client: retrying');
    await this.sleep(delayMs, spec.signal);
    state.avoid = endpoint;
  }

  /**
   * No endpoint to send to (no leader known, every circuit open): wait with backoff and look
   * again. Nothing is sent, so no retry budget is spent.
   */
  private async waitForEndpoint<Res>(spec: CallSpec<Res>, state: CallState): Promise<void> {
    state.waits += 1;
    const why = spec.target === 'leader' ? 'no leader is known or reachable' : 'no node is reachable (every circuit is open)';
    state.last ??= { error: new UnavailableError(`${spec.method}: ${why}`), retry: 'retry', nodeSilent: false, mayHaveApplied: false, retryAfterMs: 0 };
    const delayMs = Math.max(10, fullJitterDelayMs(state.waits, this.options.backoff));
    const remaining = spec.deadlineMs - Date.now();
    if (remaining <= 0) throw this.deadlineError(spec, state);
    await this.sleep(Math.min(delayMs, remaining), spec.signal);
    // Every circuit open: probe the node due first now rather than sit out its cooldown.
    this.router.probeWhenAllOpen();
  }

  /** Where the next attempt goes; may run a discovery round. */
  private async pick<Res>(spec: CallSpec<Res>, avoid: Endpoint | null): Promise<Endpoint | null> {
    if (spec.target === 'any' && this.options.readFrom === 'any') return this.router.anyEndpoint(avoid);
    let e = this.router.leaderEndpoint();
    if (e === null) {
      await untilAborted(this.router.discover(spec.deadlineMs), spec.signal);
      this.assertOpen();
      e = this.router.leaderEndpoint();
    }
    // Any node serves reads; only writes must wait for a leader.
    if (e === null && spec.target === 'any') e = this.router.anyEndpoint(avoid);
    return e;
  }

  /**
   * The error for a call that stops after `error`. A write that an earlier attempt may have
   * applied is reported as OUTCOME_UNKNOWN unless the node's answer settled it.
   */
  private finalError<Res>(spec: CallSpec<Res>, state: CallState, error: RaftkvError, gaveUp: boolean): RaftkvError {
    if (spec.write && state.mayHaveApplied && gaveUp && !(error instanceof OutcomeUnknownError)) {
      return new OutcomeUnknownError(`${spec.method}: ${error.message}; an earlier attempt may have been applied`, { cause: error });
    }
    return error;
  }

  /** The error of an aborted call (see the file comment). */
  private abortError<Res>(spec: CallSpec<Res>, state: CallState): unknown {
    const reason: unknown = spec.signal?.reason ?? new DOMException('This operation was aborted', 'AbortError');
    if (spec.write && state.mayHaveApplied) return new OutcomeUnknownError(`${spec.method}: aborted after an attempt that may have been applied`, { cause: reason });
    return reason;
  }

  private deadlineError<Res>(spec: CallSpec<Res>, state: CallState): DeadlineExceededError {
    const outcome = spec.write ? (state.mayHaveApplied ? 'unknown' : 'not_applied') : null;
    const last = state.last === null ? '' : `; last error: ${state.last.error.message}`;
    const note = outcome === 'unknown' ? ' (the write may or may not have been applied)' : '';
    return new DeadlineExceededError(`${spec.method} did not complete within ${spec.timeoutMs} ms${note}${last}`, outcome, { cause: state.last?.error });
  }

  /** Waits `ms`, or less if the client closes or `signal` aborts (the caller checks which). */
  private sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(entry.timer);
        this.sleeping.delete(entry);
        signal?.removeEventListener('abort', wake);
        resolve();
      };
      const entry = { timer: setTimeout(wake, ms), resolve: wake };
      this.sleeping.add(entry);
      signal?.addEventListener('abort', wake, { once: true });
    });
  }

  private assertOpen(): void {
    if (this.closed) throw new UnavailableError('the client is closed');
  }

  /** Fails every call that is waiting between attempts. */
  close(): void {
    this.closed = true;
    for (const s of [...this.sleeping]) s.resolve();
    this.sleeping.clear();
  }
}

/** Resolves when `work` settles or `signal` aborts, whichever is first (never rejects). */
export function untilAborted(work: Promise<unknown>, signal: AbortSignal | undefined): Promise<void> {
  const settled = work.then(
    () => {},
    () => {},
  );
  if (signal === undefined) return settled;
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    void settled.then(done);
  });
}
