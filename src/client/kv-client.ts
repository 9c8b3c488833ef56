/**
 * The raftkv client: `connect()` returns one. Every call has a deadline (the client's
 * `timeoutMs`, or the call's own), sent to the node as the gRPC deadline; failed attempts are
 * retried where safe (see `CallRunner`). Writes carry the client id, a seq and `ackSeq` so a
 * retried write is applied at most once and answered with its first result.
 */
import type { MethodDefinition } from '@grpc/grpc-js';
import type * as M from '../api/index.js';
import type { PipelineOp } from '../api/index.js';
import { Consistency, kvService, toNumber } from '../api/index.js';
import { InvalidArgumentError, UnavailableError } from '../util/index.js';
import type { Bytes } from './bytes.js';
import { prefixEnd, toBytes } from './bytes.js';
import { CallRunner } from './call-runner.js';
import { ClusterApi } from './cluster-api.js';
import type { Endpoint } from './endpoint.js';
import { DeadlineExceededError, NotLeaderError, OverloadedError } from './errors.js';
import type { ResolvedOptions } from './options.js';
import type { BackupChunk, BackupOptions } from './backup.js';
import { backupChunks } from './backup.js';
import type { CallOptions, DeleteOptions, GetOptions, PutOptions, RangeAllOptions, RangeOptions, ReadOptions, WatchOptions } from './call-options.js';
import type { KeyValueApi, NamespaceBase } from './kv-api.js';
import { Namespace } from './namespace.js';
import { Pipelines } from './pipeline.js';
import { rangePages } from './range-all.js';
import type { KeySelector } from './requests.js';
import { compare as cmp, compareMsg, leaseIdOf, op, rangeFields, rangeRequestMsg, requestOpMsg, requireSelection, selectorOf } from './requests.js';
import type { CasResult, DeleteResult, GetResult, PutResult, RangeResult } from './results.js';
import { answeredOf, getResultOf, KeyValue, rangeResultOf, txnResultOf } from './results.js';
import { RetryBudget } from './retry-budget.js';
import { Router } from './router.js';
import { TxnBuilder } from './txn-builder.js';
import { Watch } from './watch.js';
import type { WatchEvent } from './watch.js';
import { WriteSession } from './write-session.js';
import { Lease, LeaseClient } from './lease.js';
import type { LeaseOptions } from './lease.js';
import { acquireLock } from './lock.js';
import type { Lock, LockOptions } from './lock.js';
import { Election } from './election.js';
import type { ElectionOptions } from './election.js';

type SessionFields = { clientId?: string; seq?: M.Uint64; ackSeq?: M.Uint64 };

/** A connection to a raftkv cluster. */
export class RaftkvClient implements NamespaceBase {
  /** Cluster status and membership. */
  readonly cluster: ClusterApi;
  /** The raw lease operations (lease.ts); `lease()` gives a lease that keeps itself alive. */
  readonly leases: LeaseClient;
  private readonly router: Router;
  private readonly runner: CallRunner;
  private readonly session: WriteSession;
  private readonly watches = new Set<Watch>();
  /** With `pipeline: true`: the streams key-value calls go over (pipeline.ts). */
  private readonly pipelines: Pipelines | null;
  private closed = false;

  constructor(private readonly options: ResolvedOptions) {
    this.router = new Router(options);
    this.runner = new CallRunner(options, this.router, options.retryBudget ? new RetryBudget(options.retryBudget) : null);
    this.session = new WriteSession(options.clientId, options.writeWindowMax);
    this.cluster = new ClusterApi(options, this.router, this.runner);
    this.pipelines = options.pipeline ? new Pipelines() : null;
    this.leases = new LeaseClient({
      write: async (method, def, request, callOptions) => this.write(method, def, request, callOptions),
      leader: async (method, send, def, request, callOptions) => this.leaderCall(method, send, def, request, callOptions),
      read: async (def, request, callOptions) => this.readOnce(def, request, timeoutOf(callOptions, this.options), callOptions.signal),
    });
  }

  /**
   * Grants a lease of `ttlS` seconds (or takes over `options.id`) and keeps it alive in the
   * background until `revoke()` or `close()`; it emits `lost` if it expires or cannot be renewed
   * in time (lease.ts). Attach keys with `put(key, value, { lease })`.
   */
  async lease(ttlS: number, options: LeaseOptions = {}): Promise<Lease> {
    const sentMs = Date.now();
    if (options.id !== undefined) {
      const alive = await this.leases.keepAliveOnce(options.id, options);
      return new Lease(alive.id, alive.ttlS, this.leases, sentMs, options);
    }
    const granted = await this.leases.grant(ttlS, options);
    return new Lease(granted.id, granted.ttlS, this.leases, sentMs, options);
  }

  /** Takes the lock `name` (lock.ts): resolves once held; the lock is lost if its lease is. */
  async lock(name: Bytes, options: LockOptions = {}): Promise<Lock> {
    return acquireLock(this, name, options);
  }

  /** A leader election among the clients campaigning under `name` (election.ts). */
  election(name: Bytes, options: ElectionOptions = {}): Election {
    return new Election(this, name, options);
  }

  /** The client id its writes carry. */
  get clientId(): string {
    return this.options.clientId;
  }

  /** The leader's node id as last learned, or null. */
  get leaderId(): string | null {
    return this.router.leaderId;
  }

  /** Every endpoint this client knows (the seeds, then any learned), with its node id and circuit state. */
  endpoints(): { address: string; nodeId: string | null; breaker: 'closed' | 'open' | 'half-open' }[] {
    return this.router.endpoints.map((e) => ({ address: e.address, nodeId: e.nodeId, breaker: e.breaker?.state ?? 'closed' }));
  }

  /** Finds the leader and learns every endpoint's node id (bounded by `discoveryTimeoutMs`). Never throws. */
  async discover(): Promise<void> {
    await this.router.discover(Date.now() + this.options.discoveryTimeoutMs).catch(() => {});
  }

  /** Sets `key` to `value`. */
  async put(key: Bytes, value: Bytes, options: PutOptions = {}): Promise<PutResult> {
    const lease = leaseIdOf(typeof options.lease === 'object' ? options.lease.id : options.lease, 'lease');
    const request: M.PutRequestMsg = { key: keyOf(key, 'key'), value: toBytes(value, 'value'), prevKv: options.prevKv === true, lease };
    const res = await this.write('Put', kvService.Put, request, options);
    return { ...answeredOf(res.header), prevKv: res.prevKv ? KeyValue.fromMessage(res.prevKv) : null };
  }

  /** Reads one key. */
  async get(key: Bytes, options: GetOptions = {}): Promise<GetResult> {
    const k = keyOf(key, 'key');
    return this.read(options, (consistency, maxStalenessMs) => ({ key: k, consistency, maxStalenessMs }), kvService.Get, (res, stale) => {
      const kv = res.found && res.kv ? KeyValue.fromMessage(res.kv) : null;
      return getResultOf(kv, answeredOf(res.header), { stale, stalenessMs: toNumber(res.stalenessMs) });
    });
  }

  /** Reads a range of keys in key order (every key when no selector is given). */
  async range(options: RangeOptions = {}): Promise<RangeResult> {
    const request = rangeRequestMsg(options, 'range');
    return this.read(options, (consistency, maxStalenessMs) => ({ ...request, consistency, maxStalenessMs }), kvService.Range, rangeResultOf);
  }

  /**
   * Every key-value under a prefix (or of a selector; none: every key) in key order, read page by
   * page (`pageSize` keys per `range` call, 500 by default): `for await (const kv of kv.rangeAll('p/'))`.
   * Each page is its own read; see range-all.ts for what that means for keys changed meanwhile.
   */
  rangeAll(target?: Bytes | KeySelector, options: RangeAllOptions = {}): AsyncGenerator<KeyValue> {
    const { pageSize, ...read } = options;
    return rangePages(target, pageSize === undefined ? {} : { pageSize }, async (page) => this.range({ ...read, ...page }));
  }

  /** The keys under `prefix` as a key-value API of their own (see namespace.ts). */
  namespace(prefix: Bytes): KeyValueApi {
    return new Namespace(this, prefix);
  }

  /**
   * An online backup, streamed from one node (any node: a follower too) as chunks of the backup
   * file's bytes; the first chunk also carries the backup's header. Write the chunks' `data` to a
   * file in order and `raftkv backup verify` accepts it. See backup.ts.
   */
  backup(options: BackupOptions = {}): AsyncGenerator<BackupChunk> {
    this.assertOpen();
    return backupChunks(this.router, options);
  }

  /** Deletes a key, or the keys a selector names (`{ prefix }`, `{ start, end }`). */
  async delete(target: Bytes | KeySelector, options: DeleteOptions = {}): Promise<DeleteResult> {
    const selector = selectorOf(target);
    requireSelection(selector, 'delete');
    const request: M.DeleteRequestMsg = { ...rangeFields(selector, 'delete'), prevKv: options.prevKv === true };
    const res = await this.write('Delete', kvService.Delete, request, options);
    return { ...answeredOf(res.header), deleted: toNumber(res.deleted), prevKvs: (res.prevKvs ?? []).map(KeyValue.fromMessage) };
  }

  /** Starts a transaction: `client.txn().if(...).then(...).else(...).commit()`. */
  txn(): TxnBuilder {
    return new TxnBuilder(async (t, options) => {
      const request: M.TxnRequestMsg = {
        compare: t.compares.map((c, i) => compareMsg(c, `txn.if[${i}]`)),
        success: t.success.map((o, i) => requestOpMsg(o, `txn.then[${i}]`)),
        failure: t.failure.map((o, i) => requestOpMsg(o, `txn.else[${i}]`)),
      };
      return txnResultOf(await this.write('Txn', kvService.Txn, request, options));
    });
  }

  /**
   * Compare-and-swap: sets `key` to `value` only if it now holds `expected` (or, with
   * `expected === null`, does not exist). On failure the result carries the key as it is.
   */
  async cas(key: Bytes, expected: Bytes | null, value: Bytes, options: CallOptions = {}): Promise<CasResult> {
    const guard = expected === null ? cmp.absent(key) : cmp.value(key, '==', expected);
    const result = await this.txn().if(guard).then(op.put(key, value)).else(op.get(key)).commit(options);
    const read = result.results[0];
    const current = !result.succeeded && read?.type === 'range' ? (read.kvs[0] ?? null) : null;
    return { revision: result.revision, nodeId: result.nodeId, succeeded: result.succeeded, current };
  }

  /**
   * Watches a key (or, with `prefix`, every key under it: an empty prefix watches the whole key
   * space). Iterate the result with `for await`; it resumes after node failures without missing
   * or repeating a change.
   */
  watch(key: Bytes, options: WatchOptions = {}): Watch {
    return this.watchMapped(key, options, (e) => e);
  }

  /** `watch`, with every event passed through `mapEvent` (what a namespace uses to strip its prefix). */
  watchMapped(key: Bytes, options: WatchOptions, mapEvent: (event: WatchEvent) => WatchEvent): Watch {
    this.assertOpen();
    const k = options.prefix === true ? toBytes(key, 'key') : keyOf(key, 'key');
    if (options.prefix === true && options.end !== undefined) throw new InvalidArgumentError('watch', 'give prefix or end, not both');
    const fields = options.end !== undefined ? rangeFields({ start: k, end: options.end }, 'watch') : options.prefix === true ? prefixWatchFields(k) : { key: k };
    const fromRevision = options.fromRevision ?? 0;
    if (!Number.isSafeInteger(fromRevision) || fromRevision < 0) throw new InvalidArgumentError('fromRevision', `must be a non-negative integer, got ${fromRevision}`);
    const countRequest: M.RangeRequestMsg = { ...fields, countOnly: true, limit: 1 };
    const watch = new Watch(
      {
        options: this.options,
        router: this.router,
        currentRevision: async () => toNumber((await this.readOnce(kvService.Range, countRequest, this.options.timeoutMs, options.signal)).header?.revision),
        mapEvent,
      },
      { ...fields, prevKv: options.prevKv === true },
      fromRevision,
      options.signal,
    );
    this.watches.add(watch);
    void watch.stopped().finally(() => this.watches.delete(watch));
    return watch;
  }

  /** Closes every channel and watch; calls in progress fail with UNAVAILABLE. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) w.close();
    this.runner.close();
    this.pipelines?.close();
    this.router.close();
  }

  /** Sends a write to the leader with exactly-once fields, retrying as the runner decides. */
  private async write<Req extends SessionFields, Res extends { header: M.ResponseHeaderMsg }>(method: string, def: MethodDefinition<Req, Res>, request: Req, options: CallOptions): Promise<Res> {
    this.assertOpen();
    const timeoutMs = timeoutOf(options, this.options);
    const deadlineMs = Date.now() + timeoutMs;
    const exactlyOnce = this.options.exactlyOnce;
    const seq = exactlyOnce ? await this.session.begin() : 0;
    try {
      const { response } = await this.runner.run({
        method,
        write: true,
        target: 'leader',
        idempotent: exactlyOnce,
        deadlineMs,
        timeoutMs,
        signal: options.signal,
        // The same seq on every attempt; ackSeq as of each attempt.
        send: (e, attemptDeadlineMs, signal) => this.send(e, def, exactlyOnce ? { ...request, clientId: this.session.clientId, seq, ackSeq: this.session.ackSeq } : request, attemptDeadlineMs, signal),
        header: (r) => r.header,
      });
      return response;
    } finally {
      if (exactlyOnce) this.session.complete(seq);
    }
  }

  /** A call only the leader answers (lease keep-alive and time-to-live): redirected on NOT_LEADER. */
  private async leaderCall<Req, Res extends { header: M.ResponseHeaderMsg }>(method: string, send: 'unary' | 'bidiOnce', def: MethodDefinition<Req, Res>, request: Req, options: CallOptions): Promise<Res> {
    this.assertOpen();
    const timeoutMs = timeoutOf(options, this.options);
    const { response } = await this.runner.run({
      method,
      write: false,
      target: 'leader',
      idempotent: true,
      deadlineMs: Date.now() + timeoutMs,
      timeoutMs,
      signal: options.signal,
      send: (e, deadlineMs, signal) => (send === 'unary' ? e.unary(def, request, deadlineMs, signal) : e.bidiOnce(def, request, deadlineMs, signal)),
      header: (r) => r.header,
    });
    return response;
  }

  /** A read with the consistency options and the opt-in stale fallback. */
  private async read<Req, Res extends { header: M.ResponseHeaderMsg }, Out>(
    options: ReadOptions,
    build: (consistency: number, maxStalenessMs: number) => Req,
    def: MethodDefinition<Req, Res>,
    convert: (res: Res, stale: boolean) => Out,
  ): Promise<Out> {
    this.assertOpen();
    const consistency = options.consistency ?? 'linearizable';
    if (consistency !== 'linearizable' && consistency !== 'stale') throw new InvalidArgumentError('consistency', `must be "linearizable" or "stale", got ${JSON.stringify(consistency)}`);
    const maxStalenessMs = options.maxStalenessMs ?? 0;
    if (!Number.isSafeInteger(maxStalenessMs) || maxStalenessMs < 0) throw new InvalidArgumentError('maxStalenessMs', `must be a non-negative integer, got ${maxStalenessMs}`);
    const timeoutMs = timeoutOf(options, this.options);
    const started = Date.now();
    if (consistency === 'stale') return convert(await this.readOnce(def, build(Consistency.STALE, maxStalenessMs), timeoutMs, options.signal), true);
    if (options.fallbackToStale !== true) return convert(await this.readOnce(def, build(Consistency.LINEARIZABLE, 0), timeoutMs, options.signal), false);
    const linearizableMs = Math.max(1, Math.floor(timeoutMs * 0.6));
    try {
      return convert(await this.readOnce(def, build(Consistency.LINEARIZABLE, 0), linearizableMs, options.signal), false);
    } catch (e) {
      if (!isQuorumLoss(e)) throw e;
      const remaining = timeoutMs - (Date.now() - started);
      if (remaining <= 0) throw e;
      this.options.logger.info({ err: (e as Error).message }, 'raftkv client: linearizable read failed; falling back to a stale read');
      return convert(await this.readOnce(def, build(Consistency.STALE, maxStalenessMs), remaining, options.signal), true);
    }
  }

  /** One read call (with retries) of `timeoutMs`. */
  private async readOnce<Req, Res extends { header: M.ResponseHeaderMsg }>(def: MethodDefinition<Req, Res>, request: Req, timeoutMs: number, signal?: AbortSignal): Promise<Res> {
    const { response } = await this.runner.run({
      method: def.originalName ? def.originalName.charAt(0).toUpperCase() + def.originalName.slice(1) : def.path,
      write: false,
      target: 'any',
      idempotent: true,
      deadlineMs: Date.now() + timeoutMs,
      timeoutMs,
      signal,
      send: (e, deadlineMs, callSignal) => this.send(e, def, request, deadlineMs, callSignal),
      header: (r) => r.header,
    });
    return response;
  }

  /** One attempt: on the endpoint's pipelined stream when `pipeline` is on and the request fits a frame, else a unary call. */
  private send<Req, Res>(e: Endpoint, def: MethodDefinition<Req, Res>, request: Req, deadlineMs: number, signal: AbortSignal | undefined): Promise<Res> {
    const op = pipelineOps.get(def.path);
    if (this.pipelines !== null && op !== undefined && Pipelines.fits(op, request as object)) return this.pipelines.send(e, op, request as object, deadlineMs, signal) as Promise<Res>;
    return e.unary(def, request, deadlineMs, signal);
  }

  private assertOpen(): void {
    if (this.closed) throw new UnavailableError('the client is closed');
  }
}

/** The KV methods a pipelined stream carries, by path. */
const pipelineOps: ReadonlyMap<string, PipelineOp> = new Map([
  [kvService.Put.path, 'put'],
  [kvService.Get.path, 'get'],
  [kvService.Delete.path, 'delete'],
  [kvService.Range.path, 'range'],
  [kvService.Txn.path, 'txn'],
]);

/**
 * A prefix watch as the span `[prefix, prefixEnd(prefix))` rather than the `prefix` flag: some
 * servers compute the end in place on the request's buffer and then match nothing. Only a prefix
 * of 0xff bytes (which has no end) is sent with the flag.
 */
function prefixWatchFields(prefix: Uint8Array): { key: Uint8Array; rangeEnd?: Uint8Array; prefix?: boolean } {
  const end = prefixEnd(prefix);
  return end.length > 0 ? { key: prefix, rangeEnd: end } : { key: prefix, prefix: true };
}

/** A non-empty key's bytes. */
function keyOf(key: Bytes, field: string): Uint8Array {
  const bytes = toBytes(key, field);
  if (bytes.length === 0) throw new InvalidArgumentError(field, 'must not be empty');
  return bytes;
}

function timeoutOf(options: CallOptions, defaults: ResolvedOptions): number {
  const t = options.timeoutMs ?? defaults.timeoutMs;
  if (typeof t !== 'number' || !Number.isFinite(t) || t <= 0) throw new InvalidArgumentError('timeoutMs', `must be a positive number, got ${JSON.stringify(t)}`);
  return t;
}

/** Failures a stale read can route around: the cluster cannot confirm a linearizable read. */
function isQuorumLoss(e: unknown): boolean {
  return e instanceof UnavailableError || e instanceof DeadlineExceededError || e instanceof NotLeaderError || e instanceof OverloadedError || (e as { code?: string }).code === 'DEADLINE_EXCEEDED';
}
