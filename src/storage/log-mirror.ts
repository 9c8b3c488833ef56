/**
 * The in-memory mirror of the stored log tail. The Raft core reads synchronously, so LevelStorage
 * keeps every stored entry `[firstIndex, lastIndex]` in memory, plus the compaction point. The
 * mirror is bounded because the node compacts the log behind snapshots.
 *
 * The mirror changes only AFTER the LevelDB batch that makes the same change has been written, so
 * it never shows the core anything that is not on disk.
 */
import { assert, CompactedError, logIndex } from '../util/index.js';
import type { LogIndex, Term } from '../util/index.js';
import type { EntriesQuery, Entry } from '../raft/index.js';
import type { LogStart } from './raft-records.js';

/** The stored log: a compaction point and the entries after it. */
export class LogMirror {
  /** The entry just before the first stored entry (index 0, term 0 for a new log). */
  private startPoint: LogStart;
  /** Invariant: `items[i].index === startPoint.index + 1 + i`, and terms never decrease. */
  private readonly items: Entry[];
  /**
   * Running data bytes: `cumulativeBytes[i]` is `baseBytes` plus the data bytes of `items[0..i]`,
   * so the bytes of any stored run are one subtraction (the snapshot pipeline bounds the log's
   * memory by bytes, not only by entry count).
   */
  private readonly cumulativeBytes: number[] = [];
  /** The running total just before `items[0]`. */
  private baseBytes = 0;

  constructor(start: LogStart, entries: readonly Entry[]) {
    this.startPoint = start;
    this.items = [];
    this.append(entries);
  }

  /** The compaction point. */
  get start(): LogStart {
    return this.startPoint;
  }

  /** The first stored index (the compaction point + 1). */
  firstIndex(): LogIndex {
    return logIndex(this.startPoint.index + 1);
  }

  /** The last stored index (the compaction point if no entries are stored). */
  lastIndex(): LogIndex {
    return logIndex(this.startPoint.index + this.items.length);
  }

  /** Number of stored entries. */
  get length(): number {
    return this.items.length;
  }

  /** The entry at `index`, which must be stored. */
  entryAt(index: number): Entry {
    const entry = this.items[index - this.startPoint.index - 1];
    assert(entry !== undefined && entry.index === index, () => `no stored entry at index ${index} (log is [${this.firstIndex()}, ${this.lastIndex()}])`);
    return entry;
  }

  /**
   * The term at `index`, for `firstIndex() - 1 <= index <= lastIndex()`. Throws `CompactedError`
   * below that range; asserts above it (asking for an index the log does not have is a bug).
   */
  term(index: LogIndex): Term {
    if (index < this.startPoint.index) {
      throw new CompactedError(`term of index ${index} requested, but the log is compacted up to index ${this.startPoint.index}`);
    }
    if (index === this.startPoint.index) return this.startPoint.term;
    assert(index <= this.lastIndex(), () => `term of index ${index} requested beyond the last index ${this.lastIndex()}`);
    return this.entryAt(index).term;
  }

  /** True if the log holds `index` with `term` (including the compaction point). */
  matches(index: number, entryTerm: number): boolean {
    if (index < this.startPoint.index || index > this.lastIndex()) return false;
    return this.term(logIndex(index)) === entryTerm;
  }

  /**
   * Entries `[lo, hi)`, cut so that their data stays within `bytesMax`, but never fewer than one
   * when `lo < hi` (the etcd-io/raft `limitSize` rule).
   */
  entries(query: EntriesQuery): Entry[] {
    const { lo, hi, bytesMax } = query;
    if (lo < this.firstIndex()) {
      throw new CompactedError(`entries from index ${lo} requested, but the log is compacted up to index ${this.startPoint.index}`);
    }
    assert(lo <= hi, () => `entries: lo ${lo} > hi ${hi}`);
    assert(hi <= this.lastIndex() + 1, () => `entries: hi ${hi} beyond lastIndex + 1 = ${this.lastIndex() + 1}`);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const entry = this.entryAt(i);
      bytes += entry.data.length;
      if (out.length > 0 && bytes > bytesMax) break;
      out.push(entry);
    }
    return out;
  }

  /** Replaces entries from `entries[0].index` on (dropping the stored suffix) and appends `entries`. */
  append(entries: readonly Entry[]): void {
    const first = entries[0];
    if (first === undefined) return;
    assert(first.index > this.startPoint.index && first.index <= this.lastIndex() + 1, () => `append at ${first.index} outside [${this.firstIndex()}, ${this.lastIndex() + 1}]`);
    this.items.length = first.index - this.startPoint.index - 1;
    this.cumulativeBytes.length = this.items.length;
    let total = this.cumulativeBytes[this.items.length - 1] ?? this.baseBytes;
    for (const entry of entries) {
      this.items.push(entry);
      total += entry.data.length;
      this.cumulativeBytes.push(total);
    }
  }

  /** Data bytes of the stored entries `[lo, hi]` (0 when `hi < lo`); both ends must be stored when `hi >= lo`. */
  dataBytes(lo: number, hi: number): number {
    if (hi < lo) return 0;
    assert(lo >= this.firstIndex() && hi <= this.lastIndex(), () => `dataBytes(${lo}, ${hi}) outside the log [${this.firstIndex()}, ${this.lastIndex()}]`);
    const before = lo === this.firstIndex() ? this.baseBytes : (this.cumulativeBytes[lo - this.startPoint.index - 2] as number);
    return (this.cumulativeBytes[hi - this.startPoint.index - 1] as number) - before;
  }

  /**
   * The smallest index `i` in `[firstIndex(), hi + 1]` such that the entries `[i, hi]` hold at
   * most `bytesMax` data bytes (`hi + 1`: not even entry `hi` fits). `hi` must be stored or the
   * compaction point.
   */
  firstIndexWithin(hi: number, bytesMax: number): number {
    assert(hi >= this.startPoint.index && hi <= this.lastIndex(), () => `firstIndexWithin(${hi}) outside the log [${this.startPoint.index}, ${this.lastIndex()}]`);
    let lo = this.firstIndex() as number;
    let high = hi + 1;
    // Bisection: dataBytes(i, hi) only shrinks as i grows.
    while (lo < high) {
      const mid = Math.floor((lo + high) / 2);
      if (this.dataBytes(mid, hi) <= bytesMax) high = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** Drops every entry up to and including `start.index`, which must be stored (or the compaction point). */
  compactTo(start: LogStart): void {
    assert(this.matches(start.index, start.term), () => `compactTo(${start.index}, term ${start.term}) does not match the log`);
    const dropped = start.index - this.startPoint.index;
    if (dropped > 0) this.baseBytes = this.cumulativeBytes[dropped - 1] as number;
    this.items.splice(0, dropped);
    this.cumulativeBytes.splice(0, dropped);
    this.startPoint = start;
  }

  /** Drops every entry and moves the compaction point (installing a snapshot that does not match the log). */
  reset(start: LogStart): void {
    this.items.length = 0;
    this.cumulativeBytes.length = 0;
    this.baseBytes = 0;
    this.startPoint = start;
  }
}
