// Membership on real processes under steady writes: grow 3 to 5, remove the leader, shrink to 3, refuse an unsafe removal, replace a dead node; nothing acknowledged is lost and every member ends with the same state hash.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, planTestCluster } from '../cluster/local-cluster.js';
import type { LocalNodeSpec } from '../cluster/local-cluster.js';
import { Clients, converged, leaderAmong, raftkv, statuses, SteadyWriters, waitFor } from './membership-support.js';
import { bytes, text } from './support/raw-client.js';

let dir = '';
let cluster: LocalCluster;
let specs: LocalNodeSpec[] = [];
const clients = new Clients();
/** The current members (ids), as the test changes them. */
let members: string[] = [];
let writers: SteadyWriters | null = null;

const cli = (args: readonly string[]): ReturnType<typeof raftkv> => raftkv(cluster.bin, [...args, '--endpoints', members.map((id) => cluster.spec(id).clientAddress).join(',')]);
const memberIds = async (): Promise<{ voters: string[]; learners: string[] }> => {
  const leader = await leaderAmong(cluster, members);
  return { voters: leader['voters'] as string[], learners: leader['learners'] as string[] };
};

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'raftkv-membership-'));
  specs = await planTestCluster(6, dir);
  const founders = specs.slice(0, 3).map((s) => `${s.id}=${s.peerAddress}`).join(',');
  cluster = new LocalCluster(specs, {
    extraArgs: ['--snapshot-entries', '2000', '--snapshot-catchup-entries', '500'],
    initialClusterFor: { n1: founders, n2: founders, n3: founders },
  });
  members = ['n1', 'n2', 'n3'];
  for (const id of members) cluster.start(id);
  for (const id of members) await cluster.waitForHttp(id, 20_000);
  await leaderAmong(cluster, members);
  writers = new SteadyWriters(clients, () => members.map((id) => cluster.spec(id).clientAddress), 'mw', 4);
});

afterAll(async () => {
  await writers?.stop();
  clients.close();
  await cluster?.killAll();
  if (process.env['RAFTKV_KEEP_TEST_DIRS'] === undefined) rmSync(dir, { recursive: true, force: true });
  else console.log(`kept ${dir}`);
});

describe('membership changes under steady writes', () => {
  it('grows 3 to 5: new nodes join as learners, catch up by snapshot, and are promoted', async () => {
    for (const id of ['n4', 'n5']) cluster.start(id, ['--join']);
    for (const id of ['n4', 'n5']) {
      await cluster.waitForHttp(id, 20_000);
      const added = await cli(['member', 'add', id, cluster.spec(id).peerAddress, '--wait', '60s']);
      expect(added.code, added.stderr).toBe(0);
      expect(added.stdout).toContain(`added ${id} as a learner; it is now a voter`);
      members.push(id);
    }
    const { voters, learners } = await memberIds();
    expect([...voters].sort()).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    expect(learners).toEqual([]);
    // The joiners started from a snapshot (the leader compacts index 1 away), not a log replay.
    for (const id of ['n4', 'n5']) {
      const s = await cluster.status(id);
      expect(s?.['snapshotIndex'], `${id} snapshot index`).toBeGreaterThan(0);
      expect(s?.['clusterId']).toBe((await cluster.status('n1'))?.['clusterId']);
    }
    // One change at a time: adding a member that exists is refused with a clear message.
    const again = await cli(['member', 'add', 'n4', cluster.spec('n4').peerAddress]);
    expect(again.code).toBe(4);
    expect(again.stderr).toMatch(/n4 is already a member \(a voter\)/);
  });

  it('transfers leadership on request', async () => {
    const before = (await leaderAmong(cluster, members)).id;
    const to = members.find((id) => id !== before) ?? '';
    const moved = await cli(['leader', 'transfer', '--to', to]);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toContain(`leadership moved from ${before} to ${to}`);
    expect((await leaderAmong(cluster, members)).id).toBe(to);
  });

  it('removes the leader (handing leadership over first), then shrinks to 3 voters', async () => {
    const oldLeader = (await leaderAmong(cluster, members)).id;
    const removed = await cli(['member', 'remove', oldLeader]);
    expect(removed.code, removed.stderr).toBe(0);
    members = members.filter((id) => id !== oldLeader);
    await cluster.stop(oldLeader);
    const newLeader = (await leaderAmong(cluster, members)).id;
    expect(newLeader).not.toBe(oldLeader);
    expect((await memberIds()).voters).not.toContain(oldLeader);

    const victim = members.find((id) => id !== newLeader) ?? '';
    const shrunk = await cli(['member', 'remove', victim]);
    expect(shrunk.code, shrunk.stderr).toBe(0);
    members = members.filter((id) => id !== victim);
    await cluster.stop(victim);
    expect((await memberIds()).voters.sort()).toEqual([...members].sort());
    expect(members).toHaveLength(3);
  });

  it('refuses a removal that would leave no healthy quorum, and replaces a dead node', async () => {
    const leader = (await leaderAmong(cluster, members)).id;
    const [dead, healthy] = members.filter((id) => id !== leader) as [string, string];
    await cluster.kill(dead, 'SIGKILL');
    // Wait until the leader sees the dead node as unhealthy (it heard nothing for two election timeouts).
    await new Promise((r) => setTimeout(r, 1500));
    const unsafe = await cli(['member', 'remove', healthy]);
    expect(unsafe.code).toBe(4);
    expect(unsafe.stderr).toMatch(/healthy quorum/);

    const removeDead = await cli(['member', 'remove', dead]);
    expect(removeDead.code, removeDead.stderr).toBe(0);
    members = members.filter((id) => id !== dead);
    cluster.start('n6', ['--join']);
    await cluster.waitForHttp('n6', 20_000);
    const added = await cli(['member', 'add', 'n6', cluster.spec('n6').peerAddress, '--wait', '60s']);
    expect(added.code, added.stderr).toBe(0);
    members.push('n6');
    expect((await memberIds()).voters.sort()).toEqual([...members].sort());
  });

  it('lost no acknowledged write, and every member holds the same state', async () => {
    await writers?.stop();
    const acked = writers?.acked ?? new Map<string, string>();
    console.log(`membership: ${acked.size} writes acknowledged during the changes`);
    expect(acked.size).toBeGreaterThan(200);
    const leader = await leaderAmong(cluster, members);
    const rc = clients.get(cluster.spec(leader.id).clientAddress);
    const range = await rc.call<{ kvs: { key: Uint8Array; value: Uint8Array }[]; more: boolean }>('Range', { key: bytes('mw-'), prefix: true });
    expect(range.more).toBe(false);
    const stored = new Map(range.kvs.map((kv) => [text(kv.key), text(kv.value)]));
    for (const [key, value] of acked) expect(stored.get(key), key).toBe(value);
    // A write after everything, so that every member applies up to the same index.
    await rc.call('Put', { key: bytes('membership-final'), value: bytes('done') });
    const all = await converged(cluster, members);
    expect(all.map((s) => s.id).sort()).toEqual([...members].sort());
    await waitFor('every member to know the leader', 10_000, async () => ((await statuses(cluster, members)).every((s) => s.leader === leader.id) ? true : null));
  });
});
