/**
 * etcd's Txn in full against a real three-node raftkv cluster, from unchanged etcd clients:
 * etcdctl 3.4 (the duplicate-key error and exit code) and the npm etcd3 client's KV.Txn (nested
 * txns, compares with range_end, LEASE compares, the duplicate-key error across nested txns).
 * etcdctl 3.4 cannot send a nested txn nor a range compare, and panics on its own side on a
 * `lease("k") = "id"` compare (clientv3 compare.go: "bad value", before anything is sent), so
 * those go through etcd3. Without etcdctl its test is skipped, and says so.
 */
import { Etcd3, GRPCInvalidArgumentError } from 'etcd3';
import type { ICompare, IRequestOp, ITxnResponse } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { etcdctl, etcdctlPath, warnIfNoEtcdctl } from './support/etcdctl.js';
import { useTestCluster } from './support/test-cluster.js';

warnIfNoEtcdctl('test/etcd-txn.test.ts');

let cluster: LocalCluster;
const ids = ['n1', 'n2', 'n3'];
const endpoint = (id: string): string => cluster.spec(id).clientAddress;
const all = (): string => ids.map(endpoint).join(',');
const clients: Etcd3[] = [];
const client = (nodes: readonly string[] = ids): Etcd3 => {
  const c = new Etcd3({ hosts: nodes.map((id) => `http://${endpoint(id)}`), dialTimeout: 5_000 });
  clients.push(c);
  return c;
};

useTestCluster('etcd-txn', { started: (c) => (cluster = c), beforeClose: () => clients.forEach((c) => c.close()) });
afterAll(() => clients.forEach((c) => c.close()));

const buf = (s: string): Buffer => Buffer.from(s);
const put = (key: string, value = 'v'): IRequestOp => ({ request_put: { key: buf(key), value: buf(value) } });
const get = (key: string): IRequestOp => ({ request_range: { key: buf(key) } });

describe.skipIf(etcdctlPath === null)('etcdctl txn', () => {
  it("answers a key put twice with etcd's duplicate-key error and exit code", async () => {
    const dup = await etcdctl(all(), ['txn'], { input: '\nput lc/dup 1\nput lc/dup 2\n\n\n' });
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain('etcdserver: duplicate key given in txn request');
    expect((await etcdctl(all(), ['get', 'lc/dup', '--print-value-only'])).stdout).toBe('');
  });

  it('writes an empty value on every node, leader and followers alike', async () => {
    // protobufjs decodes an absent bytes field as a frozen plain array, which raftkv once refused
    // ("must be a Uint8Array") wherever a put was decoded from the wire.
    for (const id of ids) {
      const put = await etcdctl(endpoint(id), ['put', `lc/empty-${id}`, '']);
      expect({ id, code: put.code, stdout: put.stdout, stderr: put.stderr }).toEqual({ id, code: 0, stdout: 'OK\n', stderr: '' });
      const got = await etcdctl(endpoint(id), ['get', `lc/empty-${id}`, '-w', 'json']);
      expect((JSON.parse(got.stdout) as { kvs: { version: number; value?: string }[] }).kvs[0], id).toMatchObject({ version: 1 });
    }
  });

  it('keeps the value with put --ignore-value, alone or inside a txn, and refuses a missing key as etcd does', async () => {
    expect((await etcdctl(all(), ['put', 'lc/iv', 'kept'])).code).toBe(0);
    const alone = await etcdctl(all(), ['put', '--ignore-value', 'lc/iv']);
    expect(alone).toMatchObject({ code: 0, stdout: 'OK\n' });
    const inTxn = await etcdctl(all(), ['txn'], { input: '\nput --ignore-value lc/iv\nput lc/iv-side x\n\n\n' });
    expect(inTxn.code).toBe(0);
    expect(inTxn.stdout).toContain('SUCCESS');
    const got = await etcdctl(all(), ['get', 'lc/iv', '-w', 'json']);
    const kv = (JSON.parse(got.stdout) as { kvs: { value: string; version: number }[] }).kvs[0];
    expect(Buffer.from(kv?.value ?? '', 'base64').toString()).toBe('kept');
    expect(kv?.version).toBe(3); // each keeping put is a write
    // A missing key refuses the whole txn: the put before it is not applied either.
    const missing = await etcdctl(all(), ['txn'], { input: '\nput lc/iv-other x\nput --ignore-value lc/iv-missing\n\n\n' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('etcdserver: key not found');
    expect((await etcdctl(all(), ['get', 'lc/iv-other', '--print-value-only'])).stdout).toBe('');
    const missingAlone = await etcdctl(all(), ['put', '--ignore-lease', 'lc/iv-missing', 'v']);
    expect(missingAlone.code).toBe(1);
    expect(missingAlone.stderr).toContain('etcdserver: key not found');
  });
});

describe('the etcd3 client: KV.Txn', () => {
  it('runs a nested txn: its compares see the state before the outer ops, its responses nest', async () => {
    const etcd = client();
    await etcd.put('nt/k').value('old');
    const nested = {
      compare: [{ key: buf('nt/k'), target: 'Value', result: 'Equal', value: buf('old') }] as ICompare[],
      success: [put('nt/saw-old'), get('nt/k')],
      failure: [put('nt/saw-new')],
    };
    const res: ITxnResponse = await etcd.kv.txn({ compare: [], success: [put('nt/k', 'new'), { request_txn: nested }] });
    expect(res.succeeded).toBe(true);
    expect(res.responses).toHaveLength(2);
    const inner = res.responses[1]?.response_txn;
    expect(inner?.succeeded).toBe(true);
    expect(inner?.responses).toHaveLength(2);
    // The nested range ran after the outer put: it reads the new value.
    expect(inner?.responses[1]?.response_range?.kvs[0]?.value.toString()).toBe('new');
    expect(inner?.header.revision).toBe(res.header.revision);
    expect(await etcd.get('nt/saw-old').string()).toBe('v');
    expect(await etcd.get('nt/saw-new').string()).toBeNull();
    // Both branches of one nested txn may put the same key; a parent put of it is a duplicate.
    const either = { compare: [], success: [put('nt/either', '1')], failure: [put('nt/either', '2')] };
    expect((await etcd.kv.txn({ success: [{ request_txn: either }] })).succeeded).toBe(true);
    await expect(etcd.kv.txn({ success: [put('nt/either'), { request_txn: either }] })).rejects.toThrow('etcdserver: duplicate key given in txn request');
  });

  it('forwards a nested txn with a range compare from a follower to the leader', async () => {
    const leader = (await cluster.waitForLeader()).leader ?? '';
    const follower = ids.find((id) => id !== leader) ?? '';
    const etcd = client([follower]);
    const compare: ICompare[] = [{ key: buf('fw/'), range_end: buf('fw0'), target: 'Create', result: 'Equal', create_revision: 0 }];
    const res = await etcd.kv.txn({ success: [{ request_txn: { compare, success: [put('fw/a')], failure: [] } }] });
    expect(res.responses[0]?.response_txn?.succeeded).toBe(true);
    expect(await etcd.get('fw/a').string()).toBe('v');
    // Now the range holds a key: the same nested txn takes its (empty) failure branch.
    const again = await etcd.kv.txn({ success: [{ request_txn: { compare, success: [put('fw/b')], failure: [] } }] });
    expect(again.responses[0]?.response_txn?.succeeded).toBe(false);
    expect(await etcd.get('fw/b').string()).toBeNull();
  });

  it('compares over a range: every key must hold; a range with no key is a zero KeyValue', async () => {
    const etcd = client();
    for (const k of ['rc/a', 'rc/b', 'rc/c']) await etcd.put(k).value('1');
    await etcd.put('rc/b').value('2');
    const txn = async (compare: ICompare): Promise<boolean> => (await etcd.kv.txn({ compare: [compare], success: [] })).succeeded;
    const range = { key: buf('rc/'), range_end: buf('rc0') };
    expect(await txn({ ...range, target: 'Version', result: 'Greater', version: 0 })).toBe(true);
    expect(await txn({ ...range, target: 'Version', result: 'Equal', version: 1 })).toBe(false);
    expect(await txn({ ...range, target: 'Value', result: 'NotEqual', value: buf('3') })).toBe(true);
    expect(await txn({ ...range, target: 'Value', result: 'Equal', value: buf('1') })).toBe(false);
    // "\0": every key >= key.
    expect(await txn({ key: buf('rc/c'), range_end: Buffer.from([0]), target: 'Version', result: 'Equal', version: 1 })).toBe(true);
    // No key in the range: VERSION and CREATE compare against 0, and a VALUE compare is false (NOT_EQUAL too).
    const empty = { key: buf('none/'), range_end: buf('none0') };
    expect(await txn({ ...empty, target: 'Version', result: 'Equal', version: 0 })).toBe(true);
    expect(await txn({ ...empty, target: 'Create', result: 'Equal', create_revision: 0 })).toBe(true);
    expect(await txn({ ...empty, target: 'Value', result: 'NotEqual', value: buf('x') })).toBe(false);
  });

  it('refuses a compare over more than compareRangeKeysMax (1000) keys with INVALID_ARGUMENT, writing nothing', async () => {
    const etcd = client();
    // 1001 keys in 11 txns of at most 100 puts (under the default txnOpsMax of 128).
    for (let start = 0; start <= 1000; start += 100) {
      const batch = Array.from({ length: Math.min(100, 1001 - start) }, (_, i) => put(`big/${String(start + i).padStart(4, '0')}`));
      await etcd.kv.txn({ success: batch });
    }
    const wide: ICompare = { key: buf('big/'), range_end: buf('big0'), target: 'Version', result: 'Equal', version: 1 };
    const refused = etcd.kv.txn({ compare: [wide], success: [put('big-written')] });
    await expect(refused).rejects.toBeInstanceOf(GRPCInvalidArgumentError);
    await expect(refused).rejects.toThrow(/compareRangeKeysMax \(1000\)/);
    expect(await etcd.get('big-written').string()).toBeNull();
    await etcd.delete().key('big/0000');
    expect((await etcd.kv.txn({ compare: [wide], success: [] })).succeeded).toBe(true);
  });

  it('compares a key\'s lease: its id, 0 without one', async () => {
    const etcd = client();
    const lease = etcd.lease(60, { autoKeepAlive: false });
    const id = await lease.grant();
    await lease.put('lc3/k').value('v');
    const txn = async (key: string, leaseId: string): Promise<boolean> =>
      (await etcd.kv.txn({ compare: [{ key: buf(key), target: 'Lease', result: 'Equal', lease: leaseId }], success: [] })).succeeded;
    expect(await txn('lc3/k', id)).toBe(true);
    expect(await txn('lc3/k', '0')).toBe(false);
    expect(await txn('lc3/missing', '0')).toBe(true);
    await lease.revoke();
  });

  it('keeps a key on its lease with ignore_lease inside a txn, sent to a follower', async () => {
    const leader = (await cluster.waitForLeader()).leader ?? '';
    const etcd = client([ids.find((id) => id !== leader) ?? '']);
    const lease = etcd.lease(60, { autoKeepAlive: false });
    const id = await lease.grant();
    await lease.put('il/k').value('a');
    const res = await etcd.kv.txn({ success: [{ request_put: { key: buf('il/k'), value: buf('b'), ignore_lease: true } }, { request_put: { key: buf('il/v'), ignore_value: true, ignore_lease: true } }], failure: [] }).catch((e: unknown) => e);
    // il/v does not exist: etcd refuses the whole txn.
    expect(res).toBeInstanceOf(GRPCInvalidArgumentError);
    expect(String(res)).toContain('etcdserver: key not found');
    expect((await etcd.get('il/k').exec()).kvs[0]).toMatchObject({ value: buf('a') });
    await etcd.put('il/v').value('v');
    await etcd.kv.txn({ success: [{ request_put: { key: buf('il/k'), value: buf('b'), ignore_lease: true } }, { request_put: { key: buf('il/v'), ignore_value: true, ignore_lease: true } }], failure: [] });
    expect((await etcd.get('il/k').exec()).kvs[0]).toMatchObject({ value: buf('b'), lease: id });
    expect((await etcd.get('il/v').exec()).kvs[0]).toMatchObject({ value: buf('v'), lease: '0', version: '2' });
    // Still on the lease: revoking it deletes the key.
    await lease.revoke();
    expect(await etcd.get('il/k').string()).toBeNull();
  });
});
