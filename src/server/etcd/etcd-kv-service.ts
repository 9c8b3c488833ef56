/**
 * `etcdserverpb.KV` on raftkv: each call becomes a raftkv.v1.KV call (etcd-call.ts), so it takes
 * raftkv's read path (linearizable, or STALE for `serializable`), write path (Raft, write
 * forwarding from a follower), validation and permission checks. What etcd has and raftkv.v1
 * does not is built here from raftkv's operations (etcd-range.ts, etcd-txn.ts).
 *
 * Leases: a Put or Txn attaching a lease runs on the leader (a follower passes the etcd call on,
 * etcd-leader-proxy.ts), since raftkv.v1's forwarded wire does not carry leases yet.
 *
 * Revisions: raftkv keeps no MVCC history, so a Range at an older revision than the one it read
 * is "compacted", a newer one "future" (etcd's errors), and Compact has nothing to do.
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type * as M from '../../api/index.js';
import { CompareResult, CompareTarget, toNumber } from '../../api/index.js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { etcdKvService } from '../../api/etcd/index.js';
import { etcdUnary, raftkvCall } from './etcd-call.js';
import type { EtcdCallContext, EtcdHandler } from './etcd-call.js';
import { etcdHeader, etcdHeaderOf } from './etcd-deps.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { etcdErrors } from './etcd-errors.js';
import { int } from './etcd-ids.js';
import { ignoreValueAttemptsMax } from './etcd-kv-limits.js';
import { toEtcdRevision } from './etcd-revision.js';
import { etcdKv, finishRange, raftkvRange } from './etcd-range.js';
import { checkPut, etcdTxnResponse, raftkvTxn, txnAttachesLeases } from './etcd-txn.js';
import type { EtcdLeaderProxy } from './etcd-leader-proxy.js';

const empty = new Uint8Array(0);

/**
 * Refuses etcd revision `requested` (0: the current one) if raftkv cannot read at it: older than
 * raftkv revision `current` is compacted, newer is future (etcd 1 is the store before any write).
 */
export function requireCurrentRevision(requested: number, current: number): void {
  const currentEtcd = toEtcdRevision(current);
  if (requested <= 0 || requested === currentEtcd) return;
  throw requested < currentEtcd ? etcdErrors.compacted() : etcdErrors.futureRev();
}

/** Builds the `etcdserverpb.KV` implementation. */
export function etcdKvImplementation(deps: EtcdServiceDeps, proxy: EtcdLeaderProxy): UntypedServiceImplementation {
  const kv = deps.raftkvKv;
  const call = <Res>(method: string, request: unknown, c: EtcdCallContext, deadlineMs: number, noForward = false): Promise<Res> => raftkvCall<Res>(kv, method, request, c, deadlineMs, { noForward });

  const range: EtcdHandler = async (req, deadlineMs, c) => {
    const { request, finish } = raftkvRange(req);
    if (request.key.length === 0 && request.rangeEnd === undefined) throw etcdErrors.emptyKey();
    const res = await call<M.RangeResponseMsg>('Range', request, c, deadlineMs);
    requireCurrentRevision(int(req.revision, 'revision'), toNumber(res.header.revision));
    return { header: etcdHeaderOf(deps, res.header), ...finishRange(res, finish) };
  };

  const put: EtcdHandler = async (req, deadlineMs, c) => {
    checkPut(req);
    const key = req.key as Uint8Array;
    const prevKv = req.prevKv === true;
    const lease = int(req.lease, 'lease');
    const keep = { value: req.ignoreValue === true, lease: req.ignoreLease === true };
    // A lease travels only in-process: such a put runs on the leader (a follower passes the etcd call on).
    const leased = lease !== 0 || keep.lease;
    const run: EtcdHandler = async (_req, d, cc) => {
      if (keep.value || keep.lease) return putKeeping(key, (req.value as Uint8Array | undefined) ?? empty, lease, keep, prevKv, d, cc, leased);
      const res = await call<M.PutResponseMsg>('Put', { key, value: (req.value as Uint8Array | undefined) ?? empty, prevKv, ...(lease !== 0 ? { lease } : {}) }, cc, d, leased);
      return putAnswer(res.header, res);
    };
    return leased ? proxy.onLeader(etcdKvService.Put, run)(req, deadlineMs, c) : run(req, deadlineMs, c);
  };

  /**
   * Put{ignore_value} and Put{ignore_lease}: the key must exist; its current value (or lease) is
   * written back, if the key did not change in between (a compare on its mod revision).
   */
  const putKeeping = async (key: Uint8Array, value: Uint8Array, lease: number, keep: { value: boolean; lease: boolean }, prevKv: boolean, deadlineMs: number, c: EtcdCallContext, noForward: boolean): Promise<EtcdMsg> => {
    for (let attempt = 0; attempt < ignoreValueAttemptsMax; attempt++) {
      const now = await call<M.RangeResponseMsg>('Range', { key }, c, deadlineMs);
      const current = now.kvs[0];
      if (current === undefined) throw etcdErrors.keyNotFound();
      const unchanged: M.CompareMsg = { key, target: CompareTarget.MOD, result: CompareResult.EQUAL, modRevision: toNumber(current.modRevision) };
      const leaseNow = keep.lease ? (current.lease ?? 0) : lease;
      const write: M.PutRequestMsg = { key, value: keep.value ? current.value : value, prevKv, ...(leaseNow !== 0 ? { lease: leaseNow } : {}) };
      const res = await call<M.TxnResponseMsg>('Txn', { compare: [unchanged], success: [{ requestPut: write }], failure: [] }, c, deadlineMs, noForward);
      if (res.succeeded) return putAnswer(res.header, res.responses[0]?.responsePut ?? null);
    }
    throw etcdErrors.tooManyRequests();
  };

  const putAnswer = (header: M.ResponseHeaderMsg, res: Pick<M.PutResponseMsg, 'prevKv'> | null): EtcdMsg => ({
    header: etcdHeaderOf(deps, header),
    ...(res?.prevKv ? { prevKv: etcdKv(res.prevKv) } : {}),
  });

  const deleteRange: EtcdHandler = async (req, deadlineMs, c) => {
    const key = (req.key as Uint8Array | undefined) ?? empty;
    const rangeEnd = (req.rangeEnd as Uint8Array | undefined) ?? empty;
    if (key.length === 0 && rangeEnd.length === 0) throw etcdErrors.emptyKey();
    const res = await call<M.DeleteResponseMsg>('Delete', { key, ...(rangeEnd.length > 0 ? { rangeEnd } : {}), prevKv: req.prevKv === true }, c, deadlineMs);
    return { header: etcdHeaderOf(deps, res.header), deleted: toNumber(res.deleted), prevKvs: res.prevKvs.map(etcdKv) };
  };

  const txn: EtcdHandler = async (req, deadlineMs, c) => {
    const { request, finishes } = raftkvTxn(req, deps.driver.kv.limits.txnOpsMax);
    const leased = txnAttachesLeases(req);
    const run: EtcdHandler = async (_req, d, cc) => {
      const res = await call<M.TxnResponseMsg>('Txn', request, cc, d, leased);
      return etcdTxnResponse(res, finishes, etcdHeaderOf(deps, res.header));
    };
    return leased ? proxy.onLeader(etcdKvService.Txn, run)(req, deadlineMs, c) : run(req, deadlineMs, c);
  };

  // Nothing to compact (no MVCC history); a revision that does not exist yet is refused as etcd does.
  const compact: EtcdHandler = async (req) => {
    const revision = int(req.revision, 'revision');
    if (revision > toEtcdRevision(deps.driver.kv.revision)) throw etcdErrors.futureRev();
    return { header: etcdHeader(deps) };
  };

  return {
    Range: etcdUnary('Range', false, range, deps),
    Put: etcdUnary('Put', true, put, deps),
    DeleteRange: etcdUnary('DeleteRange', true, deleteRange, deps),
    Txn: etcdUnary('Txn', true, txn, deps),
    Compact: etcdUnary('Compact', false, compact, deps),
  };
}

