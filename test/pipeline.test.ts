// Proves the pipelined stream (Pipeline/Stream) on real nodes (production driver, LevelDB, gRPC on
// loopback): one stream's writes apply in the order sent, exactly once across a stream broken
// mid-flight (raw and through the client library), a follower forwards or answers NOT_LEADER per
// request, the stream's token is checked per request, the limits refuse the excess with
// RESOURCE_EXHAUSTED before it runs, and each request's own deadline holds.
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { toNumber } from '../src/api/index.js';
import type { PipelineRequestMsg, PipelineResultMsg } from '../src/api/index.js';
import { createClient } from '../src/client/index.js';
import type { ClientOptions, RaftkvClient } from '../src/client/index.js';
import type { RaftkvNode } from '../src/server/index.js';
import { pipelineLimits } from '../src/util/index.js';
import { AuthCalls } from './support/auth-calls.js';
import { CutProxy } from './support/cut-proxy.js';
import { InProcessCluster } from './support/in-process-nodes.js';
import { RawPipeline } from './support/raw-pipeline.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const t = (u: Uint8Array | undefined): string => new TextDecoder().decode(u ?? new Uint8Array());
// A 2 s election timeout (20 ms ticks): the deadline test stops both followers and needs the
// leader to stay leader for a while; nothing else depends on it.
const flags = { electionTicks: 100, heartbeatTicks: 5 };
let cluster: InProcessCluster;
const open: { close(): void }[] = [];

function raw(address: string, headers: Record<string, string> = {}): RawPipeline {
  const p = new RawPipeline(address, headers);
  open.push(p);
  return p;
}
function client(options: Partial<ClientOptions> = {}): RaftkvClient {
  const c = createClient({ endpoints: cluster.plans.map((p) => p.clientAddress), pipeline: true, retryBudget: false, timeoutMs: 15_000, ...options });
  open.push(c);
  return c;
}
async function leader(): Promise<RaftkvNode> {
  return cluster.leader();
}
async function follower(): Promise<RaftkvNode> {
  const l = (await leader()).options.id;
  return [...cluster.nodes.values()].find((n) => n.options.id !== l) as RaftkvNode;
}
const put = (id: number, key: string, value: string, session?: { clientId: string; seq: number }): PipelineRequestMsg => ({
  id,
  timeoutMs: 10_000,
  put: { key: b(key), value: b(value), ...(session === undefined ? {} : { clientId: session.clientId, seq: session.seq, ackSeq: 0 }) },
});
const ids = (n: number, from = 1): number[] => Array.from({ length: n }, (_, i) => from + i);
const errorOf = (r: PipelineResultMsg | undefined): { code: number; details: string; trailers: Record<string, string> } | null => r?.error ?? null;

beforeAll(async () => {
  cluster = await InProcessCluster.plan(3, 'pipeline');
  for (const id of ['n1', 'n2', 'n3']) await cluster.start(id, flags);
  await cluster.leader();
}, 120_000);

afterAll(async () => {
  for (const c of open) c.close();
  await cluster?.stopAll();
});

describe('pipelined stream', () => {
  it("applies one stream's writes in the order sent and tags each result with its id", async () => {
    const l = await leader();
    const p = raw(l.options.listenClient);
    const n = 100;
    p.send(ids(n).map((id) => put(id, 'order/raw', `v${id}`, { clientId: 'order-raw', seq: id })));
    await p.waitFor(ids(n));
    const revisions = ids(n).map((id) => {
      const r = p.results.get(id);
      expect(errorOf(r)).toBeNull();
      return toNumber(r?.put?.header.revision);
    });
    for (let i = 1; i < n; i++) expect(revisions[i]).toBeGreaterThan(revisions[i - 1] as number);
    expect(t(l.driver.kv.get(b('order/raw'))?.value)).toBe(`v${n}`);
  });

  it('through the client library: calls of one tick share a frame and apply in call order', async () => {
    const kv = client();
    const n = 300;
    const results = await Promise.all(ids(n).map((i) => kv.put('order/lib', `v${i}`)));
    for (let i = 1; i < n; i++) expect(results[i]?.revision).toBeGreaterThan(results[i - 1]?.revision as number);
    expect((await kv.get('order/lib')).text).toBe(`v${n}`);
    const got = await Promise.all(ids(20).map(() => kv.get('order/lib', { consistency: 'stale' })));
    expect(got.every((g) => g.found)).toBe(true);
  });

  it('applies every write exactly once when the stream is cancelled mid-flight and resent with the same seqs', async () => {
    const l = await leader();
    const n = 400;
    const before = l.driver.kv.revision;
    const frame = ids(n).map((id) => put(id, `eo/raw/${id}`, 'x', { clientId: 'eo-raw', seq: id }));
    const first = raw(l.options.listenClient);
    first.send(frame);
    // Broken once some of its writes ran, before their answers were read.
    const giveUp = Date.now() + 20_000;
    while (l.driver.kv.revision === before && Date.now() < giveUp) await new Promise((r) => setImmediate(r));
    first.cancel();
    expect(l.driver.kv.revision).toBeGreaterThan(before);
    const second = raw(l.options.listenClient);
    second.send(frame);
    await second.waitFor(ids(n));
    for (const id of ids(n)) expect(errorOf(second.results.get(id))).toBeNull();
    for (const id of ids(n)) expect(toNumber(l.driver.kv.get(b(`eo/raw/${id}`))?.version)).toBe(1);
    // Nothing applied twice and nothing lost: each write raised the revision exactly once.
    expect(l.driver.kv.revision - before).toBe(n);
  });

  it('through the client library: a connection cut mid-flight loses no write and applies none twice', async () => {
    const l = await leader();
    const proxy = await CutProxy.start(l.options.listenClient);
    open.push({ close: () => void proxy.close() });
    const kv = client({ endpoints: [proxy.address], memberRefreshMs: 600_000 });
    await kv.put('eo/lib/warm', 'x');
    const before = l.driver.kv.revision;
    const n = 600;
    let answered = 0;
    let inFlightAtCut = 0;
    const writes: Promise<unknown>[] = [];
    // Waves of 100; the connection is cut right after the fourth wave went out, while it (at
    // least) is in flight, and the later waves go out after the cut.
    for (let wave = 0; wave < n / 100; wave++) {
      for (let i = wave * 100 + 1; i <= (wave + 1) * 100; i++) writes.push(kv.put(`eo/lib/${i}`, 'x').then(() => (answered += 1)));
      await new Promise((r) => setImmediate(r));
      await new Promise((r) => setImmediate(r));
      if (wave === 3) {
        inFlightAtCut = writes.length - answered;
        proxy.cut();
      }
    }
    const settled = await Promise.allSettled(writes);
    expect(inFlightAtCut).toBeGreaterThan(0);
    expect(proxy.connections).toBeGreaterThanOrEqual(2);
    expect(settled.filter((s) => s.status === 'rejected')).toEqual([]);
    for (const i of ids(n)) expect(toNumber(l.driver.kv.get(b(`eo/lib/${i}`))?.version)).toBe(1);
    expect(l.driver.kv.revision - before).toBe(n);
  });

  it('on a follower: forwards writes to the leader, or answers NOT_LEADER per request with raftkv-forward: never', async () => {
    const f = await follower();
    const l = await leader();
    const forwarded = raw(f.options.listenClient);
    forwarded.send([put(1, 'fwd/a', 'a', { clientId: 'fwd', seq: 1 }), { id: 2, timeoutMs: 10_000, get: { key: b('fwd/a') } }]);
    await forwarded.waitFor([1, 2]);
    expect(forwarded.results.get(1)?.put?.header.nodeId).toBe(l.options.id);
    expect(t(l.driver.kv.get(b('fwd/a'))?.value)).toBe('a');

    const direct = raw(f.options.listenClient, { 'raftkv-forward': 'never' });
    direct.send([put(1, 'fwd/b', 'b')]);
    await direct.waitFor([1]);
    const e = errorOf(direct.results.get(1));
    expect(e?.code).toBe(status.FAILED_PRECONDITION);
    expect(e?.trailers['raftkv-code']).toBe('NOT_LEADER');
    expect(e?.trailers['raftkv-leader-id']).toBe(l.options.id);
    expect(l.driver.kv.get(b('fwd/b'))).toBeNull();

    // The client library given only the follower finds the leader from the hint.
    const kv = client({ endpoints: [f.options.listenClient] });
    expect((await kv.put('fwd/c', 'c')).nodeId).toBe(l.options.id);
  });

  it('refuses a malformed request under its id and runs the rest of the frame', async () => {
    const l = await leader();
    const p = raw(l.options.listenClient);
    p.send([{ id: 1, timeoutMs: 1000 }, put(2, 'bad/ok', 'ok'), { id: 3, put: { key: new Uint8Array(), value: b('v') } }]);
    await p.waitFor([1, 2, 3]);
    expect(errorOf(p.results.get(1))?.code).toBe(status.INVALID_ARGUMENT);
    expect(errorOf(p.results.get(2))).toBeNull();
    expect(errorOf(p.results.get(3))?.trailers['raftkv-outcome']).toBe('not_applied');
  });

  it('refuses requests past requestsPerFrameMax with RESOURCE_EXHAUSTED, not applied', async () => {
    const l = await leader();
    const p = raw(l.options.listenClient);
    const n = pipelineLimits.requestsPerFrameMax + 3;
    p.send(ids(n).map((id) => put(id, `lim/frame/${id}`, 'x')));
    await p.waitFor(ids(n));
    for (const id of ids(pipelineLimits.requestsPerFrameMax)) expect(errorOf(p.results.get(id))).toBeNull();
    for (const id of ids(3, pipelineLimits.requestsPerFrameMax + 1)) {
      const e = errorOf(p.results.get(id));
      expect(e?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(e?.trailers).toMatchObject({ 'raftkv-code': 'OVERLOADED', 'raftkv-outcome': 'not_applied', 'raftkv-retry-after-ms': String(pipelineLimits.retryAfterMs) });
      expect(l.driver.kv.get(b(`lim/frame/${id}`))).toBeNull();
    }
  });

  it('ends the stream with RESOURCE_EXHAUSTED on a frame over frameBytesMax, running none of it', async () => {
    const l = await leader();
    const p = raw(l.options.listenClient);
    const big = 'x'.repeat(256 * 1024);
    const count = Math.ceil(pipelineLimits.frameBytesMax / big.length) + 1;
    p.send(ids(count).map((id) => put(id, `lim/bytes/${id}`, big)));
    const end = await p.waitForEnd();
    expect(end.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(end.details).toMatch(/frameBytesMax/);
    for (const id of ids(count)) expect(l.driver.kv.get(b(`lim/bytes/${id}`))).toBeNull();
  });

  it('checks the stream token per request once auth is on', async () => {
    const l = await leader();
    const calls = new AuthCalls(l.options.listenClient);
    open.push(calls);
    await calls.call('Auth', 'UserAdd', { name: 'root', password: 'root-secret-1' });
    await calls.call('Auth', 'UserGrantRole', { user: 'root', role: 'root' });
    await calls.call('Auth', 'AuthEnable', {});
    await cluster.until('auth on every node', () => [...cluster.nodes.values()].every((n) => n.driver.kv.auth.enabled));
    const anonymous = raw(l.options.listenClient);
    anonymous.send([put(1, 'auth/anon', 'x')]);
    await anonymous.waitFor([1]);
    expect(errorOf(anonymous.results.get(1))?.code).toBe(status.UNAUTHENTICATED);
    expect(l.driver.kv.get(b('auth/anon'))).toBeNull();

    const { token } = await calls.call<{ token: string }>('Auth', 'Authenticate', { name: 'root', password: 'root-secret-1' });
    const signedIn = raw(l.options.listenClient, { authorization: `Bearer ${token}` });
    signedIn.send([put(1, 'auth/root', 'x')]);
    await signedIn.waitFor([1]);
    expect(errorOf(signedIn.results.get(1))).toBeNull();

    // A refused token is answered per request, then the stream ends UNAUTHENTICATED (sign in afresh).
    const forged = raw(l.options.listenClient, { authorization: 'Bearer rk1.e30.AAAA' });
    forged.send([put(1, 'auth/forged', 'x')]);
    await forged.waitFor([1]);
    expect(errorOf(forged.results.get(1))?.trailers['raftkv-auth-retry']).toBe('token');
    expect((await forged.waitForEnd()).code).toBe(status.UNAUTHENTICATED);

    const kv = client({ credentials: { user: 'root', password: 'root-secret-1' } });
    await kv.put('auth/lib', 'x');
    expect((await kv.get('auth/lib')).text).toBe('x');
    await calls.call('Auth', 'AuthDisable', {}, token);
    await cluster.until('auth off every node', () => [...cluster.nodes.values()].every((n) => !n.driver.kv.auth.enabled));
  });

  // Last: it stops both followers.
  it("holds each request to its own deadline (DEADLINE_EXCEEDED, outcome unknown)", async () => {
    const l = await leader();
    for (const n of [...cluster.nodes.values()]) if (n !== l) await cluster.stop(n.options.id);
    expect(l.driver.role).toBe('leader');
    const p = raw(l.options.listenClient);
    // Nothing can commit without a quorum; each put ends at its own deadline, well before the
    // leader's check-quorum step-down (2 s).
    p.send(ids(10).map((id) => ({ ...put(id, `dl/${id}`, 'x', { clientId: 'dl', seq: id }), timeoutMs: 300 })));
    await p.waitFor(ids(10));
    for (const id of ids(10)) {
      const e = errorOf(p.results.get(id));
      expect(e?.code).toBe(status.DEADLINE_EXCEEDED);
      expect(e?.trailers['raftkv-outcome']).toBe('unknown');
    }
  });
});
