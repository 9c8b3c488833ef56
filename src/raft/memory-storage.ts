/**
 * `MemoryStorage`: Raft storage held in memory (after etcd-io/raft `storage.go`), for tests and
 * the deterministic simulator. Every write is synchronous and atomic, so the object itself is
 * the node's "disk": after a simulated crash, build a new `RawNode` on the same MemoryStorage
 * (with `applied` = what the state machine had applied) and it recovers exactly what was
 * persisted. The async methods of `DurableRaftStorage` delegate to the `...Sync` ones.
 */
import { assert, CompactedError, logIndex, term as asTerm } from '../util/index.js';
import type { LogIndex, Term } from '../util/index.js';
import { limitSize } from './raft-log.js';
import type { DurableRaftStorage, EntriesQuery, InitialState, PersistBatch } from './storage.js';
import type { ConfState, Entry, HardState, Snapshot } from './types.js';
import { emptyHardState } from './types.js';

/** In-memory, synchronous, crash-consistent Raft storage. */
export class MemoryStorage implements DurableRaftStorage {
  /** The persisted term, vote and commit index. */
  private hardState: HardState;
  /** The membership as of the last applied change or snapshot. */
  private confState: ConfState;
  /** The latest snapshot (index 0 before the first one). */
  private latestSnapshot: Snapshot;
  /** Index and term of the last compacted entry (the log's sentinel). Invariant: dummyIndex <= snapshot index. */
  private dummyIndex: LogIndex = logIndex(0);
  /** The term of the entry at `dummyIndex`. */
  private dummyTerm: Term = asTerm(0);
  /** Entries after the sentinel: `entries[i].index === dummyIndex + 1 + i`. */
  private entryList: Entry[] = [];

  /** A fresh disk holding `confState` (the bootstrap membership) and, optionally, a hard state. */
  constructor(init: { confState: ConfState; hardState?: HardState }) {
    this.hardState = init.hardState ?? emptyHardState;
    this.confState = copyConf(init.confState);
    this.latestSnapshot = { metadata: { index: logIndex(0), term: asTerm(0), conf: copyConf(init.confState) }, data: new Uint8Array(0) };
  }

  /** The persisted hard state and membership. */
  initialState(): InitialState {
    return { hardState: this.hardState, confState: copyConf(this.confState) };
  }

  /** Entries `[lo, hi)` cut at `bytesMax` (at least one). Throws `CompactedError` below `firstIndex()`. */
  entries(query: EntriesQuery): readonly Entry[] {
    const { lo, hi, bytesMax } = query;
    if (lo <= this.dummyIndex) throw new CompactedError(`entries from ${lo} are compacted (first index ${this.firstIndex()})`);
    assert(lo <= hi && hi <= this.lastIndex() + 1, () => `entries [${lo}, ${hi}) beyond last index ${this.lastIndex()}`);
    return limitSize(this.entryList.slice(lo - this.dummyIndex - 1, hi - this.dummyIndex - 1), bytesMax);
  }

  /** The term at `index`, for `firstIndex() - 1 <= index <= lastIndex()`. */
  term(index: LogIndex): Term {
    if (index < this.dummyIndex) throw new CompactedError(`term of ${index} is compacted (first index ${this.firstIndex()})`);
    if (index === this.dummyIndex) return this.dummyTerm;
    const entry = this.entryList[index - this.dummyIndex - 1];
    assert(entry !== undefined, () => `term(${index}) beyond last index ${this.lastIndex()}`);
    return entry.term;
  }

  /** The first index still in the log. */
  firstIndex(): LogIndex {
    return logIndex(this.dummyIndex + 1);
  }

  /** The last index in the log (the sentinel's when empty). */
  lastIndex(): LogIndex {
    return logIndex(this.dummyIndex + this.entryList.length);
  }

  /** The latest snapshot. */
  snapshot(): Snapshot {
    return this.latestSnapshot;
  }

  /**
   * Persists one Ready atomically: the snapshot first (see `installSnapshot`), then the
   * entries (replacing any stored entries from `entries[0].index` on), then the hard state.
   */
  persistSync(batch: PersistBatch): void {
    if (batch.snapshot !== null) this.installSnapshot(batch.snapshot);
    if (batch.entries.length > 0) this.appendEntries(batch.entries);
    if (batch.hardState !== null) {
      // Assert the durable property before writing: the commit index is inside the log.
      assert(batch.hardState.commit <= this.lastIndex(), () => `hard state commit ${batch.hardState?.commit} beyond last index ${this.lastIndex()}`);
      this.hardState = batch.hardState;
    }
  }

  /**
   * Raft paper Figure 13: if the log holds the snapshot's last entry (same index and term), the
   * entries after it are kept (step 6); otherwise the whole log is discarded (step 7).
   */
  private installSnapshot(snapshot: Snapshot): void {
    const { index, term, conf } = snapshot.metadata;
    assert(index > this.latestSnapshot.metadata.index, () => `snapshot at ${index} is not newer than the stored one at ${this.latestSnapshot.metadata.index}`);
    const keep = index >= this.dummyIndex && index <= this.lastIndex() && this.term(index) === term;
    this.entryList = keep ? this.entryList.slice(index - this.dummyIndex) : [];
    this.latestSnapshot = snapshot;
    this.dummyIndex = index;
    this.dummyTerm = term;
    this.confState = copyConf(conf);
  }

  private appendEntries(entries: readonly Entry[]): void {
    const first = entries[0] as Entry;
    assert(first.index > this.dummyIndex, () => `append at ${first.index} into the compacted log (first index ${this.firstIndex()})`);
    assert(first.index <= this.lastIndex() + 1, () => `append at ${first.index} leaves a gap after ${this.lastIndex()}`);
    entries.forEach((e, i) => assert(e.index === first.index + i, () => `entries not contiguous at ${e.index}`));
    // Drop any stored suffix the batch replaces, then append in place (no copy of the whole log).
    this.entryList.length = first.index - this.dummyIndex - 1;
    for (const e of entries) this.entryList.push(e);
  }

  /** Records a snapshot of the applied state at `index` with membership `conf`. Does not compact. */
  createSnapshotSync(index: LogIndex, conf: ConfState, data: Uint8Array): Snapshot {
    assert(index > this.latestSnapshot.metadata.index, () => `snapshot at ${index} is not newer than the stored one at ${this.latestSnapshot.metadata.index}`);
    assert(index <= this.hardState.commit, () => `snapshot at ${index} beyond the commit index ${this.hardState.commit}`);
    this.latestSnapshot = { metadata: { index, term: this.term(index), conf: copyConf(conf) }, data };
    return this.latestSnapshot;
  }

  /** Discards entries up to and including `index` (<= the snapshot's index); `term(index)` stays answered. */
  compactSync(index: LogIndex): void {
    assert(index <= this.latestSnapshot.metadata.index, () => `compact(${index}) beyond the snapshot at ${this.latestSnapshot.metadata.index}`);
    if (index <= this.dummyIndex) return;
    const term = this.term(index);
    this.entryList = this.entryList.slice(index - this.dummyIndex);
    this.dummyIndex = index;
    this.dummyTerm = term;
  }

  /** Records the membership after the application applied a change. */
  setConfStateSync(conf: ConfState): void {
    this.confState = copyConf(conf);
  }

  /** See `persistSync`. */
  async persist(batch: PersistBatch): Promise<void> {
    this.persistSync(batch);
  }

  /** See `createSnapshotSync`. */
  async createSnapshot(index: LogIndex, conf: ConfState, data: Uint8Array): Promise<Snapshot> {
    return this.createSnapshotSync(index, conf, data);
  }

  /** See `compactSync`. */
  async compact(index: LogIndex): Promise<void> {
    this.compactSync(index);
  }

  /** See `setConfStateSync`. */
  async setConfState(conf: ConfState): Promise<void> {
    this.setConfStateSync(conf);
  }
}

function copyConf(conf: ConfState): ConfState {
  return { voters: [...conf.voters], learners: [...conf.learners] };
}
