// Crash recovery: kill -9 real node processes during writes, restart them, and find every acknowledged write.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LocalCluster, planTestCluster, sleep } from '../cluster/local-cluster.js';
import { bytes, RawClient, text } from './support/raw-client.js';

let dir = '';
let cluster: LocalCluster | null = null;
const clients: RawClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await cluster?.killAll();
  cluster = null;
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * Runs `writers` concurrent sequential writers against the leader until `stop()` resolves,
 * recording every acknowledged key and value. Bounded by `opsMax` per writer.
 */
function startWriters(c: LocalCluster, leader: string, tag: string, writers: number, opsMax: number): { acked: Map<string, string>; done: Promise<void>; stop: () => void } {
  const acked = new Map<string, string>();
  let stopped = false;
  const rc = new RawClient(c.spec(leader).clientAddress);
  clients.push(rc);
  const one = async (w: number): Promise<void> => {
    for (let i = 0; i < opsMax && !stopped; i++) {
      const key = `${tag}-${w}-${i}`;
      const value = `v-${w}-${i}`;
      const err = await rc.failure('Put', { key: bytes(key), value: bytes(value) }, 2000);
      if (err === null) acked.set(key, value);
      else return; // the node is gone
    }
  };
  const done = Promise.all(Array.from({ length: writers }, (_, w) => one(w))).then(() => {});
  return { acked, done, stop: () => (stopped = true) };
}

async function verifyAll(c: LocalCluster, acked: Map<string, string>): Promise<void> {
  const leader = (await c.waitForLeader(20_000)).id;
  const rc = new RawClient(c.spec(leader).clientAddress);
  clients.push(rc);
  for (const [key, value] of acked) {
    const got = await rc.call<{ found: boolean; value: Uint8Array }>('Get', { key: bytes(key) });
    expect(got.found, `acknowledged key ${key} survives`).toBe(true);
    expect(text(got.value)).toBe(value);
  }
}

describe('crash recovery', () => {
  it('keeps every acknowledged write when every node of a three-node cluster is killed with SIGKILL mid-write', async () => {
    dir = mkdtempSync(join(tmpdir(), 'raftkv-crash3-'));
    cluster = new LocalCluster(await planTestCluster(3, dir), { extraArgs: ['--snapshot-entries', '300', '--snapshot-catchup-entries', '50'] });
    await cluster.startAll();
    const leader = (await cluster.waitForLeader()).id;
    const load = startWriters(cluster, leader, 'crash', 8, 5000);
    await sleep(2500);
    await Promise.all(cluster.specs.map((s) => cluster?.kill(s.id, 'SIGKILL')));
    load.stop();
    await load.done;
    console.log(`crash recovery (3 nodes): ${load.acked.size} writes acknowledged before kill -9 of every node`);
    expect(load.acked.size).toBeGreaterThan(50);
    await cluster.startAll();
    await verifyAll(cluster, load.acked);
  });

  it('keeps every acknowledged write of a single-node cluster killed with SIGKILL mid-write, twice', async () => {
    dir = mkdtempSync(join(tmpdir(), 'raftkv-crash1-'));
    cluster = new LocalCluster(await planTestCluster(1, dir), { extraArgs: ['--snapshot-entries', '200', '--snapshot-catchup-entries', '20'] });
    const all = new Map<string, string>();
    for (let round = 0; round < 2; round++) {
      await cluster.startAll();
      const leader = (await cluster.waitForLeader()).id;
      const load = startWriters(cluster, leader, `round${round}`, 4, 5000);
      await sleep(1500);
      await cluster.kill(leader, 'SIGKILL');
      load.stop();
      await load.done;
      for (const [k, v] of load.acked) all.set(k, v);
      expect(load.acked.size).toBeGreaterThan(20);
    }
    await cluster.startAll();
    await verifyAll(cluster, all);
  });
});
