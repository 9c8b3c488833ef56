/**
 * The public `raftkv.v1.KV` gRPC service (and the unary-call plumbing the Cluster service shares). Requests are checked
 * (INVALID_ARGUMENT names the field and limit), turned into state-machine operations, and run
 * through the driver: writes are proposed through Raft; LINEARIZABLE reads wait for a ReadIndex
 * (on any node: a follower asks the leader for the read index, then reads locally); STALE reads
 * are answered from local state at once, optionally bounded by `max_staleness_ms`.
 * A follower's writes are forwarded to the leader by `forwarding/`, which wraps this service;
 * what reaches these handlers on a follower (a client that sent `raftkv-forward: never`) is
 * answered FAILED_PRECONDITION with the leader's id and address in trailers.
 */
import type { handleServerStreamingCall, handleUnaryCall, sendUnaryData, ServerUnaryCall, ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import type * as M from '../api/index.js';
import { CompareResult, CompareTarget, Consistency, EventType, requireWellFormed, toNumber, wellFormedFirst } from '../api/index.js';
import type { Compare, DeleteOp, DeleteResult, KeyValue, PutOp, PutResult, RangeOp, RangeResult, TxnBranchOp, TxnBranchResult, TxnOp, TxnResult } from '../kv/index.js';
import { txnNestingDepthMax, validateRangeOp } from '../kv/index.js';
import { DeadlineExceededError, InvalidArgumentError, OutcomeUnknownError, ProposalDroppedError } from '../util/index.js';
import { assertReadable } from './alarms/alarm-guards.js';
import { txnAccesses } from './auth/authorizer.js';
import type { AuthorizedCall, Authorizer } from './auth/authorizer.js';
import { toGrpcError } from './grpc-errors.js';
import { awaitReadable } from './kv-requests.js';
import type { ReadConsistency } from './kv-requests.js';
import type { NodeMetrics } from './metrics.js';
import type { NodeOptions } from './options.js';
import type { RaftDriver, WriteSession } from './raft-driver.js';
import type { WatchHub } from './watch-hub.js';
import { compactRevisionOf, describeWatchCancel, watcherQueueEventsMax } from './watch-hub.js';

/** What the services need. */
export interface KvServiceDeps {
  readonly options: NodeOptions;
  readonly driver: RaftDriver;
  readonly watches: WatchHub;
  readonly metrics: NodeMetrics;
  /** The database's size on disk, for Status. */
  readonly dbSizeBytes: () => number;
  /** Authentication and permission checks (auth/authorizer.ts): a no-op while auth is off. */
  readonly authorizer: Authorizer;
}

const empty = new Uint8Array(0);

/** The response header; a write passes its own revision (a retried write, its first answer's). */
export function responseHeader(deps: Pick<KvServiceDeps, 'driver' | 'options'>, revision: number = deps.driver.kv.revision): M.ResponseHeaderMsg {
  const { driver } = deps;
  return { revision, raftTerm: driver.term, nodeId: deps.options.id, appliedIndex: driver.kv.appliedIndex, leaderId: driver.leader ?? '' };
}

/** Builds the `KV` service implementation. */
export function kvServiceImplementation(deps: KvServiceDeps): UntypedServiceImplementation {
  const { driver, authorizer } = deps;
  const header = (revision?: number): M.ResponseHeaderMsg => responseHeader(deps, revision);
  const read = async (consistency: number | undefined, maxStalenessMs: M.Uint64 | undefined, deadlineMs: number): Promise<number> => {
    assertReadable(driver.kv.alarms, deps.options.id); // a CORRUPT member serves no reads
    const c = consistency ?? Consistency.LINEARIZABLE;
    if (c !== Consistency.LINEARIZABLE && c !== Consistency.STALE) throw new InvalidArgumentError('consistency', `unknown value ${c} (LINEARIZABLE = 0, STALE = 1)`);
    const wanted: ReadConsistency = c === Consistency.LINEARIZABLE ? { kind: 'linearizable' } : { kind: 'stale', maxStalenessMs: toNumber(maxStalenessMs) };
    return awaitReadable(driver, wanted, Math.max(1, deadlineMs - Date.now()));
  };

  // Every handler checks permissions first, on the node that runs it (a forwarded write: the leader).
  const put: Handler<M.PutRequestMsg, M.PutResponseMsg> = async (req, _deadlineMs, call) => {
    const op = putOp(req);
    authorizer.requireKeys(call, [{ range: op, access: 'readwrite' }], 'Put');
    const result = (await driver.write(op, sessionOf(req))) as PutResult;
    return { header: header(result.revision), prevKv: result.prevKv ? kvMsg(result.prevKv) : null };
  };
  const get: Handler<M.GetRequestMsg, M.GetResponseMsg> = async (req, deadlineMs, call) => {
    authorizer.requireKeys(call, [{ range: { key: requireKey(req.key, 'key', deps.options) }, access: 'read' }], 'Get');
    const stalenessMs = await read(req.consistency, req.maxStalenessMs, deadlineMs);
    const kv = driver.kv.get(req.key);
    return { header: header(), found: kv !== null, value: kv?.value ?? empty, kv: kv ? kvMsg(kv) : null, stalenessMs };
  };
  const del: Handler<M.DeleteRequestMsg, M.DeleteResponseMsg> = async (req, _deadlineMs, call) => {
    const op = deleteOp(req);
    authorizer.requireKeys(call, [{ range: op, access: 'readwrite' }], 'Delete');
    const result = (await driver.write(op, sessionOf(req))) as DeleteResult;
    return { header: header(result.revision), deleted: result.deleted, prevKvs: result.prevKvs.map(kvMsg) };
  };
  const range: Handler<M.RangeRequestMsg, M.RangeResponseMsg> = async (req, deadlineMs, call) => {
    const op = rangeOp(req);
    validateRangeOp(op, deps.options.limits);
    authorizer.requireKeys(call, [{ range: op, access: 'read' }], 'Range');
    const stalenessMs = await read(req.consistency, req.maxStalenessMs, deadlineMs);
    return { ...rangeMsg(driver.kv.range(op)), header: header(), stalenessMs };
  };
  const txn: Handler<M.TxnRequestMsg, M.TxnResponseMsg> = async (req, _deadlineMs, call) => {
    const op = txnOp(req);
    // Every key the txn may touch, on either branch: a txn that reaches outside fails whole.
    authorizer.requireKeys(call, txnAccesses(op), 'Txn');
    const result = (await driver.write(op, sessionOf(req))) as TxnResult;
    return { header: header(result.revision), succeeded: result.succeeded, responses: result.results.map((r) => responseOp(r, header(result.revision))) };
  };

  return {
    Put: unary('Put', true, put, deps),
    Get: unary('Get', false, get, deps),
    Delete: unary('Delete', true, del, deps),
    Range: unary('Range', false, range, deps),
    Txn: unary('Txn', true, txn, deps),
    Watch: watchHandler(deps, header),
  };
}

/**
 * A request handler: the request, its absolute deadline (ms since the epoch) and the call (its
 * metadata and TLS context, for authentication) in, the response out.
 */
export type Handler<Req, Res> = (req: Req, deadlineMs: number, call: AuthorizedCall) => Promise<Res>;

/**
 * Wraps a handler with the things every unary call needs: a deadline (the client's, else the
 * node's default), error mapping, and request metrics by method and status code.
 */
export function unary<Req, Res>(method: string, write: boolean, handler: Handler<Req, Res>, deps: Pick<KvServiceDeps, 'options' | 'metrics'>): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => {
    const end = deps.metrics.grpcCall(method);
    const deadlineMs = deadlineOf(call.getDeadline(), deps.options.requestTimeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineExceededError(`deadline of ${method} passed`)), Math.max(0, deadlineMs - Date.now()));
    });
    Promise.race([wellFormedFirst(handler)(call.request, deadlineMs, call), expired]).then(
      (res) => {
        clearTimeout(timer);
        end('OK');
        callback(null, res);
      },
      (e: unknown) => {
        clearTimeout(timer);
        const err = toGrpcError(e, { write });
        if (write && (e instanceof ProposalDroppedError || e instanceof OutcomeUnknownError || e instanceof DeadlineExceededError)) deps.metrics.proposalsFailed.inc({ reason: e.code });
        end(grpcStatus[err.code] ?? String(err.code));
        callback(err);
      },
    );
  };
}

function deadlineOf(deadline: Date | number, defaultMs: number): number {
  const d = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(d) && d > 0 ? d : Date.now() + defaultMs;
}

function requireKey(key: Uint8Array | undefined, field: string, options: NodeOptions): Uint8Array {
  if (key === undefined || key.length === 0) throw new InvalidArgumentError(field, 'must not be empty');
  if (key.length > options.limits.keyBytesMax) throw new InvalidArgumentError(field, `is ${key.length} bytes; the limit is keyBytesMax (${options.limits.keyBytesMax})`);
  return key;
}

/** The exactly-once fields of a write request. */
export function sessionOf(req: { clientId?: string; seq?: M.Uint64; ackSeq?: M.Uint64 }): WriteSession {
  return { clientId: req.clientId ?? '', seq: toNumber(req.seq), ackSeq: toNumber(req.ackSeq) };
}

function putOp(req: M.PutRequestMsg): PutOp {
  const lease = toNumber(req.lease);
  return {
    type: 'put',
    key: req.key ?? empty,
    value: req.value ?? empty,
    prevKv: req.prevKv === true,
    ...(lease === 0 ? {} : { lease }),
    ...(req.ignoreValue === true ? { ignoreValue: true } : {}),
    ...(req.ignoreLease === true ? { ignoreLease: true } : {}),
  };
}

/**
 * `range_end` on the wire: empty or absent = a single key; a single zero byte = "to the end"
 * (etcd's convention, since proto3 cannot tell an empty bytes field from an absent one).
 */
function rangeEndOf(rangeEnd: Uint8Array | undefined): { rangeEnd?: Uint8Array } {
  if (rangeEnd === undefined || rangeEnd.length === 0) return {};
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { rangeEnd: empty };
  return { rangeEnd };
}

function deleteOp(req: M.DeleteRequestMsg): DeleteOp {
  return { type: 'delete', key: req.key ?? empty, ...rangeEndOf(req.rangeEnd), prefix: req.prefix === true, prevKv: req.prevKv === true };
}

function rangeOp(req: M.RangeRequestMsg): RangeOp {
  return {
    type: 'range',
    key: req.key ?? empty,
    ...rangeEndOf(req.rangeEnd),
    prefix: req.prefix === true,
    limit: toNumber(req.limit),
    keysOnly: req.keysOnly === true,
    countOnly: req.countOnly === true,
  };
}

const compareTargets = {
  [CompareTarget.VALUE]: 'value',
  [CompareTarget.VERSION]: 'version',
  [CompareTarget.MOD]: 'modRevision',
  [CompareTarget.CREATE]: 'createRevision',
  [CompareTarget.LEASE]: 'lease',
} as const;
const compareOps = { [CompareResult.EQUAL]: '=', [CompareResult.NOT_EQUAL]: '!=', [CompareResult.LESS]: '<', [CompareResult.GREATER]: '>' } as const;

function compareOf(c: M.CompareMsg, where: string): Compare {
  const target = compareTargets[(c.target ?? 0) as keyof typeof compareTargets];
  const op = compareOps[(c.result ?? 0) as keyof typeof compareOps];
  if (target === undefined) throw new InvalidArgumentError(`${where}.target`, `unknown value ${String(c.target)}`);
  if (op === undefined) throw new InvalidArgumentError(`${where}.result`, `unknown value ${String(c.result)}`);
  const operands = { version: c.version, modRevision: c.modRevision, createRevision: c.createRevision, lease: c.lease } as const;
  const value = target === 'value' ? (c.value ?? empty) : toNumber(operands[target]);
  return { key: c.key ?? empty, target, op, value, ...rangeEndOf(c.rangeEnd) };
}

function requestOp(r: M.RequestOpMsg, where: string, depth: number): TxnBranchOp {
  if (r.requestPut) return putOp(r.requestPut);
  if (r.requestDelete) return deleteOp(r.requestDelete);
  if (r.requestRange) return rangeOp(r.requestRange);
  if (r.requestTxn) {
    const inner = r.requestTxn;
    if ((inner.clientId ?? '') !== '' || toNumber(inner.seq) !== 0 || toNumber(inner.ackSeq) !== 0) {
      throw new InvalidArgumentError(`${where}.requestTxn`, 'a nested txn must not set client_id, seq or ack_seq (the outer txn carries them)');
    }
    // validateCommand bounds the depth; this bound only keeps a hostile tree from recursing here first.
    if (depth >= txnNestingDepthMax) throw new InvalidArgumentError(`${where}.requestTxn`, `txns nest more than txnNestingDepthMax (${txnNestingDepthMax}) deep`);
    return txnOp(inner, `${where}.requestTxn`, depth + 1);
  }
  throw new InvalidArgumentError(where, 'has no operation set');
}

function txnOp(req: M.TxnRequestMsg, at = '', depth = 0): TxnOp {
  const where = (name: string): string => (at === '' ? name : `${at}.${name}`);
  return {
    type: 'txn',
    compares: (req.compare ?? []).map((c, i) => compareOf(c, where(`compare[${i}]`))),
    success: (req.success ?? []).map((r, i) => requestOp(r, where(`success[${i}]`), depth)),
    failure: (req.failure ?? []).map((r, i) => requestOp(r, where(`failure[${i}]`), depth)),
  };
}

function kvMsg(kv: KeyValue): M.KeyValueMsg {
  return { key: kv.key, value: kv.value, createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version, lease: kv.lease ?? 0 };
}

function rangeMsg(r: RangeResult): Omit<M.RangeResponseMsg, 'header' | 'stalenessMs'> {
  return { kvs: r.kvs.map(kvMsg), more: r.more, count: r.count };
}

function responseOp(r: TxnBranchResult, header: M.ResponseHeaderMsg): M.ResponseOpMsg {
  switch (r.type) {
    case 'txn':
      return { responseTxn: { header, succeeded: r.succeeded, responses: r.results.map((inner) => responseOp(inner, header)) } };
    case 'put':
      return { responsePut: { header, prevKv: r.prevKv ? kvMsg(r.prevKv) : null } };
    case 'delete':
      return { responseDelete: { header, deleted: r.deleted, prevKvs: r.prevKvs.map(kvMsg) } };
    case 'range':
      return { responseRange: { header, ...rangeMsg(r), stalenessMs: 0 } };
  }
}

/**
 * `Watch`: replays kept history from `start_revision`, then streams live changes, until the
 * client cancels or the server ends the watch (with `canceled` and a reason). Write backpressure:
 * a watcher whose stream buffer stays full past `watcherQueueEventsMax` events is cancelled.
 */
function watchHandler(deps: KvServiceDeps, header: () => M.ResponseHeaderMsg): handleServerStreamingCall<M.WatchRequestMsg, M.WatchResponseMsg> {
  return (call: ServerWritableStream<M.WatchRequestMsg, M.WatchResponseMsg>) => {
    const req = call.request;
    const end = deps.metrics.grpcCall('Watch');
    let queued = 0;
    let unsubscribe = (): void => {};
    const finish = (): void => {
      unsubscribe();
      if (!call.writableEnded) call.end();
    };
    try {
      requireWellFormed(req);
      // An empty key with `prefix` watches the whole key space; otherwise a key is required.
      if (req.prefix !== true || (req.key?.length ?? 0) > 0) requireKey(req.key, 'key', deps.options);
      const rangeEnd = req.rangeEnd ?? empty;
      deps.authorizer.requireKeys(call, [{ range: req.prefix === true ? { key: req.key ?? empty, prefix: true } : rangeEnd.length > 0 ? { key: req.key ?? empty, ...rangeEndOf(rangeEnd) } : { key: req.key ?? empty }, access: 'read' }], 'Watch');
      unsubscribe = deps.watches.watch(
        { key: req.key ?? empty, rangeEnd: req.rangeEnd ?? empty, prefix: req.prefix === true, startRevision: toNumber(req.startRevision) },
        {
          events: (events) => {
            const ok = call.write({
              header: header(),
              events: events.map((e) => ({
                type: e.type === 'put' ? EventType.PUT : EventType.DELETE,
                kv: kvMsg(e.kv),
                prevKv: req.prevKv === true && e.prevKv !== null ? kvMsg(e.prevKv) : null,
              })),
              compactRevision: 0,
              canceled: false,
              cancelReason: '',
            });
            queued = ok ? 0 : queued + events.length;
            if (queued > watcherQueueEventsMax) {
              call.write({ header: header(), events: [], compactRevision: 0, canceled: true, cancelReason: 'watcher too slow: resume from the last revision received' });
              finish();
            }
          },
          cancel: (cancel) => {
            call.write({ header: header(), events: [], compactRevision: compactRevisionOf(cancel), canceled: true, cancelReason: describeWatchCancel(cancel) });
            finish();
          },
        },
      );
    } catch (e) {
      const err = toGrpcError(e, { write: false });
      end(grpcStatus[err.code] ?? String(err.code));
      // 'error' (not destroy): grpc-js then sends the status; a destroyed stream never sends one.
      call.emit('error', Object.assign(new Error(err.details), err));
      return;
    }
    // A watch that ends, however it ends, was handled: a client cancel is how watches stop.
    call.on('cancelled', () => {
      unsubscribe();
      end('CANCELLED');
    });
    call.on('close', () => {
      unsubscribe();
      end('OK');
    });
  };
}
