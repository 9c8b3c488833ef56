/**
 * The storage conformance suite (after abstract-level's): one set of tests that every
 * `DurableRaftStorage` must pass, run against the in-memory storage and the LevelDB storage by
 * test/storage-conformance.test.ts. It uses only the public interface: synchronous reads, async
 * writes.
 *
 * The suite feeds each storage only what a correct Raft core would: entry terms never exceed the
 * hard state's term, the commit index never points past the log or goes down, committed entries
 * are never rewritten, and snapshots are taken at committed indexes.
 */
import { describe, expect, it } from 'vitest';
import type { DurableRaftStorage } from '../src/raft/index.js';
import type { ConfState, Entry, HardState, Snapshot } from '../src/raft/index.js';
import { CompactedError, SeededPrng, logIndex, nodeId, term } from '../src/util/index.js';
import type { LogIndex } from '../src/util/index.js';

/** What a conformance factory returns: a fresh, empty storage and how to reopen and dispose of it. */
export interface StorageUnderTest {
  readonly storage: DurableRaftStorage;
  /**
   * Closes the most recently opened instance and opens a new one over the same durable state.
   * Absent for a storage that does not survive a restart.
   */
  readonly reopen?: () => Promise<DurableRaftStorage>;
  /** Closes the most recently opened instance and releases everything (files, directories). */
  readonly close: () => Promise<void>;
}

const n = (id: string) => nodeId(id);
const i = (index: number): LogIndex => logIndex(index);

/** An entry whose data names its index and term, so a mixed-up entry cannot go unnoticed. */
function entry(index: number, entryTerm: number, dataBytes?: number): Entry {
  const data = dataBytes === undefined ? new TextEncoder().encode(`e${index}t${entryTerm}`) : new Uint8Array(dataBytes).fill(index & 0xff);
  return { index: i(index), term: term(entryTerm), type: 'normal', data };
}

function entriesRange(lo: number, hi: number, entryTerm: number): Entry[] {
  const out: Entry[] = [];
  for (let index = lo; index <= hi; index++) out.push(entry(index, entryTerm));
  return out;
}

function hardState(hsTerm: number, commit: number, vote: string | null = null): HardState {
  return { term: term(hsTerm), vote: vote === null ? null : n(vote), commit: i(commit) };
}

const conf3: ConfState = { voters: [n('n1'), n('n2'), n('n3')], learners: [] };

/** Everything a storage shows through its read interface, as plain data for `toEqual`. */
function observe(s: DurableRaftStorage) {
  const first = s.firstIndex();
  const last = s.lastIndex();
  const terms: number[] = [];
  for (let index = first - 1; index <= last; index++) terms.push(s.term(i(index)));
  const snap = s.snapshot();
  return {
    firstIndex: first,
    lastIndex: last,
    terms,
    entries: s.entries({ lo: first, hi: i(last + 1), bytesMax: Number.MAX_SAFE_INTEGER }).map(plainEntry),
    snapshot: { metadata: snap.metadata, data: Array.from(snap.data) },
    initialState: s.initialState(),
  };
}

function plainEntry(e: Entry) {
  return { index: e.index, term: e.term, type: e.type, data: Array.from(e.data) };
}

function dataBytes(entries: readonly Entry[]): number {
  return entries.reduce((sum, e) => sum + e.data.length, 0);
}

/**
 * Defines the conformance tests for one storage implementation. `make` is called once per test and
 * must return a fresh, empty storage.
 */
export function runStorageConformance(name: string, make: () => Promise<StorageUnderTest>): void {
  /** Runs `body` with a fresh storage and always disposes of it. */
  async function withStorage(body: (t: StorageUnderTest & { current: () => DurableRaftStorage; restart: () => Promise<DurableRaftStorage> }) => Promise<void>): Promise<void> {
    const made = await make();
    let current = made.storage;
    const restart = async (): Promise<DurableRaftStorage> => {
      if (made.reopen === undefined) return current;
      current = await made.reopen();
      return current;
    };
    try {
      await body({ ...made, current: () => current, restart });
    } finally {
      await made.close();
    }
  }

  describe(`storage conformance: ${name}`, () => {
    it('starts empty: firstIndex 1, lastIndex 0, term(0) 0, empty hard state and snapshot', async () => {
      // Proves a new storage looks like etcd-io/raft's empty log: a snapshot at 0/0 and no entries.
      await withStorage(async ({ storage }) => {
        expect(storage.firstIndex()).toBe(1);
        expect(storage.lastIndex()).toBe(0);
        expect(storage.term(i(0))).toBe(0);
        expect(storage.entries({ lo: i(1), hi: i(1), bytesMax: 100 })).toEqual([]);
        expect(storage.initialState().hardState).toEqual(hardState(0, 0));
        expect(storage.snapshot().metadata.index).toBe(0);
        expect(storage.snapshot().metadata.term).toBe(0);
      });
    });

    it('reads back appended entries with their terms, types and data', async () => {
      // Proves persist() stores entries exactly and term()/entries() read them back.
      await withStorage(async ({ storage }) => {
        const cc: Entry = { index: i(3), term: term(2), type: 'confChange', data: new Uint8Array([1, 2, 3]) };
        const entries = [entry(1, 1), entry(2, 1), cc, entry(4, 2), { ...entry(5, 2), data: new Uint8Array(0) }];
        await storage.persist({ hardState: hardState(2, 0), entries, snapshot: null });
        expect(storage.firstIndex()).toBe(1);
        expect(storage.lastIndex()).toBe(5);
        expect([1, 2, 3, 4, 5].map((x) => storage.term(i(x)))).toEqual([1, 1, 2, 2, 2]);
        expect(storage.entries({ lo: i(1), hi: i(6), bytesMax: 1 << 20 }).map(plainEntry)).toEqual(entries.map(plainEntry));
        expect(storage.initialState().hardState).toEqual(hardState(2, 0));
        // A second batch continues the log.
        await storage.persist({ hardState: null, entries: [entry(6, 2)], snapshot: null });
        expect(storage.lastIndex()).toBe(6);
        expect(storage.entries({ lo: i(6), hi: i(7), bytesMax: 0 }).map(plainEntry)).toEqual([plainEntry(entry(6, 2))]);
      });
    });

    it('cuts entries() at bytesMax, but always returns at least one entry', async () => {
      // Proves the etcd-io/raft limitSize rule: the longest prefix of [lo, hi) within bytesMax, never empty.
      await withStorage(async ({ storage }) => {
        const entries = [1, 2, 3, 4, 5].map((x) => entry(x, 1, 10));
        await storage.persist({ hardState: hardState(1, 0), entries, snapshot: null });
        const count = (lo: number, hi: number, bytesMax: number) => storage.entries({ lo: i(lo), hi: i(hi), bytesMax }).length;
        expect(count(1, 6, 0)).toBe(1);
        expect(count(1, 6, 9)).toBe(1);
        expect(count(1, 6, 10)).toBe(1);
        expect(count(1, 6, 19)).toBe(1);
        expect(count(1, 6, 20)).toBe(2);
        expect(count(1, 6, 35)).toBe(3);
        expect(count(1, 6, 50)).toBe(5);
        expect(count(1, 6, Number.MAX_SAFE_INTEGER)).toBe(5);
        expect(count(2, 4, Number.MAX_SAFE_INTEGER)).toBe(2);
        expect(count(3, 3, 0)).toBe(0);
        const cut = storage.entries({ lo: i(2), hi: i(6), bytesMax: 25 });
        expect(cut.map((e) => e.index)).toEqual([2, 3]);
        expect(dataBytes(cut)).toBeLessThanOrEqual(25);
        // A first entry larger than bytesMax is still returned, alone.
        await storage.persist({ hardState: null, entries: [entry(6, 1, 100), entry(7, 1, 1)], snapshot: null });
        expect(storage.entries({ lo: i(6), hi: i(8), bytesMax: 10 }).map((e) => e.index)).toEqual([6]);
      });
    });

    it('replaces a conflicting suffix and forgets the entries beyond the new last index', async () => {
      // Proves "any stored entries at or after entries[0].index are replaced" (Raft paper §5.3).
      await withStorage(async ({ storage }) => {
        await storage.persist({ hardState: hardState(1, 2), entries: entriesRange(1, 6, 1), snapshot: null });
        await storage.persist({ hardState: hardState(2, 2), entries: [entry(4, 2), entry(5, 2)], snapshot: null });
        expect(storage.lastIndex()).toBe(5);
        expect([1, 2, 3, 4, 5].map((x) => storage.term(i(x)))).toEqual([1, 1, 1, 2, 2]);
        expect(storage.entries({ lo: i(1), hi: i(6), bytesMax: 1 << 20 }).map(plainEntry)).toEqual(
          [entry(1, 1), entry(2, 1), entry(3, 1), entry(4, 2), entry(5, 2)].map(plainEntry),
        );
        // Replacing from lastIndex + 1 appends; replacing right after the commit index is allowed.
        await storage.persist({ hardState: hardState(3, 2), entries: [entry(3, 3)], snapshot: null });
        expect(storage.lastIndex()).toBe(3);
        expect(storage.term(i(3))).toBe(3);
        await storage.persist({ hardState: null, entries: [entry(4, 3), entry(5, 3), entry(6, 3), entry(7, 3)], snapshot: null });
        expect(storage.lastIndex()).toBe(7);
        expect(storage.entries({ lo: i(3), hi: i(8), bytesMax: 1 << 20 }).map(plainEntry)).toEqual(entriesRange(3, 7, 3).map(plainEntry));
      });
    });

    it('createSnapshot records a snapshot without compacting; compact moves firstIndex and keeps term(index)', async () => {
      // Proves the snapshot/compaction split of etcd-io/raft: compaction only discards, the snapshot term stays known.
      await withStorage(async ({ storage }) => {
        await storage.persist({ hardState: hardState(3, 8), entries: [...entriesRange(1, 4, 1), ...entriesRange(5, 10, 3)], snapshot: null });
        const data = new Uint8Array([9, 8, 7]);
        const snap = await storage.createSnapshot(i(6), conf3, data);
        expect(snap.metadata).toEqual({ index: 6, term: 3, conf: conf3 });
        expect(Array.from(snap.data)).toEqual([9, 8, 7]);
        expect(storage.snapshot().metadata).toEqual({ index: 6, term: 3, conf: conf3 });
        expect(Array.from(storage.snapshot().data)).toEqual([9, 8, 7]);
        expect(storage.firstIndex()).toBe(1);
        expect(storage.entries({ lo: i(1), hi: i(11), bytesMax: 1 << 20 })).toHaveLength(10);

        await storage.compact(i(4));
        expect(storage.firstIndex()).toBe(5);
        expect(storage.lastIndex()).toBe(10);
        expect(storage.term(i(4))).toBe(1);
        expect(() => storage.term(i(3))).toThrow(CompactedError);
        expect(() => storage.entries({ lo: i(4), hi: i(6), bytesMax: 1 << 20 })).toThrow(CompactedError);
        expect(storage.entries({ lo: i(5), hi: i(11), bytesMax: 1 << 20 }).map(plainEntry)).toEqual(entriesRange(5, 10, 3).map(plainEntry));

        await storage.compact(i(6));
        expect(storage.firstIndex()).toBe(7);
        expect(storage.term(i(6))).toBe(3);
        expect(() => storage.term(i(5))).toThrow(CompactedError);
        expect(() => storage.term(i(0))).toThrow(CompactedError);
        // Appending after a compaction continues the log.
        await storage.persist({ hardState: null, entries: [entry(11, 3)], snapshot: null });
        expect(storage.lastIndex()).toBe(11);
        expect(storage.entries({ lo: i(7), hi: i(12), bytesMax: 1 << 20 })).toHaveLength(5);
      });
    });

    it('installing a snapshot via persist({ snapshot }) resets a log that does not contain it', async () => {
      // Proves Raft paper Figure 13 step 7: a snapshot beyond (or conflicting with) the log discards the whole log.
      await withStorage(async ({ storage }) => {
        await storage.persist({ hardState: hardState(1, 3), entries: entriesRange(1, 5, 1), snapshot: null });
        const snap: Snapshot = { metadata: { index: i(10), term: term(3), conf: conf3 }, data: new Uint8Array([42]) };
        await storage.persist({ hardState: hardState(3, 10), entries: [], snapshot: snap });
        expect(storage.firstIndex()).toBe(11);
        expect(storage.lastIndex()).toBe(10);
        expect(storage.term(i(10))).toBe(3);
        expect(() => storage.term(i(5))).toThrow(CompactedError);
        expect(storage.snapshot().metadata).toEqual(snap.metadata);
        expect(Array.from(storage.snapshot().data)).toEqual([42]);
        expect(storage.initialState().confState).toEqual(conf3);
        expect(storage.entries({ lo: i(11), hi: i(11), bytesMax: 0 })).toEqual([]);
        await storage.persist({ hardState: null, entries: [entry(11, 3), entry(12, 3)], snapshot: null });
        expect(storage.lastIndex()).toBe(12);
        expect(storage.entries({ lo: i(11), hi: i(13), bytesMax: 1 << 20 }).map(plainEntry)).toEqual([entry(11, 3), entry(12, 3)].map(plainEntry));
      });
    });

    it('installing a snapshot whose last entry matches the log keeps the entries after it', async () => {
      // Proves Raft paper Figure 13 step 6: "if existing log entry has same index and term as snapshot's last included entry, retain log entries following it".
      await withStorage(async ({ storage }) => {
        await storage.persist({ hardState: hardState(2, 3), entries: [...entriesRange(1, 5, 1), ...entriesRange(6, 8, 2)], snapshot: null });
        const snap: Snapshot = { metadata: { index: i(5), term: term(1), conf: conf3 }, data: new Uint8Array(0) };
        await storage.persist({ hardState: hardState(2, 5), entries: [], snapshot: snap });
        expect(storage.firstIndex()).toBe(6);
        expect(storage.lastIndex()).toBe(8);
        expect(storage.term(i(5))).toBe(1);
        expect(storage.entries({ lo: i(6), hi: i(9), bytesMax: 1 << 20 }).map(plainEntry)).toEqual(entriesRange(6, 8, 2).map(plainEntry));

        // Same index, different term: the log is discarded.
        const other: Snapshot = { metadata: { index: i(7), term: term(3), conf: conf3 }, data: new Uint8Array(0) };
        await storage.persist({ hardState: hardState(3, 7), entries: [], snapshot: other });
        expect(storage.firstIndex()).toBe(8);
        expect(storage.lastIndex()).toBe(7);
        expect(storage.term(i(7))).toBe(3);
      });
    });

    it('stores the snapshot, entries and hard state of one Ready together', async () => {
      // Proves one persist() may carry a snapshot, the entries after it and the hard state at once (the Ready contract).
      await withStorage(async ({ storage }) => {
        const snap: Snapshot = { metadata: { index: i(4), term: term(2), conf: conf3 }, data: new Uint8Array(0) };
        await storage.persist({ hardState: hardState(2, 5), entries: [entry(5, 2), entry(6, 2)], snapshot: snap });
        expect(storage.firstIndex()).toBe(5);
        expect(storage.lastIndex()).toBe(6);
        expect(storage.term(i(4))).toBe(2);
        expect(storage.initialState().hardState).toEqual(hardState(2, 5));
      });
    });

    it('round-trips hard state (with and without a vote) and membership', async () => {
      // Proves term, vote and commit, and voters and learners, are stored exactly.
      await withStorage(async ({ storage }) => {
        await storage.persist({ hardState: hardState(1, 0), entries: [], snapshot: null });
        expect(storage.initialState().hardState).toEqual(hardState(1, 0));
        await storage.persist({ hardState: hardState(3, 0, 'n2'), entries: [], snapshot: null });
        expect(storage.initialState().hardState).toEqual(hardState(3, 0, 'n2'));
        await storage.persist({ hardState: hardState(4, 0, null), entries: [entry(1, 4)], snapshot: null });
        await storage.persist({ hardState: hardState(4, 1, 'n3'), entries: [], snapshot: null });
        expect(storage.initialState().hardState).toEqual(hardState(4, 1, 'n3'));
        const conf: ConfState = { voters: [n('n1'), n('n2'), n('n3')], learners: [n('n4'), n('n5')] };
        await storage.setConfState(conf);
        expect(storage.initialState().confState).toEqual(conf);
        await storage.setConfState({ voters: [n('n1')], learners: [] });
        expect(storage.initialState().confState).toEqual({ voters: ['n1'], learners: [] });
      });
    });

    it('survives close and reopen with everything intact', async (ctx) => {
      // Proves durability: entries, truncations, hard state, membership, snapshot and compaction all come back after a restart.
      await withStorage(async ({ reopen, current, restart }) => {
        if (reopen === undefined) {
          ctx.skip();
          return;
        }
        let s = current();
        await s.persist({ hardState: hardState(2, 3, 'n1'), entries: [...entriesRange(1, 5, 1), ...entriesRange(6, 9, 2)], snapshot: null });
        await s.persist({ hardState: hardState(3, 4, null), entries: [entry(7, 3)], snapshot: null });
        await s.createSnapshot(i(4), conf3, new Uint8Array([1, 2]));
        await s.compact(i(3));
        await s.setConfState({ voters: [n('n1'), n('n2')], learners: [n('n3')] });
        const before = observe(s);
        expect(before.lastIndex).toBe(7);
        s = await restart();
        expect(observe(s)).toEqual(before);

        // A truncated suffix stays truncated, an installed snapshot stays installed.
        const snap: Snapshot = { metadata: { index: i(20), term: term(4), conf: conf3 }, data: new Uint8Array([5]) };
        await s.persist({ hardState: hardState(4, 20), entries: [entry(21, 4)], snapshot: snap });
        const afterInstall = observe(s);
        s = await restart();
        expect(observe(s)).toEqual(afterInstall);
        expect(s.firstIndex()).toBe(21);
        expect(s.lastIndex()).toBe(21);
      });
    });

    it('matches a reference model over a seeded random run of Raft-like operations', async () => {
      // Proves the storage agrees with a trivially correct model across appends, truncations, commits, snapshots, compactions and restarts.
      await withStorage(async ({ current, restart, reopen }) => {
        const seed = 20240611;
        const prng = new SeededPrng(seed);
        let s = current();
        const model = new ReferenceLog(s.initialState().confState, s.snapshot());
        for (let step = 0; step < 300; step++) {
          const op = pickOperation(prng, model, reopen !== undefined);
          const where = `seed ${seed}, step ${step}, op ${op.kind}`;
          switch (op.kind) {
            case 'restart':
              s = await restart();
              break;
            case 'persist':
              await s.persist(op.batch);
              model.persist(op.batch);
              break;
            case 'createSnapshot':
              await s.createSnapshot(op.index, conf3, new Uint8Array(0));
              model.createSnapshot(op.index, conf3);
              break;
            case 'compact':
              await s.compact(op.index);
              model.compact(op.index);
              break;
          }
          expect(observe(s), where).toEqual(model.observe());
        }
      });
    });
  });
}

// -------------------------------------------------------------------------------------------------
// The reference model and the random operation generator.

type Operation =
  | { readonly kind: 'restart' }
  | { readonly kind: 'persist'; readonly batch: { hardState: HardState | null; entries: Entry[]; snapshot: Snapshot | null } }
  | { readonly kind: 'createSnapshot'; readonly index: LogIndex }
  | { readonly kind: 'compact'; readonly index: LogIndex };

/** A log as a plain array, obviously correct, with the same observable state as a storage. */
class ReferenceLog {
  startIndex = 0;
  startTerm = 0;
  log: Entry[] = [];
  hs: HardState = hardState(0, 0);

  constructor(
    /** The membership, as the storage under test started with it. */
    public conf: ConfState,
    /** The snapshot, as the storage under test started with it (index 0). */
    public snap: Snapshot,
  ) {}

  get lastIndex(): number {
    return this.startIndex + this.log.length;
  }

  termAt(index: number): number {
    return index === this.startIndex ? this.startTerm : (this.log[index - this.startIndex - 1]?.term ?? -1);
  }

  persist(batch: { hardState: HardState | null; entries: Entry[]; snapshot: Snapshot | null }): void {
    if (batch.snapshot !== null) {
      const { index, term: snapTerm, conf } = batch.snapshot.metadata;
      const keep = index >= this.startIndex && index <= this.lastIndex && this.termAt(index) === snapTerm;
      this.log = keep ? this.log.slice(index - this.startIndex) : [];
      this.startIndex = index;
      this.startTerm = snapTerm;
      this.snap = batch.snapshot;
      this.conf = conf;
    }
    const first = batch.entries[0];
    if (first !== undefined) this.log = [...this.log.slice(0, first.index - this.startIndex - 1), ...batch.entries];
    if (batch.hardState !== null) this.hs = batch.hardState;
  }

  createSnapshot(index: LogIndex, conf: ConfState): void {
    this.snap = { metadata: { index, term: term(this.termAt(index)), conf }, data: new Uint8Array(0) };
  }

  compact(index: LogIndex): void {
    const t = this.termAt(index);
    this.log = this.log.slice(index - this.startIndex);
    this.startIndex = index;
    this.startTerm = t;
  }

  observe() {
    const terms: number[] = [];
    for (let index = this.startIndex; index <= this.lastIndex; index++) terms.push(this.termAt(index));
    return {
      firstIndex: this.startIndex + 1,
      lastIndex: this.lastIndex,
      terms,
      entries: this.log.map(plainEntry),
      snapshot: { metadata: this.snap.metadata, data: Array.from(this.snap.data) },
      initialState: { hardState: this.hs, confState: this.conf },
    };
  }
}

/** Picks an operation that a correct Raft core could ask for in the model's state. */
function pickOperation(prng: SeededPrng, model: ReferenceLog, canRestart: boolean): Operation {
  const roll = prng.int(0, 99);
  const hs = model.hs;
  if (canRestart && roll < 5) return { kind: 'restart' };
  if (roll >= 50 && roll < 70 && hs.commit < model.lastIndex) {
    return { kind: 'persist', batch: { hardState: hardState(hs.term, prng.int(hs.commit + 1, model.lastIndex), hs.vote), entries: [], snapshot: null } };
  }
  if (roll >= 70 && roll < 80 && hs.commit > model.snap.metadata.index) {
    return { kind: 'createSnapshot', index: i(prng.int(model.snap.metadata.index + 1, hs.commit)) };
  }
  if (roll >= 80 && roll < 90 && model.snap.metadata.index > model.startIndex) {
    return { kind: 'compact', index: i(prng.int(model.startIndex + 1, model.snap.metadata.index)) };
  }
  if (roll >= 90 && roll < 95) {
    // An incoming snapshot from a leader, beyond the commit index: it matches the log, or it comes
    // from a leader of a newer term than any stored entry.
    const index = prng.int(hs.commit + 1, model.lastIndex + 3);
    const matching = index <= model.lastIndex && prng.chance(0.5);
    const snapTerm = matching ? model.termAt(index) : hs.term + 1;
    const snapshot: Snapshot = { metadata: { index: i(index), term: term(snapTerm), conf: conf3 }, data: new Uint8Array([index & 0xff]) };
    const next = matching ? hardState(hs.term, index, hs.vote) : hardState(snapTerm, index, null);
    return { kind: 'persist', batch: { hardState: next, entries: [], snapshot } };
  }
  if (roll >= 95) return { kind: 'persist', batch: { hardState: hardState(hs.term + 1, hs.commit, null), entries: [], snapshot: null } };
  // Append (possibly replacing an uncommitted suffix), sometimes in a new term.
  const newTerm = prng.chance(0.3) ? hs.term + 1 : Math.max(hs.term, 1);
  const from = prng.int(Math.max(hs.commit, model.startIndex) + 1, model.lastIndex + 1);
  const entries: Entry[] = [];
  for (let k = prng.int(1, 4); k > 0; k--) entries.push(entry(from + entries.length, newTerm, prng.int(0, 3)));
  return { kind: 'persist', batch: { hardState: hardState(newTerm, hs.commit, hs.vote), entries, snapshot: null } };
}
