// Issue 12, admission control: past a named limit (pending writes, pending bytes, event-loop
// delay) the leader refuses a write at once with OverloadedError (RESOURCE_EXHAUSTED, a retry
// hint, not applied), counts it in raftkv_requests_shed_total{queue}, and nothing reaches the log.
import { describe, expect, it } from 'vitest';
import type { WriteResult } from '../../src/kv/index.js';
import { OverloadedError } from '../../src/util/index.js';
import { DriverCluster } from './driver-host.js';
import type { HostedNode } from './driver-host.js';

const utf8 = new TextEncoder();

function put(node: HostedNode, key: string, value = 'v'): Promise<WriteResult> {
  return node.d.write({ type: 'put', key: utf8.encode(key), value: utf8.encode(value) }, { clientId: '', seq: 0, ackSeq: 0 });
}

async function shed(node: HostedNode, queue: string): Promise<number> {
  const metric = await node.metrics.shed.get();
  return metric.values.find((v) => v.labels.queue === queue)?.value ?? 0;
}

/** The refusal `p` rejects with, asserting it is an immediate OverloadedError. */
async function refusal(p: Promise<WriteResult>): Promise<OverloadedError> {
  const e: unknown = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(OverloadedError);
  return e as OverloadedError;
}

describe('write admission on the leader', () => {
  it('refuses a write past proposalsPendingMax, not applied, and admits again once writes apply', async () => {
    const cluster = new DriverCluster(['n1', 'n2', 'n3'], { raw: { proposalsPendingMax: 3 } });
    await cluster.startAll();
    const leader = await cluster.leader();
    const lastIndex = leader.d.status().lastIndex;
    const admitted = [put(leader, 'a'), put(leader, 'b'), put(leader, 'c')];
    const e = await refusal(put(leader, 'd'));
    expect(e.message).toMatch(/proposalsPendingMax 3/);
    expect(e.retryAfterMs).toBeGreaterThan(0);
    expect(await shed(leader, 'proposals')).toBe(1);
    expect(leader.d.status().lastIndex).toBe(lastIndex + 3); // the refused write never reached the log
    let applied = 0;
    for (const w of admitted) void w.then(() => applied++);
    await cluster.until(() => applied === 3);
    void put(leader, 'd').then(() => applied++);
    await cluster.until(() => applied === 4);
    expect(leader.d.kv.keyCount).toBe(4);
  });

  it('refuses a write past proposalBytesPendingMax', async () => {
    const cluster = new DriverCluster(['n1'], { raw: { proposalBytesPendingMax: 1_600_000 } });
    await cluster.startAll();
    const leader = await cluster.leader();
    const big = 'x'.repeat(900_000);
    const first = put(leader, 'big1', big);
    const e = await refusal(put(leader, 'big2', big));
    expect(e.message).toMatch(/proposalBytesPendingMax 1600000/);
    expect(await shed(leader, 'proposalBytes')).toBe(1);
    await cluster.until(() => leader.d.kv.keyCount === 1);
    await first;
  });

  it('refuses writes while the event loop is late past eventLoopDelayMsMax, with a retry hint of about the delay', async () => {
    const cluster = new DriverCluster(['n1', 'n2', 'n3'], { raw: { eventLoopDelayMsMax: 100 } });
    await cluster.startAll();
    const leader = await cluster.leader();
    leader.eventLoopDelayMs = 350;
    const e = await refusal(put(leader, 'late'));
    expect(e.message).toMatch(/event-loop delay 350 ms \(eventLoopDelayMsMax 100\)/);
    expect(e.retryAfterMs).toBe(350);
    expect(await shed(leader, 'eventLoop')).toBe(1);
    leader.eventLoopDelayMs = 100; // at the limit: admitted
    let done = false;
    void put(leader, 'on-time').then(() => (done = true));
    await cluster.until(() => done);
    expect(leader.d.kv.get(utf8.encode('late'))).toBeNull();
  });
});
