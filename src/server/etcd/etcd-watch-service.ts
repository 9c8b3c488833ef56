/**
 * `etcdserverpb.Watch` on raftkv's watch hub: one bidirectional stream carries many watches.
 *
 * - create: the client's watch_id or the next free one (from 0, as etcd); a `created` answer
 *   first, then the kept history from start_revision (the hub's), then live events; NOPUT and
 *   NODELETE filters, prev_kv; a start_revision older than the kept history is answered as etcd
 *   does, with compact_revision and canceled.
 * - Each events answer's header carries the revision of its events, and `created` the revision
 *   the watch starts after, so a client that resumes from header.revision + 1 (the etcd3 client
 *   does) after a reconnect neither loses nor repeats an event. Events below start_revision are
 *   never sent (a follower behind the client's last revision would otherwise repeat some).
 * - cancel; progress requests (answered with watch id -1 and the current revision, as etcd);
 *   progress_notify (an empty answer after `watchProgressIntervalMs` without events).
 * - The node shutting down or a watch falling too far behind ends the stream UNAVAILABLE, so the
 *   client reconnects (to another node) and resumes; a snapshot install cancels with the
 *   revision, as a compaction.
 */
import type { ServerDuplexStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { requireEtcdWellFormed } from '../../api/etcd/index.js';
import { compareBytes } from '../../kv/index.js';
import type { KeyRange } from '../../kv/index.js';
import type { WatchEvent } from '../watch-hub.js';
import { compactRevisionOf, describeWatchCancel, watcherQueueEventsMax } from '../watch-hub.js';
import { authorizedCall } from './etcd-call.js';
import { etcdHeader } from './etcd-deps.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { etcdErrors, etcdStatusOf } from './etcd-errors.js';
import { int } from './etcd-ids.js';
import { watchesPerStreamMax, watchProgressIntervalMs } from './etcd-kv-limits.js';
import { etcdKv } from './etcd-range.js';
import { fromEtcdStartRevision, toEtcdRevision } from './etcd-revision.js';

/** `WatchCreateRequest.FilterType` and `mvccpb.Event.EventType`, as numbered in the protos. */
const Filter = { NOPUT: 0, NODELETE: 1 } as const;
const EventType = { PUT: 0, DELETE: 1 } as const;
/** The watch id of answers that belong to no watch (progress requests), as etcd. */
const noWatchId = -1;

const empty = new Uint8Array(0);

interface ActiveWatch {
  unsubscribe: () => void;
  readonly progressNotify: boolean;
  lastSentMs: number;
}

/** Builds the `etcdserverpb.Watch` implementation. */
export function etcdWatchImplementation(deps: EtcdServiceDeps): UntypedServiceImplementation {
  return { Watch: (call: ServerDuplexStream<EtcdMsg, EtcdMsg>) => new WatchStream(deps, call).start() };
}

/** One client's Watch stream and its watches. */
class WatchStream {
  private readonly watches = new Map<number, ActiveWatch>();
  private nextId = 0;
  /** Events written while the stream's buffer was full, since it last drained. */
  private queued = 0;
  private ended = false;
  private progressTimer: NodeJS.Timeout | null = null;
  private readonly endMetric: (code: string) => void;

  constructor(
    private readonly deps: EtcdServiceDeps,
    private readonly call: ServerDuplexStream<EtcdMsg, EtcdMsg>,
  ) {
    this.endMetric = deps.metrics.grpcCall('etcd.Watch');
  }

  start(): void {
    const { call } = this;
    call.on('data', (req: EtcdMsg) => this.onRequest(req));
    call.on('drain', () => {
      this.queued = 0;
    });
    call.on('end', () => this.finish('OK', null));
    call.on('cancelled', () => this.finish('CANCELLED', null));
    call.on('close', () => this.finish('OK', null));
    call.on('error', () => this.finish('CANCELLED', null));
    this.progressTimer = setInterval(() => this.notifyProgress(), Math.min(watchProgressIntervalMs, 60_000));
  }

  private send(msg: EtcdMsg, events = 0): void {
    if (this.ended) return;
    const ok = this.call.write(msg);
    this.queued = ok ? 0 : this.queued + Math.max(1, events);
    if (this.queued > watcherQueueEventsMax) {
      this.finish('UNAVAILABLE', `etcdserver: the watch stream fell more than ${watcherQueueEventsMax} events behind; reconnect and resume from the last revision received`);
    }
  }

  private onRequest(req: EtcdMsg): void {
    try {
      requireEtcdWellFormed(req);
      if (req.createRequest) this.create(req.createRequest as EtcdMsg);
      else if (req.cancelRequest) this.cancel(int((req.cancelRequest as EtcdMsg).watchId, 'watch_id', -1));
      else if (req.progressRequest) this.send({ header: etcdHeader(this.deps), watchId: noWatchId });
    } catch (e) {
      const err = etcdStatusOf(e, { write: false });
      this.finish(grpcStatus[err.code] ?? String(err.code), err.details, err.code);
    }
  }

  private create(c: EtcdMsg): void {
    const wanted = int(c.watchId, 'watch_id');
    if (wanted !== 0 && this.watches.has(wanted)) {
      this.send({ header: etcdHeader(this.deps), watchId: wanted, created: true, canceled: true, cancelReason: 'mvcc: duplicate watch ID provided on the WatchStream' });
      return;
    }
    const id = wanted !== 0 ? wanted : this.freeId();
    const refuse = (reason: string): void => this.send({ header: etcdHeader(this.deps), watchId: id, created: true, canceled: true, cancelReason: reason });
    if (this.watches.size >= watchesPerStreamMax) {
      refuse(`raftkv: this stream already carries ${watchesPerStreamMax} watches (watchesPerStreamMax)`);
      return;
    }
    const key = (c.key as Uint8Array | undefined) ?? empty;
    const rangeEnd = (c.rangeEnd as Uint8Array | undefined) ?? empty;
    const toEnd = rangeEnd.length === 1 && rangeEnd[0] === 0;
    if (key.length === 0 && rangeEnd.length === 0) {
      refuse(etcdErrors.emptyKey().message);
      return;
    }
    const range: KeyRange = toEnd ? { key, rangeEnd: empty } : rangeEnd.length > 0 ? { key, rangeEnd } : { key };
    try {
      this.deps.authorizer.requireKeys(authorizedCall(this.call), [{ range, access: 'read' }], 'Watch');
    } catch (e) {
      refuse(etcdStatusOf(e, { write: false }).details);
      return;
    }
    // raftkv's revision (etcd-revision.ts): 0, from now, stays 0.
    const startRevision = fromEtcdStartRevision(int(c.startRevision, 'start_revision'));
    const filters = new Set(((c.filters as number[] | undefined) ?? []).map(Number));
    const prevKv = c.prevKv === true;
    const inRange = (k: Uint8Array): boolean => !toEnd || compareBytes(k, key) >= 0;
    const current = this.deps.driver.kv.revision;
    // The revision this watch starts after: what a client resumes from (plus one) if it reconnects now.
    this.send({ header: etcdHeader(this.deps, startRevision > 0 ? Math.min(startRevision - 1, current) : current), watchId: id, created: true });
    const watch: ActiveWatch = { unsubscribe: () => {}, progressNotify: c.progressNotify === true, lastSentMs: Date.now() };
    this.watches.set(id, watch);
    const keep = (e: WatchEvent): boolean => inRange(e.kv.key) && !(e.type === 'put' ? filters.has(Filter.NOPUT) : filters.has(Filter.NODELETE));
    try {
      const unsubscribe = this.deps.watches.watch(
        { key: toEnd ? empty : key, rangeEnd: toEnd ? empty : rangeEnd, prefix: toEnd, startRevision },
        {
          events: (events, revision) => {
            if (revision < startRevision || !this.watches.has(id)) return;
            const mine = events.filter(keep);
            if (mine.length === 0) return;
            watch.lastSentMs = Date.now();
            this.send(
              {
                header: etcdHeader(this.deps, revision),
                watchId: id,
                events: mine.map((e) => ({ type: e.type === 'put' ? EventType.PUT : EventType.DELETE, kv: etcdKvOfEvent(e), ...(prevKv && e.prevKv !== null ? { prevKv: etcdKvOfEvent({ ...e, kv: e.prevKv }) } : {}) })),
              },
              mine.length,
            );
          },
          cancel: (cancel) => {
            if (!this.watches.delete(id)) return;
            const compactRevision = compactRevisionOf(cancel);
            // Revisions in the text as etcd numbers them, like every revision this API shows.
            const reason = describeWatchCancel(cancel, toEtcdRevision);
            if (compactRevision > 0) {
              this.send({ header: etcdHeader(this.deps), watchId: id, canceled: true, compactRevision: toEtcdRevision(compactRevision), cancelReason: `etcdserver: mvcc: required revision has been compacted (${reason})` });
            } else {
              // Shutdown: the client reconnects elsewhere and resumes.
              this.finish('UNAVAILABLE', `etcdserver: ${reason}`);
            }
          },
        },
      );
      // The hub may have cancelled the watch already (history compacted): then it is gone.
      if (this.watches.get(id) === watch) watch.unsubscribe = unsubscribe;
      else unsubscribe();
    } catch (e) {
      this.watches.delete(id);
      this.send({ header: etcdHeader(this.deps), watchId: id, canceled: true, cancelReason: etcdStatusOf(e, { write: false }).details });
    }
  }

  private freeId(): number {
    while (this.watches.has(this.nextId)) this.nextId++;
    return this.nextId++;
  }

  private cancel(id: number): void {
    const watch = this.watches.get(id);
    if (watch === undefined) return;
    this.watches.delete(id);
    watch.unsubscribe();
    this.send({ header: etcdHeader(this.deps), watchId: id, canceled: true });
  }

  private notifyProgress(): void {
    const now = Date.now();
    for (const [id, watch] of this.watches) {
      if (!watch.progressNotify || now - watch.lastSentMs < watchProgressIntervalMs) continue;
      watch.lastSentMs = now;
      this.send({ header: etcdHeader(this.deps), watchId: id });
    }
  }

  /** Ends the stream: OK (the client ended it) or with an error status. */
  private finish(metricCode: string, details: string | null, code: grpcStatus = grpcStatus.UNAVAILABLE): void {
    if (this.ended) return;
    this.ended = true;
    if (this.progressTimer !== null) clearInterval(this.progressTimer);
    for (const watch of this.watches.values()) watch.unsubscribe();
    this.watches.clear();
    this.endMetric(metricCode);
    if (details !== null) {
      // 'error' (not destroy): grpc-js then sends the status.
      this.call.emit('error', Object.assign(new Error(details), { code, details }));
    } else if (!this.call.writableEnded) {
      this.call.end();
    }
  }
}

function etcdKvOfEvent(e: Pick<WatchEvent, 'kv'>): EtcdMsg {
  return etcdKv(e.kv);
}
