// The stored log is kept in memory (log-mirror.ts), so it is bounded by bytes as well as by
// entries (issue 12: a bulk load of 1,000,000 keys in transactions of 128 puts never reached
// `snapshotEntries`, and every node held its whole log, about 270 MB of it, in memory).
// Run on the production driver in virtual time.
import { describe, expect, it } from 'vitest';
import type { WriteResult } from '../../src/kv/index.js';
import { logIndex } from '../../src/util/index.js';
import { DriverCluster } from './driver-host.js';
import type { HostedNode } from './driver-host.js';

const utf8 = new TextEncoder();
const valueBytes = 8 * 1024;
const logBytes = 64 * 1024;
const catchupBytes = 16 * 1024;

async function put(cluster: DriverCluster, node: HostedNode, key: string): Promise<WriteResult> {
  let settled = false;
  const answer = node.d.write({ type: 'put', key: utf8.encode(key), value: new Uint8Array(valueBytes) }, { clientId: '', seq: 0, ackSeq: 0 });
  answer.then(() => (settled = true), () => (settled = true));
  await cluster.until(() => settled);
  return answer;
}

/** The data bytes of every entry the node's log holds, summed from the entries themselves. */
function storedLogBytes(node: HostedNode): number {
  const storage = node.storage;
  if (storage === null || storage === undefined) throw new Error(`${node.id} has no storage`);
  const entries = storage.entries({ lo: storage.firstIndex(), hi: logIndex(storage.lastIndex() + 1), bytesMax: Number.MAX_SAFE_INTEGER });
  return entries.reduce((sum, e) => sum + e.data.length, 0);
}

describe('log memory bound (issue 12)', () => {
  it('takes a snapshot once the applied log holds snapshotLogBytes, long before snapshotEntries, and keeps at most snapshotCatchupBytes behind it', async () => {
    const cluster = new DriverCluster(['n1', 'n2', 'n3'], {
      raw: { snapshotEntries: 10_000, snapshotCatchupEntries: 5_000, snapshotLogBytes: logBytes, snapshotCatchupBytes: catchupBytes },
    });
    await cluster.startAll();
    const leader = await cluster.leader();
    // 40 puts of 8 KiB: 320 KiB of log, five times the bound, in 40 entries (far below 10,000).
    for (let i = 0; i < 40; i++) await put(cluster, leader, `k${i}`);
    await cluster.until(() => [...cluster.nodes.values()].every((n) => n.d.kv.get(utf8.encode('k39')) !== null));
    for (const node of cluster.nodes.values()) {
      expect(node.d.snapshotIndexNow, `${node.id} took no snapshot`).toBeGreaterThan(0);
      // The bound plus the entry that crossed it (a put's entry is its value plus a small header).
      expect(storedLogBytes(node), `${node.id}'s log`).toBeLessThan(logBytes + valueBytes + 1024);
    }
  });
});
