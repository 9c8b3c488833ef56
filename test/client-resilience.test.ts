// Resilience of the client library against real node failures: circuit breaker, exactly-once
// writes across a leader crash, gap-free watch resumption, the retry budget, and the opt-in stale
// fallback. Each test counts what the client did (through its hooks) so that it fails without
// the mechanism it covers.
import { beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { useTestCluster } from './support/test-cluster.js';
import { connect } from '../src/client/index.js';
import type { AttemptEvent, BreakerStateChangeEvent, ClientOptions, RaftkvClient, RetryEvent, WatchEvent } from '../src/client/index.js';

let cluster: LocalCluster;
const clients: RaftkvClient[] = [];
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function client(options: Partial<ClientOptions> = {}): Promise<RaftkvClient> {
  const kv = await connect({ endpoints: cluster.endpoints, ...options });
  clients.push(kv);
  return kv;
}

/** Restarts node `id` and waits until it follows the current leader. */
async function restart(id: string): Promise<void> {
  cluster.start(id);
  await cluster.waitForHttp(id, 20_000);
  const leader = await cluster.waitForLeader();
  while ((await cluster.status(id))?.leader !== leader.id) await sleep(20);
}

/** Restarts any node a failed earlier test left dead, so each test starts with three nodes. */
async function allRunning(): Promise<void> {
  for (const s of cluster.specs) if (cluster.pid(s.id) === null) await restart(s.id);
}

useTestCluster('client-resilience', {
  started: (c) => (cluster = c),
  beforeClose: () => {
    for (const kv of clients) kv.close();
  },
});

describe('circuit breaker', () => {
  it('stops calling a dead node after a few failures, and closes again once a probe gets through', async () => {
    await allRunning();
    const leader = (await cluster.waitForLeader()).id;
    const dead = cluster.specs.find((s) => s.id !== leader) as (typeof cluster.specs)[number];
    const withBreaker: AttemptEvent[] = [];
    const breakerEvents: BreakerStateChangeEvent[] = [];
    const guarded = await client({
      circuitBreaker: { failureThreshold: 3, cooldownMs: 400 },
      hooks: { onAttempt: (e) => withBreaker.push(e), onBreakerStateChange: (e) => breakerEvents.push(e) },
    });
    const without: AttemptEvent[] = [];
    const unguarded = await client({ circuitBreaker: false, hooks: { onAttempt: (e) => without.push(e) } });
    await guarded.put('cb/k', 'v');
    await cluster.kill(dead.id);

    const started = Date.now();
    for (let i = 0; i < 60; i++) expect((await guarded.get('cb/k')).text).toBe('v');
    const elapsedMs = Date.now() - started;
    for (let i = 0; i < 60; i++) expect((await unguarded.get('cb/k')).text).toBe('v');

    const toDeadGuarded = withBreaker.filter((a) => a.endpoint === dead.clientAddress && a.method === 'Get').length;
    const toDeadUnguarded = without.filter((a) => a.endpoint === dead.clientAddress && a.method === 'Get').length;
    // Three failures open the circuit; then at most one probe per (doubling) cooldown.
    expect(toDeadGuarded).toBeLessThanOrEqual(3 + Math.ceil(elapsedMs / 400));
    expect(toDeadUnguarded).toBeGreaterThanOrEqual(15);
    expect(breakerEvents.some((e) => e.endpoint === dead.clientAddress && e.to === 'open')).toBe(true);

    await restart(dead.id);
    const deadline = Date.now() + 15_000;
    while (!breakerEvents.some((e) => e.endpoint === dead.clientAddress && e.to === 'closed') && Date.now() < deadline) {
      await guarded.get('cb/k');
      await sleep(20);
    }
    expect(breakerEvents.filter((e) => e.endpoint === dead.clientAddress).map((e) => e.to)).toContain('half-open');
    expect(breakerEvents.filter((e) => e.endpoint === dead.clientAddress).at(-1)?.to).toBe('closed');
  });
});

describe('exactly-once writes', () => {
  it('applies every write once through lost answers and a leader crash (retries reuse the seq)', async () => {
    await allRunning();
    const retries: RetryEvent[] = [];
    // Short attempts, so that answers delayed by the pause below are given up on and retried.
    // No retry budget or circuit breaker: they would (rightly) back off from a cluster this sick,
    // and have their own tests.
    const kv = await client({ timeoutMs: 20_000, attemptTimeoutMs: 250, maxAttempts: 100, retryBudget: false, circuitBreaker: false, hooks: { onRetry: (e) => retries.push(e) } });
    const leader = (await cluster.waitForLeader()).id;
    const followers = cluster.specs.map((s) => s.id).filter((id) => id !== leader);
    const writers = 20;
    const perWriter = 20;
    let acknowledged = 0;
    const faults: Promise<void>[] = [];
    const onAck = (n: number): void => {
      if (n === 100) {
        // Followers pause for less than an election timeout: the leader keeps leading, its
        // in-flight writes commit once they resume, but their answers come too late for the
        // attempts, which are retried. A retry with a new seq would apply the write twice.
        for (const f of followers) cluster.signal(f, 'SIGSTOP');
        faults.push(sleep(400).then(() => followers.forEach((f) => cluster.signal(f, 'SIGCONT'))));
      }
      if (n === 250) faults.push(cluster.kill(leader));
    };
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < perWriter; i++) {
          await kv.put(`eo/${w}/${i}`, `${w}.${i}`);
          onAck(++acknowledged);
        }
      }),
    );
    await Promise.all(faults);
    const r = await kv.range({ prefix: 'eo/' });
    expect(r.count).toBe(writers * perWriter);
    // A write applied twice would have version 2 (and a create revision below its mod revision).
    expect(r.kvs.filter((k) => k.version !== 1 || k.createRevision !== k.modRevision).map((k) => k.keyText)).toEqual([]);
    // Writes whose outcome was unknown were retried (the mechanism under test was exercised).
    expect(retries.filter((e) => e.method === 'Put' && e.error.code === 'OUTCOME_UNKNOWN').length).toBeGreaterThan(writers);
    await restart(leader);
  });
});

describe('watch', () => {
  it('resumes on another node after the one it streams from dies, with no gap and no repeat', async () => {
    await allRunning();
    const leader = (await cluster.waitForLeader()).id;
    const followers = cluster.specs.filter((s) => s.id !== leader);
    const resumes: string[] = [];
    // The watch uses the followers only, so the writes below go on while its node is down.
    const kv = await client({ endpoints: followers.map((s) => s.clientAddress), hooks: { onWatchResume: (e) => resumes.push(e.endpoint) } });
    const writer = await client({ timeoutMs: 15_000 });
    const watch = kv.watch('wr/', { prefix: true });
    const events: WatchEvent[] = [];
    const total = 90;
    const collected = (async () => {
      for await (const e of watch) if (events.push(e) === total) break;
    })();
    while (watch.nodeId === null) await sleep(10);
    const victim = watch.nodeId;
    const put = (i: number): Promise<unknown> => writer.put(`wr/${String(i).padStart(3, '0')}`, `v${i}`);
    for (let i = 0; i < 30; i++) await put(i);
    // Writes 30..59 happen while the watched node is frozen, then it dies: the watch must replay
    // them from another node (resuming "from now" would skip them; from the start, repeat 0..29).
    cluster.signal(victim, 'SIGSTOP');
    for (let i = 30; i < 60; i++) await put(i);
    await cluster.kill(victim);
    for (let i = 60; i < total; i++) await put(i);
    await Promise.race([collected, sleep(20_000).then(() => Promise.reject(new Error(`only ${events.length} events arrived`)))]);
    expect(resumes.length).toBeGreaterThan(0);
    expect(watch.nodeId).not.toBe(victim);
    const stored = await writer.range({ prefix: 'wr/' });
    expect(events.map((e) => `${e.kv.keyText}@${e.revision}`)).toEqual(stored.kvs.map((k) => `${k.keyText}@${k.modRevision}`));
    watch.close();
    await restart(victim);
  });
});

describe('without a quorum', () => {
  let survivor: string;

  beforeAll(async () => {
    await allRunning();
    const kv = await client();
    await kv.put('fb/key', 'last known');
    const leader = (await cluster.waitForLeader()).id;
    survivor = leader;
    for (const s of cluster.specs) if (s.id !== survivor) await cluster.kill(s.id);
    // The old leader steps down once it cannot reach a majority (check-quorum).
    while ((await cluster.status(survivor))?.leader !== null) await sleep(50);
  });

  it('caps retries with the budget: the sick cluster sees at most ~20% more requests plus a small minimum', async () => {
    const survivorAddress = cluster.spec(survivor).clientAddress;
    const reached = (events: AttemptEvent[]): number => events.filter((e) => e.endpoint === survivorAddress).length;
    // Short backoffs, so that without a budget every request uses all its 8 attempts.
    const backoff = { baseDelayMs: 5, maxDelayMs: 40 };
    const budgeted: AttemptEvent[] = [];
    const kv = await client({ backoff, hooks: { onAttempt: (e) => budgeted.push(e) } });
    const unbudgeted: AttemptEvent[] = [];
    const storm = await client({ backoff, retryBudget: false, hooks: { onAttempt: (e) => unbudgeted.push(e) } });
    const requests = 50;
    const started = Date.now();
    const results = await Promise.allSettled(Array.from({ length: requests }, () => kv.get('fb/key', { timeoutMs: 3000 })));
    const elapsedS = (Date.now() - started) / 1000;
    const stormResults = await Promise.allSettled(Array.from({ length: requests }, () => storm.get('fb/key', { timeoutMs: 3000 })));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    expect(stormResults.every((r) => r.status === 'rejected')).toBe(true);
    // Attempts that reached the only live node: the requests themselves (at most one first attempt
    // each), plus retries: 20% of the requests, a reserve of 10, refilled at 10 a second.
    // (Attempts at the dead nodes were refused by the OS and never reached the cluster.)
    expect(reached(budgeted)).toBeLessThanOrEqual(requests + 0.2 * requests + 10 + Math.ceil(10 * elapsedS));
    expect(reached(unbudgeted)).toBeGreaterThan(3 * requests);
  });

  it('answers with a stale read, marked stale, only when fallbackToStale is asked for', async () => {
    const kv = await client();
    await expect(kv.get('fb/key', { timeoutMs: 1000 })).rejects.toMatchObject({ code: expect.stringMatching(/UNAVAILABLE|DEADLINE_EXCEEDED/) });
    const r = await kv.get('fb/key', { fallbackToStale: true, timeoutMs: 2000 });
    expect(r).toMatchObject({ found: true, text: 'last known', stale: true, nodeId: survivor });
  });
});
