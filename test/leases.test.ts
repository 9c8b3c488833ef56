// End-to-end tests of leases on a real three-node cluster: the raftkv.v1 Lease service (forwarded
// Grant from a follower, KeepAlive refused by a follower with the leader hint), the client
// library's kv.lease() with keep-alive and `lost`, put with a lease, expiry deleting keys, a
// leader change that does not lose a lease, and the lock and election recipes built on them.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { leaseService } from '../src/api/index.js';
import { connect, NotFoundError } from '../src/client/index.js';
import type { ClientOptions, RaftkvClient } from '../src/client/index.js';
import { waitForAllToKnowLeader } from './support/cluster-wait.js';
import { useTestCluster } from './support/test-cluster.js';
import { num } from './support/raw-client.js';

let cluster: LocalCluster;
const clients: RaftkvClient[] = [];
const rawLeaseClients: grpc.Client[] = [];

async function client(options: Partial<ClientOptions> = {}): Promise<RaftkvClient> {
  const kv = await connect({ endpoints: cluster.endpoints, ...options });
  clients.push(kv);
  return kv;
}

useTestCluster('leases', {
  started: (c) => (cluster = c),
  beforeClose: () => {
    for (const kv of clients) kv.close();
    for (const c of rawLeaseClients) c.close();
  },
});

const LeaseGrpcClient = grpc.makeGenericClientConstructor(leaseService as unknown as grpc.ServiceDefinition, 'Lease');

/** A raw Lease client on one node (what an outside gRPC tool sees). */
function rawLease(id: string): grpc.Client {
  const c = new LeaseGrpcClient(cluster.spec(id).clientAddress, grpc.credentials.createInsecure());
  rawLeaseClients.push(c);
  return c;
}

function rawGrant(c: grpc.Client, ttlS: number): Promise<{ id: unknown; ttlS: unknown; header: { nodeId: string } }> {
  return new Promise((resolve, reject) => {
    (c as unknown as { Grant: (r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: never) => void) => void }).Grant({ ttlS }, { deadline: Date.now() + 5_000 }, (e, r) => (e ? reject(e) : resolve(r)));
  });
}

/** Waits (polling) until `done` holds; fails after `msMax` so a broken expiry cannot hang the test. */
async function eventually(done: () => Promise<boolean>, msMax = 20_000): Promise<void> {
  const end = Date.now() + msMax;
  while (!(await done())) {
    if (Date.now() > end) throw new Error(`not reached within ${msMax} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function followerIds(): Promise<{ leader: string; followers: string[] }> {
  // Every node, not just a majority: a follower that does not know the leader yet cannot forward.
  const leader = await waitForAllToKnowLeader(cluster);
  return { leader, followers: cluster.running().filter((id) => id !== leader) };
}

describe('the Lease service', () => {
  it('forwards a grant sent to a follower, and refuses a keep-alive there with the leader hint', async () => {
    const { leader, followers } = await followerIds();
    const follower = followers[0]!;
    const granted = await rawGrant(rawLease(follower), 30);
    expect(num(granted.id)).toBeGreaterThan(0);
    expect(granted.header.nodeId).toBe(leader); // the leader's answer, passed back
    const kv = await client();
    expect((await kv.leases.timeToLive(num(granted.id))).grantedTtlS).toBe(30);
    const call = rawLease(follower) as unknown as { KeepAlive: (o: grpc.CallOptions) => grpc.ClientDuplexStream<object, object> };
    const stream = call.KeepAlive({ deadline: Date.now() + 5_000 });
    const failure = await new Promise<grpc.ServiceError>((resolve) => {
      stream.on('error', resolve);
      stream.on('data', () => {});
      stream.write({ id: num(granted.id) });
    });
    expect(failure.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(failure.metadata.get('raftkv-leader-id')[0]).toBe(leader);
    await kv.leases.revoke(num(granted.id));
  });
});

describe('kv.lease()', () => {
  it('keeps its keys while alive, deletes them on revoke, and reports them in time-to-live and the list', async () => {
    const kv = await client();
    const lease = await kv.lease(2);
    await kv.put('lease/a', '1', { lease });
    await kv.put('lease/b', '2', { lease: lease.id });
    expect((await kv.get('lease/a')).kv?.lease).toBe(lease.id);
    const ttl = await kv.leases.timeToLive(lease.id, { keys: true });
    expect(ttl.keys.map((k) => Buffer.from(k).toString())).toEqual(['lease/a', 'lease/b']);
    expect(await kv.leases.list()).toContain(lease.id);
    // Three TTLs: the background keep-alives hold it.
    await new Promise((r) => setTimeout(r, 6_000));
    expect((await kv.get('lease/a')).found).toBe(true);
    expect(lease.isLost).toBe(false);
    expect((await lease.revoke()).deleted).toBe(2);
    expect((await kv.get('lease/b')).found).toBe(false);
    await expect(kv.leases.keepAliveOnce(lease.id)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('refuses a put on a lease that does not exist', async () => {
    const kv = await client();
    await expect(kv.put('lease/none', 'x', { lease: 987_654_321 })).rejects.toBeInstanceOf(NotFoundError);
    expect((await kv.get('lease/none')).found).toBe(false);
  });

  it('expires when no longer kept alive (keys deleted), and reports `lost` when revoked elsewhere', async () => {
    const kv = await client();
    const lease = await kv.lease(2);
    await kv.put('lease/expiring', 'x', { lease });
    lease.close();
    await eventually(async () => !(await kv.get('lease/expiring')).found);
    expect(await kv.leases.list()).not.toContain(lease.id);

    const watched = await kv.lease(30, { keepAliveIntervalMs: 200 });
    const lost = new Promise<string>((resolve) => watched.on('lost', (reason) => resolve(reason)));
    await kv.leases.revoke(watched.id);
    expect(await lost).toBe('expired');
    expect(watched.isLost).toBe(true);
  });

  it('survives a leader change: kept alive through the new leader, its key stays', async () => {
    const kv = await client();
    const lease = await kv.lease(3);
    await kv.put('lease/through-failover', 'x', { lease });
    const { leader } = await followerIds();
    await cluster.kill(leader);
    await cluster.waitForLeader(20_000, cluster.running());
    // Longer than the TTL after the kill: only keep-alives answered by the new leader keep it.
    await new Promise((r) => setTimeout(r, 6_000));
    expect(lease.isLost).toBe(false);
    expect((await kv.get('lease/through-failover')).found).toBe(true);
    cluster.start(leader);
    await cluster.waitForLeader();
    await lease.revoke();
  });
});

describe('lock and election', () => {
  it('a lock held by one client blocks another until released', async () => {
    const a = await client();
    const b = await client();
    const held = await a.lock('locks/one');
    let bHolds = false;
    const bLock = b.lock('locks/one').then((l) => ((bHolds = true), l));
    await new Promise((r) => setTimeout(r, 1_500));
    expect(bHolds).toBe(false);
    await held.release();
    const second = await bLock;
    expect(second.revision).toBeGreaterThan(held.revision);
    await second.release();
  });

  it('a lock whose holder stops renewing its lease passes on once the lease expires', async () => {
    const a = await client();
    const b = await client();
    const held = await a.lock('locks/two', { ttlS: 2 });
    held.lease.close(); // the holder dies without releasing
    const next = await b.lock('locks/two', { timeoutMs: 20_000 });
    expect((await b.get(held.key)).found).toBe(false);
    await next.release();
  });

  it('elects one leader at a time, hands over on resign, and lets followers observe it', async () => {
    const a = await client();
    const b = await client();
    const ea = a.election('elections/e1');
    const eb = b.election('elections/e1');
    await ea.campaign('a');
    expect((await eb.leader())?.text).toBe('a');
    let bLeads = false;
    const bCampaign = eb.campaign('b').then(() => (bLeads = true));
    const controller = new AbortController();
    const seen: string[] = [];
    const observing = (async () => {
      for await (const leader of a.election('elections/e1').observe({ signal: controller.signal })) {
        seen.push(leader.text);
        if (seen.includes('b')) break;
      }
    })();
    await ea.proclaim('a2');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(bLeads).toBe(false);
    await ea.resign();
    await bCampaign;
    expect((await ea.leader())?.text).toBe('b');
    await observing;
    controller.abort();
    expect(seen[0]).toMatch(/^a/);
    expect(seen.at(-1)).toBe('b');
    await expect(ea.proclaim('again')).rejects.toThrow(/not campaigning/);
    await eb.resign();
  });
});
