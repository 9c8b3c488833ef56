// End-to-end tests of the client library's API and routing against a real three-node cluster.
import { describe, expect, it } from 'vitest';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { useTestCluster } from './support/test-cluster.js';
import { compare, connect, DeadlineExceededError, InvalidArgumentError, op } from '../src/client/index.js';
import type { AttemptEvent, ClientOptions, RaftkvClient, RetryEvent, WatchEvent } from '../src/client/index.js';

let cluster: LocalCluster;
const clients: RaftkvClient[] = [];

async function client(options: Partial<ClientOptions> = {}): Promise<RaftkvClient> {
  const kv = await connect({ endpoints: cluster.endpoints, ...options });
  clients.push(kv);
  return kv;
}

useTestCluster('client-api', {
  started: (c) => (cluster = c),
  beforeClose: () => {
    for (const kv of clients) kv.close();
  },
});

describe('key-value operations', () => {
  it('puts, gets, ranges and deletes string and binary keys with their metadata', async () => {
    const kv = await client();
    const put = await kv.put('api/a', 'one');
    expect(put.revision).toBeGreaterThan(0);
    const again = await kv.put('api/a', 'two', { prevKv: true });
    expect(again.prevKv?.text).toBe('one');
    const got = await kv.get('api/a');
    expect(got).toMatchObject({ found: true, text: 'two', stale: false });
    expect(got.kv).toMatchObject({ keyText: 'api/a', version: 2, createRevision: put.revision, modRevision: again.revision });
    expect((await kv.get('api/missing')).found).toBe(false);
    const binaryKey = new Uint8Array([0x61, 0x70, 0x69, 0x2f, 0xff, 0x00]);
    await kv.put(binaryKey, new Uint8Array([1, 2, 3]));
    expect([...((await kv.get(binaryKey)).value ?? [])]).toEqual([1, 2, 3]);
    const r = await kv.range({ prefix: 'api/' });
    expect(r.count).toBe(2);
    expect(r.kvs.map((k) => [...k.key])).toEqual([[...new TextEncoder().encode('api/a')], [...binaryKey]]);
    expect((await kv.range({ prefix: 'api/', limit: 1 })).more).toBe(true);
    expect((await kv.range({ prefix: 'api/', countOnly: true })).kvs).toEqual([]);
    expect((await kv.range({ prefix: 'api/', keysOnly: true })).kvs[0]?.value.length).toBe(0);
    const del = await kv.delete({ prefix: 'api/' }, { prevKv: true });
    expect(del.deleted).toBe(2);
    expect((await kv.range({ prefix: 'api/' })).count).toBe(0);
  });

  it('runs transactions and compare-and-swap atomically', async () => {
    const kv = await client();
    expect((await kv.cas('txn/lock', null, 'me')).succeeded).toBe(true);
    const lost = await kv.cas('txn/lock', null, 'you');
    expect(lost.succeeded).toBe(false);
    expect(lost.current?.text).toBe('me');
    expect((await kv.cas('txn/lock', 'me', 'you')).succeeded).toBe(true);
    const t = await kv
      .txn()
      .if(compare.value('txn/lock', '==', 'you'), compare.version('txn/lock', '>', 1))
      .then(op.put('txn/a', '1'), op.put('txn/b', '2'), op.range({ prefix: 'txn/', countOnly: true }))
      .else(op.get('txn/lock'))
      .commit();
    expect(t.succeeded).toBe(true);
    expect(t.results.map((r) => r.type)).toEqual(['put', 'put', 'range']);
    expect(t.results[2]).toMatchObject({ type: 'range', count: 3 });
    const f = await kv.txn().if(compare.absent('txn/a')).then(op.delete({ prefix: 'txn/' })).else(op.get('txn/a')).commit();
    expect(f.succeeded).toBe(false);
    expect(f.results[0]).toMatchObject({ type: 'range', count: 1 });
  });

  it('refuses bad input with INVALID_ARGUMENT naming the field, before or at the server', async () => {
    const kv = await client();
    await expect(kv.put('', 'x')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', field: 'key' });
    await expect(kv.delete({})).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(kv.txn().if({ key: 'k', target: 'version', op: '>', value: 1.5 }).commit()).rejects.toMatchObject({ field: 'txn.if[0].value' });
    const tooBig = new Uint8Array(1024 * 1024 + 1);
    await expect(kv.put('big', tooBig)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('serves stale reads from local state and says so', async () => {
    const kv = await client();
    await kv.put('stale/k', 'v');
    const r = await kv.get('stale/k', { consistency: 'stale' });
    expect(r.stale).toBe(true);
    expect(typeof r.stalenessMs).toBe('number');
  });

  it('watches a prefix: puts and deletes in revision order, and replays from a past revision', async () => {
    const kv = await client();
    const watch = kv.watch('w/', { prefix: true });
    const events: WatchEvent[] = [];
    const done = (async () => {
      for await (const e of watch) if (events.push(e) === 3) break;
    })();
    while (watch.endpoint === null) await new Promise((r) => setTimeout(r, 10));
    const first = await kv.put('w/1', 'a');
    await kv.put('other', 'ignored');
    await kv.put('w/2', 'b');
    await kv.delete('w/1');
    await done;
    expect(events.map((e) => `${e.type} ${e.kv.keyText}`)).toEqual(['put w/1', 'put w/2', 'delete w/1']);
    expect(events[0]?.revision).toBe(first.revision);
    const replay = kv.watch('w/1', { fromRevision: first.revision });
    const replayed: number[] = [];
    for await (const e of replay) if (replayed.push(e.revision) === 2) break;
    expect(replayed).toEqual([first.revision, events[2]?.revision]);
  });

  it('watches the whole key space with an empty prefix, and still refuses an empty single key', async () => {
    const kv = await client();
    const start = await kv.put('all/0', 'x');
    const watch = kv.watch('', { prefix: true, fromRevision: start.revision });
    const keys: string[] = [];
    const done = (async () => {
      for await (const e of watch) if (keys.push(e.kv.keyText) === 3) break;
    })();
    await kv.put('zz-last', 'y');
    await kv.put('\u0001first', 'z');
    await done;
    expect(keys).toEqual(['all/0', 'zz-last', '\u0001first']);
    expect(() => kv.watch('')).toThrow(/must not be empty/);
  });

  it('gives each event the key before the change when asked (prevKv), and nothing otherwise', async () => {
    const kv = await client();
    const first = await kv.put('pk/a', 'one');
    await kv.put('pk/a', 'two');
    await kv.delete('pk/a');
    const withPrev: (string | null)[] = [];
    for await (const e of kv.watch('pk/a', { fromRevision: first.revision, prevKv: true })) if (withPrev.push(e.prevKv?.text ?? null) === 3) break;
    expect(withPrev).toEqual([null, 'one', 'two']);
    const without: (string | null)[] = [];
    for await (const e of kv.watch('pk/a', { fromRevision: first.revision })) if (without.push(e.prevKv?.text ?? null) === 3) break;
    expect(without).toEqual([null, null, null]);
  });
});

describe('paging and namespaces', () => {
  it('pages through a range with rangeAll: every key once, in order, one range call per page', async () => {
    const kv = await client();
    const keys = Array.from({ length: 25 }, (_, i) => `page/${String(i).padStart(2, '0')}`);
    await Promise.all(keys.map((k) => kv.put(k, `v-${k}`)));
    await kv.put('pagf', 'just past the prefix');
    const attempts: AttemptEvent[] = [];
    const paged = await client({ hooks: { onAttempt: (e) => attempts.push(e) } });
    const seen: string[] = [];
    for await (const item of paged.rangeAll('page/', { pageSize: 10 })) {
      expect(item.text).toBe(`v-${item.keyText}`);
      seen.push(item.keyText);
    }
    expect(seen).toEqual(keys);
    expect(attempts.filter((a) => a.method === 'Range')).toHaveLength(3);
    const spanned: string[] = [];
    for await (const item of paged.rangeAll({ start: 'page/20', end: 'page/23' }, { pageSize: 2, keysOnly: true })) spanned.push(item.keyText);
    expect(spanned).toEqual(['page/20', 'page/21', 'page/22']);
    const everything: string[] = [];
    for await (const item of paged.rangeAll(undefined, { pageSize: 7 })) everything.push(item.keyText);
    expect(everything).toEqual([...everything].sort());
    expect(everything).toEqual(expect.arrayContaining([...keys, 'pagf']));
    await expect(async () => {
      for await (const _ of paged.rangeAll('page/', { pageSize: 0 })) break;
    }).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('keeps a namespace to its prefix: keys in and out, ranges, deletes, txns, cas and watches', async () => {
    const kv = await client();
    const ns = kv.namespace('tenant1/');
    await kv.put('tenant1', 'the bare prefix is outside');
    await kv.put('tenant10/x', 'a neighbour, outside');
    const put = await ns.put('a', '1');
    expect((await kv.get('tenant1/a')).text).toBe('1');
    const got = await ns.get('a');
    expect(got.found && got.kv.keyText).toBe('a');
    expect((await ns.put('a', '2', { prevKv: true })).prevKv?.keyText).toBe('a');
    await ns.put('b/1', 'x');
    await ns.put('b/2', 'y');
    expect((await ns.range()).kvs.map((k) => k.keyText)).toEqual(['a', 'b/1', 'b/2']);
    expect((await ns.range({ prefix: 'b/' })).kvs.map((k) => k.keyText)).toEqual(['b/1', 'b/2']);
    expect((await ns.range({ start: 'b/2' })).kvs.map((k) => k.keyText)).toEqual(['b/2']);
    const all: string[] = [];
    for await (const item of ns.rangeAll(undefined, { pageSize: 1 })) all.push(item.keyText);
    expect(all).toEqual(['a', 'b/1', 'b/2']);
    const nested = ns.namespace('b/');
    expect((await nested.get('1')).text).toBe('x');
    const t = await ns.txn().if(compare.value('a', '==', '2')).then(op.put('c', '3'), op.range({ prefix: 'b/' })).commit();
    expect(t.succeeded).toBe(true);
    const read = t.results[1];
    expect(read?.type === 'range' ? read.kvs.map((k) => k.keyText) : null).toEqual(['b/1', 'b/2']);
    expect((await kv.get('tenant1/c')).text).toBe('3');
    const cas = await ns.cas('a', 'nope', 'z');
    expect(cas.succeeded).toBe(false);
    expect(cas.current?.keyText).toBe('a');
    const events: string[] = [];
    const watch = ns.watch('', { prefix: true, fromRevision: put.revision });
    for await (const e of watch) if (events.push(`${e.type} ${e.kv.keyText}`) === 3) break;
    expect(events).toEqual(['put a', 'put a', 'put b/1']);
    const del = await ns.delete({ prefix: '' }, { prevKv: true });
    expect(del.prevKvs.map((k) => k.keyText)).toEqual(['a', 'b/1', 'b/2', 'c']);
    expect((await kv.get('tenant1')).text).toBe('the bare prefix is outside');
    expect((await kv.get('tenant10/x')).found).toBe(true);
    expect(() => kv.namespace('')).toThrow(InvalidArgumentError);
  });
});

describe('cluster view', () => {
  it('reports every endpoint\'s status and the members with their client addresses', async () => {
    const kv = await client();
    const statuses = await kv.cluster.status();
    expect(statuses).toHaveLength(3);
    expect(statuses.every((s) => s.ok)).toBe(true);
    const leaders = statuses.filter((s) => s.ok && s.status.role === 'leader');
    expect(leaders).toHaveLength(1);
    const members = await kv.cluster.members();
    expect(members.map((m) => [m.id, m.clientAddress]).sort()).toEqual(cluster.specs.map((s) => [s.id, s.clientAddress]));
  });
});

describe('routing', () => {
  it('sends writes straight to the cached leader and spreads reads over every node', async () => {
    const attempts: AttemptEvent[] = [];
    const kv = await client({ hooks: { onAttempt: (e) => attempts.push(e) } });
    const leader = (await cluster.waitForLeader()).id;
    for (let i = 0; i < 10; i++) await kv.put(`route/${i}`, 'v');
    for (let i = 0; i < 9; i++) await kv.get(`route/${i}`);
    const writes = attempts.filter((a) => a.write);
    expect(writes).toHaveLength(10);
    expect(new Set(writes.map((a) => a.nodeId))).toEqual(new Set([leader]));
    expect(new Set(attempts.filter((a) => !a.write).map((a) => a.nodeId)).size).toBe(3);
  });

  it('follows a NOT_LEADER hint at once (no retry, no backoff) when leadership has moved', async () => {
    const attempts: AttemptEvent[] = [];
    const retries: RetryEvent[] = [];
    const kv = await client({ hooks: { onAttempt: (e) => attempts.push(e), onRetry: (e) => retries.push(e) } });
    const old = (await cluster.waitForLeader()).id;
    expect(kv.leaderId).toBe(old);
    // A clean stop hands leadership over; the old leader comes back as a follower.
    await cluster.stop(old);
    cluster.start(old);
    await cluster.waitForHttp(old, 20_000);
    const now = (await cluster.waitForLeader()).id;
    expect(now).not.toBe(old);
    while ((await cluster.status(old))?.leader !== now) await new Promise((r) => setTimeout(r, 20));
    attempts.length = 0;
    await kv.put('hint/k', 'v');
    expect(attempts.map((a) => a.nodeId)).toEqual([old, now]);
    expect(retries).toEqual([]);
    expect(kv.leaderId).toBe(now);
  });

  it('learns the endpoints it was not given from the member list, and reaches the leader there', async () => {
    const leader = (await cluster.waitForLeader()).id;
    const follower = cluster.specs.find((s) => s.id !== leader) as (typeof cluster.specs)[number];
    const attempts: AttemptEvent[] = [];
    const kv = await client({ endpoints: follower.clientAddress, hooks: { onAttempt: (e) => attempts.push(e) } });
    const byId = (a: (string | null)[], b: (string | null)[]): number => String(a[1]).localeCompare(String(b[1]));
    expect(kv.endpoints().map((e) => [e.address, e.nodeId]).sort(byId)).toEqual(cluster.specs.map((s) => [s.clientAddress, s.id]).sort(byId));
    await kv.put('members/k', 'v');
    expect(attempts.map((a) => a.nodeId)).toEqual([leader]);
  });

  it('gives every call a deadline, sent as the gRPC deadline, so a paused leader cannot hang it', async () => {
    const kv = await client({ timeoutMs: 60_000 });
    const leader = (await cluster.waitForLeader()).id;
    expect(kv.leaderId).toBe(leader);
    cluster.signal(leader, 'SIGSTOP');
    try {
      const started = Date.now();
      const error = await kv.put('deadline/k', 'v', { timeoutMs: 300 }).catch((e: unknown) => e);
      const elapsed = Date.now() - started;
      expect(error).toBeInstanceOf(DeadlineExceededError);
      expect((error as DeadlineExceededError).outcome).toBe('unknown');
      expect(elapsed).toBeGreaterThanOrEqual(250);
      expect(elapsed).toBeLessThan(2000);
    } finally {
      cluster.signal(leader, 'SIGCONT');
    }
  });
});
