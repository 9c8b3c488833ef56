/**
 * The etcd adapter's translations, without a cluster: etcd compares and txns into raftkv's,
 * Range's sorting and filters, member ids, snapshot sizing, and errors in etcd's words.
 */
import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CompareResult, CompareTarget } from '../src/api/index.js';
import { prefixOfRange } from '../src/server/etcd/etcd-auth-service.js';
import { etcdStatusOf } from '../src/server/etcd/etcd-errors.js';
import { clusterIdOf, memberIdOf, nodeIdOfMember } from '../src/server/etcd/etcd-ids.js';
import { requireCurrentRevision } from '../src/server/etcd/etcd-kv-service.js';
import { finishRange, raftkvRange, SortOrder, SortTarget } from '../src/server/etcd/etcd-range.js';
import { snapshotPaddingBytes } from '../src/server/etcd/etcd-snapshot.js';
import { EtcdCompareResult, EtcdCompareTarget, raftkvCompares, raftkvTxn, txnAttachesLeases } from '../src/server/etcd/etcd-txn.js';
import { InvalidArgumentError, NotLeaderError, OverloadedError, PermissionDeniedError } from '../src/util/index.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const kv = (key: string, value: string, mod: number, create = mod, version = 1) => ({ key: b(key), value: b(value), modRevision: mod, createRevision: create, version });
const put = (key: string) => ({ requestPut: { key: b(key), value: b('v') } });

describe('etcd compares and txns as raftkv ones', () => {
  it('maps targets and operators, with etcd\'s rule for a value compare on a missing key', () => {
    expect(raftkvCompares({ key: b('k'), target: EtcdCompareTarget.MOD, result: EtcdCompareResult.GREATER, modRevision: 5 }, 0)).toEqual([
      // etcd revision 5 is raftkv's 4 (etcd-revision.ts).
      { key: b('k'), target: CompareTarget.MOD, result: CompareResult.GREATER, modRevision: 4 },
    ]);
    // etcd: NOT_EQUAL on VALUE is false when the key does not exist, so it also requires version > 0.
    expect(raftkvCompares({ key: b('k'), target: EtcdCompareTarget.VALUE, result: EtcdCompareResult.NOT_EQUAL, value: b('x') }, 0)).toEqual([
      { key: b('k'), target: CompareTarget.VALUE, result: CompareResult.NOT_EQUAL, value: b('x') },
      { key: b('k'), target: CompareTarget.VERSION, result: CompareResult.GREATER, version: 0 },
    ]);
  });

  it('carries a Put\'s lease and a LEASE compare', () => {
    const { request } = raftkvTxn({ success: [{ requestPut: { key: b('k'), value: b('v'), lease: 5 } }] }, 128);
    expect(request.success[0]?.requestPut?.lease).toBe(5);
    const { request: kept } = raftkvTxn({ success: [{ requestPut: { key: b('k'), ignoreValue: true, ignoreLease: true } }] }, 128);
    expect(kept.success[0]?.requestPut).toMatchObject({ ignoreValue: true, ignoreLease: true });
    expect(raftkvCompares({ key: b('k'), target: EtcdCompareTarget.LEASE, result: EtcdCompareResult.EQUAL, lease: 7 }, 0)).toEqual([
      { key: b('k'), target: CompareTarget.LEASE, result: CompareResult.EQUAL, lease: 7 },
    ]);
  });

  it('carries range_end on every target, and the value rule over the same range', () => {
    const all = new Uint8Array([0]);
    expect(raftkvCompares({ key: b('a'), rangeEnd: b('b'), target: EtcdCompareTarget.VERSION, version: 1 }, 0)).toEqual([
      { key: b('a'), rangeEnd: b('b'), target: CompareTarget.VERSION, result: CompareResult.EQUAL, version: 1 },
    ]);
    // An empty range makes etcd's VALUE compare false, NOT_EQUAL included: version > 0 over the same range says so.
    expect(raftkvCompares({ key: b('a'), rangeEnd: all, target: EtcdCompareTarget.VALUE, result: EtcdCompareResult.NOT_EQUAL, value: b('x') }, 0)).toEqual([
      { key: b('a'), rangeEnd: all, target: CompareTarget.VALUE, result: CompareResult.NOT_EQUAL, value: b('x') },
      { key: b('a'), rangeEnd: all, target: CompareTarget.VERSION, result: CompareResult.GREATER, version: 0 },
    ]);
  });

  it('translates nested txns, with what to finish on their answers', () => {
    const nested = { compare: [{ key: b('k'), target: EtcdCompareTarget.VERSION, version: 0 }], success: [{ requestRange: { key: b('k'), limit: 1 } }], failure: [put('f')] };
    const { request, finishes } = raftkvTxn({ success: [put('a'), { requestTxn: nested }] }, 128);
    expect(request.success[1]?.requestTxn).toMatchObject({ compare: [{ key: b('k'), target: CompareTarget.VERSION, version: 0 }], success: [{ requestRange: { key: b('k') } }], failure: [{ requestPut: { key: b('f') } }] });
    expect(finishes.success[1]).toMatchObject({ txn: { success: [{ range: { limit: 1 } }], failure: [null] } });
    expect(txnAttachesLeases({ success: [{ requestTxn: { failure: [{ requestPut: { key: b('k'), lease: 3 } }] } }] })).toBe(true);
    expect(txnAttachesLeases({ success: [{ requestTxn: nested }] })).toBe(false);
  });

  it('refuses what raftkv cannot do, in etcd\'s words', () => {
    expect(() => raftkvCompares({ target: EtcdCompareTarget.VERSION }, 0)).toThrow('etcdserver: key is not provided');
    expect(() => raftkvTxn({ success: [{ requestPut: { key: b('k'), value: b('v'), ignoreValue: true } }] }, 128)).toThrow('etcdserver: value is provided');
    expect(() => raftkvTxn({ success: [{ requestPut: { key: b('k'), lease: 3, ignoreLease: true } }] }, 128)).toThrow('etcdserver: lease is provided');
    expect(() => raftkvTxn({ success: [put('a'), put('b'), put('c')] }, 2)).toThrow('etcdserver: too many operations in txn request');
    // The whole tree counts: 1 + (1 nested txn + 2 puts) = 4 > 3.
    expect(() => raftkvTxn({ success: [put('a'), { requestTxn: { success: [put('b'), put('c')] } }] }, 3)).toThrow('etcdserver: too many operations in txn request');
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 17; i++) deep = { success: [{ requestTxn: deep }] };
    expect(() => raftkvTxn(deep, 1000)).toThrow(/txnNestingDepthMax \(16\)/);
  });

  it('finds a key put twice, or put and deleted, in one branch (but not across branches)', () => {
    expect(() => raftkvTxn({ success: [put('a'), put('a')] }, 128)).toThrow('etcdserver: duplicate key given in txn request');
    expect(() => raftkvTxn({ success: [put('b'), { requestDeleteRange: { key: b('a'), rangeEnd: b('c') } }] }, 128)).toThrow('duplicate key');
    expect(() => raftkvTxn({ success: [put('z'), { requestDeleteRange: { key: b('a'), rangeEnd: new Uint8Array([0]) } }] }, 128)).toThrow('duplicate key');
    expect(() => raftkvTxn({ success: [put('c'), { requestDeleteRange: { key: b('a'), rangeEnd: b('c') } }] }, 128)).not.toThrow();
    expect(() => raftkvTxn({ success: [put('a')], failure: [put('a')] }, 128)).not.toThrow();
  });

  it("applies etcd's checkIntervals across nested txns", () => {
    const nest = (success: unknown[], failure: unknown[] = []) => ({ requestTxn: { success, failure } });
    const del = (key: string, end?: string) => ({ requestDeleteRange: { key: b(key), ...(end !== undefined ? { rangeEnd: b(end) } : {}) } });
    // A key put by a nested txn and by its parent branch, or deleted by the parent, or put by two nested txns.
    expect(() => raftkvTxn({ success: [put('a'), nest([put('a')])] }, 128)).toThrow('etcdserver: duplicate key given in txn request');
    expect(() => raftkvTxn({ success: [del('a', 'c'), nest([put('b')])] }, 128)).toThrow('duplicate key');
    expect(() => raftkvTxn({ success: [nest([put('b')]), nest([], [put('b')])] }, 128)).toThrow('duplicate key');
    // A nested delete covering a key the parent puts.
    expect(() => raftkvTxn({ success: [put('b'), nest([del('a', 'c')])] }, 128)).toThrow('duplicate key');
    // Both branches of ONE nested txn may put the same key (only one runs); so may the two top-level branches.
    expect(() => raftkvTxn({ success: [nest([put('b')], [put('b')])] }, 128)).not.toThrow();
    expect(() => raftkvTxn({ success: [nest([put('b')])], failure: [put('b')] }, 128)).not.toThrow();
    // Deletes may overlap each other.
    expect(() => raftkvTxn({ success: [del('a', 'c'), nest([del('b')])] }, 128)).not.toThrow();
  });
});

describe('etcd Range on raftkv\'s', () => {
  const all = [kv('a', 'z', 3), kv('b', 'x', 9), kv('c', 'y', 5)];

  it('asks for the whole range to sort, then cuts to the limit and keeps the range\'s count', () => {
    const { request, finish } = raftkvRange({ key: b('a'), rangeEnd: b('d'), limit: 2, sortOrder: SortOrder.DESCEND, sortTarget: SortTarget.MOD });
    expect(request.limit).toBe(0);
    const r = finishRange({ kvs: all, more: false, count: 3 }, finish);
    expect(r.kvs.map((k) => new TextDecoder().decode(k.key as Uint8Array))).toEqual(['b', 'c']);
    expect(r.more).toBe(true);
    expect(r.count).toBe(3);
  });

  it('passes key order and the limit through to raftkv when no sort is needed', () => {
    const { request, finish } = raftkvRange({ key: b('a'), rangeEnd: b('d'), limit: 2, sortOrder: SortOrder.ASCEND, sortTarget: SortTarget.KEY });
    expect(request.limit).toBe(2);
    expect(finish.needsAll).toBe(false);
  });

  it('filters by revisions; sorts by value before keys_only strips the values', () => {
    // The filters and the answer are etcd revisions, raftkv's + 1: a, b, c are at etcd 4, 10, 6.
    const filtered = raftkvRange({ key: b('a'), rangeEnd: b('d'), minModRevision: 5, maxModRevision: 9 });
    expect(finishRange({ kvs: all, more: false, count: 3 }, filtered.finish).kvs.map((k) => k.modRevision)).toEqual([6]);
    const byValue = raftkvRange({ key: b('a'), rangeEnd: b('d'), keysOnly: true, sortOrder: SortOrder.ASCEND, sortTarget: SortTarget.VALUE });
    expect(byValue.request.keysOnly).toBe(false);
    const sorted = finishRange({ kvs: all, more: false, count: 3 }, byValue.finish);
    expect(sorted.kvs.map((k) => new TextDecoder().decode(k.key as Uint8Array))).toEqual(['b', 'c', 'a']);
    expect(sorted.kvs.every((k) => (k.value as Uint8Array).length === 0)).toBe(true);
  });

  it('refuses to sort a range larger than raftkv returns at once', () => {
    const { finish } = raftkvRange({ key: b('a'), rangeEnd: b('d'), sortOrder: SortOrder.DESCEND });
    expect(() => finishRange({ kvs: all, more: true, count: 20_000 }, finish)).toThrow(InvalidArgumentError);
  });

  it('answers compacted for an older revision and future for a newer one', () => {
    // raftkv revision 10 is etcd's 11.
    expect(() => requireCurrentRevision(0, 10)).not.toThrow();
    expect(() => requireCurrentRevision(11, 10)).not.toThrow();
    expect(() => requireCurrentRevision(10, 10)).toThrow('etcdserver: mvcc: required revision has been compacted');
    expect(() => requireCurrentRevision(12, 10)).toThrow('etcdserver: mvcc: required revision is a future revision');
    // etcd revision 1 is the empty store: readable before the first write, compacted after it.
    expect(() => requireCurrentRevision(1, 0)).not.toThrow();
    expect(() => requireCurrentRevision(2, 0)).toThrow('etcdserver: mvcc: required revision is a future revision');
    expect(() => requireCurrentRevision(1, 1)).toThrow('etcdserver: mvcc: required revision has been compacted');
  });
});

describe('etcd ids, snapshot size, permissions, errors', () => {
  it('derives stable, positive, distinct member ids and maps them back', () => {
    const ids = ['n1', 'n2', 'n3'].map(memberIdOf);
    expect(new Set(ids).size).toBe(3);
    for (const id of ids) expect(id > 0n && id < 1n << 63n).toBe(true);
    expect(memberIdOf('n1')).toBe(memberIdOf('n1'));
    expect(nodeIdOfMember(memberIdOf('n2'), ['n1', 'n2', 'n3'])).toBe('n2');
    expect(nodeIdOfMember(12345n, ['n1'])).toBeNull();
    expect(clusterIdOf('c-b6baf03959aadd62')).toBe(0x36baf03959aadd62n);
  });

  it('pads a snapshot to the size etcdctl checks (32 more than a multiple of 512)', () => {
    for (const size of [48, 511, 512, 544, 545, 100_000]) expect((size + snapshotPaddingBytes(size)) % 512).toBe(32);
    expect(snapshotPaddingBytes(544)).toBe(0);
  });

  it('maps prefix permissions and refuses other ranges', () => {
    expect(prefixOfRange(b('k/'), b('k0'))).toEqual(b('k/'));
    expect(prefixOfRange(new Uint8Array([0]), new Uint8Array([0]))).toEqual(new Uint8Array(0));
    expect(() => prefixOfRange(b('k/x'), new Uint8Array(0))).toThrow('prefixes only');
  });

  it('says raftkv errors in etcd\'s words', () => {
    expect(etcdStatusOf(new NotLeaderError(null), { write: true })).toMatchObject({ code: status.UNAVAILABLE, details: 'etcdserver: no leader' });
    expect(etcdStatusOf(new NotLeaderError('n2', 'x:1'), { write: true })).toMatchObject({ code: status.UNAVAILABLE, details: 'etcdserver: leader changed' });
    expect(etcdStatusOf(new PermissionDeniedError('permission denied: ...'), { write: false })).toMatchObject({ code: status.PERMISSION_DENIED, details: 'etcdserver: permission denied' });
    expect(etcdStatusOf(new OverloadedError('the data is over dataBytesMax', 100), { write: true })).toMatchObject({ code: status.RESOURCE_EXHAUSTED, details: 'etcdserver: mvcc: database space exceeded' });
    expect(etcdStatusOf(new InvalidArgumentError('op', 'txn has 200 compares and operations, more than txnOpsMax (128)'), { write: true })).toMatchObject({ details: 'etcdserver: too many operations in txn request' });
    expect(etcdStatusOf(new InvalidArgumentError('key', 'must not be empty'), { write: true })).toMatchObject({ code: status.INVALID_ARGUMENT, details: 'etcdserver: key: must not be empty' });
  });
});
