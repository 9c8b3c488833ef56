/**
 * Hooks for metrics and tracing: plain callbacks the client calls synchronously at each attempt,
 * retry and circuit change. A hook that throws is logged and otherwise ignored: observing the
 * client must never break it.
 */
import type { RaftkvError } from '../util/index.js';
import type { BreakerState } from './circuit-breaker.js';

/** An attempt is about to be sent. */
export interface AttemptEvent {
  /** The RPC: `Put`, `Get`, `Delete`, `Range`, `Txn`, `Watch`, `Status`, `MemberList`. */
  readonly method: string;
  /** The endpoint (host:port) the attempt goes to. */
  readonly endpoint: string;
  /** The node id behind the endpoint, once known. */
  readonly nodeId: string | null;
  /** 1 for the first attempt of a call, 2 for the next, ... */
  readonly attempt: number;
  /** True for writes. */
  readonly write: boolean;
}

/** An attempt ended. */
export interface AttemptDoneEvent extends AttemptEvent {
  readonly durationMs: number;
  /** Null on success, else the typed error of this attempt. */
  readonly error: RaftkvError | null;
}

/** The client will retry a call after `delayMs`. */
export interface RetryEvent {
  readonly method: string;
  /** The number of the attempt that failed. */
  readonly attempt: number;
  readonly delayMs: number;
  /** Why: the failed attempt's error. */
  readonly error: RaftkvError;
  /** The endpoint of the failed attempt. */
  readonly endpoint: string;
}

/** An endpoint's circuit changed state. */
export interface BreakerStateChangeEvent {
  readonly endpoint: string;
  readonly nodeId: string | null;
  readonly from: BreakerState;
  readonly to: BreakerState;
}

/** The client learned of a new leader. */
export interface LeaderChangeEvent {
  /** The leader's node id, or null when none is known. */
  readonly leaderId: string | null;
  /** The leader's endpoint, when known. */
  readonly endpoint: string | null;
}

/** A watch lost its stream and will resume. */
export interface WatchResumeEvent {
  readonly endpoint: string;
  /** The revision the watch resumes from (last seen + 1). */
  readonly fromRevision: number;
  readonly error: RaftkvError;
}

/** Every hook, all optional. */
export interface ClientHooks {
  onAttempt?(event: AttemptEvent): void;
  onAttemptDone?(event: AttemptDoneEvent): void;
  onRetry?(event: RetryEvent): void;
  onBreakerStateChange?(event: BreakerStateChangeEvent): void;
  onLeaderChange?(event: LeaderChangeEvent): void;
  onWatchResume?(event: WatchResumeEvent): void;
}
