/**
 * The Raft log as the core sees it (after etcd-io/raft `log.go`): stable storage below, the
 * unstable part on top, plus the commit and apply cursors.
 *
 * Invariant: firstIndex() - 1 <= applied <= applying <= committed <= lastIndex().
 */
import { assert, CompactedError, logIndex } from '../util/index.js';
import type { LogIndex, Logger, Term } from '../util/index.js';
import { Unstable } from './log-unstable.js';
import type { RaftStorage } from './storage.js';
import type { Entry, Snapshot } from './types.js';

/** Cuts `entries` once they exceed `bytesMax` of data, always keeping the first one. */
export function limitSize(entries: readonly Entry[], bytesMax: number): Entry[] {
  const out: Entry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    bytes += entry.data.length;
    if (out.length > 0 && bytes > bytesMax) break;
    out.push(entry);
  }
  return out;
}

/** Total data bytes of `entries` (the size that limits count). */
export function payloadBytes(entries: readonly Entry[]): number {
  return entries.reduce((sum, e) => sum + e.data.length, 0);
}

/** The log: storage + unstable entries, with the commit and apply cursors. */
export class RaftLog {
  /** Entries not yet persisted. */
  readonly unstable: Unstable;
  /** The highest index known to be committed (Raft paper Figure 2: commitIndex). */
  committed: LogIndex;
  /** The highest index handed to the application in a Ready (applied once `advance()` is called). */
  applying: LogIndex;
  /** The highest index the application applied (Raft paper Figure 2: lastApplied). */
  applied: LogIndex;

  /** Opens the log over `storage`; `committed` and `applied` start at the snapshot's index. */
  constructor(
    /** The persisted log, read synchronously. */
    readonly storage: RaftStorage,
    /** Where diagnostics go. */
    private readonly logger: Logger,
  ) {
    this.unstable = new Unstable(logIndex(storage.lastIndex() + 1));
    this.committed = logIndex(storage.firstIndex() - 1);
    this.applying = this.committed;
    this.applied = this.committed;
  }

  /** The first index that still has an entry (the snapshot's index + 1). */
  firstIndex(): LogIndex {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  /** The last index in the log. */
  lastIndex(): LogIndex {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** The term of the last entry. */
  lastTerm(): Term {
    const t = this.term(this.lastIndex());
    assert(t !== null, 'the last index always has a term');
    return t;
  }

  /** The term at `index`, or null if it was compacted or lies beyond the log. */
  term(index: LogIndex): Term | null {
    if (index < this.firstIndex() - 1 || index > this.lastIndex()) return null;
    const unstable = this.unstable.maybeTerm(index);
    if (unstable !== null) return unstable;
    try {
      return this.storage.term(index);
    } catch (e) {
      if (e instanceof CompactedError) return null;
      throw e;
    }
  }

  /** True if the log has an entry at `index` with `term`. */
  matchTerm(index: LogIndex, term: Term): boolean {
    return this.term(index) === term;
  }

  /** Raft paper §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: LogIndex, lastTerm: Term): boolean {
    const ourTerm = this.lastTerm();
    return lastTerm > ourTerm || (lastTerm === ourTerm && lastIndex >= this.lastIndex());
  }

  /** The last index durably persisted (0 while an incoming snapshot is not yet persisted). */
  persistedLastIndex(): LogIndex {
    return this.unstable.snapshot !== null ? logIndex(0) : logIndex(this.unstable.offset - 1);
  }

  /**
   * Entries `[lo, hi)` cut at `bytesMax` (never empty when lo < hi), or null if `lo` was compacted.
   */
  slice(query: { lo: LogIndex; hi: LogIndex; bytesMax: number }): Entry[] | null {
    const { lo, hi, bytesMax } = query;
    assert(lo <= hi && hi <= this.lastIndex() + 1, () => `slice(${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    if (lo < this.firstIndex()) return null;
    if (lo === hi) return [];
    const offset = this.unstable.offset;
    let out: Entry[] = [];
    if (lo < offset) {
      const storedHi = logIndex(Math.min(hi, offset));
      out = [...this.storage.entries({ lo, hi: storedHi, bytesMax })];
      assert(out[0]?.index === lo, () => `storage returned entries from ${String(out[0]?.index)}, asked ${lo}`);
      if (out.length < storedHi - lo) return out;
    }
    if (hi > offset) out = out.concat(this.unstable.slice(logIndex(Math.max(lo, offset)), hi));
    return limitSize(out, bytesMax);
  }

  /** Entries from `lo` to the end, cut at `bytesMax`; null if `lo` was compacted. */
  entriesFrom(lo: LogIndex, bytesMax: number): Entry[] | null {
    return this.slice({ lo, hi: logIndex(this.lastIndex() + 1), bytesMax });
  }

  /**
   * Appends `entries` (which may overwrite a conflicting uncommitted suffix) and returns the new
   * last index. Invariant: committed entries are never overwritten (Raft paper §5.4: Leader Completeness).
   */
  append(entries: readonly Entry[]): LogIndex {
    const first = entries[0];
    if (first === undefined) return this.lastIndex();
    assert(first.index > this.committed, () => `append at ${first.index} would overwrite committed ${this.committed}`);
    assert(first.index <= this.lastIndex() + 1, () => `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    this.unstable.truncateAndAppend(entries);
    return this.lastIndex();
  }

  /**
   * Raft paper §5.3: the first entry of `entries` that conflicts with the log (same index, other
   * term) or is new, as an index into `entries`; `entries.length` if all are already present.
   */
  findConflict(entries: readonly Entry[]): number {
    for (let i = 0; i < entries.length; i++) {
      const e = entries[i] as Entry;
      if (!this.matchTerm(e.index, e.term)) {
        if (e.index <= this.lastIndex()) {
          this.logger.debug({ index: e.index, existing: this.term(e.index), term: e.term }, 'conflicting entry found');
        }
        return i;
      }
    }
    return entries.length;
  }

  /**
   * Fast backtracking (etcd's findConflictByTerm): the largest index <= `index` whose term is
   * <= `term`, with that term. Used by a follower to reject with a hint and by the leader to
   * skip a whole divergent term in one round trip.
   */
  findConflictByTerm(index: LogIndex, term: Term): { index: LogIndex; term: Term } {
    for (let i = index; i > 0; i--) {
      const ours = this.term(logIndex(i));
      if (ours === null) return { index: logIndex(i), term: 0 as Term };
      if (ours <= term) return { index: logIndex(i), term: ours };
    }
    return { index: logIndex(0), term: 0 as Term };
  }

  /** Moves the commit index forward to `index`. Invariant: committed <= lastIndex(). */
  commitTo(index: LogIndex): void {
    if (index <= this.committed) return;
    assert(index <= this.lastIndex(), () => `commit ${index} beyond last index ${this.lastIndex()}`);
    this.committed = index;
  }

  /** Records that the application applied everything up to `index`. Invariant: applied <= committed. */
  appliedTo(index: LogIndex): void {
    assert(index <= this.committed, () => `applied ${index} beyond committed ${this.committed}`);
    if (index > this.applied) this.applied = index;
    if (index > this.applying) this.applying = index;
  }

  /** True if committed entries are persisted and not yet handed out. */
  hasNextCommittedEntries(): boolean {
    const lo = Math.max(this.applying + 1, this.firstIndex());
    return lo <= Math.min(this.committed, this.persistedLastIndex());
  }

  /**
   * Committed entries not yet handed out, at most `bytesMax` (but at least one), and never
   * beyond what is persisted locally: an entry is applied only once it is in stable storage.
   */
  nextCommittedEntries(bytesMax: number): Entry[] {
    if (!this.hasNextCommittedEntries()) return [];
    const lo = logIndex(Math.max(this.applying + 1, this.firstIndex()));
    const hi = logIndex(Math.min(this.committed, this.persistedLastIndex()) + 1);
    const entries = this.slice({ lo, hi, bytesMax });
    assert(entries !== null && entries.length > 0, () => `committed entries [${lo}, ${hi}) unavailable`);
    return entries;
  }

  /** Marks committed entries up to `index` as handed out to the application. */
  acceptApplying(index: LogIndex): void {
    assert(index <= this.committed, () => `applying ${index} beyond committed ${this.committed}`);
    if (index > this.applying) this.applying = index;
  }

  /** Marks entries up to `index` (with `term`) as persisted. */
  stableTo(index: LogIndex, term: Term): void {
    this.unstable.stableTo(index, term);
  }

  /**
   * Marks the snapshot at `index` as persisted. Storage may have kept entries after it (Raft
   * paper Figure 13 step 6, when its own copy of the snapshot's last entry matched): if nothing
   * unstable follows, the log continues with those entries, so the unstable part starts after them.
   */
  stableSnapTo(index: LogIndex): void {
    const u = this.unstable;
    u.stableSnapTo(index);
    if (u.snapshot === null && u.entries.length === 0) {
      u.offset = logIndex(this.storage.lastIndex() + 1);
      u.offsetInProgress = u.offset;
    }
  }

  /** Replaces the log with `snapshot` (Raft paper §7): committed moves to the snapshot's index. */
  restore(snapshot: Snapshot): void {
    this.logger.info({ index: snapshot.metadata.index, term: snapshot.metadata.term }, 'log restored from snapshot');
    this.committed = snapshot.metadata.index;
    this.unstable.restore(snapshot);
  }

  /** The latest snapshot: the pending incoming one, or the one in storage. */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }
}
