/**
 * etcd's Txn as a raftkv.v1 Txn: the compares and operations map one to one where raftkv has the
 * same thing, and otherwise to an equivalent:
 *
 * - etcd's VALUE compare on a missing key is always false (raftkv's `!=` is true there), so
 *   NOT_EQUAL on VALUE also requires the key to exist (`version > 0`);
 * - a LEASE compare, a compare with range_end, a nested txn, and a Put with ignore_value or
 *   ignore_lease inside a txn have no raftkv equivalent and answer UNIMPLEMENTED (raftkv's txn is
 *   flat and compares single keys on value, version and revisions);
 * - a Put with a lease carries it (raftkv attaches keys to leases); such a txn must run on the
 *   leader (etcd-kv-service.ts).
 *
 * etcd's own checks come first, with etcd's messages: too many operations (raftkv's
 * `txnOpsMax`, which counts compares and both branches together) and a key put twice, or put and
 * deleted, in one branch.
 */
import type * as M from '../../api/index.js';
import { CompareResult, CompareTarget } from '../../api/index.js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { compareBytes } from '../../kv/index.js';
import { InvalidArgumentError } from '../../util/index.js';
import { etcdErrors, etcdUnimplemented } from './etcd-errors.js';
import { int } from './etcd-ids.js';
import { etcdKv as etcdKvOf, finishRange, raftkvRange } from './etcd-range.js';
import type { RangeFinish } from './etcd-range.js';

/** etcd's `Compare.CompareResult` and `CompareTarget`, as numbered in rpc.proto. */
export const EtcdCompareResult = { EQUAL: 0, GREATER: 1, LESS: 2, NOT_EQUAL: 3 } as const;
export const EtcdCompareTarget = { VERSION: 0, CREATE: 1, MOD: 2, VALUE: 3, LEASE: 4 } as const;

const empty = new Uint8Array(0);
/** A range answered as raftkv gave it. */
const noFinish: RangeFinish = { sortOrder: 0, sortTarget: 0, limit: 0, minMod: 0, maxMod: 0, minCreate: 0, maxCreate: 0, needsAll: false, stripValues: false };
const resultMap: Record<number, number> = {
  [EtcdCompareResult.EQUAL]: CompareResult.EQUAL,
  [EtcdCompareResult.GREATER]: CompareResult.GREATER,
  [EtcdCompareResult.LESS]: CompareResult.LESS,
  [EtcdCompareResult.NOT_EQUAL]: CompareResult.NOT_EQUAL,
};

/** The raftkv compares equivalent to etcd compare `c` (all must hold). */
export function raftkvCompares(c: EtcdMsg, i: number): M.CompareMsg[] {
  const key = (c.key as Uint8Array | undefined) ?? empty;
  const result = Number(c.result ?? 0);
  const target = Number(c.target ?? 0);
  const mapped = resultMap[result];
  if (mapped === undefined) throw new InvalidArgumentError(`compare[${i}].result`, `unknown value ${result}`);
  if (key.length === 0) throw etcdErrors.emptyKey();
  if (((c.rangeEnd as Uint8Array | undefined) ?? empty).length > 0) throw etcdUnimplemented(`compare[${i}] has range_end: raftkv compares single keys only`);
  switch (target) {
    case EtcdCompareTarget.VERSION:
      return [{ key, target: CompareTarget.VERSION, result: mapped, version: int(c.version, `compare[${i}].version`) }];
    case EtcdCompareTarget.CREATE:
      return [{ key, target: CompareTarget.CREATE, result: mapped, createRevision: int(c.createRevision, `compare[${i}].create_revision`) }];
    case EtcdCompareTarget.MOD:
      return [{ key, target: CompareTarget.MOD, result: mapped, modRevision: int(c.modRevision, `compare[${i}].mod_revision`) }];
    case EtcdCompareTarget.VALUE: {
      const compare: M.CompareMsg = { key, target: CompareTarget.VALUE, result: mapped, value: (c.value as Uint8Array | undefined) ?? empty };
      return result === EtcdCompareResult.NOT_EQUAL ? [compare, { key, target: CompareTarget.VERSION, result: CompareResult.GREATER, version: 0 }] : [compare];
    }
    case EtcdCompareTarget.LEASE:
      throw etcdUnimplemented(`compare[${i}] on LEASE: raftkv's txn compares value, version and revisions only`);
    default:
      throw new InvalidArgumentError(`compare[${i}].target`, `unknown value ${target}`);
  }
}

/** One etcd RequestOp as a raftkv one, with what to finish on its answer. */
interface TranslatedOp {
  readonly op: M.RequestOpMsg;
  readonly finish: RangeFinish | null;
}

/** A Put's checks shared by Put and Txn: etcd's errors for what raftkv cannot do. */
export function checkPut(put: EtcdMsg): void {
  if (((put.key as Uint8Array | undefined) ?? empty).length === 0) throw etcdErrors.emptyKey();
  if (put.ignoreValue === true && ((put.value as Uint8Array | undefined) ?? empty).length > 0) throw etcdErrors.valueProvided();
  if (put.ignoreLease === true && int(put.lease, 'lease') !== 0) throw etcdErrors.leaseProvided();
}

/** Whether any Put of txn `req` (either branch) attaches a lease. */
export function txnAttachesLeases(req: EtcdMsg): boolean {
  const ops = [...((req.success as EtcdMsg[] | undefined) ?? []), ...((req.failure as EtcdMsg[] | undefined) ?? [])];
  return ops.some((r) => r.requestPut !== undefined && r.requestPut !== null && int((r.requestPut as EtcdMsg).lease, 'lease') !== 0);
}

function translateOp(r: EtcdMsg, where: string): TranslatedOp {
  if (r.requestRange) {
    const { request, finish } = raftkvRange(r.requestRange as EtcdMsg, false);
    if (((request.key as Uint8Array | undefined) ?? empty).length === 0 && request.rangeEnd === undefined) throw etcdErrors.emptyKey();
    return { op: { requestRange: request }, finish };
  }
  if (r.requestPut) {
    const put = r.requestPut as EtcdMsg;
    checkPut(put);
    if (put.ignoreValue === true || put.ignoreLease === true) throw etcdUnimplemented(`${where}: ignore_value and ignore_lease are not supported inside a txn`);
    const lease = int(put.lease, `${where}.lease`);
    return { op: { requestPut: { key: put.key as Uint8Array, value: (put.value as Uint8Array | undefined) ?? empty, prevKv: put.prevKv === true, ...(lease !== 0 ? { lease } : {}) } }, finish: null };
  }
  if (r.requestDeleteRange) {
    const del = r.requestDeleteRange as EtcdMsg;
    const key = (del.key as Uint8Array | undefined) ?? empty;
    const rangeEnd = (del.rangeEnd as Uint8Array | undefined) ?? empty;
    if (key.length === 0 && rangeEnd.length === 0) throw etcdErrors.emptyKey();
    return { op: { requestDelete: { key, ...(rangeEnd.length > 0 ? { rangeEnd } : {}), prevKv: del.prevKv === true } }, finish: null };
  }
  if (r.requestTxn) throw etcdUnimplemented(`${where}: nested txns are not supported (raftkv's txn is flat)`);
  throw new InvalidArgumentError(where, 'has no operation set');
}

/** Throws etcd's duplicate-key error if a branch puts a key twice, or puts a key it also deletes. */
function checkDuplicates(ops: readonly M.RequestOpMsg[]): void {
  const puts: Uint8Array[] = [];
  for (const op of ops) {
    if (!op.requestPut) continue;
    const key = op.requestPut.key;
    if (puts.some((k) => compareBytes(k, key) === 0)) throw etcdErrors.duplicateKey();
    puts.push(key);
  }
  for (const op of ops) {
    if (!op.requestDelete) continue;
    const lo = op.requestDelete.key;
    const end = op.requestDelete.rangeEnd;
    const covers = (k: Uint8Array): boolean =>
      end === undefined ? compareBytes(k, lo) === 0 : compareBytes(k, lo) >= 0 && ((end.length === 1 && end[0] === 0) || compareBytes(k, end) < 0);
    if (puts.some(covers)) throw etcdErrors.duplicateKey();
  }
}

/** The raftkv TxnRequest for etcd TxnRequest `req`, and the finish of each Range, by branch. */
export function raftkvTxn(req: EtcdMsg, txnOpsMax: number): { request: M.TxnRequestMsg; finishes: { success: (RangeFinish | null)[]; failure: (RangeFinish | null)[] } } {
  const compares = ((req.compare as EtcdMsg[] | undefined) ?? []).flatMap((c, i) => raftkvCompares(c, i));
  const success = ((req.success as EtcdMsg[] | undefined) ?? []).map((r, i) => translateOp(r, `success[${i}]`));
  const failure = ((req.failure as EtcdMsg[] | undefined) ?? []).map((r, i) => translateOp(r, `failure[${i}]`));
  if (compares.length + success.length + failure.length > txnOpsMax) throw etcdErrors.tooManyOps();
  checkDuplicates(success.map((t) => t.op));
  checkDuplicates(failure.map((t) => t.op));
  return {
    request: { compare: compares, success: success.map((t) => t.op), failure: failure.map((t) => t.op) },
    finishes: { success: success.map((t) => t.finish), failure: failure.map((t) => t.finish) },
  };
}

/** etcd's ResponseOp for raftkv's, with `header` on each (as etcd does). */
export function etcdResponseOp(r: M.ResponseOpMsg, finish: RangeFinish | null, header: EtcdMsg): EtcdMsg {
  if (r.responseRange) {
    return { responseRange: { header, ...finishRange(r.responseRange, finish ?? noFinish) } };
  }
  if (r.responsePut) return { responsePut: { header, ...(r.responsePut.prevKv ? { prevKv: etcdKvOf(r.responsePut.prevKv) } : {}) } };
  if (r.responseDelete) return { responseDeleteRange: { header, deleted: Number(r.responseDelete.deleted), prevKvs: r.responseDelete.prevKvs.map(etcdKvOf) } };
  return {};
}
