// Issue 12: one client pipelining 5,000 puts on one channel must not depose the leader, and every
// put either succeeds or is refused at once with RESOURCE_EXHAUSTED, a retry hint and "not
// applied" (never UNAVAILABLE or an unknown outcome). Raft traffic keeps priority over client
// work. A behaviour test on three real processes: no timing is asserted.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { useTestCluster } from './support/test-cluster.js';
import { bytes, num, RawClient } from './support/raw-client.js';
import type { CallError } from './support/raw-client.js';

let cluster: LocalCluster;
const clients: RawClient[] = [];

useTestCluster('leader-stability', {
  started: (c) => (cluster = c),
  beforeClose: () => clients.forEach((c) => c.close()),
});

/** `raftkv_leader_changes_total` of every node, by id. */
async function leaderChanges(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const s of cluster.specs) {
    const text = await (await fetch(`http://${s.httpAddress}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('raftkv_leader_changes_total '));
    out[s.id] = Number(line?.split(' ')[1] ?? Number.NaN);
  }
  return out;
}

describe('one client pipelining 5,000 puts on one channel', () => {
  it('keeps the leader, and each put succeeds or is refused with RESOURCE_EXHAUSTED, not applied', async () => {
    const leader = await cluster.waitForLeader();
    const client = new RawClient(cluster.spec(leader.id).clientAddress);
    clients.push(client);
    const before = await client.call<{ leaderId: string; raftTerm: unknown }>('Status', {});
    expect(before.leaderId).toBe(leader.id);
    const changesBefore = await leaderChanges();
    const puts = 5000;
    const value = Buffer.alloc(256, 7);
    const outcomes = await Promise.all(
      Array.from({ length: puts }, (_, i) =>
        client.call('Put', { key: bytes(`pipelined-${i % 10_000}`), value }, 120_000).then(
          () => ({ ok: true as const }),
          (e: CallError) => ({ ok: false as const, e }),
        ),
      ),
    );
    const refused = outcomes.flatMap((o) => (o.ok ? [] : [o.e]));
    const unexpected = refused.filter((e) => e.code !== grpc.status.RESOURCE_EXHAUSTED);
    expect(unexpected.slice(0, 3), `${unexpected.length} puts failed otherwise than RESOURCE_EXHAUSTED`).toEqual([]);
    for (const e of refused) {
      expect(e.trailers['raftkv-outcome']).toBe('not_applied');
      expect(Number(e.trailers['raftkv-retry-after-ms'])).toBeGreaterThan(0);
    }
    const after = await client.call<{ leaderId: string; raftTerm: unknown }>('Status', {});
    expect(after.leaderId).toBe(before.leaderId);
    expect(num(after.raftTerm)).toBe(num(before.raftTerm));
    expect(await leaderChanges()).toEqual(changesBefore);
    console.log(`5,000 pipelined puts: ${puts - refused.length} applied, ${refused.length} refused with RESOURCE_EXHAUSTED`);
  }, 300_000);
});
