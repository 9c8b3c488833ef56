/**
 * etcdctl 3.4 against a FOLLOWER of a three-node TLS cluster of real processes: the calls only
 * the leader runs (lease grant, put --lease, keep-alive, time-to-live, alarm changes) are passed
 * on by the follower to the leader's client port over TLS (etcd-leader-proxy.ts), verifying the
 * leader with the node's CA and, under --client-cert-auth, presenting the node's certificate.
 * That certificate never becomes a user: with auth on, the caller's token is the identity the
 * leader sees, and a tokenless caller is refused even when a root user is named like the node.
 * Without etcdctl the file is skipped, and says so. Every node is stopped by pid (useTestCluster).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { createDevCerts } from '../src/tls/index.js';
import { waitForAllToKnowLeader } from './support/cluster-wait.js';
import { etcdctl, etcdctlPath, warnIfNoEtcdctl } from './support/etcdctl.js';
import type { Run } from './support/etcdctl.js';
import { useTestCluster } from './support/test-cluster.js';

warnIfNoEtcdctl('test/etcd-tls-proxy.test.ts');

const certs = join(mkdtempSync(join(tmpdir(), 'raftkv-etcd-tls-')), 'certs');
beforeAll(() => createDevCerts(certs, ['n1', 'n2', 'n3'], { clients: ['app'] }), 60_000);
afterAll(() => rmSync(join(certs, '..'), { recursive: true, force: true }));

/** A follower's id and client address, once every node knows the leader. */
async function followerOf(cluster: LocalCluster): Promise<{ id: string; address: string }> {
  await waitForAllToKnowLeader(cluster);
  const leader = await cluster.waitForLeader();
  const id = cluster.running().find((n) => n !== leader.id) ?? '';
  return { id, address: cluster.spec(id).clientAddress };
}

/** etcdctl against `address` with the cluster's CA and `extra` flags (client certificate, --user). */
function onFollower(address: string, extra: readonly string[], args: readonly string[]): Promise<Run> {
  return etcdctl(address, ['--cacert', join(certs, 'ca.pem'), ...extra, ...args]);
}

/** The leader-only etcd calls a follower must pass on, and what etcdctl prints for each. */
async function leaseAndMembership(address: string, extra: readonly string[], cluster: LocalCluster): Promise<void> {
  const ok = async (args: readonly string[]): Promise<string> => {
    const r = await onFollower(address, extra, args);
    expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
    return r.stdout;
  };
  const grant = await ok(['lease', 'grant', '60']);
  const id = /^lease ([0-9a-f]+) granted with TTL\(60s\)$/.exec(grant.trim())?.[1] ?? '';
  expect(id, grant).not.toBe('');
  expect(await ok(['put', 'tls/leased', 'v', `--lease=${id}`])).toBe('OK\n');
  expect(await ok(['lease', 'keep-alive', '--once', id])).toBe(`lease ${id} keepalived with TTL(60)\n`);
  expect(await ok(['lease', 'timetolive', id, '--keys'])).toMatch(new RegExp(`^lease ${id} granted with TTL\\(60s\\), remaining\\(\\d+s\\), attached keys\\(\\[tls/leased\\]\\)`));
  const members = (await ok(['member', 'list'])).trim().split('\n').map((l) => l.split(', '));
  expect(members.map((m) => m[2]).sort()).toEqual(['n1', 'n2', 'n3']);
  for (const m of members) expect(m[4]).toBe(`https://${cluster.spec(m[2] ?? '').clientAddress}`);
  expect(await ok(['alarm', 'list'])).toBe('');
  // An auth change, which only the leader makes.
  const role = `r-${id}`;
  expect(await ok(['role', 'add', role])).toBe(`Role ${role} created\n`);
}

describe.skipIf(etcdctlPath === null)('a follower passes leader-only etcd calls on over TLS', () => {
  let cluster: LocalCluster;
  useTestCluster('etcd-tls-proxy', { tls: { certsDir: certs }, started: (c) => (cluster = c) });

  it('lease grant, put --lease, keep-alive, timetolive, member list, alarm list, role add on a follower', async () => {
    const follower = await followerOf(cluster);
    await leaseAndMembership(follower.address, [], cluster);
  });
});

describe.skipIf(etcdctlPath === null)('... with client certificates required and auth on', () => {
  let cluster: LocalCluster;
  useTestCluster('etcd-mtls-proxy', { tls: { certsDir: certs, clientCertAuth: true }, started: (c) => (cluster = c) });
  const appCert = ['--cert', join(certs, 'client-app.pem'), '--key', join(certs, 'client-app-key.pem')];

  it('the caller token is the identity the leader sees; the node certificate of the proxy is none', async () => {
    const follower = await followerOf(cluster);
    const admin = async (args: readonly string[]): Promise<void> => {
      const r = await onFollower(follower.address, appCert, args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
    };
    await admin(['user', 'add', 'root', '--new-user-password=rootpw']);
    await admin(['user', 'grant-role', 'root', 'root']);
    // A root user named like the follower (its certificate's CN): were the proxy's certificate
    // taken for a user, a tokenless call passed on by this follower would run as root.
    await admin(['user', 'add', follower.id, '--new-user-password=nodepw']);
    await admin(['user', 'grant-role', follower.id, 'root']);
    await admin(['auth', 'enable']);

    await leaseAndMembership(follower.address, [...appCert, '--user', 'root:rootpw'], cluster);

    // No token: the leader sees no user (the app certificate names none that exists, and the
    // follower's node certificate is never one), so a root-only change is refused.
    const tokenless = await onFollower(follower.address, appCert, ['user', 'add', 'mallory', '--new-user-password=x']);
    expect(tokenless.code).not.toBe(0);
    expect(tokenless.stderr).toContain('etcdserver: user name is empty');
    // A node certificate used by a client is no user either.
    const nodeCert = ['--cert', join(certs, `${follower.id}.pem`), '--key', join(certs, `${follower.id}-key.pem`)];
    const asNode = await onFollower(follower.address, nodeCert, ['user', 'add', 'mallory', '--new-user-password=x']);
    expect(asNode.code).not.toBe(0);
    expect(asNode.stderr).toContain('etcdserver: user name is empty');
    const users = await onFollower(follower.address, [...appCert, '--user', 'root:rootpw'], ['user', 'list']);
    expect(users.stdout).toBe([follower.id, 'root'].sort().join('\n') + '\n');
  });
});
