/**
 * Reconnection delays: exponential backoff with "full jitter" (AWS Architecture Blog, "Exponential
 * Backoff and Jitter"): the delay is drawn uniformly from [0, min(max, base * 2^attempt)). The
 * jitter keeps the nodes of a cluster that lost a peer at the same moment from reconnecting in
 * lockstep.
 */

/** Options of `fullJitterBackoffMs`. */
export interface BackoffOptions {
  /** Consecutive failed attempts so far (0 for the first retry). */
  readonly attempt: number;
  /** The ceiling of the first delay. */
  readonly baseMs: number;
  /** The largest ceiling. */
  readonly maxMs: number;
  /** A uniform random number in [0, 1). */
  readonly random: () => number;
}

/** The delay before the next attempt, in whole milliseconds. */
export function fullJitterBackoffMs({ attempt, baseMs, maxMs, random }: BackoffOptions): number {
  // Cap the exponent so that 2^attempt cannot overflow to Infinity after a long outage.
  const ceilingMs = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceilingMs);
}
