// Unit tests of the client's pure policies: full-jitter backoff, the retry budget, the circuit
// breaker's state machine and the exactly-once write window.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { fullJitterDelayMs } from './backoff.js';
import { CircuitBreaker, defaultCircuitBreaker } from './circuit-breaker.js';
import type { BreakerState } from './circuit-breaker.js';
import type { Endpoint } from './endpoint.js';
import { resolveOptions } from './options.js';
import { RetryBudget } from './retry-budget.js';
import { Router } from './router.js';
import { WriteSession } from './write-session.js';

describe('fullJitterDelayMs', () => {
  it('stays within [0, min(max, base * 2^(n-1))) for every retry number and random draw', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 100 }), fc.double({ min: 0, max: 0.999999, noNaN: true }), (retry, r) => {
        const d = fullJitterDelayMs(retry, { baseDelayMs: 25, maxDelayMs: 1000 }, () => r);
        return d >= 0 && d < Math.min(1000, 25 * 2 ** (retry - 1)) + 1e-9;
      }),
    );
  });

  it('spreads delays over the whole window (full jitter, not equal jitter)', () => {
    expect(fullJitterDelayMs(5, { baseDelayMs: 10, maxDelayMs: 1000 }, () => 0)).toBe(0);
    expect(fullJitterDelayMs(5, { baseDelayMs: 10, maxDelayMs: 1000 }, () => 0.999)).toBe(159);
  });
});

describe('RetryBudget', () => {
  it('allows retries of at most ratio * requests plus the reserve, and refills the reserve over time', () => {
    let now = 0;
    const budget = new RetryBudget({ ratio: 0.2, minPerSecond: 5, burstMax: 100 }, () => now);
    for (let i = 0; i < 100; i++) budget.onRequest();
    let retries = 0;
    while (budget.tryRetry()) retries++;
    expect(retries).toBe(20 + 5);
    now += 1000;
    let more = 0;
    while (budget.tryRetry()) more++;
    expect(more).toBe(5);
  });

  it('caps banked tokens at burstMax', () => {
    const budget = new RetryBudget({ ratio: 1, minPerSecond: 0, burstMax: 3 }, () => 0);
    for (let i = 0; i < 50; i++) budget.onRequest();
    expect(budget.available()).toBe(3);
  });
});

describe('CircuitBreaker', () => {
  it('opens after the threshold, refuses during the cooldown, lets one probe through, and closes on its success', () => {
    let now = 0;
    const changes: string[] = [];
    const b = new CircuitBreaker({ failureThreshold: 3, cooldownMs: 1000, cooldownMaxMs: 8000 }, (f: BreakerState, t: BreakerState) => changes.push(`${f}>${t}`), () => now);
    b.onFailure();
    b.onFailure();
    expect(b.available()).toBe(true);
    b.onFailure();
    expect(b.state).toBe('open');
    expect(b.acquire()).toBe(false);
    now = 999;
    expect(b.available()).toBe(false);
    now = 1000;
    expect(b.state).toBe('half-open');
    expect(b.acquire()).toBe(true);
    expect(b.acquire()).toBe(false); // only one probe
    b.onSuccess();
    expect(b.state).toBe('closed');
    expect(changes).toEqual(['closed>open', 'open>half-open', 'half-open>closed']);
  });

  it('reopens with a doubled cooldown when the probe fails, and a success resets the failure count', () => {
    let now = 0;
    const b = new CircuitBreaker({ failureThreshold: 2, cooldownMs: 100, cooldownMaxMs: 300 }, () => {}, () => now);
    b.onFailure();
    b.onSuccess();
    b.onFailure();
    expect(b.state).toBe('closed');
    b.onFailure();
    expect(b.state).toBe('open');
    for (const cooldown of [200, 300, 300]) {
      now += 100;
      expect(b.acquire()).toBe(true);
      b.onFailure();
      now += cooldown - 1;
      expect(b.available()).toBe(false);
      now += 1 - 100;
    }
  });
});

describe('defaultCircuitBreaker', () => {
  it('probes a node that stays silent at least every 5 s, however long it stays down', () => {
    // Proves issue 12's restart finding: the default cooldown doubled up to 30 s, so a client that saw a cluster
    // restart of 20 s waited up to 16 s more before trying the nodes that were back.
    let now = 0;
    const b = new CircuitBreaker(defaultCircuitBreaker, () => {}, () => now);
    for (let i = 0; i < defaultCircuitBreaker.failureThreshold; i++) b.onFailure();
    for (let probe = 0; probe < 20; probe++) {
      expect(b.state).toBe('open');
      let waitedMs = 0;
      while (!b.available()) {
        now += 100;
        waitedMs += 100;
      }
      expect(waitedMs).toBeLessThanOrEqual(5000);
      expect(b.acquire()).toBe(true);
      b.onFailure();
    }
  });
});

describe('Router.probeWhenAllOpen', () => {
  it('ends one cooldown when every circuit is open, and none while a node is still reachable', () => {
    // Proves issue 12's kept-client finding: with every node down (a restart), the client waited out each
    // breaker's cooldown after the cluster was back (17.6 s to the first read against 13.5 s for a new client).
    const router = new Router(resolveOptions({ endpoints: ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'] }));
    const [a, b, c] = router.endpoints as [Endpoint, Endpoint, Endpoint];
    const silence = (e: Endpoint): void => {
      for (let i = 0; i < defaultCircuitBreaker.failureThreshold; i++) e.breaker?.onFailure();
    };
    silence(a);
    silence(b);
    expect(router.probeWhenAllOpen()).toBe(false);
    expect([a, b, c].map((e) => e.available())).toEqual([false, false, true]);
    silence(c);
    expect([a, b, c].some((e) => e.available())).toBe(false);
    expect(router.probeWhenAllOpen()).toBe(true);
    expect([a, b, c].filter((e) => e.available())).toHaveLength(1);
    // One node may be probed now: nothing more until that probe has failed too.
    expect(router.probeWhenAllOpen()).toBe(false);
    router.close();
  });
});

describe('WriteSession', () => {
  it('acknowledges only a contiguous prefix of completed seqs', async () => {
    const s = new WriteSession('c', 100);
    const seqs = await Promise.all([s.begin(), s.begin(), s.begin(), s.begin()]);
    expect(seqs).toEqual([1, 2, 3, 4]);
    s.complete(2);
    expect(s.ackSeq).toBe(0);
    s.complete(1);
    expect(s.ackSeq).toBe(2);
    s.complete(4);
    expect(s.ackSeq).toBe(2);
    s.complete(3);
    expect(s.ackSeq).toBe(4);
  });

  it('makes new writes wait while windowMax seqs are outstanding above ackSeq', async () => {
    const s = new WriteSession('c', 2);
    await s.begin();
    await s.begin();
    let third = 0;
    const pending = s.begin().then((seq) => (third = seq));
    await new Promise((r) => setTimeout(r, 5));
    expect(third).toBe(0);
    s.complete(2);
    await new Promise((r) => setTimeout(r, 5));
    expect(third).toBe(0); // seq 1 still outstanding
    s.complete(1);
    await pending;
    expect(third).toBe(3);
  });

  it('keeps ackSeq below every seq still in flight (property)', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { minLength: 1, maxLength: 40 }), async (order) => {
        const s = new WriteSession('c', 1000);
        const seqs: number[] = [];
        for (let i = 0; i < order.length; i++) seqs.push(await s.begin());
        const inFlight = new Set(seqs);
        for (const pick of order) {
          const list = [...inFlight];
          const seq = list[pick % list.length] as number;
          s.complete(seq);
          inFlight.delete(seq);
          for (const f of inFlight) if (s.ackSeq >= f) return false;
        }
        return s.ackSeq === seqs.length;
      }),
    );
  });
});
