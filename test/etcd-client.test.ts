/**
 * The npm etcd3 client (unchanged) against a real three-node raftkv cluster through etcd's v3 API:
 * KV, txns, the errors it recognises, and a watch that survives losing the node it is on.
 */
import { EtcdLeaseInvalidError } from 'etcd3';
import type { IKeyValue } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { etcd3Clients } from './support/etcd3-clients.js';
import { useTestCluster } from './support/test-cluster.js';

let cluster: LocalCluster;
const ids = ['n1', 'n2', 'n3'];
const { client, closeAll } = etcd3Clients(() => cluster, ids);

useTestCluster('etcd3-client', { started: (c) => (cluster = c) });
afterAll(closeAll);

/** How many etcd Watch streams node `id` has started (its gRPC metrics). */
async function watchStreamsStarted(id: string): Promise<number> {
  const text = await (await fetch(`http://${cluster.spec(id).httpAddress}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('grpc_server_started_total') && l.includes('grpc_service="etcdserverpb.Watch"'));
  return line === undefined ? 0 : Number(line.split(' ').pop());
}

async function until(what: string, check: () => boolean | Promise<boolean>, attempts = 300): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('the etcd3 client', () => {
  it('puts, gets, lists, counts, sorts and deletes', async () => {
    const etcd = client();
    await etcd.put('app/b').value('2');
    await etcd.put('app/a').value('1');
    await etcd.put('app/c').value('3');
    expect(await etcd.get('app/a').string()).toBe('1');
    expect(await etcd.get('app/missing').string()).toBeNull();
    expect(await etcd.getAll().prefix('app/').strings()).toEqual({ 'app/a': '1', 'app/b': '2', 'app/c': '3' });
    expect(await etcd.getAll().prefix('app/').count()).toBe(3);
    expect(await etcd.getAll().prefix('app/').sort('Value', 'Descend').limit(2).keys()).toEqual(['app/c', 'app/b']);
    const deleted = await etcd.delete().key('app/a').getPrevious();
    expect(deleted.map((kv) => kv.value.toString())).toEqual(['1']);
    expect(await etcd.delete().prefix('app/').exec()).toMatchObject({ deleted: '2' });
    expect(await etcd.getAll().prefix('app/').count()).toBe(0);
  });

  it('runs txns: the compare picks the branch, responses come back per operation', async () => {
    const etcd = client();
    await etcd.put('acct').value('10');
    const won = await etcd.if('acct', 'Value', '==', '10').then(etcd.put('acct').value('20'), etcd.get('acct')).else(etcd.put('lost').value('x')).commit();
    expect(won.succeeded).toBe(true);
    expect(won.responses).toHaveLength(2);
    expect(won.responses[1]?.response_range?.kvs?.[0]?.value.toString()).toBe('20');
    const lost = await etcd.if('acct', 'Value', '==', '10').then(etcd.put('acct').value('30')).else(etcd.put('lost').value('x')).commit();
    expect(lost.succeeded).toBe(false);
    expect(await etcd.get('acct').string()).toBe('20');
    expect(await etcd.get('lost').string()).toBe('x');
    // etcd: a value compare on a missing key never holds, even "!=".
    const missing = await etcd.if('nobody', 'Value', '!=', 'x').then(etcd.put('bad').value('1')).commit();
    expect(missing.succeeded).toBe(false);
    const created = await etcd.if('fresh', 'Create', '==', 0).then(etcd.put('fresh').value('1')).commit();
    expect(created.succeeded).toBe(true);
  });

  it('sees the errors etcd gives: unknown lease, duplicate key in a txn', async () => {
    const etcd = client();
    await expect(etcd.put('leased').value('v').lease('1234').exec()).rejects.toBeInstanceOf(EtcdLeaseInvalidError);
    await expect(etcd.if('k', 'Version', '==', 0).then(etcd.put('dup').value('1'), etcd.put('dup').value('2')).commit()).rejects.toThrow('etcdserver: duplicate key given in txn request');
  });

  it('a watch resumes on another node, losing and repeating nothing, when its node stops', { timeout: 120_000 }, async () => {
    const watcherClient = client();
    const watcher = await watcherClient.watch().prefix('wr/').create();
    const seen: string[] = [];
    watcher.on('put', (kv: IKeyValue) => seen.push(`put ${kv.key.toString()}=${kv.value.toString()}`));
    watcher.on('delete', (kv: IKeyValue) => seen.push(`delete ${kv.key.toString()}`));
    const expected: string[] = [];
    const writer = client();
    for (let i = 0; i < 10; i++) {
      await writer.put(`wr/${i}`).value(String(i));
      expected.push(`put wr/${i}=${i}`);
    }
    await until('the first events', () => seen.length === 10);
    // The node the watch stream is on: the one that started an etcd Watch stream.
    const streams = await Promise.all(ids.map(watchStreamsStarted));
    expect(streams.reduce((a, b) => a + b, 0)).toBe(1);
    const host = ids[streams.indexOf(1)] ?? '';
    const others = ids.filter((id) => id !== host);
    await cluster.stop(host);
    const writer2 = client(others);
    await cluster.waitForLeader(20_000, others);
    for (let i = 10; i < 20; i++) {
      await writer2.put(`wr/${i}`).value(String(i));
      expected.push(`put wr/${i}=${i}`);
    }
    await writer2.delete().key('wr/0');
    expected.push('delete wr/0');
    await until('every event after the reconnect', () => seen.length >= expected.length);
    expect(seen).toEqual(expected);
    const resumed = await Promise.all(others.map(watchStreamsStarted));
    expect(resumed.reduce((a, b) => a + b, 0)).toBe(1);
    await watcher.cancel();
    cluster.start(host);
    await cluster.waitForLeader();
  });
});
