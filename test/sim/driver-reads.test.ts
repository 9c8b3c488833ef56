// Linearizable reads on followers, run on the production driver in virtual time.
// Defect e (issue 10): read contexts must be unique per process incarnation, or a leader's late
// answer to a read from before a restart confirms a new read at an old index.
// Defect f: confirmed reads must be released by a snapshot install, and must time out and free
// their slot instead of waiting for some unrelated write to be applied.
import { describe, expect, it } from 'vitest';
import type { WriteResult } from '../../src/kv/index.js';
import type { Message } from '../../src/raft/index.js';
import { DriverCluster } from './driver-host.js';
import type { HostedNode } from './driver-host.js';

const utf8 = new TextEncoder();

/** The state of a promise, observed without waiting for it. */
function watch<T>(p: Promise<T>): { settled: () => boolean; error: () => unknown } {
  let settled = false;
  let error: unknown = null;
  p.then(
    () => (settled = true),
    (e: unknown) => {
      settled = true;
      error = e;
    },
  );
  return { settled: () => settled, error: () => error };
}

async function put(cluster: DriverCluster, node: HostedNode, key: string, value: string): Promise<WriteResult> {
  const answer = node.d.write({ type: 'put', key: utf8.encode(key), value: utf8.encode(value) }, { clientId: '', seq: 0, ackSeq: 0 });
  const w = watch(answer);
  await cluster.until(w.settled);
  return answer;
}

/** A follower of the current leader. */
function followerOf(cluster: DriverCluster, leader: HostedNode): HostedNode {
  for (const n of cluster.nodes.values()) if (n !== leader && n.driver !== null) return n;
  throw new Error('no follower');
}

const to = (node: HostedNode, ...types: Message['type'][]) => (m: Message) => m.to === node.id && types.includes(m.type);

describe('follower read contexts (defect e)', () => {
  it('a leader answer to a read from before a restart does not confirm a new read', async () => {
    const cluster = new DriverCluster(['n1', 'n2', 'n3']);
    await cluster.startAll();
    const leader = await cluster.leader();
    const f = followerOf(cluster, leader);
    await put(cluster, leader, 'x', 'old');
    await cluster.until(() => f.d.kv.get(utf8.encode('x')) !== null);
    // The leader's answers to f's reads are held: the first one arrives only after f restarted.
    const held = to(f, 'readIndexResponse');
    cluster.filter = (m) => (held(m) ? 'hold' : 'deliver');
    const first = watch(f.d.linearizableRead(5_000));
    await cluster.until(() => cluster.held.length === 1);
    const late = cluster.held.splice(0)[0] as Message;
    await f.crash();
    await f.start();
    await cluster.until(() => f.d.leader === leader.id);
    expect(first.settled()).toBe(true); // that process is gone; its client saw it fail
    // f now misses new entries, and a write commits on the leader and the third node.
    const cut = to(f, 'append', 'snapshot');
    cluster.filter = (m) => (held(m) ? 'hold' : cut(m) ? 'drop' : 'deliver');
    await put(cluster, leader, 'x', 'new');
    const second = watch(f.d.linearizableRead(5_000));
    await cluster.until(() => cluster.held.length === 1);
    // The stale answer arrives now. It must not confirm the new read.
    cluster.deliver(late);
    await cluster.world.advance(50);
    if (second.settled()) expect(new TextDecoder().decode(f.d.kv.get(utf8.encode('x'))?.value)).toBe('new');
    // Heal: the real answer and the entries arrive, and the read is answered with the new value.
    cluster.filter = () => 'deliver';
    for (const m of cluster.held.splice(0)) cluster.deliver(m);
    await cluster.until(second.settled);
    expect(second.error()).toBeNull();
    expect(new TextDecoder().decode(f.d.kv.get(utf8.encode('x'))?.value)).toBe('new');
  });
});

describe('confirmed reads (defect f)', () => {
  it('a confirmed read times out and frees its slot when the entries it waits for never arrive', async () => {
    const cluster = new DriverCluster(['n1', 'n2', 'n3'], { raw: { readsPendingMax: 1 } });
    await cluster.startAll();
    const leader = await cluster.leader();
    const f = followerOf(cluster, leader);
    cluster.filter = (m) => (to(f, 'append', 'snapshot')(m) ? 'drop' : 'deliver');
    await put(cluster, leader, 'x', '1');
    const read = watch(f.d.linearizableRead(200));
    // Confirmed at the leader's commit index, which f has not applied: it waits...
    await cluster.world.advance(100);
    expect(read.settled()).toBe(false);
    // ...but not forever.
    await cluster.world.advance(400);
    expect(read.settled()).toBe(true);
    expect(String(read.error())).toMatch(/in time/);
    // Its slot is free again (readsPendingMax is 1).
    const next = f.d.linearizableRead(200);
    next.catch(() => {});
    await cluster.world.advance(400);
    await expect(next).rejects.toThrow(/in time/);
  });

  it('a confirmed read is released by a snapshot install on an idle cluster', async () => {
    const cluster = new DriverCluster(['n1', 'n2', 'n3'], { raw: { snapshotEntries: 4, snapshotCatchupEntries: 1 } });
    await cluster.startAll();
    const leader = await cluster.leader();
    const f = followerOf(cluster, leader);
    const cut = to(f, 'append', 'snapshot');
    cluster.filter = (m) => (cut(m) ? 'drop' : 'deliver');
    for (let i = 0; i < 10; i++) await put(cluster, leader, `k${i}`, 'v');
    await cluster.until(() => (leader.storage?.firstIndex() ?? 0) > f.d.kv.appliedIndex + 1);
    const read = watch(f.d.linearizableRead(60_000));
    await cluster.world.advance(100);
    expect(read.settled()).toBe(false);
    // Heal: the leader can only catch f up by snapshot; nothing is written after it.
    cluster.filter = () => 'deliver';
    await cluster.until(() => f.d.snapshotIndexNow >= 10, 10_000);
    await cluster.world.advance(1_000);
    expect(read.settled()).toBe(true);
    expect(read.error()).toBeNull();
    expect(f.d.kv.get(utf8.encode('k9'))).not.toBeNull();
  });
});
