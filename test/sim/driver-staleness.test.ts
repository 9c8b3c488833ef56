// Defect b (issue 10): the staleness a node reports for STALE reads (and checks against
// max_staleness_ms) must be a bound it can prove: a follower counts a leader contact only once it
// has applied what that contact carried; a leader measures from its last quorum acknowledgement.
import { describe, expect, it } from 'vitest';
import type { WriteResult } from '../../src/kv/index.js';
import type { Message } from '../../src/raft/index.js';
import { DriverCluster } from './driver-host.js';
import type { HostedNode } from './driver-host.js';
import { runDriverSim } from './driver-sim.js';

const utf8 = new TextEncoder();
const text = (v: Uint8Array | undefined): string => new TextDecoder().decode(v);

async function put(cluster: DriverCluster, node: HostedNode, key: string, value: string): Promise<WriteResult> {
  const answer = node.d.write({ type: 'put', key: utf8.encode(key), value: utf8.encode(value) }, { clientId: '', seq: 0, ackSeq: 0 });
  let done = false;
  answer.then(
    () => (done = true),
    () => (done = true),
  );
  await cluster.until(() => done);
  return answer;
}

function others(cluster: DriverCluster, node: HostedNode): HostedNode[] {
  return [...cluster.nodes.values()].filter((n) => n !== node);
}

describe('honest staleness (defect b)', () => {
  it('a follower cut off and healed does not report fresh before it applied what it missed', async () => {
    const cluster = new DriverCluster(['n1', 'n2', 'n3']);
    await cluster.startAll();
    const leader = await cluster.leader();
    const [f] = others(cluster, leader) as [HostedNode];
    await put(cluster, leader, 'x', 'old');
    await cluster.until(() => text(f.d.kv.get(utf8.encode('x'))?.value) === 'old');
    // Cut f off from the leader (both ways) for 1.5 s; the value is overwritten meanwhile.
    const cut = (m: Message): boolean => (m.from === f.id && m.to === leader.id) || (m.from === leader.id && m.to === f.id);
    cluster.filter = (m) => (cut(m) ? 'drop' : 'deliver');
    await put(cluster, leader, 'x', 'new');
    await cluster.world.advance(1_500);
    expect(f.d.stalenessMs()).toBeGreaterThanOrEqual(1_400);
    // Heal, but hand f the leader's messages one at a time, checking after each one.
    cluster.filter = (m) => (m.from === leader.id && m.to === f.id ? 'hold' : 'deliver');
    for (let step = 0; step < 500 && text(f.d.kv.get(utf8.encode('x'))?.value) !== 'new'; step++) {
      for (const m of cluster.held.splice(0)) {
        cluster.deliver(m);
        // Whatever f reports now is what a STALE read would be answered with, with its value.
        if (f.d.stalenessMs() < 1_000) expect(text(f.d.kv.get(utf8.encode('x'))?.value), `after ${m.type}`).toBe('new');
        await cluster.world.settle();
        if (f.d.stalenessMs() < 1_000) expect(text(f.d.kv.get(utf8.encode('x'))?.value), `after ${m.type} was processed`).toBe('new');
      }
      await cluster.world.advance(1);
    }
    cluster.filter = () => 'deliver';
    await cluster.until(() => f.d.stalenessMs() < 100);
    expect(text(f.d.kv.get(utf8.encode('x'))?.value)).toBe('new');
  });

  it('an isolated leader reports the time since its last quorum acknowledgement, not 0', async () => {
    const cluster = new DriverCluster(['n1', 'n2', 'n3']);
    await cluster.startAll();
    const leader = await cluster.leader();
    await put(cluster, leader, 'x', 'old');
    await cluster.world.advance(200);
    expect(leader.d.stalenessMs()).toBeLessThan(50);
    const isolatedAt = cluster.world.nowMs;
    cluster.filter = (m) => (m.from === leader.id || m.to === leader.id ? 'drop' : 'deliver');
    await cluster.world.advance(60);
    expect(leader.d.role).toBe('leader'); // check-quorum has not removed it yet
    expect(leader.d.stalenessMs()).toBeGreaterThanOrEqual(cluster.world.nowMs - isolatedAt - 15);
  });

  it('a leader that lost its quorum measures from its last quorum acknowledgement, not from when it was elected', async () => {
    const cluster = new DriverCluster(['n1', 'n2', 'n3']);
    await cluster.startAll();
    const leader = await cluster.leader();
    await cluster.world.advance(3_000);
    const isolatedAt = cluster.world.nowMs;
    cluster.filter = (m) => (m.from === leader.id || m.to === leader.id ? 'drop' : 'deliver');
    await cluster.until(() => leader.d.role !== 'leader');
    await cluster.world.advance(100);
    const sinceIsolation = cluster.world.nowMs - isolatedAt;
    expect(leader.d.stalenessMs()).toBeGreaterThanOrEqual(sinceIsolation - 15);
    expect(leader.d.stalenessMs()).toBeLessThanOrEqual(sinceIsolation + 15);
  });

  it('a new leader does not report fresh before it applied its own term\'s first entry (sweep seed 504)', async () => {
    // a leads holding x=new without knowing it committed; its own term's first entry cannot commit
    // while b's appends are lost. b's heartbeat answers reach a all along: counting them as proof
    // (the quorum-acknowledgement rule alone) made a report a few ms.
    await newLeaderWithUnknownCommit((a, b, m) => m.from === a.id && m.to === b.id && m.type === 'append', (a) => a, 'a');
  });

  it('a follower does not take a heartbeat for fresh: its commit index is capped at what the leader knows it holds (sweep seed 7279)', async () => {
    // n3 restarts after a power cut; the leader, still probing it, commits through n2, and its
    // heartbeats to n3 carry a commit index capped at n3's stale match. Heartbeats once extended
    // an append's freshness: n3 reported 2 ms while missing a write acknowledged 20 ms earlier.
    const r = await runDriverSim(7279);
    expect(r.violations).toEqual([]);
    expect(r.stats.staleReadsServed).toBeGreaterThan(50);
  });

  it('a follower does not count a new leader\'s commit index before it covers the leader\'s own term (sweep seed 655)', async () => {
    // b follows a and gets its appends, which carry a's commit index: below x until a's own term's
    // first entry commits, which b's lost answers hold up. Counting those appends made b report a few ms.
    await newLeaderWithUnknownCommit((a, b, m) => m.from === b.id && m.to === a.id && m.type === 'appendResponse', (_a, b) => b, 'b');
  });
});

/**
 * The old leader commits x=new with a's acknowledgement, but a never hears that it committed; then
 * a leads with b's vote, while `lost` messages between a and b stay lost so that a's own term's
 * first entry never commits. Checks every 5 ms for 3 s that what `watched(a, b)` reports as its
 * staleness is honest: if it claims to be fresh as of a time after x=new was acknowledged, it
 * holds x=new.
 */
async function newLeaderWithUnknownCommit(lost: (a: HostedNode, b: HostedNode, m: Message) => boolean, watched: (a: HostedNode, b: HostedNode) => HostedNode, name: string): Promise<void> {
  const cluster = new DriverCluster(['n1', 'n2', 'n3']);
  await cluster.startAll();
  const old = await cluster.leader();
  const [a, b] = others(cluster, old) as [HostedNode, HostedNode];
  const node = watched(a, b);
  const x = (n: HostedNode): string => text(n.d.kv.get(utf8.encode('x'))?.value);
  await put(cluster, old, 'x', 'old');
  await cluster.until(() => [a, b].every((n) => x(n) === 'old'));
  await b.crash();
  cluster.filter = (m) => (m.from === old.id && m.to === a.id && !(m.type === 'append' && m.entries.length > 0) ? 'drop' : 'deliver');
  await put(cluster, old, 'x', 'new');
  const ackedAtMs = cluster.world.nowMs;
  cluster.filter = (m) => (m.from === old.id || m.to === old.id || lost(a, b, m) ? 'drop' : 'deliver');
  await b.start();
  let checked = false;
  for (let waited = 0; waited < 3_000; waited += 5) {
    await cluster.world.advance(5);
    if (a.d.role !== 'leader' || node.d.leader !== a.id) continue;
    checked = true;
    // What a STALE read there would be told: its state holds every commit up to now - staleness.
    const freshAsOfMs = cluster.world.nowMs - node.d.stalenessMs();
    if (freshAsOfMs >= ackedAtMs) expect(x(node), `${name} reported ${node.d.stalenessMs()} ms, ${cluster.world.nowMs - ackedAtMs} ms after x=new was acknowledged`).toBe('new');
  }
  expect(checked).toBe(true);
  expect(x(node)).toBe('old'); // it never caught up: the check above had work to do
}
