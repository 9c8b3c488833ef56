/**
 * etcd's revisions are raftkv's plus one, everywhere the etcd API shows or takes a revision.
 *
 * Why: an empty etcd store is at revision 1, so etcd's first write is revision 2; raftkv's
 * empty store is at revision 0 and its first write is revision 1. etcd clients rely on that:
 * etcd3's `Election.campaign` ranges over the keys created before its own with
 * `max_create_revision = its revision - 1`, and 0 there means "no filter", so with raftkv's own
 * numbers the first campaigner saw its own key and waited on it forever.
 *
 * In a KeyValue and in compares, 0 is not a revision but "none" (a missing key, a deleted key's
 * create revision): it stays 0. raftkv.v1 keeps raftkv's own numbers.
 */
import { CompareResult } from '../../api/index.js';

/** etcd revision = raftkv revision + this (etcd's empty store is at revision 1, raftkv's at 0). */
export const etcdRevisionOffset = 1;

/** The etcd revision of raftkv store revision `raftkv` (a header's, a compaction's: 0 is the empty store). */
export function toEtcdRevision(raftkv: number): number {
  if (!Number.isSafeInteger(raftkv) || raftkv < 0) throw new RangeError(`raftkv revision must be a safe integer >= 0, got ${raftkv}`);
  return raftkv + etcdRevisionOffset;
}

/** The etcd create/mod revision of a key's raftkv one: 0 ("no such key") stays 0. */
export function toEtcdKeyRevision(raftkv: number): number {
  return raftkv === 0 ? 0 : toEtcdRevision(raftkv);
}

/** The raftkv store revision of etcd revision `etcd` (>= 1; etcd 1 is the empty store, raftkv 0). */
export function fromEtcdRevision(etcd: number): number {
  if (!Number.isSafeInteger(etcd) || etcd < etcdRevisionOffset) throw new RangeError(`etcd revision must be a safe integer >= ${etcdRevisionOffset}, got ${etcd}`);
  return etcd - etcdRevisionOffset;
}

/**
 * The raftkv watch start revision for etcd `start_revision` (0: from now, stays 0). etcd
 * revisions 1 (the empty store) and 2 (the first write) both start at raftkv's first write.
 */
export function fromEtcdStartRevision(etcd: number): number {
  return etcd === 0 ? 0 : Math.max(1, fromEtcdRevision(etcd));
}

/** A raftkv compare on a create or mod revision: `result` of the key's revision against `value`. */
export interface RevisionCompare {
  readonly result: number;
  readonly value: number;
}

/**
 * The raftkv compares (all must hold; none: always true) equivalent to the etcd compare of a
 * key's create or mod revision against etcd revision `etcd`. 0 ("missing key") stays 0, so
 * `CREATE = 0` still means the key does not exist. etcd 1 (the empty store) is below every
 * existing key's revision and above a missing key's 0, a value raftkv has no integer for, so its
 * compares are rewritten: `= 1` never holds, `!= 1` always does, `< 1` is "missing", `> 1` "exists".
 */
export function raftkvRevisionCompares(result: number, etcd: number): RevisionCompare[] {
  if (etcd === 0) return [{ result, value: 0 }];
  const raftkv = fromEtcdRevision(etcd);
  if (raftkv > 0) return [{ result, value: raftkv }];
  switch (result) {
    case CompareResult.EQUAL:
      return [{ result: CompareResult.LESS, value: 0 }];
    case CompareResult.NOT_EQUAL:
      return [];
    case CompareResult.LESS:
      return [{ result: CompareResult.EQUAL, value: 0 }];
    case CompareResult.GREATER:
      return [{ result: CompareResult.GREATER, value: 0 }];
    default:
      throw new RangeError(`unknown raftkv compare result ${result}`);
  }
}
