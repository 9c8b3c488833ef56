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
import { toNumber } from '../../api/index.js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { etcdKvService } from '../../api/etcd/index.js';
import { etcdUnary, raftkvCall } from './etcd-call.js';
import type { EtcdCallContext, EtcdHandler } from './etcd-call.js';
import { etcdHeader, etcdHeaderOf } from './etcd-deps.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { etcdErrors } from './etcd-errors.js';
import { int } from './etcd-ids.js';
import { toEtcdRevision } from './etcd-revision.js';
import { etcdKv, finishRange, raftkvRange } from './etcd-range.js';
import { etcdTxnResponse, raftkvPut, raftkvTxn, txnAttachesLeases } from './etcd-txn.js';
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

  // ignore_value and ignore_lease are the state machine's own (PutOp): it keeps the key's value
  // or lease where the put applies, and refuses a missing key there ("key not found").
  const put: EtcdHandler = async (req, deadlineMs, c) => {
    const request = raftkvPut(req);
    // A lease travels only in-process: such a put runs on the leader (a follower passes the etcd call on).
    const leased = request.lease !== undefined;
    const run: EtcdHandler = async (_req, d, cc) => {
      const res = await call<M.PutResponseMsg>('Put', request, cc, d, leased);
      return putAnswer(res.header, res);
    };
    return leased ? proxy.onLeader(etcdKvService.Put, run)(req, deadlineMs, c) : run(req, deadlineMs, c);
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

