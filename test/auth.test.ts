// Proves authentication and roles on real nodes (production driver, LevelDB, gRPC on loopback):
// users, roles and the switch are replicated state enforced on every node, on every client RPC
// (KV, Watch, admin calls, backups), on the leader for forwarded writes, across restarts and on
// a replica that caught up from a snapshot; tokens expire; auth can be turned off again.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, PermissionDeniedError } from '../src/client/index.js';
import type { RaftkvClient } from '../src/client/index.js';
import { toNumber } from '../src/api/index.js';
import { AuthCalls } from './support/auth-calls.js';
import { InProcessCluster } from './support/in-process-nodes.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const ttlMs = 4000;
const flags = { authTokenTtlMs: ttlMs, snapshotEntries: 30, snapshotCatchupEntries: 5 };
let cluster: InProcessCluster;
const open: { close(): void }[] = [];

function calls(id: string): AuthCalls {
  const c = new AuthCalls(cluster.plan(id).clientAddress);
  open.push(c);
  return c;
}
function client(user: string, password: string): RaftkvClient {
  const c = createClient({ endpoints: cluster.plans.map((p) => p.clientAddress), credentials: { user, password }, timeoutMs: 10_000 });
  open.push(c);
  return c;
}
async function token(id: string, name: string, password: string): Promise<string> {
  const res = await calls(id).call<{ token: string }>('Auth', 'Authenticate', { name, password });
  return res.token;
}
async function leaderId(): Promise<string> {
  return (await cluster.leader()).options.id;
}
async function followerId(): Promise<string> {
  const leader = await leaderId();
  return cluster.plans.map((p) => p.id).find((id) => id !== leader && cluster.nodes.has(id)) ?? '';
}
const put = (key: string) => ({ key: b(key), value: b('v') });

beforeAll(async () => {
  cluster = await InProcessCluster.plan(3, 'auth');
  for (const id of ['n1', 'n2', 'n3']) await cluster.start(id, flags);
  const admin = calls(await leaderId());
  // Before auth is on, anyone may set it up.
  expect(await admin.failure('Auth', 'AuthEnable', {})).toMatchObject({ code: status.FAILED_PRECONDITION, details: expect.stringMatching(/user "root" exists with role "root"/) });
  await admin.call('Auth', 'UserAdd', { name: 'root', password: 'root-secret-1' });
  await admin.call('Auth', 'UserGrantRole', { user: 'root', role: 'root' });
  await admin.call('Auth', 'RoleAdd', { name: 'reader' });
  await admin.call('Auth', 'RoleGrantPermission', { name: 'reader', perm: { permType: 0, prefix: b('app/') } });
  await admin.call('Auth', 'RoleAdd', { name: 'writer' });
  await admin.call('Auth', 'RoleGrantPermission', { name: 'writer', perm: { permType: 1, prefix: b('app/') } });
  await admin.call('Auth', 'UserAdd', { name: 'ro', password: 'ro-secret-1' });
  await admin.call('Auth', 'UserGrantRole', { user: 'ro', role: 'reader' });
  await admin.call('Auth', 'UserAdd', { name: 'app', password: 'app-secret-1' });
  await admin.call('Auth', 'UserGrantRole', { user: 'app', role: 'writer' });
  await admin.call('KV', 'Put', put('app/seed'));
  await admin.call('KV', 'Put', put('other/seed'));
  await admin.call('Auth', 'AuthEnable', {});
  await cluster.until('auth on every node', () => [...cluster.nodes.values()].every((n) => n.driver.kv.auth.enabled));
}, 120_000);

afterAll(async () => {
  for (const c of open) c.close();
  await cluster?.stopAll();
});

describe('authentication', () => {
  it('refuses calls without a token, with a bad token, or with a wrong password (UNAUTHENTICATED)', async () => {
    const c = calls('n1');
    expect(await c.failure('KV', 'Get', { key: b('app/seed') })).toMatchObject({ code: status.UNAUTHENTICATED, details: expect.stringMatching(/authentication required/) });
    expect(await c.failure('KV', 'Get', { key: b('app/seed') }, 'rk1.e30.AAAA')).toMatchObject({ code: status.UNAUTHENTICATED, trailers: { 'raftkv-auth-retry': 'token' } });
    expect(await c.failure('Auth', 'Authenticate', { name: 'ro', password: 'wrong' })).toMatchObject({ code: status.UNAUTHENTICATED, details: expect.stringMatching(/wrong user name or password/) });
    expect(await c.failure('Auth', 'Authenticate', { name: 'nobody', password: 'x' })).toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it('accepts a token issued by one node on every other node (the token key is replicated)', async () => {
    const t = await token('n1', 'ro', 'ro-secret-1');
    for (const id of ['n1', 'n2', 'n3']) {
      const res = await calls(id).call<{ found: boolean }>('KV', 'Get', { key: b('app/seed') }, t);
      expect(res.found).toBe(true);
    }
  });

  it('refuses a token once it has expired, and the client library renews its own', async () => {
    const res = await calls('n2').call<{ token: string; expiresMs: number }>('Auth', 'Authenticate', { name: 'ro', password: 'ro-secret-1' });
    const expiresMs = toNumber(res.expiresMs);
    expect(await calls('n2').failure('KV', 'Get', { key: b('app/seed') }, res.token)).toBeNull();
    const kv = client('ro', 'ro-secret-1');
    expect((await kv.get('app/seed')).found).toBe(true);
    await cluster.until('the token to expire', () => Date.now() > expiresMs + 50, ttlMs + 5000);
    expect(await calls('n2').failure('KV', 'Get', { key: b('app/seed') }, res.token)).toMatchObject({ code: status.UNAUTHENTICATED, details: expect.stringMatching(/expired/) });
    expect((await kv.get('app/seed')).found).toBe(true);
  });

  it('refuses the tokens issued before a password change', async () => {
    const root = await token('n1', 'root', 'root-secret-1');
    await calls(await leaderId()).call('Auth', 'UserAdd', { name: 'temp', password: 'temp-1' }, root);
    const old = await token('n1', 'temp', 'temp-1');
    await calls(await leaderId()).call('Auth', 'UserChangePassword', { name: 'temp', password: 'temp-2' }, root);
    // The change answered once applied on the leader: ask the leader.
    const leader = await leaderId();
    expect(await calls(leader).failure('Auth', 'Authenticate', { name: 'temp', password: 'temp-1' })).toMatchObject({ code: status.UNAUTHENTICATED });
    expect(await calls(leader).failure('KV', 'Get', { key: b('x') }, old)).toMatchObject({ code: status.UNAUTHENTICATED, details: expect.stringMatching(/password changed/) });
  });
});

describe('roles', () => {
  it('lets a read-only user read but not write (PERMISSION_DENIED naming user, access and key)', async () => {
    const t = await token('n1', 'ro', 'ro-secret-1');
    const c = calls(await leaderId());
    expect(await c.failure('KV', 'Get', { key: b('app/seed') }, t)).toBeNull();
    const denied = await c.failure('KV', 'Put', put('app/x'), t);
    expect(denied).toMatchObject({ code: status.PERMISSION_DENIED, trailers: { 'raftkv-code': 'PERMISSION_DENIED', 'raftkv-outcome': 'not_applied' } });
    expect(denied?.details).toMatch(/user "ro" may not write key "app\/x"/);
    expect(await c.failure('KV', 'Delete', { key: b('app/seed') }, t)).toMatchObject({ code: status.PERMISSION_DENIED });
    // Through the client library, as a typed error.
    await expect(client('ro', 'ro-secret-1').put('app/x', 'v')).rejects.toBeInstanceOf(PermissionDeniedError);
  });

  it('keeps a prefix-limited user inside its prefix for reads, ranges, watches and every key of a txn', async () => {
    const t = await token('n2', 'app', 'app-secret-1');
    const c = calls(await leaderId());
    expect(await c.failure('KV', 'Put', put('app/a'), t)).toBeNull();
    expect(await c.failure('KV', 'Get', { key: b('other/seed') }, t)).toMatchObject({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/may not read key "other\/seed"/) });
    expect(await c.failure('KV', 'Range', { key: b('app/'), prefix: true }, t)).toBeNull();
    expect(await c.failure('KV', 'Range', { key: b(''), prefix: true }, t)).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(await c.failure('KV', 'Range', { key: b('app/'), rangeEnd: new Uint8Array([0]) }, t)).toMatchObject({ code: status.PERMISSION_DENIED });
    const watch = await c.firstOfStream('Watch', { key: b('other/'), prefix: true }, t);
    expect(watch).toMatchObject({ failure: { code: status.PERMISSION_DENIED } });
    // A txn whose failure branch writes outside the prefix fails whole: its success branch wrote nothing.
    const txn = { compare: [], success: [{ requestPut: put('app/txn') }], failure: [{ requestPut: put('other/txn') }] };
    expect(await c.failure('KV', 'Txn', txn, t)).toMatchObject({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/other\/txn/) });
    const compareOutside = { compare: [{ key: b('other/seed'), target: 1, result: 0, version: 1 }], success: [{ requestPut: put('app/txn') }], failure: [] };
    expect(await c.failure('KV', 'Txn', compareOutside, t)).toMatchObject({ code: status.PERMISSION_DENIED });
    const root = await token('n1', 'root', 'root-secret-1');
    expect(await c.call<{ found: boolean }>('KV', 'Get', { key: b('app/txn') }, root)).toMatchObject({ found: false });
  });

  it('checks a forwarded write on the leader, with the token the follower passed on', async () => {
    const follower = calls(await followerId());
    const writer = await token('n3', 'app', 'app-secret-1');
    const reader = await token('n3', 'ro', 'ro-secret-1');
    // No raftkv-forward: never, so the follower forwards to the leader.
    expect(await follower.failure('KV', 'Put', put('app/forwarded'), writer)).toBeNull();
    expect(await follower.failure('KV', 'Put', put('app/forwarded'), reader)).toMatchObject({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/user "ro"/) });
    expect(await follower.failure('KV', 'Put', put('app/forwarded'))).toMatchObject({ code: status.UNAUTHENTICATED });
  });

  it('lets only root add members, transfer leadership, set limits, take backups and manage users', async () => {
    const t = await token('n1', 'app', 'app-secret-1');
    const leader = calls(await leaderId());
    expect(await leader.failure('Cluster', 'MemberAdd', { id: 'evil', peerAddress: '127.0.0.1:1', isLearner: true }, t)).toMatchObject({ code: status.PERMISSION_DENIED, details: expect.stringMatching(/MemberAdd needs the root role/) });
    expect(await leader.failure('Cluster', 'LeaderTransfer', {}, t)).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(await leader.failure('Cluster', 'ClusterLimitsSet', { limits: { txnOpsMax: 64 } }, t)).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(await leader.failure('Auth', 'UserAdd', { name: 'x', password: 'y' }, t)).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(await leader.failure('Auth', 'UserList', {}, t)).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(await leader.firstOfStream('Backup', {}, t)).toMatchObject({ failure: { code: status.PERMISSION_DENIED, details: expect.stringMatching(/Backup needs the root role/) } });
    expect(await leader.firstOfStream('Backup', {}, null)).toMatchObject({ failure: { code: status.UNAUTHENTICATED } });
    expect([...cluster.nodes.values()].every((n) => !n.driver.confState.learners.includes('evil' as never))).toBe(true);
    const root = await token('n1', 'root', 'root-secret-1');
    expect(await leader.firstOfStream('Backup', {}, root)).toMatchObject({ message: expect.anything() });
    const users = await leader.call<{ users: { name: string }[] }>('Auth', 'UserList', {}, root);
    expect(users.users.map((u) => u.name)).toEqual(expect.arrayContaining(['app', 'ro', 'root']));
    const before = await leaderId();
    await leader.call('Cluster', 'LeaderTransfer', {}, root);
    await cluster.until('a new leader', () => cluster.nodes.get(before)?.driver.role !== 'leader');
  });
});

describe('auth state is replicated state', () => {
  it('survives a restart of every node, and a replica that caught up from a snapshot enforces the same roles', async () => {
    await cluster.stop('n3');
    const kv = client('app', 'app-secret-1');
    // Enough entries for the others to snapshot and compact past n3's log.
    for (let i = 0; i < 60; i++) await kv.put(`app/k${i}`, 'v');
    await cluster.until('a snapshot past n3', () => [...cluster.nodes.values()].every((n) => n.driver.status().firstIndex > 40));
    for (const id of ['n1', 'n2']) {
      await cluster.stop(id);
      await cluster.start(id, flags);
    }
    const n3 = await cluster.start('n3', flags);
    await cluster.leader();
    await cluster.until('n3 to catch up', () => n3.driver.kv.keyCount >= 62);
    expect(n3.driver.status().firstIndex).toBeGreaterThan(40);
    const hashes = [...cluster.nodes.values()].map((n) => n.driver.kv.stateHash());
    expect(n3.driver.kv.auth.enabled).toBe(true);
    const c = calls('n3');
    expect(await c.failure('KV', 'Get', { key: b('app/k1') }, null, { 'raftkv-forward': 'never' })).toMatchObject({ code: status.UNAUTHENTICATED });
    const ro = await token('n3', 'ro', 'ro-secret-1');
    expect(await c.failure('KV', 'Get', { key: b('app/k1') }, ro)).toBeNull();
    expect(await c.failure('KV', 'Get', { key: b('other/seed') }, ro)).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(await c.failure('KV', 'Put', put('app/k1'), ro, { 'raftkv-forward': 'never' })).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(new Set(hashes.slice(0, 2)).size).toBe(1);
  });

  it('turns off: root disables auth and calls without a token work again', async () => {
    const root = await token('n1', 'root', 'root-secret-1');
    await calls(await leaderId()).call('Auth', 'AuthDisable', {}, root);
    await cluster.until('auth off everywhere', () => [...cluster.nodes.values()].every((n) => !n.driver.kv.auth.enabled));
    expect(await calls('n2').failure('KV', 'Get', { key: b('other/seed') })).toBeNull();
    expect(await calls(await leaderId()).failure('Auth', 'Authenticate', { name: 'root', password: 'root-secret-1' })).toMatchObject({ code: status.FAILED_PRECONDITION });
  });
});
