import { describe, expect, it } from 'vitest';
import { CompactedError, nodeId, term } from '../util/index.js';
import { MemoryStorage } from './memory-storage.js';
import { idx } from './test-network.js';
import type { Entry } from './types.js';

const conf = { voters: [nodeId('n1'), nodeId('n2')], learners: [] };
const entry = (index: number, t: number, size = 4): Entry => ({ index: idx(index), term: term(t), type: 'normal', data: new Uint8Array(size) });
const hard = (t: number, commit: number): { term: ReturnType<typeof term>; vote: null; commit: ReturnType<typeof idx> } => ({ term: term(t), vote: null, commit: idx(commit) });

describe('MemoryStorage', () => {
  it('starts empty with the bootstrap membership', () => {
    // Proves a fresh disk: log [1, 0], empty hard state, snapshot 0 carrying the membership.
    const s = new MemoryStorage({ confState: conf });
    expect([s.firstIndex(), s.lastIndex(), s.term(idx(0))]).toEqual([1, 0, 0]);
    expect(s.initialState()).toEqual({ hardState: { term: 0, vote: null, commit: 0 }, confState: conf });
    expect(s.snapshot().metadata).toEqual({ index: 0, term: 0, conf });
  });

  it('persists entries and hard state, overwriting a conflicting suffix', () => {
    // Proves persistSync appends, replaces from the first new index, and stores the hard state.
    const s = new MemoryStorage({ confState: conf });
    s.persistSync({ hardState: hard(1, 2), entries: [entry(1, 1), entry(2, 1), entry(3, 1)], snapshot: null });
    s.persistSync({ hardState: hard(2, 2), entries: [entry(3, 2), entry(4, 2)], snapshot: null });
    expect(s.entries({ lo: idx(1), hi: idx(5), bytesMax: 1000 }).map((e) => `${e.index}/${e.term}`)).toEqual(['1/1', '2/1', '3/2', '4/2']);
    expect(s.initialState().hardState).toEqual(hard(2, 2));
    expect(() => s.persistSync({ hardState: null, entries: [entry(7, 2)], snapshot: null })).toThrow(/gap/);
    expect(() => s.persistSync({ hardState: hard(2, 9), entries: [], snapshot: null })).toThrow(/beyond last index/);
  });

  it('cuts entry reads at bytesMax but returns at least one entry', () => {
    // Proves the EntriesQuery byte limit.
    const s = new MemoryStorage({ confState: conf });
    s.persistSync({ hardState: null, entries: [entry(1, 1, 10), entry(2, 1, 10), entry(3, 1, 10)], snapshot: null });
    expect(s.entries({ lo: idx(1), hi: idx(4), bytesMax: 25 })).toHaveLength(2);
    expect(s.entries({ lo: idx(1), hi: idx(4), bytesMax: 1 })).toHaveLength(1);
  });

  it('creates snapshots and compacts, keeping the term of the compaction point', () => {
    // Proves createSnapshotSync + compactSync and the CompactedError below the first index.
    const s = new MemoryStorage({ confState: conf });
    s.persistSync({ hardState: hard(1, 4), entries: [entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)], snapshot: null });
    const snap = s.createSnapshotSync(idx(3), conf, new Uint8Array([9]));
    expect(snap.metadata).toEqual({ index: 3, term: 2, conf });
    expect(s.firstIndex()).toBe(1);
    s.compactSync(idx(3));
    expect([s.firstIndex(), s.lastIndex(), s.term(idx(3))]).toEqual([4, 4, 2]);
    expect(() => s.term(idx(2))).toThrow(CompactedError);
    expect(() => s.entries({ lo: idx(3), hi: idx(5), bytesMax: 100 })).toThrow(CompactedError);
    expect(() => s.compactSync(idx(4))).toThrow(/beyond the snapshot/);
    expect(() => s.createSnapshotSync(idx(2), conf, new Uint8Array())).toThrow(/not newer/);
  });

  it('installs a snapshot from a batch, discarding the log and taking its membership', () => {
    // Proves persistSync with a snapshot resets the log to start after it.
    const s = new MemoryStorage({ confState: conf });
    s.persistSync({ hardState: hard(1, 1), entries: [entry(1, 1), entry(2, 1)], snapshot: null });
    const newConf = { voters: [nodeId('n1')], learners: [nodeId('n3')] };
    const snapshot = { metadata: { index: idx(10), term: term(3), conf: newConf }, data: new Uint8Array([1]) };
    s.persistSync({ hardState: hard(3, 10), entries: [entry(11, 3)], snapshot });
    expect([s.firstIndex(), s.lastIndex(), s.term(idx(10)), s.term(idx(11))]).toEqual([11, 11, 3, 3]);
    expect(s.initialState().confState).toEqual(newConf);
    expect(s.snapshot()).toBe(snapshot);
  });

  it('async methods delegate to the sync ones', async () => {
    // Proves the DurableRaftStorage async surface writes through.
    const s = new MemoryStorage({ confState: conf });
    await s.persist({ hardState: hard(1, 1), entries: [entry(1, 1)], snapshot: null });
    await s.setConfState({ voters: [nodeId('n1')], learners: [] });
    const snap = await s.createSnapshot(idx(1), conf, new Uint8Array());
    await s.compact(idx(1));
    expect(snap.metadata.index).toBe(1);
    expect([s.firstIndex(), s.lastIndex()]).toEqual([2, 1]);
    expect(s.initialState().confState.voters).toEqual(['n1']);
  });

  it('keeps the entries after a snapshot whose last entry it holds (Figure 13 step 6)', () => {
    // Proves persistSync({ snapshot }) discards only the covered prefix when index and term match.
    const s = new MemoryStorage({ confState: conf });
    s.persistSync({ hardState: hard(2, 3), entries: [entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 2)], snapshot: null });
    s.persistSync({ hardState: hard(2, 3), entries: [], snapshot: { metadata: { index: idx(3), term: term(2), conf }, data: new Uint8Array() } });
    expect([s.firstIndex(), s.lastIndex(), s.term(idx(4))]).toEqual([4, 4, 2]);
  });
});
