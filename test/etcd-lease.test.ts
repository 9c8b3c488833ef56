/**
 * The npm etcd3 client's leases and locks (unchanged) against a real three-node raftkv
 * cluster: keys attached to a lease go with it (revoked, or expired without keep-alives), and
 * the lock helper, built on leases and txns, works.
 */
import { Etcd3, EtcdLockFailedError } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { useTestCluster } from './support/test-cluster.js';

let cluster: LocalCluster;
const clients: Etcd3[] = [];
const client = (): Etcd3 => {
  const c = new Etcd3({ hosts: ['n1', 'n2', 'n3'].map((id) => `http://${cluster.spec(id).clientAddress}`), dialTimeout: 5_000 });
  clients.push(c);
  return c;
};

useTestCluster('etcd3-lease', { started: (c) => (cluster = c) });
afterAll(() => clients.forEach((c) => c.close()));

describe('etcd3 leases and locks', () => {
  it('keys attached to a lease are deleted when it is revoked', async () => {
    const etcd = client();
    const lease = etcd.lease(60);
    await lease.put('svc/a').value('1');
    await lease.put('svc/b').value('2');
    const id = await lease.grant();
    expect(id).not.toBe('0');
    expect(await etcd.getAll().prefix('svc/').keys()).toEqual(['svc/a', 'svc/b']);
    await lease.revoke();
    expect(await etcd.getAll().prefix('svc/').keys()).toEqual([]);
  });

  it('keys of a lease without keep-alives are deleted when it expires', { timeout: 120_000 }, async () => {
    const etcd = client();
    const lease = etcd.lease(2, { autoKeepAlive: false });
    await lease.put('ephemeral').value('x');
    expect(await etcd.get('ephemeral').string()).toBe('x');
    let gone = false;
    for (let i = 0; i < 600 && !gone; i++) {
      gone = (await etcd.get('ephemeral').string()) === null;
      if (!gone) await new Promise((r) => setTimeout(r, 100));
    }
    expect(gone).toBe(true);
  });

  it('a lock admits one holder at a time (etcd3 locks do not wait: a second acquire fails)', async () => {
    const etcd = client();
    const first = etcd.lock('the-lock').ttl(30);
    await first.acquire();
    await expect(etcd.lock('the-lock').ttl(30).acquire()).rejects.toBeInstanceOf(EtcdLockFailedError);
    await first.release();
    const again = etcd.lock('the-lock').ttl(30);
    await again.acquire();
    await again.release();
  });
});
