/**
 * The part of the log not yet in stable storage (after etcd-io/raft `log_unstable.go`): new
 * entries and, on a follower, an incoming snapshot. `offset` is the index of `entries[0]`.
 * Entries handed to the driver in a Ready are "in progress" until `advance()` marks them stable.
 */
import { assert, logIndex } from '../util/index.js';
import type { LogIndex, Term } from '../util/index.js';
import type { Entry, Snapshot } from './types.js';

/** Entries and a snapshot waiting to be persisted. */
export class Unstable {
  /** An incoming snapshot not yet persisted, or null. */
  snapshot: Snapshot | null = null;
  /** Entries not yet persisted; `entries[i].index === offset + i`. */
  entries: Entry[] = [];
  /** The index of `entries[0]` (or where the next entry would go). Invariant: everything below it is persisted. */
  offset: LogIndex;
  /** Entries below this index were handed out in a Ready and are being persisted. */
  offsetInProgress: LogIndex;
  /** True when `snapshot` was handed out in a Ready and is being persisted. */
  snapshotInProgress = false;

  /** @param offset the index after the last persisted entry (`storage.lastIndex() + 1`). */
  constructor(offset: LogIndex) {
    this.offset = offset;
    this.offsetInProgress = offset;
  }

  /** The first index if a snapshot is pending (the log restarts after it), else null. */
  maybeFirstIndex(): LogIndex | null {
    return this.snapshot === null ? null : logIndex(this.snapshot.metadata.index + 1);
  }

  /** The last index held here, or null if there are neither entries nor a snapshot. */
  maybeLastIndex(): LogIndex | null {
    if (this.entries.length > 0) return logIndex(this.offset + this.entries.length - 1);
    return this.snapshot === null ? null : this.snapshot.metadata.index;
  }

  /** The term at `index` if this structure knows it, else null. */
  maybeTerm(index: LogIndex): Term | null {
    if (index < this.offset) {
      const meta = this.snapshot?.metadata;
      return meta !== undefined && meta.index === index ? meta.term : null;
    }
    const entry = this.entries[index - this.offset];
    return entry === undefined ? null : entry.term;
  }

  /** True if some entries were not yet handed out in a Ready. */
  hasNextEntries(): boolean {
    return this.offsetInProgress < this.offset + this.entries.length;
  }

  /** Entries not yet handed out in a Ready (a fresh array). */
  nextEntries(): Entry[] {
    return this.entries.slice(this.offsetInProgress - this.offset);
  }

  /** The snapshot if it was not yet handed out in a Ready. */
  nextSnapshot(): Snapshot | null {
    return this.snapshotInProgress ? null : this.snapshot;
  }

  /** Marks everything currently held as handed out in a Ready. */
  acceptInProgress(): void {
    this.offsetInProgress = logIndex(this.offset + this.entries.length);
    this.snapshotInProgress = this.snapshot !== null;
  }

  /**
   * Marks entries up to `index` as persisted, if the entry there still has `term` (it may have
   * been overwritten by a conflicting append while the batch was being written).
   */
  stableTo(index: LogIndex, term: Term): void {
    if (index < this.offset || this.maybeTerm(index) !== term) return;
    const count = index + 1 - this.offset;
    this.entries = this.entries.slice(count);
    this.offset = logIndex(index + 1);
    this.offsetInProgress = logIndex(Math.max(this.offsetInProgress, this.offset));
  }

  /** Marks the snapshot at `index` as persisted. */
  stableSnapTo(index: LogIndex): void {
    if (this.snapshot !== null && this.snapshot.metadata.index === index) {
      this.snapshot = null;
      this.snapshotInProgress = false;
    }
  }

  /** Replaces everything with `snapshot`: the log restarts after it. */
  restore(snapshot: Snapshot): void {
    this.offset = logIndex(snapshot.metadata.index + 1);
    this.offsetInProgress = this.offset;
    this.entries = [];
    this.snapshot = snapshot;
    this.snapshotInProgress = false;
  }

  /** Appends `entries`, first dropping any held entry at or after `entries[0].index`. */
  truncateAndAppend(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    const from = first.index;
    if (from === this.offset + this.entries.length) {
      this.entries.push(...entries);
    } else if (from <= this.offset) {
      // Replaces the whole unstable part; the driver overwrites storage from `from` on.
      this.offset = from;
      this.entries = [...entries];
    } else {
      this.entries = [...this.entries.slice(0, from - this.offset), ...entries];
    }
    this.offsetInProgress = logIndex(Math.min(this.offsetInProgress, from));
    const last = entries[entries.length - 1] as Entry;
    // Invariant: entries[i].index === offset + i (checked at both ends of the appended run).
    assert(this.entries[from - this.offset] === first && this.entries[last.index - this.offset] === last, () => `unstable entries not contiguous after appending at ${from}`);
  }

  /** Entries `[lo, hi)`, which must lie inside the unstable entries. */
  slice(lo: LogIndex, hi: LogIndex): Entry[] {
    assert(this.offset <= lo && lo <= hi && hi <= this.offset + this.entries.length, () => `unstable.slice(${lo}, ${hi}) out of [${this.offset}, ${this.offset + this.entries.length}]`);
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
