/**
 * etcd revisions are raftkv's + 1 (src/server/etcd/etcd-revision.ts): the mapping at its edges,
 * and etcd compares on CREATE and MOD evaluated against keys the way etcd evaluates them.
 */
import { describe, expect, it } from 'vitest';
import { CompareResult, CompareTarget } from '../src/api/index.js';
import { finishRange, raftkvRange } from '../src/server/etcd/etcd-range.js';
import { etcdRevisionOffset, fromEtcdRevision, fromEtcdStartRevision, raftkvRevisionCompares, toEtcdKeyRevision, toEtcdRevision } from '../src/server/etcd/etcd-revision.js';
import { EtcdCompareResult, EtcdCompareTarget, raftkvCompares } from '../src/server/etcd/etcd-txn.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);

/** raftkv's compare of a key's revision `actual` (0: missing) against `value`. */
function holds(result: number, actual: number, value: number): boolean {
  switch (result) {
    case CompareResult.EQUAL:
      return actual === value;
    case CompareResult.NOT_EQUAL:
      return actual !== value;
    case CompareResult.LESS:
      return actual < value;
    case CompareResult.GREATER:
      return actual > value;
    default:
      throw new Error(`unknown result ${result}`);
  }
}

const etcdResults = [
  [EtcdCompareResult.EQUAL, CompareResult.EQUAL],
  [EtcdCompareResult.NOT_EQUAL, CompareResult.NOT_EQUAL],
  [EtcdCompareResult.LESS, CompareResult.LESS],
  [EtcdCompareResult.GREATER, CompareResult.GREATER],
] as const;

describe('etcd revisions are raftkv revisions + 1', () => {
  it('maps store revisions both ways: the empty store is raftkv 0, etcd 1', () => {
    expect(etcdRevisionOffset).toBe(1);
    expect(toEtcdRevision(0)).toBe(1);
    expect(toEtcdRevision(1)).toBe(2);
    expect(fromEtcdRevision(1)).toBe(0);
    expect(fromEtcdRevision(2)).toBe(1);
    expect(() => fromEtcdRevision(0)).toThrow(RangeError);
    expect(() => toEtcdRevision(-1)).toThrow(RangeError);
  });

  it('keeps 0 ("no such key") as 0 in a key\'s revisions', () => {
    expect(toEtcdKeyRevision(0)).toBe(0);
    expect(toEtcdKeyRevision(1)).toBe(2);
  });

  it('starts a watch at etcd 1 or 2 from raftkv\'s first write; 0 stays "from now"', () => {
    expect(fromEtcdStartRevision(0)).toBe(0);
    expect(fromEtcdStartRevision(1)).toBe(1);
    expect(fromEtcdStartRevision(2)).toBe(1);
    expect(fromEtcdStartRevision(7)).toBe(6);
  });

  it('CREATE = 0 still means the key does not exist', () => {
    expect(raftkvCompares({ key: b('k'), target: EtcdCompareTarget.CREATE, result: EtcdCompareResult.EQUAL, createRevision: 0 }, 0)).toEqual([
      { key: b('k'), target: CompareTarget.CREATE, result: CompareResult.EQUAL, createRevision: 0 },
    ]);
    expect(raftkvCompares({ key: b('k'), target: EtcdCompareTarget.MOD, result: EtcdCompareResult.LESS, modRevision: 8 }, 0)).toEqual([
      { key: b('k'), target: CompareTarget.MOD, result: CompareResult.LESS, modRevision: 7 },
    ]);
  });

  it('evaluates every compare on a missing key and on existing keys as etcd does, at etcd values 0 to 4', () => {
    // raftkv key revisions 0 (missing) to 3, and the same keys as etcd sees them.
    for (const raftkvActual of [0, 1, 2, 3]) {
      const etcdActual = toEtcdKeyRevision(raftkvActual);
      for (const etcdValue of [0, 1, 2, 3, 4]) {
        for (const [etcdResult, result] of etcdResults) {
          const etcdSays = holds(result, etcdActual, etcdValue);
          const raftkvSays = raftkvRevisionCompares(result, etcdValue).every((c) => holds(c.result, raftkvActual, c.value));
          expect({ raftkvActual, etcdValue, etcdResult, holds: raftkvSays }).toEqual({ raftkvActual, etcdValue, etcdResult, holds: etcdSays });
        }
      }
    }
  });

  it('election: max_create_revision = (the first write\'s etcd revision - 1) excludes that write', () => {
    // etcd3's campaign: its key is the first write (raftkv 1, etcd 2); it asks for the keys
    // created at or before etcd 1, the empty store: there are none.
    const mine = { key: b('e/1'), value: b('alice'), modRevision: 1, createRevision: 1, version: 1 };
    const { finish } = raftkvRange({ key: b('e/'), rangeEnd: b('e0'), maxCreateRevision: toEtcdRevision(1) - 1 });
    expect(finishRange({ kvs: [mine], more: false, count: 1 }, finish).kvs).toEqual([]);
    const all = raftkvRange({ key: b('e/'), rangeEnd: b('e0'), maxCreateRevision: toEtcdRevision(1) });
    expect(finishRange({ kvs: [mine], more: false, count: 1 }, all.finish).kvs.map((k) => k.createRevision)).toEqual([2]);
  });
});
