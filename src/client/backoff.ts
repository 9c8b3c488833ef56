/**
 * Exponential backoff with FULL jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"):
 * the delay before retry n is uniform in [0, min(maxDelayMs, baseDelayMs * 2^(n-1))]. Full jitter
 * spreads the retries of many clients that failed together, so they do not return in lockstep.
 */

/** Backoff parameters. */
export interface BackoffOptions {
  /** The cap of the first retry's delay, in ms. */
  readonly baseDelayMs: number;
  /** The largest cap, in ms. */
  readonly maxDelayMs: number;
}

/** The default backoff: 25 ms doubling up to 1 s. */
export const defaultBackoff: BackoffOptions = Object.freeze({ baseDelayMs: 25, maxDelayMs: 1000 });

/**
 * The delay before retry number `retry` (1 for the first retry). `random` returns a number in
 * [0, 1) and is injectable for tests.
 */
export function fullJitterDelayMs(retry: number, options: BackoffOptions, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(retry - 1, 0), 30);
  const cap = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** exponent);
  return Math.floor(random() * cap);
}
