// Defect c (issue 10): under LevelDB's durability model a power loss after a WAL rotation can
// keep apply batch k+1 (with its applied index) and lose batch k. The production driver on the
// simulated LevelDB must never let the stored applied index claim a batch that is not durable.
import { describe, expect, it } from 'vitest';
import type { WriteResult } from '../../src/kv/index.js';
import { DriverCluster } from './driver-host.js';
import type { HostedNode } from './driver-host.js';

const utf8 = new TextEncoder();

/** Proposes a put on `node` and runs virtual time until it is answered. */
async function put(cluster: DriverCluster, node: HostedNode, key: string, value: string): Promise<WriteResult> {
  const answer = node.d.write({ type: 'put', key: utf8.encode(key), value: utf8.encode(value) }, { clientId: '', seq: 0, ackSeq: 0 });
  let result: WriteResult | null = null;
  answer.then((r) => (result = r), () => {});
  await cluster.until(() => result !== null);
  return answer;
}

describe('apply batches under power loss (defect c)', () => {
  it('never keeps a later apply batch while losing an earlier one across a WAL rotation', async () => {
    const cluster = new DriverCluster(['n1']);
    await cluster.startAll();
    const n1 = await cluster.leader();
    await put(cluster, n1, 'a', '1');
    // The memtable fills up here: LevelDB starts a new WAL file without syncing the old one.
    n1.disk.rotate();
    await put(cluster, n1, 'b', '2');
    // The synced log write of this put lands in the new file and makes b's apply batch durable.
    await put(cluster, n1, 'c', '3');
    await n1.powerLoss();
    const stored = await n1.storedImage();
    // Whatever the stored applied index claims must be there: every write up to it.
    const claimed = ['a', 'b', 'c'].slice(0, Math.max(0, stored.appliedIndex - 1));
    for (const key of claimed) expect(stored.get(utf8.encode(key)), `key ${key} at applied index ${stored.appliedIndex}`).not.toBeNull();
    expect(stored.appliedIndex).toBeGreaterThanOrEqual(2);
    // And the node restarts from it and serves every acknowledged write again.
    await n1.start();
    const leader = await cluster.leader();
    await cluster.until(() => leader.d.kv.appliedIndex >= 4);
    for (const key of ['a', 'b', 'c']) expect(leader.d.kv.get(utf8.encode(key))).not.toBeNull();
  });

  it('keeps the stored state a prefix of the log across random rotations and power losses (20 seeds)', async () => {
    for (let seed = 1; seed <= 20; seed++) {
      const cluster = new DriverCluster(['n1'], { seed });
      const n1 = cluster.node('n1');
      n1.disk.rotationChance = 0.3;
      await cluster.startAll();
      const acked: string[] = [];
      for (let round = 0; round < 3; round++) {
        const leader = await cluster.leader();
        for (let i = 0; i < 4; i++) {
          const key = `k${round}-${i}`;
          await put(cluster, leader, key, 'v');
          acked.push(key);
        }
        await n1.powerLoss();
        const stored = await n1.storedImage();
        // Every acknowledged write the stored applied index covers is stored; the rest are in the log.
        expect(stored.keyCount, `seed ${seed} round ${round}`).toBeLessThanOrEqual(acked.length);
        await n1.start();
        const after = await cluster.leader();
        await cluster.until(() => after.d.kv.keyCount === acked.length);
        for (const key of acked) expect(after.d.kv.get(utf8.encode(key)), `seed ${seed}: ${key}`).not.toBeNull();
      }
    }
  });
});
