// Proves the permissions of the Lease service on real nodes (in-process, auth on): a read-only user
// may not grant or keep alive a lease; a writer may, and may attach only the keys it may write;
// revoking needs write permission on every attached key; listing keys in time-to-live needs read
// permission on each.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient, PermissionDeniedError } from '../src/client/index.js';
import type { RaftkvClient } from '../src/client/index.js';
import { AuthCalls } from './support/auth-calls.js';
import { InProcessCluster } from './support/in-process-nodes.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
let cluster: InProcessCluster;
const open: { close(): void }[] = [];

function client(user: string, password: string): RaftkvClient {
  const c = createClient({ endpoints: cluster.plans.map((p) => p.clientAddress), credentials: { user, password }, timeoutMs: 10_000 });
  open.push(c);
  return c;
}

beforeAll(async () => {
  cluster = await InProcessCluster.plan(3, 'lease-auth');
  for (const id of ['n1', 'n2', 'n3']) await cluster.start(id, {});
  const admin = new AuthCalls(cluster.plan((await cluster.leader()).options.id).clientAddress);
  open.push(admin);
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
  await admin.call('Auth', 'AuthEnable', {});
  await cluster.until('auth on every node', () => [...cluster.nodes.values()].every((n) => n.driver.kv.auth.enabled));
}, 120_000);

afterAll(async () => {
  for (const c of open) c.close();
  await cluster?.stopAll();
});

describe('lease permissions', () => {
  it('refuses a read-only user a grant; lets a writer grant, attach its own keys, and revoke', async () => {
    const ro = client('ro', 'ro-secret-1');
    await expect(ro.leases.grant(60)).rejects.toBeInstanceOf(PermissionDeniedError);
    const app = client('app', 'app-secret-1');
    const lease = await app.leases.grant(60);
    await app.put('app/leased', 'v', { lease: lease.id });
    await expect(app.put('other/leased', 'v', { lease: lease.id })).rejects.toBeInstanceOf(PermissionDeniedError);
    expect((await app.leases.keepAliveOnce(lease.id)).ttlS).toBe(60);
    expect(await app.leases.list()).toContain(lease.id);
    await expect(ro.leases.keepAliveOnce(lease.id)).rejects.toBeInstanceOf(PermissionDeniedError);
    expect((await app.leases.revoke(lease.id)).deleted).toBe(1);
  });

  it('needs write permission on every attached key to revoke, and read permission on listed keys', async () => {
    const app = client('app', 'app-secret-1');
    const root = client('root', 'root-secret-1');
    const lease = await app.leases.grant(60);
    await app.put('app/mine', 'v', { lease: lease.id });
    await root.put('other/not-yours', 'v', { lease: lease.id });
    await expect(app.leases.revoke(lease.id)).rejects.toMatchObject({ code: 'PERMISSION_DENIED', message: expect.stringMatching(/other\/not-yours/) });
    await expect(app.leases.timeToLive(lease.id, { keys: true })).rejects.toBeInstanceOf(PermissionDeniedError);
    expect((await app.leases.timeToLive(lease.id)).keyCount).toBe(2);
    expect((await root.leases.revoke(lease.id)).deleted).toBe(2);
    expect((await root.get('other/not-yours')).found).toBe(false);
  });

  it('answers UNAUTHENTICATED without credentials', async () => {
    const anonymous = createClient({ endpoints: cluster.plans.map((p) => p.clientAddress), timeoutMs: 5_000 });
    open.push(anonymous);
    await expect(anonymous.leases.grant(60)).rejects.toMatchObject({ code: 'UNAUTHENTICATED' });
    expect(status.UNAUTHENTICATED).toBe(16);
  });
});
