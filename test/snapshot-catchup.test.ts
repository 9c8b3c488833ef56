// On real processes: a follower paused while the leader writes past its snapshot threshold and compacts catches up by an InstallSnapshot stream (chunked, checksummed, staged on disk), and a killed node restarts from its snapshot plus the log tail; state hashes match the leader's.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, planTestCluster } from '../cluster/local-cluster.js';
import { Clients, converged, leaderAmong, loadKeys, metric, waitFor } from './membership-support.js';
import { bytes, text } from './support/raw-client.js';

let dir = '';
let cluster: LocalCluster;
const clients = new Clients();
const ids = ['n1', 'n2', 'n3'];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'raftkv-snapshot-'));
  // Small thresholds and small chunks, so that the test writes past several snapshots and a
  // snapshot transfer takes many chunks. A small replication window (4 appends in flight) keeps
  // the leader from pushing the whole backlog into the paused follower's socket and peer
  // queue before it compacts: otherwise those in-flight entries, not a snapshot, catch it up.
  cluster = new LocalCluster(await planTestCluster(3, dir), {
    extraArgs: [
      '--snapshot-entries', '500', '--snapshot-catchup-entries', '100', '--snapshot-chunk-bytes-max', '65536',
      '--inflight-appends-max', '4',
    ],
  });
  await cluster.startAll();
  await leaderAmong(cluster, ids);
});

afterAll(async () => {
  clients.close();
  await cluster?.killAll();
  if (process.env['RAFTKV_KEEP_TEST_DIRS'] === undefined) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
});

describe('snapshots and log compaction', () => {
  it('catches up a paused follower by snapshot once the leader compacted past it', async () => {
    const leader = (await leaderAmong(cluster, ids)).id;
    const follower = ids.find((id) => id !== leader) ?? '';
    const before = await cluster.status(follower);
    const installedBefore = await metric(cluster, follower, 'raftkv_snapshots_installed_total');
    cluster.signal(follower, 'SIGSTOP');
    let acked: Map<string, string>;
    try {
      acked = await loadKeys(clients, cluster.spec(leader).clientAddress, 'snap-', 1500, 32, 200);
      expect(acked.size).toBe(1500);
      const ls = await cluster.status(leader);
      // The leader's log no longer holds what the paused follower needs next.
      expect(ls?.['firstIndex']).toBeGreaterThan((before?.applied ?? 0) + 1);
    } finally {
      cluster.signal(follower, 'SIGCONT');
    }
    const resumedAt = Date.now();
    const leaderApplied = (await cluster.status(leader))?.applied ?? 0;
    await waitFor(`${follower} to catch up`, 30_000, async () => {
      const s = await cluster.status(follower);
      return s !== null && s.applied >= leaderApplied ? s : null;
    });
    const catchUpMs = Date.now() - resumedAt;
    const all = await converged(cluster, ids);
    console.log(`snapshot catch-up: ${follower} reached applied ${leaderApplied} in ${catchUpMs} ms after SIGCONT; states at ${all[0]?.applied} hash ${String(all[0]?.['stateHash'])}`);
    expect(await metric(cluster, follower, 'raftkv_snapshots_installed_total')).toBeGreaterThan(installedBefore);
    expect(await metric(cluster, leader, 'raftkv_snapshots_sent_total')).toBeGreaterThan(0);
    // Staged files are removed once installed.
    const staging = join(cluster.spec(follower).dataDir, 'incoming-snapshots');
    expect(existsSync(staging) ? readdirSync(staging) : []).toEqual([]);
    // The caught-up follower serves every acknowledged key.
    const rc = clients.get(cluster.spec(follower).clientAddress);
    const range = await rc.call<{ kvs: { key: Uint8Array; value: Uint8Array }[]; count: unknown }>('Range', { key: bytes('snap-'), prefix: true, consistency: 1 });
    const stored = new Map(range.kvs.map((kv) => [text(kv.key), text(kv.value)]));
    for (const [key, value] of acked) expect(stored.get(key), key).toBe(value);
  });

  it('restarts a killed node from its snapshot plus the log tail', async () => {
    const leader = (await leaderAmong(cluster, ids)).id;
    const victim = ids.find((id) => id !== leader) ?? '';
    await cluster.kill(victim, 'SIGKILL');
    // Fewer writes than the catch-up tail: the leader still holds what the victim needs.
    const acked = await loadKeys(clients, cluster.spec(leader).clientAddress, 'tail-', 60, 8);
    expect(acked.size).toBe(60);
    cluster.start(victim);
    await cluster.waitForHttp(victim, 20_000);
    const started = await cluster.status(victim);
    // It booted from its own snapshot: its log starts after one, and its state was loaded there.
    expect(started?.['snapshotIndex']).toBeGreaterThan(0);
    expect(started?.['firstIndex']).toBeGreaterThan(1);
    const all = await converged(cluster, ids);
    expect(new Set(all.map((s) => s['stateHash'])).size).toBe(1);
    // ...and caught up from the log tail, without needing a snapshot from the leader.
    expect(await metric(cluster, victim, 'raftkv_snapshots_installed_total')).toBe(0);
  });
});
