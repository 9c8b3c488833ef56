/**
 * Watches: streams of changes to a key or a prefix, from a given revision. The hub keeps a
 * bounded history of recent events (`watchHistoryEventsMax`) so that a watch can start in the
 * past (a client resuming after a reconnect); older revisions answer "compacted", and the client
 * must re-read and watch from the current revision. Each watcher has a bounded queue: a watcher
 * that cannot keep up is cancelled with a reason rather than holding memory without bound.
 */
import type { KeyValue, Mutation, PackedRecord } from '../kv/index.js';
import { compareBytes, packRecord, prefixEnd, toBinaryString, unpackRecord } from '../kv/index.js';
import { OverloadedError, revision, unreachable } from '../util/index.js';
import type { Revision } from '../util/index.js';
import type { AppliedChange } from './raft-driver.js';
import { WatchHistory } from './watch-history.js';

/** Most events kept for watches that start in the past. */
export const watchHistoryEventsMax = 100_000;
/** Most events queued for one watcher before it is cancelled as too slow. */
export const watcherQueueEventsMax = 10_000;

/** One change to one key. */
export interface WatchEvent {
  readonly type: 'put' | 'delete';
  /** For a put, the new key-value; for a delete, the key with an empty value and the delete's revision. */
  readonly kv: KeyValue;
  /** The key before the change, if it existed (sent only to watchers that asked for it). */
  readonly prevKv: KeyValue | null;
}

/**
 * A `WatchEvent` as the history keeps it: the key as a binary string and the records packed
 * (packed-record.ts), so 100,000 kept events cost their bytes, not five objects per key-value.
 */
interface KeptEvent {
  readonly type: WatchEvent['type'];
  readonly key: string;
  readonly kv: PackedRecord;
  readonly prevKv: PackedRecord | null;
}

function keep(e: WatchEvent): KeptEvent {
  return { type: e.type, key: toBinaryString(e.kv.key), kv: packRecord(e.kv), prevKv: e.prevKv === null ? null : packRecord(e.prevKv) };
}

function unkeep(e: KeptEvent): WatchEvent {
  return { type: e.type, kv: unpackRecord(e.key, e.kv), prevKv: e.prevKv === null ? null : unpackRecord(e.key, e.prevKv) };
}

/** What a watcher wants. */
export interface WatchSpec {
  readonly key: Uint8Array;
  /** Exclusive end; empty for a single key unless `prefix`. */
  readonly rangeEnd: Uint8Array;
  readonly prefix: boolean;
  /** First revision to deliver; 0 means "from now". */
  readonly startRevision: number;
}

/**
 * Why the server ended a watch, with its revisions as data (raftkv's numbers), so that each API
 * words it in its own numbering (the etcd API shows every revision plus one, etcd-revision.ts).
 */
export type WatchCancel =
  /** The watch asked for history older than the kept window. */
  | { readonly kind: 'compacted'; readonly requested: number; readonly oldest: Revision }
  /** A snapshot replaced the state at `revision`: history no longer describes it. */
  | { readonly kind: 'reset'; readonly revision: Revision }
  /** The node is shutting down (no revision to resume from here). */
  | { readonly kind: 'closed'; readonly reason: string };

/** The compact revision a cancel reports on the wire (raftkv's numbers; 0: none). */
export function compactRevisionOf(cancel: WatchCancel): number {
  switch (cancel.kind) {
    case 'compacted':
      return cancel.oldest - 1;
    case 'reset':
      return cancel.revision;
    case 'closed':
      return 0;
    default:
      return unreachable(cancel, 'watch cancel');
  }
}

/** A cancel's text, with every revision as `show` numbers it (raftkv.v1: as it is). */
export function describeWatchCancel(cancel: WatchCancel, show: (raftkvRevision: number) => number = (r) => r): string {
  switch (cancel.kind) {
    case 'compacted':
      return `revision ${show(cancel.requested)} is older than the kept watch history (oldest ${show(cancel.oldest)})`;
    case 'reset':
      return 'the node installed a snapshot; re-read and watch again';
    case 'closed':
      return cancel.reason;
    default:
      return unreachable(cancel, 'watch cancel');
  }
}

/** A watcher's callbacks. */
export interface WatchSink {
  /** Events at one revision, in order. */
  events(events: readonly WatchEvent[], revision: Revision): void;
  /** The watch ended on the server's side (compacted history, snapshot reset, shutdown). */
  cancel(cancel: WatchCancel): void;
}

interface Watcher {
  readonly lo: Uint8Array;
  /** Exclusive end, or null for a single key. */
  readonly hi: Uint8Array | null;
  readonly sink: WatchSink;
}

/** Fans applied changes out to watchers. */
export class WatchHub {
  private readonly history: WatchHistory<KeptEvent>;
  private readonly watchers = new Set<Watcher>();

  constructor(
    private readonly watchersMax: number,
    /** The current revision (for "from now"). */
    private readonly currentRevision: () => Revision,
    historyEventsMax: number = watchHistoryEventsMax,
  ) {
    this.history = new WatchHistory<KeptEvent>(historyEventsMax);
  }

  /** Number of active watchers. */
  get size(): number {
    return this.watchers.size;
  }

  /**
   * Registers a watcher and replays kept history from `startRevision`. Returns an unsubscribe
   * function. Throws `OverloadedError` past `watchersMax`.
   */
  watch(spec: WatchSpec, sink: WatchSink): () => void {
    if (this.watchers.size >= this.watchersMax) throw new OverloadedError(`too many watchers (watchersMax ${this.watchersMax})`, 1000);
    const hi = spec.prefix ? prefixEnd(spec.key) : spec.rangeEnd.length > 0 ? spec.rangeEnd : null;
    const watcher: Watcher = { lo: spec.key, hi, sink };
    const oldest = this.history.oldestRevision() ?? revision(this.currentRevision() + 1);
    if (spec.startRevision > 0 && spec.startRevision < oldest && spec.startRevision <= this.currentRevision()) {
      sink.cancel({ kind: 'compacted', requested: spec.startRevision, oldest });
      return () => {};
    }
    if (spec.startRevision > 0) {
      for (const h of this.history.since(spec.startRevision)) {
        const mine = h.events.map(unkeep).filter((e) => matches(watcher, e.kv.key));
        if (mine.length > 0) sink.events(mine, h.revision);
      }
    }
    this.watchers.add(watcher);
    return () => this.watchers.delete(watcher);
  }

  /** Records applied changes and delivers them. */
  publish(changes: readonly AppliedChange[]): void {
    for (const change of changes) {
      if (change.reset) {
        this.resetAll(change.revision);
        continue;
      }
      const events = change.mutations.map((m) => toEvent(m, change.revision)).filter((e): e is WatchEvent => e !== null);
      if (events.length === 0) continue;
      this.history.push(change.revision, events.map(keep));
      for (const w of this.watchers) {
        const mine = events.filter((e) => matches(w, e.kv.key));
        if (mine.length > 0) w.sink.events(mine, change.revision);
      }
    }
  }

  /** Cancels every watcher (shutdown). */
  close(reason: string): void {
    for (const w of this.watchers) w.sink.cancel({ kind: 'closed', reason });
    this.watchers.clear();
  }

  /** A snapshot replaced the state: history no longer describes it, so every watch restarts. */
  private resetAll(rev: Revision): void {
    this.history.clear();
    for (const w of this.watchers) w.sink.cancel({ kind: 'reset', revision: rev });
    this.watchers.clear();
  }
}

function matches(w: Watcher, key: Uint8Array): boolean {
  if (w.hi === null) return compareBytes(key, w.lo) === 0;
  return compareBytes(key, w.lo) >= 0 && (w.hi.length === 0 || compareBytes(key, w.hi) < 0);
}

function toEvent(m: Mutation, rev: Revision): WatchEvent | null {
  switch (m.type) {
    case 'putKey':
      return { type: 'put', kv: m.kv, prevKv: m.prev ?? null };
    case 'deleteKey':
      return { type: 'delete', kv: { key: m.key, value: new Uint8Array(0), createRevision: revision(0), modRevision: rev, version: 0 }, prevKv: m.prev ?? null };
    case 'putSession':
    case 'deleteSession':
      return null;
  }
}
