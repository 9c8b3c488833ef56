// The CORRUPT alarm on real processes: in a three-node cluster, n3 runs the hidden test fault
// --test-diverge-replica (refused without RAFTKV_ENABLE_TEST_FAULTS=1), which changes one key in
// its state machine without a log entry. Proves that the leader's periodic digest comparison
// raises CORRUPT for n3, and only n3 (replicated: every node's /status shows it), that
// `raftkv alarm list` and the metric show it, that n3 refuses reads with DATA_LOSS and is not
// ready while the others serve.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalCluster, planTestCluster, sleep } from '../cluster/local-cluster.js';
import { bytes, RawClient } from './support/raw-client.js';
import { runCli } from './support/run-cli.js';

/** Writes that take every replica past two digest checkpoints (every 100 entries). */
const writes = 250;
/** How long the test waits for the check (every 5 s) to raise the alarm. */
const waitMs = 40_000;
/** Most retries of one write the leader shed for load (OVERLOADED: not applied, safe to retry). */
const shedRetriesMax = 50;

const root = mkdtempSync(join(tmpdir(), 'raftkv-corrupt-'));
let cluster: LocalCluster | null = null;
const clients: RawClient[] = [];

afterAll(async () => {
  for (const c of clients) c.close();
  await cluster?.killAll();
  rmSync(root, { recursive: true, force: true });
});

type Alarm = { member: string; type: string };
async function alarmsOn(c: LocalCluster, id: string): Promise<Alarm[]> {
  const res = await fetch(`http://${c.spec(id).httpAddress}/status`);
  return ((await res.json()) as { alarms: Alarm[] }).alarms;
}

/** A Put, retried while the leader's admission control sheds it on a busy machine. */
async function put(rc: RawClient, key: string, value: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const err = await rc.failure('Put', { key: bytes(key), value: bytes(value) });
    if (err === null) return;
    if (err.trailers['raftkv-code'] !== 'OVERLOADED' || attempt >= shedRetriesMax) throw err;
    await sleep(Number(err.trailers['raftkv-retry-after-ms'] ?? '50'));
  }
}

describe('CORRUPT alarm (a replica diverged on purpose)', () => {
  it('is raised for the diverged member only, shown everywhere, and refuses its reads', async () => {
    cluster = new LocalCluster(await planTestCluster(3, root), { nodeArgs: { n3: ['--test-diverge-replica'] }, env: { RAFTKV_ENABLE_TEST_FAULTS: '1' } });
    await cluster.startAll();
    const leader = (await cluster.waitForLeader()).id;
    const rc = new RawClient(cluster.spec(leader).clientAddress);
    clients.push(rc);
    for (let i = 0; i < writes; i++) await put(rc, `k${i}`, `v${i}`);

    const end = Date.now() + waitMs;
    while (Date.now() < end && !(await alarmsOn(cluster, 'n1')).some((a) => a.type === 'corrupt')) await sleep(250);
    for (const id of ['n1', 'n2', 'n3']) {
      expect(await alarmsOn(cluster, id), `the replicated list on ${id}`).toEqual([expect.objectContaining({ member: 'n3', type: 'corrupt' })]);
    }
    const listed = await runCli(['alarm', 'list', '--endpoints', cluster.specs.map((s) => s.clientAddress).join(',')]);
    expect(listed.stdout).toMatch(/memberID:n3 alarm:CORRUPT/);
    // `raftkv status` shows it in n3's HEALTH, and only there.
    const shown = await runCli(['status', '--output', 'json', '--endpoints', cluster.specs.map((s) => s.clientAddress).join(',')]);
    const rows = JSON.parse(shown.stdout) as { id: string; health: string }[];
    expect(Object.fromEntries(rows.map((r) => [r.id, r.health]))).toEqual({ n1: 'ok', n2: 'ok', n3: expect.stringMatching(/^alarm CORRUPT/) });
    const metrics = await (await fetch(`http://${cluster.spec('n3').httpAddress}/metrics`)).text();
    expect(metrics).toContain('raftkv_alarm{type="corrupt",member="n3"} 1');
    const n3 = new RawClient(cluster.spec('n3').clientAddress);
    clients.push(n3);
    const refused = await n3.failure('Get', { key: bytes('k1'), consistency: 1 });
    expect(refused?.code).toBe(grpcStatus.DATA_LOSS);
    expect(refused?.details).toMatch(/CORRUPT alarm/);
    expect((await fetch(`http://${cluster.spec('n3').httpAddress}/readyz`)).status).toBe(503);
    const n1 = new RawClient(cluster.spec('n1').clientAddress);
    clients.push(n1);
    expect(await n1.failure('Get', { key: bytes('k1') })).toBeNull();

  }, 120_000);
});
