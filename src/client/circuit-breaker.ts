/**
 * A circuit breaker per endpoint (Nygard, "Release It!"): after `failureThreshold` consecutive
 * failures of a node (it did not answer: connection refused or dropped, attempt timed out) the
 * circuit OPENS and the client stops calling the node. After `cooldownMs` the circuit is HALF-OPEN:
 * exactly one call (the probe) may go through; its success CLOSES the circuit, its failure opens
 * it again with a doubled cooldown (up to `cooldownMaxMs`).
 *
 * When every circuit of the client is open, the router ends the cooldown of the one due first
 * (router.ts, `probeWhenAllOpen`): nothing is protected by waiting then.
 *
 * Only a node's silence counts as a failure. A node that answers with an error (not the leader,
 * no quorum, bad input) is alive and reachable, which is what the breaker tracks.
 */

/** A circuit's state. */
export type BreakerState = 'closed' | 'open' | 'half-open';

/** Circuit breaker parameters. */
export interface CircuitBreakerOptions {
  /** Consecutive failures that open the circuit. */
  readonly failureThreshold: number;
  /** How long an open circuit refuses calls before letting a probe through, in ms. */
  readonly cooldownMs: number;
  /** The cooldown doubles after each failed probe, up to this, in ms. */
  readonly cooldownMaxMs: number;
}

/**
 * The default breaker: open after 3 consecutive failures, probe after 2 s, then 4 s, then every
 * 5 s. The cap is short because a probe is one call: with 30 s, a client that saw the whole
 * cluster down for 20 s (a restart) kept every circuit open for up to 16 s after the cluster was
 * back (issue 12: 31 s to the first read where the nodes served after 14 s).
 */
export const defaultCircuitBreaker: CircuitBreakerOptions = Object.freeze({ failureThreshold: 3, cooldownMs: 2000, cooldownMaxMs: 5000 });

/** One endpoint's circuit. */
export class CircuitBreaker {
  /** The current state. */
  private current: BreakerState = 'closed';
  /** Consecutive failures while closed. Invariant: < failureThreshold while closed. */
  private failures = 0;
  /** When the circuit last opened (ms). */
  private openedAtMs = 0;
  /** The current cooldown, in ms. Invariant: cooldownMs <= cooldown <= cooldownMaxMs. */
  private cooldown: number;
  /** True while the half-open probe is in flight. Invariant: only in half-open. */
  private probing = false;

  constructor(
    private readonly options: CircuitBreakerOptions,
    private readonly onChange: (from: BreakerState, to: BreakerState) => void = () => {},
    private readonly now: () => number = Date.now,
  ) {
    this.cooldown = options.cooldownMs;
  }

  /** The state as of now (an open circuit whose cooldown has passed reports half-open). */
  get state(): BreakerState {
    if (this.current === 'open' && this.now() - this.openedAtMs >= this.cooldown) return 'half-open';
    return this.current;
  }

  /** When an open circuit turns half-open, in the breaker's clock (ms); 0 unless open. */
  get halfOpenAtMs(): number {
    return this.current === 'open' ? this.openedAtMs + this.cooldown : 0;
  }

  /**
   * Ends an open circuit's cooldown now, so the next call is its probe. For when every circuit
   * of the client is open: then nothing is protected by waiting, and the caller paces the probes.
   */
  endCooldown(): void {
    if (this.current === 'open') this.openedAtMs = this.now() - this.cooldown;
  }

  /** Whether a call may go to the endpoint now (without taking the probe slot). */
  available(): boolean {
    const state = this.state;
    return state === 'closed' || (state === 'half-open' && !this.probing);
  }

  /**
   * Marks the start of a call. Returns false if the circuit refuses it; in half-open, the
   * accepted call is the probe and no other call passes until it ends.
   */
  acquire(): boolean {
    const state = this.state;
    if (state === 'closed') return true;
    if (state === 'open' || this.probing) return false;
    if (this.current === 'open') this.transition('half-open');
    this.probing = true;
    return true;
  }

  /** The call reached the node (whatever the node answered). */
  onSuccess(): void {
    this.failures = 0;
    this.probing = false;
    if (this.current !== 'closed') {
      this.cooldown = this.options.cooldownMs;
      this.transition('closed');
    }
  }

  /** The node did not answer the call. */
  onFailure(): void {
    if (this.current === 'half-open') {
      this.probing = false;
      this.cooldown = Math.min(this.options.cooldownMaxMs, this.cooldown * 2);
      this.open();
      return;
    }
    if (this.current === 'open') return;
    this.failures += 1;
    if (this.failures >= this.options.failureThreshold) this.open();
  }

  /** A call that was acquired ended without telling anything about the node (it was cancelled). */
  onAbandon(): void {
    this.probing = false;
  }

  private open(): void {
    this.failures = 0;
    this.openedAtMs = this.now();
    this.transition('open');
  }

  private transition(to: BreakerState): void {
    const from = this.current;
    if (from === to) return;
    this.current = to;
    this.onChange(from, to);
  }
}
