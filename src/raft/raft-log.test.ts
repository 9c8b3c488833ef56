import { describe, expect, it } from 'vitest';
import { noopLogger, nodeId, term } from '../util/index.js';
import { Unstable } from './log-unstable.js';
import { MemoryStorage } from './memory-storage.js';
import { limitSize, RaftLog } from './raft-log.js';
import { idx } from './test-network.js';
import type { Entry, Snapshot } from './types.js';

const entry = (index: number, t: number, size = 1): Entry => ({ index: idx(index), term: term(t), type: 'normal', data: new Uint8Array(size) });
const conf = { voters: [nodeId('n1')], learners: [] };

/** A log whose storage holds entries with `stored` terms and whose unstable part appends `unstable` terms. */
function logWith(stored: number[], unstable: number[] = []): RaftLog {
  const storage = new MemoryStorage({ confState: conf });
  storage.persistSync({ hardState: null, entries: stored.map((t, i) => entry(i + 1, t)), snapshot: null });
  const log = new RaftLog(storage, noopLogger);
  if (unstable.length > 0) log.append(unstable.map((t, i) => entry(stored.length + 1 + i, t)));
  return log;
}

describe('Unstable', () => {
  it('truncates and appends in the three possible positions', () => {
    // Proves appending after, inside and before the unstable entries keeps indexes contiguous.
    const u = new Unstable(idx(5));
    u.truncateAndAppend([entry(5, 1), entry(6, 1), entry(7, 1)]);
    u.truncateAndAppend([entry(8, 2)]);
    expect(u.entries.map((e) => `${e.index}/${e.term}`)).toEqual(['5/1', '6/1', '7/1', '8/2']);
    u.truncateAndAppend([entry(7, 3)]);
    expect(u.entries.map((e) => `${e.index}/${e.term}`)).toEqual(['5/1', '6/1', '7/3']);
    u.truncateAndAppend([entry(4, 4)]);
    expect(u.offset).toBe(4);
    expect(u.entries.map((e) => `${e.index}/${e.term}`)).toEqual(['4/4']);
  });

  it('marks entries stable only if the term still matches', () => {
    // Proves an entry overwritten while its batch was being persisted is not marked stable.
    const u = new Unstable(idx(1));
    u.truncateAndAppend([entry(1, 1), entry(2, 1)]);
    u.acceptInProgress();
    u.truncateAndAppend([entry(2, 2)]);
    expect(u.nextEntries().map((e) => e.index)).toEqual([2]);
    u.stableTo(idx(2), term(1));
    expect(u.offset).toBe(1);
    u.stableTo(idx(1), term(1));
    expect(u.offset).toBe(2);
    expect(u.entries.map((e) => `${e.index}/${e.term}`)).toEqual(['2/2']);
  });

  it('restores from a snapshot and answers its term', () => {
    // Proves a pending snapshot defines first/last index and the term at its index.
    const u = new Unstable(idx(3));
    const snapshot: Snapshot = { metadata: { index: idx(10), term: term(4), conf }, data: new Uint8Array() };
    u.restore(snapshot);
    expect([u.maybeFirstIndex(), u.maybeLastIndex(), u.maybeTerm(idx(10)), u.maybeTerm(idx(9))]).toEqual([11, 10, 4, null]);
    expect(u.nextSnapshot()).toBe(snapshot);
    u.acceptInProgress();
    expect(u.nextSnapshot()).toBeNull();
    u.stableSnapTo(idx(10));
    expect(u.snapshot).toBeNull();
  });
});

describe('RaftLog', () => {
  it('reads entries across storage and the unstable part, cut by bytes', () => {
    // Proves slice() joins both halves and honours bytesMax while always returning one entry.
    const log = logWith([1, 1, 2], [2, 3]);
    expect(log.lastIndex()).toBe(5);
    expect(log.slice({ lo: idx(2), hi: idx(6), bytesMax: 100 })?.map((e) => e.index)).toEqual([2, 3, 4, 5]);
    expect(log.slice({ lo: idx(2), hi: idx(6), bytesMax: 2 })?.map((e) => e.index)).toEqual([2, 3]);
    expect(log.slice({ lo: idx(4), hi: idx(6), bytesMax: 0 })?.map((e) => e.index)).toEqual([4]);
    expect(limitSize([entry(1, 1, 50), entry(2, 1, 1)], 10).map((e) => e.index)).toEqual([1]);
  });

  it('answers terms, and null outside the log', () => {
    // Proves term() covers the sentinel, storage and unstable entries, and nothing beyond.
    const log = logWith([1, 2], [3]);
    expect([0, 1, 2, 3, 4].map((i) => log.term(idx(i)))).toEqual([0, 1, 2, 3, null]);
  });

  it('returns null for compacted entries', () => {
    // Proves reads below the first index report compaction instead of throwing.
    const log = logWith([1, 1, 1, 1]);
    const storage = log.storage as MemoryStorage;
    storage.persistSync({ hardState: { term: term(1), vote: null, commit: idx(4) }, entries: [], snapshot: null });
    storage.createSnapshotSync(idx(3), conf, new Uint8Array());
    storage.compactSync(idx(3));
    const reopened = new RaftLog(storage, noopLogger);
    expect(reopened.firstIndex()).toBe(4);
    expect(reopened.term(idx(2))).toBeNull();
    expect(reopened.term(idx(3))).toBe(1);
    expect(reopened.slice({ lo: idx(2), hi: idx(5), bytesMax: 100 })).toBeNull();
  });

  it('finds the first conflicting or new entry', () => {
    // Proves findConflict skips entries already present and stops at a term mismatch.
    const log = logWith([1, 1, 2]);
    expect(log.findConflict([entry(2, 1), entry(3, 2)])).toBe(2);
    expect(log.findConflict([entry(2, 1), entry(3, 3)])).toBe(1);
    expect(log.findConflict([entry(3, 2), entry(4, 2)])).toBe(1);
  });

  it('findConflictByTerm skips every entry with a larger term', () => {
    // Proves the fast-backtracking helper: the largest index <= i whose term is <= t.
    const log = logWith([1, 1, 3, 3, 3, 5, 5]);
    expect(log.findConflictByTerm(idx(7), term(4))).toEqual({ index: 5, term: 3 });
    expect(log.findConflictByTerm(idx(7), term(2))).toEqual({ index: 2, term: 1 });
    expect(log.findConflictByTerm(idx(7), term(0))).toEqual({ index: 0, term: 0 });
    expect(log.findConflictByTerm(idx(4), term(9))).toEqual({ index: 4, term: 3 });
  });

  it('compares logs by last term, then length (§5.4.1)', () => {
    // Proves isUpToDate implements the election restriction.
    const log = logWith([1, 2, 2]);
    expect(log.isUpToDate(idx(3), term(2))).toBe(true);
    expect(log.isUpToDate(idx(2), term(2))).toBe(false);
    expect(log.isUpToDate(idx(1), term(3))).toBe(true);
    expect(log.isUpToDate(idx(9), term(1))).toBe(false);
  });

  it('hands out committed entries only up to the persisted index', () => {
    // Proves nextCommittedEntries never returns an entry that is not yet in stable storage.
    const log = logWith([1, 1], [1, 1]);
    log.commitTo(idx(4));
    expect(log.persistedLastIndex()).toBe(2);
    expect(log.nextCommittedEntries(100).map((e) => e.index)).toEqual([1, 2]);
    log.acceptApplying(idx(2));
    expect(log.hasNextCommittedEntries()).toBe(false);
    (log.storage as MemoryStorage).persistSync({ hardState: null, entries: log.unstable.nextEntries(), snapshot: null });
    log.unstable.stableTo(idx(4), term(1));
    expect(log.nextCommittedEntries(100).map((e) => e.index)).toEqual([3, 4]);
  });

  it('refuses to overwrite committed entries', () => {
    // Proves the Leader Completeness guard: appending at or below the commit index is a bug.
    const log = logWith([1, 1, 1]);
    log.commitTo(idx(2));
    expect(() => log.append([entry(2, 2)])).toThrow(/overwrite committed/);
    expect(() => log.commitTo(idx(9))).toThrow(/beyond last index/);
  });

  it('adopts the entries storage kept after an installed snapshot (Figure 13 step 6 in storage)', () => {
    // Proves the log stays consistent when storage keeps a suffix the core had dropped when it restored.
    const log = logWith([1, 1, 1, 1, 1, 2, 2, 2]);
    const snapshot: Snapshot = { metadata: { index: idx(5), term: term(1), conf }, data: new Uint8Array() };
    log.restore(snapshot);
    expect(log.lastIndex()).toBe(5);
    (log.storage as MemoryStorage).persistSync({ hardState: null, entries: [], snapshot });
    log.unstable.acceptInProgress();
    log.stableSnapTo(idx(5));
    expect([log.firstIndex(), log.lastIndex(), log.persistedLastIndex()]).toEqual([6, 8, 8]);
    expect(log.slice({ lo: idx(6), hi: idx(9), bytesMax: 100 })?.map((e) => e.term)).toEqual([2, 2, 2]);
    log.append([entry(7, 3)]);
    expect(log.slice({ lo: idx(6), hi: idx(8), bytesMax: 100 })?.map((e) => `${e.index}/${e.term}`)).toEqual(['6/2', '7/3']);
  });
});
