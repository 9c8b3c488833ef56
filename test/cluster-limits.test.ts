// Proves defect a of issue 10 is fixed on real nodes (production driver, LevelDB, gRPC on loopback):
// in a rolling restart that raises --value-bytes-max on one node first, that node, once leader,
// no longer answers OK for a value its followers refuse; the limits change only through the log
// (Cluster/ClusterLimitsSet), every replica then applies by the new values, and they survive a restart.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterService } from '../src/api/index.js';
import type { ClusterLimitsResponseMsg } from '../src/api/index.js';
import { toNumber } from '../src/api/index.js';
import { repoRoot } from '../cluster/local-cluster.js';
import { InProcessCluster } from './support/in-process-nodes.js';
import { RawClient } from './support/raw-client.js';

const mib = 1024 * 1024;
/** Flags of a node whose admission limits were raised (and the byte limits that must contain them). */
const raisedFlags = { valueBytesMax: 2 * mib, requestBytesMax: 3 * mib, appendBytesMax: 4 * mib, applyBytesMax: 4 * mib };
const ClusterClient = grpc.makeGenericClientConstructor(clusterService as unknown as grpc.ServiceDefinition, 'Cluster');

let cluster: InProcessCluster;
const clients: { close(): void }[] = [];

function kvClient(id: string): RawClient {
  const c = new RawClient(cluster.plan(id).clientAddress);
  clients.push(c);
  return c;
}
function clusterCall(id: string, method: 'ClusterLimitsGet' | 'ClusterLimitsSet', request: object): Promise<ClusterLimitsResponseMsg> {
  const c = new ClusterClient(cluster.plan(id).clientAddress, grpc.credentials.createInsecure());
  clients.push(c);
  const fn = (c as unknown as Record<string, (r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: ClusterLimitsResponseMsg) => void) => void>)[method];
  return new Promise((resolve, reject) => fn?.call(c, request, { deadline: Date.now() + 10_000 }, (e, r) => (e ? reject(e) : resolve(r))));
}
/** Waits until every running node applied the same index, then returns their state hashes. */
async function hashesWhenCaughtUp(): Promise<string[]> {
  const nodes = [...cluster.nodes.values()];
  await cluster.until('every node to apply the same index', () => new Set(nodes.map((n) => n.driver.kv.appliedIndex)).size === 1 && nodes.every((n) => n.driver.kv.appliedIndex >= n.driver.raw.commit));
  return nodes.map((n) => n.driver.kv.stateHash());
}

beforeAll(async () => {
  cluster = await InProcessCluster.plan(3, 'limits');
  for (const id of ['n1', 'n2', 'n3']) await cluster.start(id);
  await cluster.leader();
  // The first leader recorded its flags (the defaults) as the cluster limits, through the log.
  await cluster.until('the bootstrap limits on every node', () => [...cluster.nodes.values()].every((n) => n.driver.kv.clusterSettings.setIndex > 0));
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.stopAll();
});

describe('a rolling restart that raises --value-bytes-max on one node first', () => {
  it('does not let the raised node, as leader, store a value its followers refuse', async () => {
    await cluster.stop('n1');
    await cluster.start('n1', raisedFlags);
    await cluster.leader();
    const leader = await cluster.leader();
    if (leader.options.id !== 'n1') {
      leader.driver.transferLeader(cluster.plan('n1').id as never);
      await cluster.until('n1 to lead', () => cluster.nodes.get('n1')?.driver.role === 'leader');
    }
    const n1 = kvClient('n1');
    const big = new Uint8Array(1.5 * mib).fill(7);
    // Before the fix: OK on n1, INVALID_ARGUMENT on every follower, and the write gone after a failover.
    const refused = await n1.failure('Put', { key: Buffer.from('big'), value: big });
    expect(refused?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(refused?.details).toMatch(/valueBytesMax \(1048576\)/);
    const hashes = await hashesWhenCaughtUp();
    expect(new Set(hashes).size).toBe(1);
  }, 60_000);

  it('raises the limit for every replica through the log, and keeps it across a restart', async () => {
    const set = await clusterCall('n1', 'ClusterLimitsSet', { limits: { valueBytesMax: 2 * mib, requestBytesMax: 3 * mib } });
    expect(toNumber(set.limits.valueBytesMax)).toBe(2 * mib);
    expect(toNumber(set.setIndex)).toBeGreaterThan(0);
    const big = new Uint8Array(1.5 * mib).fill(9);
    await kvClient('n1').call('Put', { key: Buffer.from('big'), value: big }, 10_000);
    const hashes = await hashesWhenCaughtUp();
    expect(new Set(hashes).size).toBe(1);
    for (const node of cluster.nodes.values()) expect(node.driver.kv.get(Buffer.from('big'))?.value.length, node.options.id).toBe(1.5 * mib);
    // A follower reports the same limits, and a restarted one keeps them (they are in its stored state).
    const follower = [...cluster.nodes.values()].find((n) => n.driver.role !== 'leader')?.options.id ?? 'n2';
    expect(toNumber((await clusterCall(follower, 'ClusterLimitsGet', {})).limits.valueBytesMax)).toBe(2 * mib);
    await cluster.stop(follower);
    const restarted = await cluster.start(follower);
    expect(restarted.driver.kv.limits.valueBytesMax).toBe(2 * mib);
  }, 60_000);

  it('refuses limits out of range with INVALID_ARGUMENT and changes nothing', async () => {
    const before = cluster.nodes.get('n1')?.driver.kv.clusterSettings;
    const error = await clusterCall('n1', 'ClusterLimitsSet', { limits: { requestBytesMax: 10 } }).catch((e: grpc.ServiceError) => e);
    expect((error as grpc.ServiceError).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect((error as grpc.ServiceError).details).toMatch(/requestBytesMax: \(10\) must be at least keyBytesMax/);
    expect(cluster.nodes.get('n1')?.driver.kv.clusterSettings).toEqual(before);
  });

  it('can be read and changed from the built CLI (raftkv config get / set)', async () => {
    // Runs the built CLI (npm test builds first), as an operator would.
    const endpoints = cluster.plans.map((p) => p.clientAddress).join(',');
    const cli = (args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        execFile(process.execPath, [join(repoRoot, 'bin', 'raftkv.js'), ...args, '--endpoints', endpoints, '-o', 'json'], { timeout: 20_000 }, (e, stdout, stderr) =>
          resolve({ code: e === null ? 0 : typeof e.code === 'number' ? e.code : 1, stdout, stderr }),
        );
      });
    const set = await cli(['config', 'set', 'sessionTtlMs=120000']);
    expect(set.code, set.stderr).toBe(0);
    expect(JSON.parse(set.stdout)).toMatchObject({ limits: { sessionTtlMs: 120_000, valueBytesMax: 2 * mib } });
    await cluster.until('every node to apply the new TTL', () => [...cluster.nodes.values()].every((n) => n.driver.kv.limits.sessionTtlMs === 120_000));
    const get = await cli(['config', 'get']);
    expect(JSON.parse(get.stdout)).toMatchObject({ limits: { sessionTtlMs: 120_000 } });
    const bad = await cli(['config', 'set', 'noSuchLimit=1']);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/noSuchLimit/)]);
  }, 60_000);
});
