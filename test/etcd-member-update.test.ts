/**
 * Changing a member's peer address on a real three-node cluster: `etcdctl member update` (and
 * `raftkv member update`) send it through the log, every node's member list shows it, and once
 * the member is restarted listening on the new address (another loopback host) the cluster
 * commits writes that need it, also after the other nodes restart (they rebuild the address from
 * their log). Without etcdctl the file is skipped, and says so.
 */
import { describe, expect, it } from 'vitest';
import { freePorts } from '../cluster/local-cluster.js';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { memberIdOf } from '../src/server/etcd/etcd-ids.js';
import { waitForAllToKnowLeader } from './support/cluster-wait.js';
import { etcdctl, etcdctlPath, warnIfNoEtcdctl } from './support/etcdctl.js';
import { runCli } from './support/run-cli.js';
import { useTestCluster } from './support/test-cluster.js';

warnIfNoEtcdctl('test/etcd-member-update.test.ts');

let cluster: LocalCluster;
/** The member the first test moves (it no longer listens on its planned peer address). */
let moved = '';
const ids = ['n1', 'n2', 'n3'];
const endpointsOf = (nodes: readonly string[]): string => nodes.map((id) => cluster.spec(id).clientAddress).join(',');

/** The peer URLs each node's `etcdctl member list` shows for `id`. */
async function peerUrlsSeenBy(node: string, id: string): Promise<string> {
  const r = await etcdctl(cluster.spec(node).clientAddress, ['member', 'list']);
  expect(r.code, r.stderr).toBe(0);
  // etcdctl 3.4: ID, status, name, peer URLs, client URLs, is learner.
  const row = r.stdout.split('\n').find((l) => l.split(', ')[2] === id) ?? '';
  return row.split(', ')[3] ?? '';
}

/** Puts `key` through the given endpoints; retried (bounded) while a new leader is elected. */
async function putThrough(nodes: readonly string[], key: string): Promise<void> {
  let last = '';
  for (let i = 0; i < 40; i++) {
    const r = await etcdctl(endpointsOf(nodes), ['put', key, 'v']);
    if (r.code === 0 && r.stdout === 'OK\n') return;
    last = r.stderr;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`put ${key} through ${nodes.join(',')} never succeeded: ${last}`);
}

describe.skipIf(etcdctlPath === null)('member update (a new peer address, through the log)', () => {
  useTestCluster('etcd-member-update', { started: (c) => (cluster = c) });

  it('etcdctl member update: every node lists the new address; the member restarted there takes part in commits, also after the others restart', { timeout: 180_000 }, async () => {
    const leader = await waitForAllToKnowLeader(cluster);
    moved = ids.find((id) => id !== leader) ?? '';
    const other = ids.find((id) => id !== leader && id !== moved) ?? '';
    const [port] = await freePorts(1);
    const newPeer = `127.0.0.2:${port}`;

    const update = await etcdctl(endpointsOf(ids), ['member', 'update', memberIdOf(moved).toString(16), `--peer-urls=http://${newPeer}`]);
    expect(update.code, update.stderr).toBe(0);
    // etcdctl prints both ids with %16x: padded with spaces to 16 characters when shorter.
    expect(update.stdout).toMatch(new RegExp(`^Member +${memberIdOf(moved).toString(16)} updated in cluster +[0-9a-f]+\\n$`));
    /** Waits (bounded) until each of `nodes` lists the moved member at the new address. */
    const expectListed = async (nodes: readonly string[]): Promise<void> => {
      for (const node of nodes) {
        let seen = '';
        for (let i = 0; i < 100 && seen !== `http://${newPeer}`; i++) {
          seen = await peerUrlsSeenBy(node, moved);
          if (seen !== `http://${newPeer}`) await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(seen, `${node}'s member list`).toBe(`http://${newPeer}`);
      }
    };
    // The moved member itself may not hear of it before it moves: the leader reaches it at the new address from then on.
    await expectListed([leader, other]);

    // The member moves: restarted listening on the new address only.
    await cluster.stop(moved);
    cluster.start(moved, ['--listen-peer', newPeer]);
    await cluster.waitForHttp(moved, 20_000);
    await expectListed(ids);
    // With the third node down, a commit needs the moved member: the leader reaches it at the new address.
    await cluster.kill(other);
    await putThrough([leader], 'after-move');
    // The third node restarts: it rebuilds the moved member's address from its log, and with the
    // old leader down, it and the moved member elect a leader and commit between them.
    cluster.start(other);
    await cluster.waitForHttp(other, 20_000);
    await putThrough([leader], 'all-three');
    await cluster.kill(leader);
    await cluster.waitForLeader(30_000, [moved, other]);
    await putThrough([moved, other], 'without-the-old-leader');
    const read = await etcdctl(endpointsOf([moved, other]), ['get', 'after-move', '--print-value-only']);
    expect(read.stdout).toBe('v\n');
    cluster.start(leader);
    await cluster.waitForHttp(leader, 20_000);
  });

  it('raftkv member update: changes a peer address the same way, and refuses a node that is not a member', async () => {
    await waitForAllToKnowLeader(cluster);
    const endpoints = ['--endpoints', endpointsOf(ids)];
    const missing = await runCli(['member', 'update', 'n9', '127.0.0.1:1', ...endpoints]);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('n9 is not a member');
    const bad = await runCli(['member', 'update', 'n1', 'not-an-address', ...endpoints]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('is not host:port');
    // A member that still listens where it was planned: "updating" it to that address changes nothing else.
    const kept = ids.find((id) => id !== moved) ?? '';
    const same = await runCli(['member', 'update', kept, cluster.spec(kept).peerAddress, '--output', 'json', ...endpoints]);
    expect(same.code, same.stderr).toBe(0);
    const out = JSON.parse(same.stdout) as { updated: string; members: { id: string; peerAddresses: string[] }[] };
    expect(out.updated).toBe(kept);
    expect(out.members.find((m) => m.id === kept)?.peerAddresses).toEqual([cluster.spec(kept).peerAddress]);
  });
});
