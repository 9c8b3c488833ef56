// Proves any node takes writes: a follower forwards puts, deletes and transactions to the leader
// over the peer port, keeps exactly-once across a leader change in the middle of a forwarded
// write, tells the truth about outcomes, and still answers NOT_LEADER to a client that refuses
// forwarding. Three real processes on loopback.
import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { sleep } from '../cluster/local-cluster.js';
import { forwardedKvService } from '../src/server/forwarding/forwarded-kv-service.js';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { useTestCluster } from './support/test-cluster.js';
import { bytes, num, RawClients, text } from './support/raw-client.js';
import type { RawClient } from './support/raw-client.js';

let cluster: LocalCluster;
const clients = new RawClients((id) => cluster.spec(id).clientAddress);
const client = (id: string): RawClient => clients.get(id);

useTestCluster('forwarding', {
  started: (c) => (cluster = c),
  beforeClose: () => clients.close(),
});

interface KvMsg {
  readonly value: Uint8Array;
  readonly version: unknown;
  readonly modRevision: unknown;
}

async function followers(): Promise<{ leader: string; followers: string[] }> {
  const leader = (await cluster.waitForLeader()).id;
  return { leader, followers: cluster.running().filter((id) => id !== leader) };
}

async function readOnLeader(key: string): Promise<KvMsg | null> {
  const { leader } = await followers();
  const got = await client(leader).call<{ found: boolean; kv: KvMsg | null }>('Get', { key: bytes(key) });
  return got.found ? got.kv : null;
}

describe('write forwarding', () => {
  it('takes a put, a delete and a txn through each follower, applied by the leader', async () => {
    const { leader, followers: fs } = await followers();
    expect(fs.length).toBe(2);
    for (const f of fs) {
      const put = await client(f).call<{ header: { nodeId: string; revision: unknown } }>('Put', { key: bytes(`fwd/${f}`), value: bytes(`via ${f}`) });
      // The answer is the leader's, passed back unchanged.
      expect(put.header.nodeId).toBe(leader);
      expect(text((await readOnLeader(`fwd/${f}`))?.value ?? new Uint8Array())).toBe(`via ${f}`);

      const txn = await client(f).call<{ succeeded: boolean }>('Txn', {
        compares: [{ key: bytes(`fwd/${f}`), target: 0, result: 0, value: bytes(`via ${f}`) }],
        success: [{ requestPut: { key: bytes(`fwd/${f}/txn`), value: bytes('t') } }],
        failure: [],
      });
      expect(txn.succeeded).toBe(true);
      expect(text((await readOnLeader(`fwd/${f}/txn`))?.value ?? new Uint8Array())).toBe('t');

      const del = await client(f).call<{ deleted: unknown }>('Delete', { key: bytes(`fwd/${f}/txn`) });
      expect(num(del.deleted)).toBe(1);
      expect(await readOnLeader(`fwd/${f}/txn`)).toBeNull();
    }
  });

  it("passes the leader's own errors back with their trailers", async () => {
    const { followers: fs } = await followers();
    const f = fs[0] as string;
    // Refused by the leader's handlers (an empty key): INVALID_ARGUMENT, not applied.
    const err = await client(f).failure('Put', { key: bytes(''), value: bytes('v') });
    expect(err?.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(err?.trailers['raftkv-outcome']).toBe('not_applied');
  });

  it('still answers NOT_LEADER with the leader when the client refuses forwarding', async () => {
    const { leader, followers: fs } = await followers();
    const err = await client(fs[0] as string).failure('Put', { key: bytes('direct'), value: bytes('v') }, 5000, { 'raftkv-forward': 'never' });
    expect(err?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err?.trailers['raftkv-code']).toBe('NOT_LEADER');
    expect(err?.trailers['raftkv-leader-id']).toBe(leader);
    expect(await readOnLeader('direct')).toBeNull();
  });

  it('applies a forwarded write once when the leader changes while it is in flight, and says the first outcome is unknown', async () => {
    const { leader: old, followers: fs } = await followers();
    const via = fs[0] as string;
    const req = { key: bytes('fwd/once'), value: bytes('once'), clientId: 'forwarding-test', seq: 1, ackSeq: 0 };
    // Freeze the leader: the forwarded call reaches its socket but gets no answer.
    cluster.signal(old, 'SIGSTOP');
    let first;
    try {
      first = await client(via).failure('Put', req, 1500);
    } finally {
      // Let the other two elect a leader before the old one wakes up.
      await cluster.waitForLeader(20_000, fs).catch(() => undefined);
      cluster.signal(old, 'SIGCONT');
    }
    expect(first, 'the forwarded write to a frozen leader cannot succeed').not.toBeNull();
    expect(first?.trailers['raftkv-outcome'], `first attempt: ${first?.details}`).toBe('unknown');
    // Retry with the same (client id, seq) until the cluster has settled: applied exactly once.
    let answer: { header: { revision: unknown } } | null = null;
    for (let attempt = 0; attempt < 40 && answer === null; attempt++) {
      answer = await client(via)
        .call<{ header: { revision: unknown } }>('Put', req, 2000)
        .catch(async () => {
          await sleep(250);
          return null;
        });
    }
    expect(answer, 'the retried write succeeds').not.toBeNull();
    const kv = await readOnLeader('fwd/once');
    expect(text(kv?.value ?? new Uint8Array())).toBe('once');
    expect(num(kv?.version)).toBe(1);
    expect(num(kv?.modRevision)).toBe(num(answer?.header.revision));
    // A second retry answers the same revision and changes nothing.
    const again = await client(via).call<{ header: { revision: unknown } }>('Put', req, 5000);
    expect(num(again.header.revision)).toBe(num(answer?.header.revision));
    expect(num((await readOnLeader('fwd/once'))?.version)).toBe(1);
  });

  it('refuses a forwarded write on the peer port from a node that is not a member, and applies nothing', async () => {
    const { leader } = await followers();
    const Forwarded = grpc.makeGenericClientConstructor(forwardedKvService as unknown as grpc.ServiceDefinition, 'ForwardedKV');
    const peer = new Forwarded(cluster.spec(leader).peerAddress, grpc.credentials.createInsecure());
    try {
      for (const from of ['evil', '']) {
        const metadata = new grpc.Metadata();
        if (from !== '') metadata.set('raftkv-from', from);
        const code = await new Promise<number>((resolve) => {
          peer.makeUnaryRequest(forwardedKvService.Put.path, forwardedKvService.Put.requestSerialize, forwardedKvService.Put.responseDeserialize, { key: bytes('fwd/forged'), value: bytes('x') }, metadata, { deadline: Date.now() + 5000 }, (e) => resolve(e?.code ?? grpc.status.OK));
        });
        expect(code, `raftkv-from=${from}`).toBe(grpc.status.PERMISSION_DENIED);
      }
    } finally {
      peer.close();
    }
    expect(await readOnLeader('fwd/forged')).toBeNull();
  });

  it('says a write was not applied when the follower cannot reach the leader at all', async () => {
    const { leader, followers: fs } = await followers();
    const via = fs[0] as string;
    // Kill the leader and ask the follower at once, before it notices: the peer channel cannot connect.
    await cluster.kill(leader);
    const err = await client(via).failure('Put', { key: bytes('fwd/unreachable'), value: bytes('v') }, 1500);
    expect(err).not.toBeNull();
    // Either the follower still believed in the dead leader (UNAVAILABLE, not applied) or it had
    // already lost it (NOT_LEADER with no leader, not applied): never "unknown".
    expect(err?.trailers['raftkv-outcome'], `${err?.code} ${err?.details}`).toBe('not_applied');
    cluster.start(leader);
    await cluster.waitForHttp(leader, 20_000);
  });
});
