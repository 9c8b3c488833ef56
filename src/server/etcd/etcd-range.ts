/**
 * etcd's Range on raftkv's: the request becomes a raftkv.v1 RangeRequest (the same key, range
 * end, limit, keys-only and count-only rules: raftkv took them from etcd), and what raftkv's
 * range cannot do is finished here, as etcd's server does it: sorting by any target and the
 * revision filters need every key of the range, so raftkv is asked for all of them (up to its
 * `rangeKeysMax`), then the keys are filtered, sorted and cut to `limit`; `count` stays the number
 * of keys in the range before filtering (etcd's too).
 */
import type * as M from '../../api/index.js';
import { Consistency, toNumber } from '../../api/index.js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { compareBytes } from '../../kv/index.js';
import { InvalidArgumentError } from '../../util/index.js';
import { int } from './etcd-ids.js';
import { toEtcdKeyRevision } from './etcd-revision.js';

/** `RangeRequest.SortOrder` and `SortTarget`, as numbered in rpc.proto. */
export const SortOrder = { NONE: 0, ASCEND: 1, DESCEND: 2 } as const;
export const SortTarget = { KEY: 0, VERSION: 1, CREATE: 2, MOD: 3, VALUE: 4 } as const;

const empty = new Uint8Array(0);

/** What of an etcd RangeRequest is applied after raftkv's range. */
export interface RangeFinish {
  readonly sortOrder: number;
  readonly sortTarget: number;
  readonly limit: number;
  readonly minMod: number;
  readonly maxMod: number;
  readonly minCreate: number;
  readonly maxCreate: number;
  /** True when raftkv must return the whole range (sorting or filtering follows). */
  readonly needsAll: boolean;
  /** Strip values after sorting: etcd sorts by value before keys_only takes the values away. */
  readonly stripValues: boolean;
}

/** The effective sort of a request: etcd sorts ascending when a target is given without an order. */
function effectiveOrder(req: EtcdMsg): { order: number; target: number } {
  const target = Number(req.sortTarget ?? 0);
  let order = Number(req.sortOrder ?? 0);
  if (!Object.values(SortTarget).includes(target as never)) throw new InvalidArgumentError('sort_target', `unknown value ${target}`);
  if (!Object.values(SortOrder).includes(order as never)) throw new InvalidArgumentError('sort_order', `unknown value ${order}`);
  if (order === SortOrder.NONE && target !== SortTarget.KEY) order = SortOrder.ASCEND;
  // Ascending by key is raftkv's own order.
  if (order === SortOrder.ASCEND && target === SortTarget.KEY) order = SortOrder.NONE;
  return { order, target };
}

/** The raftkv.v1 RangeRequest for etcd RangeRequest `req`, and what to do with its answer. */
export function raftkvRange(req: EtcdMsg, serializableAllowed = true): { request: M.RangeRequestMsg; finish: RangeFinish } {
  const key = (req.key as Uint8Array | undefined) ?? empty;
  const rangeEnd = (req.rangeEnd as Uint8Array | undefined) ?? empty;
  const { order, target } = effectiveOrder(req);
  const limit = int(req.limit, 'limit');
  const finish: RangeFinish = {
    sortOrder: order,
    sortTarget: target,
    limit,
    minMod: int(req.minModRevision, 'min_mod_revision'),
    maxMod: int(req.maxModRevision, 'max_mod_revision'),
    minCreate: int(req.minCreateRevision, 'min_create_revision'),
    maxCreate: int(req.maxCreateRevision, 'max_create_revision'),
    needsAll: false,
    stripValues: false,
  };
  const filtered = finish.minMod > 0 || finish.maxMod > 0 || finish.minCreate > 0 || finish.maxCreate > 0;
  const needsAll = order !== SortOrder.NONE || filtered;
  const countOnly = req.countOnly === true;
  const keysOnly = req.keysOnly === true;
  const sortsByValue = needsAll && !countOnly && keysOnly && order !== SortOrder.NONE && target === SortTarget.VALUE;
  return {
    request: {
      key,
      ...(rangeEnd.length > 0 ? { rangeEnd } : {}),
      // Sorting or filtering needs the whole range; count_only needs no keys at all.
      limit: needsAll && !countOnly ? 0 : limit,
      keysOnly: keysOnly && !sortsByValue,
      countOnly,
      consistency: serializableAllowed && req.serializable === true ? Consistency.STALE : Consistency.LINEARIZABLE,
    },
    finish: { ...finish, needsAll: needsAll && !countOnly, stripValues: sortsByValue },
  };
}

/** The etcd KeyValue of a raftkv one. */
export function etcdKv(kv: M.KeyValueMsg): EtcdMsg {
  return { key: kv.key, value: kv.value, createRevision: toEtcdKeyRevision(toNumber(kv.createRevision)), modRevision: toEtcdKeyRevision(toNumber(kv.modRevision)), version: toNumber(kv.version), lease: kv.lease ?? 0 };
}

function sortValue(kv: M.KeyValueMsg, target: number): number | Uint8Array {
  switch (target) {
    case SortTarget.VERSION:
      return toNumber(kv.version);
    case SortTarget.CREATE:
      return toNumber(kv.createRevision);
    case SortTarget.MOD:
      return toNumber(kv.modRevision);
    case SortTarget.VALUE:
      return kv.value;
    default:
      return kv.key;
  }
}

function compareBy(target: number): (a: M.KeyValueMsg, b: M.KeyValueMsg) => number {
  return (a, b) => {
    const x = sortValue(a, target);
    const y = sortValue(b, target);
    return typeof x === 'number' && typeof y === 'number' ? x - y : compareBytes(x as Uint8Array, y as Uint8Array);
  };
}

/** The etcd RangeResponse fields (without the header) for raftkv's answer `res`. */
export function finishRange(res: Pick<M.RangeResponseMsg, 'kvs' | 'more' | 'count'>, finish: RangeFinish): { kvs: EtcdMsg[]; more: boolean; count: number } {
  const count = toNumber(res.count);
  if (!finish.needsAll) return { kvs: res.kvs.map(etcdKv), more: res.more, count };
  if (res.more) {
    throw new InvalidArgumentError('range', `sorting or filtering needs the whole range, and it has ${count} keys, more than raftkv's rangeKeysMax (${res.kvs.length}): narrow the range`);
  }
  let kvs = res.kvs.filter(
    (kv) =>
      // The filters are etcd revisions (etcd-revision.ts).
      (finish.minMod === 0 || toEtcdKeyRevision(toNumber(kv.modRevision)) >= finish.minMod) &&
      (finish.maxMod === 0 || toEtcdKeyRevision(toNumber(kv.modRevision)) <= finish.maxMod) &&
      (finish.minCreate === 0 || toEtcdKeyRevision(toNumber(kv.createRevision)) >= finish.minCreate) &&
      (finish.maxCreate === 0 || toEtcdKeyRevision(toNumber(kv.createRevision)) <= finish.maxCreate),
  );
  if (finish.sortOrder !== SortOrder.NONE) {
    const by = compareBy(finish.sortTarget);
    kvs = [...kvs].sort(finish.sortOrder === SortOrder.DESCEND ? (a, b) => by(b, a) : by);
  }
  const more = finish.limit > 0 && kvs.length > finish.limit;
  if (more) kvs = kvs.slice(0, finish.limit);
  return { kvs: kvs.map((kv) => etcdKv(finish.stripValues ? { ...kv, value: empty } : kv)), more, count };
}
