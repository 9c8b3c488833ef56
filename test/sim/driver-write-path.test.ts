// Issue 12, lever 1: one fsync per Ready. Each Ready's entries, hard state and the apply batch
// of its committed entries go to LevelDB as ONE synced batch, so under concurrent writes a node
// fsyncs at most once per Ready write (raftkv_fsync_duration_seconds counts those), where the
// driver used to fsync twice (persist, then the apply batch). Runs the production driver on the
// simulated LevelDB, which counts synced writes.
import { describe, expect, it } from 'vitest';
import type { WriteResult } from '../../src/kv/index.js';
import { DriverCluster } from './driver-host.js';
import type { HostedNode } from './driver-host.js';

const utf8 = new TextEncoder();

/** How many Ready writes the node's driver timed (the fsync-duration histogram's count). */
async function readyWrites(node: HostedNode): Promise<number> {
  const metric = await node.metrics.fsyncDuration.get();
  return metric.values.find((v) => v.metricName === 'raftkv_fsync_duration_seconds_count')?.value ?? 0;
}

describe('the write path', () => {
  it('fsyncs at most once per Ready on every node while writes arrive concurrently', async () => {
    const cluster = new DriverCluster(['n1', 'n2', 'n3'], { seed: 7 });
    cluster.latencyMsMax = 3;
    await cluster.startAll();
    const leader = await cluster.leader();
    const nodes = [...cluster.nodes.values()];
    const before = await Promise.all(nodes.map(async (n) => ({ syncs: n.disk.stats.syncs, readies: await readyWrites(n) })));
    let answered = 0;
    const rounds = 10;
    const perRound = 8;
    for (let round = 0; round < rounds; round++) {
      // A burst of writes: the next Ready carries new entries while earlier ones commit.
      const burst: Promise<WriteResult>[] = [];
      for (let i = 0; i < perRound; i++) burst.push(leader.d.write({ type: 'put', key: utf8.encode(`k${round}-${i}`), value: utf8.encode('v') }, { clientId: '', seq: 0, ackSeq: 0 }));
      for (const w of burst) void w.then(() => answered++);
      await cluster.world.advance(1);
    }
    await cluster.until(() => answered === rounds * perRound);
    await cluster.until(() => nodes.every((n) => n.d.kv.keyCount === rounds * perRound));
    for (const [i, n] of nodes.entries()) {
      const syncs = n.disk.stats.syncs - (before[i]?.syncs ?? 0);
      const readies = (await readyWrites(n)) - (before[i]?.readies ?? 0);
      expect(readies, `${n.id} wrote Readies`).toBeGreaterThan(0);
      expect(syncs, `${n.id}: ${syncs} fsyncs for ${readies} Ready writes`).toBeLessThanOrEqual(readies);
    }
  });
});
