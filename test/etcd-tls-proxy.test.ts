/**
 * etcdctl 3.4 against a FOLLOWER of a three-node TLS cluster of real processes: the calls only
 * the leader runs (lease grant, put --lease, keep-alive, time-to-live, alarm changes, auth and
 * membership changes) are passed on by the follower to the leader over the peer port
 * (etcd-leader-proxy.ts), where the leader admits the follower like a forwarded write and
 * believes the certificate user it vouches for, and only then.
 * Under --client-cert-auth with auth on, a caller that signs in with its client certificate and
 * no token runs them on a follower as that user (its own permissions, refused with etcd's
 * "permission denied" where it has none), exactly as on the leader; a certificate that names no
 * user, and the node certificate of the follower, are never a user.
 * Without etcdctl the file is skipped, and says so. Every node is stopped by pid (useTestCluster).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { etcdAuthService, etcdLeaseService } from '../src/api/etcd/index.js';
import { forwardedUserHeader } from '../src/server/auth/authorizer.js';
import { forwardedEtcdPath } from '../src/server/etcd/etcd-leader-proxy.js';
import { createDevCerts } from '../src/tls/index.js';
import { waitForAllToKnowLeader } from './support/cluster-wait.js';
import { etcdctl, etcdctlPath, warnIfNoEtcdctl } from './support/etcdctl.js';
import type { Run } from './support/etcdctl.js';
import { rawCredentials } from './support/raw-peer.js';
import type { PemFiles } from './support/raw-peer.js';
import { useTestCluster } from './support/test-cluster.js';

warnIfNoEtcdctl('test/etcd-tls-proxy.test.ts');

const certs = join(mkdtempSync(join(tmpdir(), 'raftkv-etcd-tls-')), 'certs');
beforeAll(() => createDevCerts(certs, ['n1', 'n2', 'n3'], { clients: ['app', 'viewer', 'ghost'] }), 60_000);
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

/** etcd UserAdd of "mallory" at `path` on `address` with the TLS identity `files` and `metadata`, as a hand-made client would send it. */
function rawUserAdd(address: string, files: PemFiles, path: string, metadata: Readonly<Record<string, string>>): Promise<{ code: grpc.status; details: string }> {
  const client = new grpc.Client(address, rawCredentials(files));
  const md = new grpc.Metadata();
  for (const [key, value] of Object.entries(metadata)) md.set(key, value);
  const { requestSerialize, responseDeserialize } = etcdAuthService.UserAdd;
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, requestSerialize, responseDeserialize, { name: 'mallory', password: 'x' }, md, { deadline: Date.now() + 10_000 }, (e) => {
      client.close();
      resolve(e === null ? { code: grpc.status.OK, details: '' } : { code: e.code, details: e.details });
    });
  });
}

/** One keep-alive of lease `id` (hex) on the peer port's forwarded LeaseKeepAlive of `address`, with `files` and `metadata`: how the stream ended, and the answers it got. */
function rawKeepAlive(address: string, files: PemFiles, metadata: Readonly<Record<string, string>>, id: string): Promise<{ code: grpc.status; details: string; answers: number }> {
  const client = new grpc.Client(address, rawCredentials(files));
  const md = new grpc.Metadata();
  for (const [key, value] of Object.entries(metadata)) md.set(key, value);
  const { path, requestSerialize, responseDeserialize } = etcdLeaseService.LeaseKeepAlive;
  const stream = client.makeBidiStreamRequest(forwardedEtcdPath(path), requestSerialize, responseDeserialize, md, { deadline: Date.now() + 10_000 });
  let answers = 0;
  return new Promise((resolve) => {
    const end = (code: grpc.status, details: string): void => {
      client.close();
      resolve({ code, details, answers });
    };
    stream.on('data', () => {
      answers++;
      stream.end();
    });
    stream.on('error', (e: grpc.ServiceError) => end(e.code, e.details));
    stream.on('status', (st: grpc.StatusObject) => {
      if (st.code === grpc.status.OK) end(st.code, st.details);
    });
    stream.write({ ID: BigInt(`0x${id}`).toString() });
  });
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
  const certOf = (name: string): string[] => ['--cert', join(certs, `client-${name}.pem`), '--key', join(certs, `client-${name}-key.pem`)];
  const appCert = certOf('app');

  it('a certificate-only caller runs leader-only calls on a follower as its own user; the proxy\'s node certificate is none', async () => {
    const follower = await followerOf(cluster);
    /** etcdctl on the follower with `cert`; expects success and returns stdout. */
    const ok = async (cert: readonly string[], args: readonly string[]): Promise<string> => {
      const r = await onFollower(follower.address, cert, args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
      return r.stdout;
    };
    /** etcdctl on the follower with `cert`; expects it refused and returns stderr. */
    const refused = async (cert: readonly string[], args: readonly string[]): Promise<string> => {
      const r = await onFollower(follower.address, cert, args);
      expect({ args, code: r.code }).not.toEqual({ args, code: 0 });
      return r.stderr;
    };
    const grant = async (cert: readonly string[]): Promise<string> => {
      const out = await ok(cert, ['lease', 'grant', '60']);
      const id = /^lease ([0-9a-f]+) granted with TTL\(60s\)$/.exec(out.trim())?.[1] ?? '';
      expect(id, out).not.toBe('');
      return id;
    };
    const admin = (args: readonly string[]): Promise<string> => ok(appCert, args);
    await admin(['user', 'add', 'root', '--new-user-password=rootpw']);
    await admin(['user', 'grant-role', 'root', 'root']);
    // A root user named like the follower (its certificate's CN): were the proxy's certificate
    // taken for a user, a tokenless call passed on by this follower would run as root.
    await admin(['user', 'add', follower.id, '--new-user-password=nodepw']);
    await admin(['user', 'grant-role', follower.id, 'root']);
    // The users the client certificates name: app is root, viewer may write under viewer/ only
    // (no user is named ghost).
    await admin(['user', 'add', 'app', '--new-user-password=apppw']);
    await admin(['user', 'grant-role', 'app', 'root']);
    await admin(['user', 'add', 'viewer', '--new-user-password=viewerpw']);
    await admin(['role', 'add', 'viewer-rw']);
    await admin(['role', 'grant-permission', 'viewer-rw', 'readwrite', 'viewer/', '--prefix']);
    await admin(['user', 'grant-role', 'viewer', 'viewer-rw']);
    await admin(['auth', 'enable']);

    // A token still works, and is the identity the leader sees.
    await leaseAndMembership(follower.address, [...appCert, '--user', 'root:rootpw'], cluster);

    // The app certificate and no token: the follower vouches for "app" over the peer port, the
    // leader runs the calls as app (root).
    expect(await ok(appCert, ['user', 'add', 'carol', '--new-user-password=x'])).toBe('User carol created\n');
    expect(await ok(appCert, ['role', 'add', 'r-app'])).toBe('Role r-app created\n');
    const appLease = await grant(appCert);
    expect(await ok(appCert, ['put', 'tls/app-leased', 'v', `--lease=${appLease}`])).toBe('OK\n');
    expect(await ok(appCert, ['lease', 'timetolive', appLease, '--keys'])).toContain('attached keys([tls/app-leased])');
    expect(await ok(appCert, ['lease', 'revoke', appLease])).toBe(`lease ${appLease} revoked\n`);

    // The viewer certificate and no token: viewer's own permissions, no more.
    const viewer = certOf('viewer');
    const viewerLease = await grant(viewer);
    expect(await ok(viewer, ['put', 'viewer/leased', 'v', `--lease=${viewerLease}`])).toBe('OK\n');
    expect(await refused(viewer, ['put', 'tls/viewer-leased', 'v', `--lease=${viewerLease}`])).toContain('etcdserver: permission denied');
    expect(await refused(viewer, ['user', 'add', 'mallory', '--new-user-password=x'])).toContain('etcdserver: permission denied');
    expect(await refused(viewer, ['role', 'add', 'r-viewer'])).toContain('etcdserver: permission denied');

    // A certificate that names no user is no identity: the leader sees no user, as when called directly.
    expect(await refused(certOf('ghost'), ['user', 'add', 'mallory', '--new-user-password=x'])).toContain('etcdserver: user name is empty');
    // A node certificate used by a client is no user either (the follower vouches for nobody).
    const nodeCert = ['--cert', join(certs, `${follower.id}.pem`), '--key', join(certs, `${follower.id}-key.pem`)];
    expect(await refused(nodeCert, ['user', 'add', 'mallory', '--new-user-password=x'])).toContain('etcdserver: user name is empty');

    // Only an admitted member is believed: the app's own certificate on the leader's peer port,
    // claiming to be the follower and vouching for "app", is refused before anything runs...
    const leader = (await cluster.waitForLeader()).id;
    const app = { ca: join(certs, 'ca.pem'), cert: join(certs, 'client-app.pem'), key: join(certs, 'client-app-key.pem') };
    const vouching = { 'raftkv-from': follower.id, [forwardedUserHeader]: 'app' };
    const forged = await rawUserAdd(cluster.spec(leader).peerAddress, app, forwardedEtcdPath(etcdAuthService.UserAdd.path), vouching);
    expect(forged.code, forged.details).toBe(grpc.status.PERMISSION_DENIED);
    const forgedKeepAlive = await rawKeepAlive(cluster.spec(leader).peerAddress, app, vouching, viewerLease);
    expect(forgedKeepAlive, forgedKeepAlive.details).toMatchObject({ code: grpc.status.PERMISSION_DENIED, answers: 0 });
    // ... and on either client port the vouching header names nobody (the ghost certificate does, and is no user).
    const ghost = { ca: join(certs, 'ca.pem'), cert: join(certs, 'client-ghost.pem'), key: join(certs, 'client-ghost-key.pem') };
    for (const address of [follower.address, cluster.spec(leader).clientAddress]) {
      const claimed = await rawUserAdd(address, ghost, etcdAuthService.UserAdd.path, vouching);
      expect(claimed, address).toEqual({ code: grpc.status.INVALID_ARGUMENT, details: 'etcdserver: user name is empty' });
    }

    const users = await onFollower(follower.address, [...appCert, '--user', 'root:rootpw'], ['user', 'list']);
    expect(users.stdout).toBe(['app', 'carol', follower.id, 'root', 'viewer'].sort().join('\n') + '\n');
    // Everything above went through a follower (else it proved nothing about forwarding).
    expect((await cluster.waitForLeader()).id).not.toBe(follower.id);
  });
});
