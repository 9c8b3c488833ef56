/**
 * etcd's Txn as a raftkv.v1 Txn: the compares and operations map one to one where raftkv has the
 * same thing, and otherwise to an equivalent:
 *
 * - etcd's VALUE compare on a missing key (or on a range holding no key) is always false
 *   (raftkv's `!=` is true there), so NOT_EQUAL on VALUE also requires `version > 0` over the same
 *   key or range. With that, etcd's `applyCompare` and raftkv's rule agree everywhere: over a
 *   range, the compare must hold for every live key, and a range with no key is judged as one
 *   missing key (etcd: a zero KeyValue, so `version = 0`, `create = 0`, `lease = 0` hold there);
 *   a range end "\0" means every key >= key in both;
 * - LEASE compares the key's lease id (0 for a key without a lease or a missing key), as etcd;
 * - a nested txn (RequestOp.request_txn) becomes a raftkv.v1 nested txn: the state machine judges
 *   every compare of the tree on one view before any operation runs (etcd's `compareToPath`);
 * - a Put with ignore_value or ignore_lease keeps the key's value or lease where it applies (the
 *   state machine's PutOp does it); a missing key refuses the whole txn with "key not found", as
 *   etcd's `checkRequestPut` does;
 * - a Put with a lease carries it (raftkv attaches keys to leases); such a txn must run on the
 *   leader (etcd-kv-service.ts).
 *
 * etcd's own checks come first, with etcd's messages: too many operations (raftkv's `txnOpsMax`,
 * which counts the compares and the operations of both branches, at every level, together; a
 * nested txn counts as one operation besides its own) and etcd's `checkIntervals` rule on each
 * branch, nested txns included (a key put twice, or put and deleted).
 */
import type * as M from '../../api/index.js';
import { CompareResult, CompareTarget } from '../../api/index.js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { compareBytes, txnNestingDepthMax } from '../../kv/index.js';
import { InvalidArgumentError } from '../../util/index.js';
import { etcdErrors } from './etcd-errors.js';
import { int } from './etcd-ids.js';
import { etcdKv as etcdKvOf, finishRange, raftkvRange } from './etcd-range.js';
import { raftkvRevisionCompares } from './etcd-revision.js';
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

/** The raftkv compares equivalent to etcd compare `c` (all must hold); `where` names it in errors. */
export function raftkvCompares(c: EtcdMsg, where: string | number): M.CompareMsg[] {
  const at = typeof where === 'number' ? `compare[${where}]` : where;
  const key = (c.key as Uint8Array | undefined) ?? empty;
  const result = Number(c.result ?? 0);
  const target = Number(c.target ?? 0);
  const mapped = resultMap[result];
  if (mapped === undefined) throw new InvalidArgumentError(`${at}.result`, `unknown value ${result}`);
  if (key.length === 0) throw etcdErrors.emptyKey();
  // raftkv.v1 shares etcd's range_end convention ("\0": every key >= key; empty: the key alone).
  const rangeEnd = (c.rangeEnd as Uint8Array | undefined) ?? empty;
  const span = rangeEnd.length > 0 ? { rangeEnd } : {};
  switch (target) {
    case EtcdCompareTarget.VERSION:
      return [{ key, ...span, target: CompareTarget.VERSION, result: mapped, version: int(c.version, `${at}.version`) }];
    case EtcdCompareTarget.CREATE:
      return raftkvRevisionCompares(mapped, int(c.createRevision, `${at}.create_revision`)).map((r) => ({ key, ...span, target: CompareTarget.CREATE, result: r.result, createRevision: r.value }));
    case EtcdCompareTarget.MOD:
      return raftkvRevisionCompares(mapped, int(c.modRevision, `${at}.mod_revision`)).map((r) => ({ key, ...span, target: CompareTarget.MOD, result: r.result, modRevision: r.value }));
    case EtcdCompareTarget.LEASE:
      return [{ key, ...span, target: CompareTarget.LEASE, result: mapped, lease: int(c.lease, `${at}.lease`) }];
    case EtcdCompareTarget.VALUE: {
      const compare: M.CompareMsg = { key, ...span, target: CompareTarget.VALUE, result: mapped, value: (c.value as Uint8Array | undefined) ?? empty };
      return result === EtcdCompareResult.NOT_EQUAL ? [compare, { key, ...span, target: CompareTarget.VERSION, result: CompareResult.GREATER, version: 0 }] : [compare];
    }
    default:
      throw new InvalidArgumentError(`${at}.target`, `unknown value ${target}`);
  }
}

/** What to finish on the answer to one operation: a Range's etcd-only options, a nested txn's, or nothing. */
export type OpFinish = { readonly range: RangeFinish } | { readonly txn: TxnFinish } | null;

/** What to finish on the answers of each branch of a txn. */
export interface TxnFinish {
  readonly success: readonly OpFinish[];
  readonly failure: readonly OpFinish[];
}

/** One etcd RequestOp as a raftkv one, with what to finish on its answer. */
interface TranslatedOp {
  readonly op: M.RequestOpMsg;
  readonly finish: OpFinish;
}

/**
 * An etcd PutRequest as a raftkv.v1 one, shared by Put and Txn, after etcd's checks (with etcd's
 * errors); `leaseField` names the lease field in an error.
 */
export function raftkvPut(put: EtcdMsg, leaseField = 'lease'): M.PutRequestMsg {
  if (((put.key as Uint8Array | undefined) ?? empty).length === 0) throw etcdErrors.emptyKey();
  const value = (put.value as Uint8Array | undefined) ?? empty;
  const lease = int(put.lease, leaseField);
  if (put.ignoreValue === true && value.length > 0) throw etcdErrors.valueProvided();
  if (put.ignoreLease === true && lease !== 0) throw etcdErrors.leaseProvided();
  return {
    key: put.key as Uint8Array,
    value,
    prevKv: put.prevKv === true,
    ...(lease !== 0 ? { lease } : {}),
    ...(put.ignoreValue === true ? { ignoreValue: true } : {}),
    ...(put.ignoreLease === true ? { ignoreLease: true } : {}),
  };
}

/** The operations of both branches of etcd txn `req`. */
function branchOps(req: EtcdMsg): EtcdMsg[] {
  return [...((req.success as EtcdMsg[] | undefined) ?? []), ...((req.failure as EtcdMsg[] | undefined) ?? [])];
}

/** Whether any Put of txn `req` (either branch, nested txns included) attaches a lease. */
export function txnAttachesLeases(req: EtcdMsg): boolean {
  return branchOps(req).some((r) => {
    if (r.requestTxn) return txnAttachesLeases(r.requestTxn as EtcdMsg);
    return r.requestPut !== undefined && r.requestPut !== null && int((r.requestPut as EtcdMsg).lease, 'lease') !== 0;
  });
}

/** Running count of compares and operations over a whole txn tree, against `txnOpsMax`. */
interface OpsBudget {
  used: number;
  readonly max: number;
}

function spend(budget: OpsBudget, n: number): void {
  budget.used += n;
  if (budget.used > budget.max) throw etcdErrors.tooManyOps();
}

function translateOp(r: EtcdMsg, where: string, depth: number, budget: OpsBudget): TranslatedOp {
  if (r.requestRange) {
    const { request, finish } = raftkvRange(r.requestRange as EtcdMsg, false);
    if (((request.key as Uint8Array | undefined) ?? empty).length === 0 && request.rangeEnd === undefined) throw etcdErrors.emptyKey();
    return { op: { requestRange: request }, finish: { range: finish } };
  }
  if (r.requestPut) {
    return { op: { requestPut: raftkvPut(r.requestPut as EtcdMsg, `${where}.lease`) }, finish: null };
  }
  if (r.requestDeleteRange) {
    const del = r.requestDeleteRange as EtcdMsg;
    const key = (del.key as Uint8Array | undefined) ?? empty;
    const rangeEnd = (del.rangeEnd as Uint8Array | undefined) ?? empty;
    if (key.length === 0 && rangeEnd.length === 0) throw etcdErrors.emptyKey();
    return { op: { requestDelete: { key, ...(rangeEnd.length > 0 ? { rangeEnd } : {}), prevKv: del.prevKv === true } }, finish: null };
  }
  if (r.requestTxn) {
    if (depth >= txnNestingDepthMax) throw new InvalidArgumentError(`${where}.request_txn`, `txns nest more than txnNestingDepthMax (${txnNestingDepthMax}) deep`);
    const { request, finish } = translateTxn(r.requestTxn as EtcdMsg, `${where}.request_txn`, depth + 1, budget);
    return { op: { requestTxn: request }, finish: { txn: finish } };
  }
  // etcd answers an empty RequestOp with "key not found" (checkRequestOp); raftkv names the field.
  throw new InvalidArgumentError(where, 'has no operation set');
}

/** Translates a txn at nesting depth `depth` (0: the request itself). */
function translateTxn(req: EtcdMsg, at: string, depth: number, budget: OpsBudget): { request: M.TxnRequestMsg; finish: TxnFinish } {
  const etcdCompares = (req.compare as EtcdMsg[] | undefined) ?? [];
  const etcdSuccess = (req.success as EtcdMsg[] | undefined) ?? [];
  const etcdFailure = (req.failure as EtcdMsg[] | undefined) ?? [];
  // Counted before the parts are translated, so a huge tree is refused before it is walked.
  spend(budget, etcdCompares.length + etcdSuccess.length + etcdFailure.length);
  const prefix = at === '' ? '' : `${at}.`;
  const compare = etcdCompares.flatMap((c, i) => raftkvCompares(c, `${prefix}compare[${i}]`));
  const success = etcdSuccess.map((r, i) => translateOp(r, `${prefix}success[${i}]`, depth, budget));
  const failure = etcdFailure.map((r, i) => translateOp(r, `${prefix}failure[${i}]`, depth, budget));
  return {
    request: { compare, success: success.map((t) => t.op), failure: failure.map((t) => t.op) },
    finish: { success: success.map((t) => t.finish), failure: failure.map((t) => t.finish) },
  };
}

/** A delete's keys: `[key, end)`, or the key alone when `end` is absent; an end of "\0" or empty has no upper bound. */
interface DeleteSpan {
  readonly key: Uint8Array;
  readonly end: Uint8Array | undefined;
}

function spanCovers(span: DeleteSpan, k: Uint8Array): boolean {
  if (span.end === undefined) return compareBytes(k, span.key) === 0;
  const unbounded = span.end.length === 0 || (span.end.length === 1 && span.end[0] === 0);
  return compareBytes(k, span.key) >= 0 && (unbounded || compareBytes(k, span.end) < 0);
}

/** The keys a branch puts and the spans it deletes, nested txns included. */
interface BranchWrites {
  readonly puts: Map<string, Uint8Array>;
  readonly dels: DeleteSpan[];
}

const keyString = (k: Uint8Array): string => Buffer.from(k).toString('latin1');

/**
 * etcd's `checkIntervals` over one branch (recursively): throws etcd's duplicate-key error if a
 * key is put twice, or put and deleted, where both could run in one txn. This level's deletes
 * come first; each nested txn's branches are checked on their own, then a key its success branch
 * puts may not be put by an earlier nested txn nor deleted at this level or by an earlier nested
 * txn; a key its failure branch puts likewise, except that the same nested txn's success branch
 * may put it too (only one of them runs); last, this level's puts may not repeat any key put or
 * fall in any span deleted so far.
 */
function checkIntervals(ops: readonly M.RequestOpMsg[]): BranchWrites {
  const dels: DeleteSpan[] = [];
  for (const op of ops) if (op.requestDelete) dels.push({ key: op.requestDelete.key, end: op.requestDelete.rangeEnd });
  const puts = new Map<string, Uint8Array>();
  const deleted = (k: Uint8Array): boolean => dels.some((d) => spanCovers(d, k));
  for (const op of ops) {
    if (!op.requestTxn) continue;
    const then = checkIntervals(op.requestTxn.success);
    const otherwise = checkIntervals(op.requestTxn.failure);
    for (const [s, k] of then.puts) {
      if (puts.has(s) || deleted(k)) throw etcdErrors.duplicateKey();
      puts.set(s, k);
    }
    for (const [s, k] of otherwise.puts) {
      if ((puts.has(s) && !then.puts.has(s)) || deleted(k)) throw etcdErrors.duplicateKey();
      puts.set(s, k);
    }
    dels.push(...then.dels, ...otherwise.dels);
  }
  for (const op of ops) {
    if (!op.requestPut) continue;
    const k = op.requestPut.key;
    const s = keyString(k);
    if (puts.has(s) || deleted(k)) throw etcdErrors.duplicateKey();
    puts.set(s, k);
  }
  return { puts, dels };
}

/** The raftkv TxnRequest for etcd TxnRequest `req`, and what to finish on the answers, by branch. */
export function raftkvTxn(req: EtcdMsg, txnOpsMax: number): { request: M.TxnRequestMsg; finishes: TxnFinish } {
  const { request, finish } = translateTxn(req, '', 0, { used: 0, max: txnOpsMax });
  checkIntervals(request.success);
  checkIntervals(request.failure);
  return { request, finishes: finish };
}

/** etcd's ResponseOp for raftkv's, with `header` on each (as etcd does), nested txns included. */
export function etcdResponseOp(r: M.ResponseOpMsg, finish: OpFinish, header: EtcdMsg): EtcdMsg {
  if (r.responseRange) {
    return { responseRange: { header, ...finishRange(r.responseRange, finish !== null && 'range' in finish ? finish.range : noFinish) } };
  }
  if (r.responsePut) return { responsePut: { header, ...(r.responsePut.prevKv ? { prevKv: etcdKvOf(r.responsePut.prevKv) } : {}) } };
  if (r.responseDelete) return { responseDeleteRange: { header, deleted: Number(r.responseDelete.deleted), prevKvs: r.responseDelete.prevKvs.map(etcdKvOf) } };
  if (r.responseTxn) {
    const inner = finish !== null && 'txn' in finish ? finish.txn : { success: [], failure: [] };
    return { responseTxn: etcdTxnResponse(r.responseTxn, inner, header) };
  }
  return {};
}

/** etcd's TxnResponse for raftkv's answer to a txn translated with `finish`. */
export function etcdTxnResponse(res: Pick<M.TxnResponseMsg, 'succeeded' | 'responses'>, finish: TxnFinish, header: EtcdMsg): EtcdMsg {
  const branch = res.succeeded ? finish.success : finish.failure;
  return { header, succeeded: res.succeeded, responses: res.responses.map((r, i) => etcdResponseOp(r, branch[i] ?? null, header)) };
}
