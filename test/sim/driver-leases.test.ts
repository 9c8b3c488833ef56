// Leases on the PRODUCTION driver in virtual time (driver-host.ts): grant, keep-alive, expiry
// through the log, across leader changes, crashes and power losses, with the two lease bounds
// (README, "Leases") checked on every deletion:
// - never early: a key is deleted no sooner than TTL after the client SENT the last keep-alive (or
//   grant) it saw answered. The simulated nodes share one monotonic clock, so the allowed skew is 0.
// - never much late: while a leader can commit, a key is deleted at most `lateBoundMs` after
//   TTL from max(its last answered keep-alive, the moment its final leader took over).
import { describe, expect, it } from 'vitest';
import { LeaseNotFoundError } from '../../src/server/leases/lease-errors.js';
import { NodeLeaseApi } from '../../src/server/leases/node-lease-api.js';
import { NotLeaderError, SeededPrng } from '../../src/util/index.js';
import type { NodeId } from '../../src/util/index.js';
import { DriverCluster } from './driver-host.js';
import type { HostedNode } from './driver-host.js';

const utf8 = new TextEncoder();
const text = new TextDecoder();

/**
 * The documented late bound in the simulator: one tick (10 ms) to notice the deadline, plus the
 * time to commit and apply one entry, which these runs keep well under 200 ms (no latency).
 */
const lateBoundMs = 250;

/** The state of a promise, observed without waiting for it. */
function watch<T>(p: Promise<T>): { settled: () => boolean } {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  return { settled: () => settled };
}

/** Runs virtual time until `p` settles, then returns (or throws) its outcome. */
async function settle<T>(cluster: DriverCluster, p: Promise<T>, msMax = 5_000): Promise<T> {
  const w = watch(p);
  await cluster.until(w.settled, msMax);
  return p;
}

function leaderOf(cluster: DriverCluster): HostedNode | null {
  for (const n of cluster.nodes.values()) if (n.driver?.role === 'leader') return n;
  return null;
}

/** What the test knows about one lease: when the client last SENT a keep-alive that was answered. */
interface Tracked {
  id: number;
  ttlS: number;
  key: string;
  lastAnsweredSendMs: number;
  lastAnsweredMs: number;
}

/**
 * Watches a cluster for lease key deletions (the first node to apply one) and leader changes, and
 * checks the early bound on every deletion.
 */
class LeaseObserver {
  readonly deletedAtMs = new Map<string, number>();
  /** When each node last became leader. */
  readonly leaderSinceMs = new Map<NodeId, number>();
  readonly violations: string[] = [];
  readonly tracked = new Map<string, Tracked>();
  private wasLeader = new Set<NodeId>();

  constructor(private readonly cluster: DriverCluster) {
    cluster.onApplied = (_node, changes) => {
      for (const change of changes) {
        for (const m of change.mutations) {
          if (m.type !== 'deleteKey') continue;
          const key = text.decode(m.key);
          if (this.deletedAtMs.has(key)) continue;
          const now = cluster.world.nowMs;
          this.deletedAtMs.set(key, now);
          const t = this.tracked.get(key);
          if (t !== undefined && now < t.lastAnsweredSendMs + t.ttlS * 1000) {
            this.violations.push(`key ${key} of lease ${t.id} deleted at ${now}, ${t.lastAnsweredSendMs + t.ttlS * 1000 - now} ms before TTL after the keep-alive sent at ${t.lastAnsweredSendMs}`);
          }
        }
      }
    };
  }

  /** Records leader changes; call after every step of virtual time. */
  poll(): void {
    for (const n of this.cluster.nodes.values()) {
      const leading = n.driver?.role === 'leader';
      if (leading && !this.wasLeader.has(n.id)) this.leaderSinceMs.set(n.id, this.cluster.world.nowMs);
      if (leading) this.wasLeader.add(n.id);
      else this.wasLeader.delete(n.id);
    }
  }

  /** Advances virtual time by `ms`, polling every 10 ms. */
  async advance(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 10) {
      await this.cluster.world.advance(10);
      this.poll();
    }
  }
}

/** A client of the lease API that finds the leader (the client library follows NOT_LEADER hints). */
class LeaseClient {
  constructor(
    private readonly cluster: DriverCluster,
    private readonly observer: LeaseObserver,
  ) {}

  private api(): NodeLeaseApi | null {
    const leader = leaderOf(this.cluster);
    return leader === null ? null : new NodeLeaseApi(leader.d, 2_000);
  }

  /** Grants a lease and puts `key` on it; returns null if it did not get an answer. */
  async grantWithKey(key: string, ttlS: number): Promise<Tracked | null> {
    const api = this.api();
    if (api === null) return null;
    const sentMs = this.cluster.world.nowMs;
    try {
      const granted = await settle(this.cluster, api.grant(ttlS));
      const leader = leaderOf(this.cluster);
      if (leader === null) return null;
      await settle(this.cluster, leader.d.write({ type: 'put', key: utf8.encode(key), value: utf8.encode('v'), lease: granted.id }, { clientId: '', seq: 0, ackSeq: 0 }));
      const t: Tracked = { id: granted.id, ttlS: granted.ttlS, key, lastAnsweredSendMs: sentMs, lastAnsweredMs: this.cluster.world.nowMs };
      this.observer.tracked.set(key, t);
      return t;
    } catch {
      return null;
    }
  }

  /** One keep-alive; records it when answered. Returns whether it was. */
  async keepAlive(t: Tracked): Promise<boolean> {
    const api = this.api();
    if (api === null) return false;
    const sentMs = this.cluster.world.nowMs;
    try {
      await settle(this.cluster, api.keepAlive(t.id), 3_000);
      t.lastAnsweredSendMs = sentMs;
      t.lastAnsweredMs = this.cluster.world.nowMs;
      return true;
    } catch {
      return false;
    }
  }
}

async function startCluster(seed = 1): Promise<{ cluster: DriverCluster; observer: LeaseObserver; client: LeaseClient; leader: HostedNode }> {
  const cluster = new DriverCluster(['n1', 'n2', 'n3'], { seed });
  const observer = new LeaseObserver(cluster);
  await cluster.startAll();
  const leader = await cluster.leader();
  observer.poll();
  return { cluster, observer, client: new LeaseClient(cluster, observer), leader };
}

/** Every live node has the same state hash and no key of `keys`. */
async function convergedWithout(cluster: DriverCluster, keys: readonly string[]): Promise<void> {
  await cluster.until(() => {
    const hashes = new Set<string>();
    for (const n of cluster.nodes.values()) if (n.driver !== null) hashes.add(n.driver.kv.stateHash());
    return hashes.size === 1;
  });
  for (const n of cluster.nodes.values()) for (const key of keys) expect(n.driver?.kv.get(utf8.encode(key)) ?? null).toBeNull();
}

describe('leases on the production driver', () => {
  it('keeps the keys of a lease kept alive, and deletes them on every replica at one revision once keep-alives stop', async () => {
    // Proves expiry through the log, and both bounds in the plain case.
    const { cluster, observer, client } = await startCluster();
    const t = await client.grantWithKey('a', 2);
    expect(t).not.toBeNull();
    if (t === null) return;
    const leader = leaderOf(cluster);
    await settle(cluster, leader!.d.write({ type: 'put', key: utf8.encode('b'), value: utf8.encode('v'), lease: t.id }, { clientId: '', seq: 0, ackSeq: 0 }));
    observer.tracked.set('b', { ...t, key: 'b' });
    for (let i = 0; i < 12; i++) {
      expect(await client.keepAlive(t)).toBe(true);
      observer.tracked.set('b', { ...t, key: 'b' });
      await observer.advance(500);
    }
    expect(observer.deletedAtMs.size).toBe(0); // 6 s of a 2 s lease, kept alive
    await observer.advance(3_000);
    const deletedA = observer.deletedAtMs.get('a');
    expect(deletedA).toBeDefined();
    expect(observer.deletedAtMs.get('b')).toBe(deletedA); // one revoke, one revision
    expect(deletedA!).toBeLessThanOrEqual(t.lastAnsweredMs + 2_000 + lateBoundMs);
    expect(observer.violations).toEqual([]);
    await convergedWithout(cluster, ['a', 'b']);
    for (const n of cluster.nodes.values()) expect(n.d.kv.leases()).toEqual([]);
  });

  it('answers keep-alive and time-to-live on the leader only, with the leader hint elsewhere, and NOT_FOUND for an unknown lease', async () => {
    // Proves the API contract the raftkv.v1 and etcd Lease services rely on.
    const { cluster, client, leader } = await startCluster();
    const t = await client.grantWithKey('k', 10);
    if (t === null) throw new Error('no grant');
    const follower = [...cluster.nodes.values()].find((n) => n !== leader)!;
    const onFollower = new NodeLeaseApi(follower.d, 2_000);
    await expect(settle(cluster, onFollower.keepAlive(t.id))).rejects.toSatisfy((e: unknown) => e instanceof NotLeaderError && e.leaderId === leader.id);
    await expect(settle(cluster, onFollower.timeToLive(t.id))).rejects.toBeInstanceOf(NotLeaderError);
    const onLeader = new NodeLeaseApi(leader.d, 2_000);
    const ttl = await settle(cluster, onLeader.timeToLive(t.id, { keys: true }));
    expect(ttl).toMatchObject({ id: t.id, grantedTtlS: 10, keyCount: 1 });
    expect(ttl.ttlS).toBeGreaterThan(8);
    expect(ttl.keys.map((k) => text.decode(k))).toEqual(['k']);
    expect((await settle(cluster, onFollower.list())).ids).toEqual([t.id]);
    await expect(settle(cluster, onLeader.keepAlive(t.id + 1000))).rejects.toBeInstanceOf(LeaseNotFoundError);
    await expect(settle(cluster, onLeader.grant(10, t.id))).rejects.toMatchObject({ code: 'ALREADY_EXISTS' });
    await expect(settle(cluster, onLeader.grant(10_000_000_000))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    const revoked = await settle(cluster, onLeader.revoke(t.id));
    expect(revoked.deleted).toBe(1);
    await expect(settle(cluster, onLeader.revoke(t.id))).rejects.toBeInstanceOf(LeaseNotFoundError);
    await expect(settle(cluster, onLeader.keepAlive(t.id))).rejects.toBeInstanceOf(LeaseNotFoundError);
    await convergedWithout(cluster, ['k']);
  });

  it('restarts every TTL when the leader changes: never shorter than TTL after the last answered keep-alive, and kept alive through the change', async () => {
    // Proves "extended, never cut short" (etcd's promote) and that a leader change does not lose a lease.
    const { cluster, observer, client, leader } = await startCluster(3);
    const kept = await client.grantWithKey('kept', 3);
    const left = await client.grantWithKey('left', 3);
    if (kept === null || left === null) throw new Error('no grant');
    await observer.advance(1_000);
    expect(await client.keepAlive(left)).toBe(true);
    expect(await client.keepAlive(kept)).toBe(true);
    await leader.crash();
    // The kept lease is renewed through the new leader; the left one is not.
    for (let i = 0; i < 8; i++) {
      await observer.advance(800);
      await client.keepAlive(kept);
    }
    const next = leaderOf(cluster);
    expect(next).not.toBeNull();
    expect(next!.id).not.toBe(leader.id);
    const since = observer.leaderSinceMs.get(next!.id)!;
    const deletedLeft = observer.deletedAtMs.get('left');
    expect(deletedLeft).toBeDefined();
    expect(deletedLeft!).toBeGreaterThanOrEqual(since + 3_000); // the new leader's full TTL
    expect(deletedLeft!).toBeLessThanOrEqual(Math.max(since, left.lastAnsweredMs) + 3_000 + lateBoundMs);
    expect(observer.deletedAtMs.has('kept')).toBe(false);
    expect(observer.violations).toEqual([]);
    await leader.start();
    await convergedWithout(cluster, ['left']);
    expect(next!.d.kv.get(utf8.encode('kept'))).not.toBeNull();
  });

  it('does not answer a keep-alive on a new leader before it applied the expiry revoke an earlier leader left in its log', async () => {
    // Proves the ReadIndex round before a keep-alive: without it, n2 renews a lease whose revoke
    // it then commits, deleting the key right after a keep-alive it answered.
    const { cluster, observer, client, leader } = await startCluster(7);
    const t = await client.grantWithKey('x', 2);
    if (t === null) throw new Error('no grant');
    const [n2, n3] = [...cluster.nodes.values()].filter((n) => n !== leader) as [HostedNode, HostedNode];
    // The old leader's entries reach n2 only, and n2's acknowledgements are lost: the expiry
    // revoke it proposes at the deadline is in n2's log, uncommitted.
    cluster.filter = (m) => ((m.from === leader.id && m.to === n3.id && m.type === 'append') || (m.from === n2.id && m.to === leader.id && m.type === 'appendResponse') ? 'drop' : 'deliver');
    await observer.advance(2_500);
    expect(observer.deletedAtMs.has('x')).toBe(false);
    expect(n2.d.raw.status().lastIndex).toBeGreaterThan(n3.d.raw.status().lastIndex);
    await leader.crash();
    // n2 wins (its log is longer) but cannot commit yet: its appends to n3 are held.
    cluster.filter = (m) => (m.from === n2.id && m.to === n3.id && m.type === 'append' ? 'hold' : 'deliver');
    await cluster.until(() => n2.d.role === 'leader');
    observer.poll();
    const api = new NodeLeaseApi(n2.d, 2_000);
    const sentMs = cluster.world.nowMs;
    const answer = api.keepAlive(t.id).then(
      () => ((observer.tracked.get('x')!.lastAnsweredSendMs = sentMs), 'renewed'),
      (e: unknown) => (e instanceof LeaseNotFoundError ? 'not found' : String(e)),
    );
    await observer.advance(50);
    cluster.filter = () => 'deliver';
    for (const m of cluster.held.splice(0)) cluster.deliver(m);
    expect(await settle(cluster, answer)).toBe('not found');
    await observer.advance(500);
    expect(observer.deletedAtMs.has('x')).toBe(true);
    expect(observer.violations).toEqual([]);
  });

  it('keeps leases through a power loss of every node (they are in the stored state) and expires them after it', async () => {
    // Proves leases and attachments are durable and restored, and expire once a leader exists again.
    const { cluster, observer, client } = await startCluster(5);
    const t = await client.grantWithKey('durable', 2);
    if (t === null) throw new Error('no grant');
    await observer.advance(200);
    for (const n of cluster.nodes.values()) await n.powerLoss();
    await observer.advance(5_000); // no node runs: nothing can expire
    for (const n of cluster.nodes.values()) expect((await n.storedImage()).leases()).toEqual([{ id: t.id, ttlS: 2, keyCount: 1 }]);
    await cluster.startAll();
    await cluster.leader();
    observer.poll();
    const leader = leaderOf(cluster)!;
    const since = observer.leaderSinceMs.get(leader.id)!;
    await observer.advance(3_000);
    const deleted = observer.deletedAtMs.get('durable');
    expect(deleted).toBeDefined();
    expect(deleted!).toBeGreaterThanOrEqual(since + 2_000);
    expect(deleted!).toBeLessThanOrEqual(since + 2_000 + lateBoundMs);
    expect(observer.violations).toEqual([]);
    await convergedWithout(cluster, ['durable']);
  });

  it('holds both bounds under random leader crashes, power losses and partitions (bounded seeds and virtual time)', async () => {
    // Proves the early bound on every deletion of a randomized run, and the late bound once the faults stop.
    for (const seed of [11, 12, 13]) {
      const { cluster, observer, client } = await startCluster(seed);
      const prng = new SeededPrng(seed);
      const leases: Tracked[] = [];
      for (let i = 0; i < 4; i++) {
        const t = await client.grantWithKey(`s${seed}-k${i}`, 2 + i);
        if (t !== null) leases.push(t);
      }
      // Lease i is renewed every (i + 1) * 700 ms: the last ones sometimes lapse on purpose.
      const nextKeepAliveMs = leases.map((_, i) => cluster.world.nowMs + (i + 1) * 700);
      const endMs = cluster.world.nowMs + 15_000;
      let nextFaultMs = cluster.world.nowMs + 1_500;
      const down: HostedNode[] = [];
      while (cluster.world.nowMs < endMs) {
        await observer.advance(100);
        for (const [i, t] of leases.entries()) {
          if (cluster.world.nowMs < nextKeepAliveMs[i]! || observer.deletedAtMs.has(t.key)) continue;
          await client.keepAlive(t);
          nextKeepAliveMs[i] = cluster.world.nowMs + (i + 1) * 700;
        }
        if (cluster.world.nowMs < nextFaultMs) continue;
        nextFaultMs = cluster.world.nowMs + prng.int(800, 2_500);
        for (const n of down.splice(0)) await n.start();
        cluster.filter = () => 'deliver';
        const leader = leaderOf(cluster);
        const kind = prng.int(0, 2);
        if (kind === 0 && leader !== null) {
          await leader.crash();
          down.push(leader);
        } else if (kind === 1) {
          const victim = [...cluster.nodes.values()][prng.int(0, 2)]!;
          await victim.powerLoss();
          down.push(victim);
        } else if (leader !== null) {
          cluster.filter = (m) => (m.from === leader.id || m.to === leader.id ? 'drop' : 'deliver');
        }
      }
      // The faults stop: every lease still alive must expire within the late bound.
      for (const n of down.splice(0)) await n.start();
      cluster.filter = () => 'deliver';
      await cluster.leader();
      await observer.advance(500);
      const finalLeader = leaderOf(cluster)!;
      const since = observer.leaderSinceMs.get(finalLeader.id)!;
      await observer.advance(7_000);
      for (const t of leases) {
        const deleted = observer.deletedAtMs.get(t.key);
        expect(deleted, `seed ${seed}: ${t.key} never deleted`).toBeDefined();
        if (deleted! >= since) expect(deleted!, `seed ${seed}: ${t.key} deleted late`).toBeLessThanOrEqual(Math.max(since, t.lastAnsweredMs) + t.ttlS * 1000 + lateBoundMs);
      }
      expect(observer.violations, `seed ${seed}`).toEqual([]);
      await convergedWithout(cluster, leases.map((t) => t.key));
    }
  });
});
