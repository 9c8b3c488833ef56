/**
 * etcdctl 3.4's auth commands against a real three-node raftkv cluster: users, roles, prefix
 * permissions, auth enable/disable, signing in with --user, and the errors etcd clients expect.
 * Commands go to every endpoint (etcdctl picks one), so changes sent to a follower must reach the
 * leader. Without etcdctl the file is skipped, and says so.
 */
import { describe, expect, it } from 'vitest';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { waitForAllToKnowLeader } from './support/cluster-wait.js';
import { etcdctl, etcdctlPath, warnIfNoEtcdctl } from './support/etcdctl.js';
import type { Run } from './support/etcdctl.js';
import { useTestCluster } from './support/test-cluster.js';

warnIfNoEtcdctl('test/etcd-auth.test.ts');

let cluster: LocalCluster;
const all = (): string => ['n1', 'n2', 'n3'].map((id) => cluster.spec(id).clientAddress).join(',');

/** Runs etcdctl on every endpoint and expects exit code `code` (0 by default). */
async function ok(args: readonly string[], code = 0): Promise<Run> {
  const r = await etcdctl(all(), args);
  expect(r.code, `etcdctl ${args.join(' ')}: ${r.stderr}`).toBe(code);
  return r;
}

describe.skipIf(etcdctlPath === null)('etcdctl auth against raftkv', () => {
  useTestCluster('etcdctl-auth', { started: (c) => (cluster = c) });

  it('users, roles and prefix permissions; auth enable; --user; the errors etcd gives', async () => {
    // etcdctl may pick any endpoint, and a follower passes auth changes on to the leader: every
    // node must know the leader first (waitForLeader needs only a majority to).
    await waitForAllToKnowLeader(cluster);
    expect((await ok(['user', 'add', 'root', '--new-user-password=rootpw'])).stdout).toBe('User root created\n');
    expect((await ok(['user', 'grant-role', 'root', 'root'])).stdout).toBe('Role root is granted to user root\n');
    await ok(['user', 'add', 'alice', '--new-user-password=alicepw']);
    expect((await ok(['role', 'add', 'reader'])).stdout).toBe('Role reader created\n');
    expect((await ok(['role', 'grant-permission', 'reader', 'read', 'k/', '--prefix'])).stdout).toBe('Role reader updated\n');
    // raftkv roles grant prefixes: a single-key permission does not map.
    expect((await ok(['role', 'grant-permission', 'reader', 'read', 'k/x'], 1)).stderr).toContain('prefixes only');
    await ok(['user', 'grant-role', 'alice', 'reader']);
    expect((await ok(['user', 'get', 'alice'])).stdout).toBe('User: alice\nRoles: reader\n');
    expect((await ok(['role', 'get', 'reader'])).stdout).toContain('[k/, k0) (prefix k/)');
    expect((await ok(['user', 'list'])).stdout).toBe('alice\nroot\n');
    expect((await ok(['role', 'list'])).stdout).toBe('root\nreader\n');
    expect((await ok(['user', 'get', 'bob'], 1)).stderr).toContain('etcdserver: user name not found');
    await ok(['put', 'k/1', 'v1']);

    expect((await ok(['auth', 'enable'])).stdout).toBe('Authentication Enabled\n');
    expect((await ok(['get', 'k/1'], 1)).stderr).toContain('etcdserver: user name is empty');
    await ok(['--user', 'root:rootpw', 'put', 'k/1', 'v2']);
    expect((await ok(['--user', 'alice:alicepw', 'get', 'k/1', '--print-value-only'])).stdout).toBe('v2\n');
    expect((await ok(['--user', 'alice:alicepw', 'put', 'k/1', 'v3'], 1)).stderr).toContain('etcdserver: permission denied');
    expect((await ok(['--user', 'alice:alicepw', 'get', 'other'], 1)).stderr).toContain('etcdserver: permission denied');
    const wrong = await etcdctl(all(), ['--user', 'alice:wrong', 'get', 'k/1']);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr).toContain('etcdserver: authentication failed, invalid user ID or password');

    await ok(['--user', 'root:rootpw', 'user', 'revoke-role', 'alice', 'reader']);
    expect((await ok(['--user', 'alice:alicepw', 'get', 'k/1'], 1)).stderr).toContain('etcdserver: permission denied');
    await ok(['--user', 'root:rootpw', 'role', 'revoke-permission', 'reader', 'k/', '--prefix']);
    await ok(['--user', 'root:rootpw', 'user', 'delete', 'alice']);
    await ok(['--user', 'root:rootpw', 'role', 'delete', 'reader']);
    expect((await ok(['--user', 'root:rootpw', 'auth', 'disable'])).stdout).toBe('Authentication Disabled\n');
    expect((await ok(['get', 'k/1', '--print-value-only'])).stdout).toBe('v2\n');
  });
});
