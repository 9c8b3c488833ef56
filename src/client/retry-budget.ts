/**
 * A retry budget (after Finagle's RetryBudget and gRPC's retry throttling): retries may add at
 * most `ratio` of the request rate, plus a small time-based minimum so that a client making few
 * requests (a CLI call) can still retry. A sick cluster therefore sees at most (1 + ratio) times
 * the normal load from this client, never a retry storm.
 *
 * Two buckets: every request deposits `ratio` tokens in the earned bucket (capped at
 * `burstMax`); the reserve refills at `minPerSecond` tokens per second up to `minPerSecond`.
 * A retry takes one token, from the earned bucket first.
 */

/** Retry budget parameters. */
export interface RetryBudgetOptions {
  /** Tokens each request earns: the fraction of requests that may be retried (0.2 = 20%). */
  readonly ratio: number;
  /** Retries always allowed per second, whatever the request rate (also the reserve's size). */
  readonly minPerSecond: number;
  /** Most earned tokens banked, so a long healthy period cannot fund a storm later. */
  readonly burstMax: number;
}

/** The default budget: 20% of requests, plus 10 retries a second, at most 100 banked. */
export const defaultRetryBudget: RetryBudgetOptions = Object.freeze({ ratio: 0.2, minPerSecond: 10, burstMax: 100 });

/** A token bucket limiting retries to a fraction of requests. */
export class RetryBudget {
  /** Tokens earned by requests. Invariant: 0 <= earned <= burstMax. */
  private earned = 0;
  /** Time-based tokens. Invariant: 0 <= reserve <= minPerSecond. */
  private reserve: number;
  /** When the reserve was last refilled (ms, from `now`). */
  private refilledAtMs: number;

  constructor(
    private readonly options: RetryBudgetOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.reserve = options.minPerSecond;
    this.refilledAtMs = now();
  }

  /** Records a request (a first attempt). */
  onRequest(): void {
    this.earned = Math.min(this.options.burstMax, this.earned + this.options.ratio);
  }

  /** Takes a token for one retry; false when the budget is spent (do not retry). */
  tryRetry(): boolean {
    this.refill();
    // The epsilon absorbs floating-point dust: five deposits of 0.2 make one token.
    if (this.earned >= 1 - 1e-9) {
      this.earned = Math.max(0, this.earned - 1);
      return true;
    }
    if (this.reserve >= 1 - 1e-9) {
      this.reserve = Math.max(0, this.reserve - 1);
      return true;
    }
    return false;
  }

  /** Tokens available now (for tests and metrics). */
  available(): number {
    this.refill();
    return Math.floor(this.earned + 1e-9) + Math.floor(this.reserve + 1e-9);
  }

  private refill(): void {
    const now = this.now();
    const elapsedMs = Math.max(0, now - this.refilledAtMs);
    this.refilledAtMs = now;
    this.reserve = Math.min(this.options.minPerSecond, this.reserve + (elapsedMs / 1000) * this.options.minPerSecond);
  }
}
