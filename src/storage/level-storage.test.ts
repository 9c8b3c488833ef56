import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssertionError, CorruptionError, FailedPreconditionError, logIndex, nodeId, revision, term } from '../util/index.js';
import type { ConfState, Entry, HardState } from '../raft/index.js';
import { logKey, MetaKey } from './keys.js';
import { LevelStorage } from './level-storage.js';
import type { BytesLevel } from './load-state.js';
import { failNextBatch, recordBatches } from '../../test/support/level-batches.js';
import { encodeCounter } from './kv-records.js';
import { encodeCluster, encodeHardState } from './raft-records.js';
import { ByteWriter, FRAME_HEADER_BYTES, frameRecord, RecordKind } from './record-codec.js';

const conf: ConfState = { voters: [nodeId('n1'), nodeId('n2'), nodeId('n3')], learners: [] };
const n1 = nodeId('n1');

function entry(index: number, entryTerm: number): Entry {
  return { index: logIndex(index), term: term(entryTerm), type: 'normal', data: new TextEncoder().encode(`entry ${index}`) };
}

function hs(hsTerm: number, commit: number): HardState {
  return { term: term(hsTerm), vote: null, commit: logIndex(commit) };
}

let dir = '';
let path = '';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'raftkv-level-storage-'));
  path = join(dir, 'data');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const open = (nodeIdValue = n1) => LevelStorage.open({ path, nodeId: nodeIdValue, initialConf: conf });

/** Opens the data directory with a raw LevelDB handle (the storage must be closed), runs `fn`, closes it. */
async function withRawDb(fn: (db: BytesLevel) => Promise<void>): Promise<void> {
  const db: BytesLevel = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' });
  await db.open();
  try {
    await fn(db);
  } finally {
    await db.close();
  }
}

async function rawGet(db: BytesLevel, key: Uint8Array): Promise<Uint8Array> {
  const value = (await db.get(key)) as Uint8Array | undefined;
  if (value === undefined) throw new Error('test setup: key missing');
  return Uint8Array.from(value);
}

/** A data dir with entries 1..5 (term 1), commit 3. */
async function seedLog(): Promise<void> {
  const s = await open();
  await s.persist({ hardState: hs(1, 3), entries: [1, 2, 3, 4, 5].map((i) => entry(i, 1)), snapshot: null });
  await s.close();
}

/** The error `LevelStorage.open` rejects with. */
async function openError(): Promise<Error> {
  const error = await open().then(
    async (s) => {
      await s.close();
      return null;
    },
    (e: unknown) => e,
  );
  if (!(error instanceof Error)) throw new Error('expected open() to fail');
  return error;
}

describe('LevelStorage: corruption is detected at open', () => {
  it('refuses a log entry whose value has a flipped byte, naming the checksum, the key and the data dir', async () => {
    // Proves a CRC mismatch in a stored entry stops the node with a precise CorruptionError instead of serving the entry.
    await seedLog();
    await withRawDb(async (db) => {
      const value = await rawGet(db, logKey(3));
      value[FRAME_HEADER_BYTES + 5] = (value[FRAME_HEADER_BYTES + 5] ?? 0) ^ 0x40;
      await db.put(logKey(3), value);
    });
    const error = await openError();
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error.message).toContain('checksum mismatch');
    expect(error.message).toContain('log/3');
    expect(error.message).toContain(path);
  });

  it('refuses a truncated log entry and says it is truncated', async () => {
    // Proves a value cut short (a torn write) is reported as truncation, not as a generic decode error.
    await seedLog();
    await withRawDb(async (db) => {
      const value = await rawGet(db, logKey(4));
      await db.put(logKey(4), value.subarray(0, value.length - 3));
    });
    const error = await openError();
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error.message).toMatch(/at log\/4: truncated record: header says \d+ payload bytes, found \d+/);
  });

  it('refuses a log with a missing entry in the middle', async () => {
    // Proves a gap in the log indexes is detected when the log is loaded.
    await seedLog();
    await withRawDb((db) => db.del(logKey(3)));
    const error = await openError();
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error.message).toContain('log gap: found index 4 right after index 2; entries 3..2 are missing'.replace('3..2', '3..3'));
  });

  it('refuses a log whose first entry does not follow the compaction point', async () => {
    // Proves the gap check also covers the start of the log.
    await seedLog();
    await withRawDb((db) => db.del(logKey(1)));
    const error = await openError();
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error.message).toContain('log gap: found index 2 right after the compaction point 0');
  });

  it('refuses a damaged hard state record', async () => {
    // Proves metadata records are checksummed too, not only entries.
    await seedLog();
    await withRawDb(async (db) => {
      const value = await rawGet(db, MetaKey.hardState);
      value[value.length - 1] = (value[value.length - 1] ?? 0) ^ 0x01;
      await db.put(MetaKey.hardState, value);
    });
    const error = await openError();
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error.message).toContain('meta/hardstate');
  });

  it('refuses well-formed records that break a durable invariant (commit beyond the last index)', async () => {
    // Proves the invariants are asserted again after reading back, not only before writing.
    await seedLog();
    await withRawDb((db) => db.put(MetaKey.hardState, encodeHardState(hs(1, 9))));
    const error = await openError();
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error.message).toContain('commit index 9 is beyond the last log index 5');
  });

  it('raises a stored commit index that is behind the applied index (a lost unsynced commit-only write)', async () => {
    // Proves recovery from a commit-only hard state lost to power loss: applied entries were committed.
    await seedLog();
    await withRawDb((db) => db.put(MetaKey.appliedIndex, encodeCounter(MetaKey.appliedIndex, 4)));
    const s = await open();
    expect(s.initialState().hardState.commit).toBe(4);
    expect(s.kvAppliedIndex()).toBe(4);
    await s.close();
  });

  it('refuses a state machine applied index beyond the last log index', async () => {
    // Proves an applied index the log cannot explain is reported as corruption.
    await seedLog();
    await withRawDb((db) => db.put(MetaKey.appliedIndex, encodeCounter(MetaKey.appliedIndex, 6)));
    const error = await openError();
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error.message).toContain('applied index 6 is beyond the last log index 5');
  });
});

describe('LevelStorage: the data directory identity', () => {
  it("refuses another node's data directory", async () => {
    // Proves starting n2 on n1's directory fails with a message naming both nodes.
    await (await open()).close();
    const error = await LevelStorage.open({ path, nodeId: nodeId('n2') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FailedPreconditionError);
    expect((error as Error).message).toContain('belongs to node n1, not to node n2');
  });

  it('refuses an unknown storage format version', async () => {
    // Proves a directory written by a newer build is refused with the versions in the message.
    await (await open()).close();
    await withRawDb((db) => db.put(MetaKey.cluster, frameRecord(MetaKey.cluster, RecordKind.cluster, new ByteWriter().u32(2).string('').string('n1').finish())));
    const error = await openError();
    expect(error).toBeInstanceOf(FailedPreconditionError);
    expect(error.message).toContain('storage format version 2 (this build reads only version 1)');
  });

  it('refuses a directory of another cluster when both ids are known', async () => {
    // Proves the cluster id recorded at creation is checked at open.
    await (await LevelStorage.open({ path, nodeId: n1, clusterId: 'blue' })).close();
    const error = await LevelStorage.open({ path, nodeId: n1, clusterId: 'green' }).catch((e: unknown) => e);
    expect((error as Error).message).toContain('belongs to cluster blue, not to cluster green');
    const same = await LevelStorage.open({ path, nodeId: n1, clusterId: 'blue' });
    expect(same.clusterId).toBe('blue');
    await same.close();
  });

  it('refuses a LevelDB database that is not a raftkv data directory', async () => {
    // Proves foreign data is never mistaken for an empty node.
    await withRawDb((db) => db.put(new TextEncoder().encode('hello'), new Uint8Array([1])));
    const error = await openError();
    expect(error).toBeInstanceOf(CorruptionError);
    expect(error.message).toContain('no meta/cluster record');
  });

  it('refuses a second open of a directory already in use', async () => {
    // Proves two storage instances cannot write one data directory at once.
    const first = await open();
    const error = await openError();
    expect(error).toBeInstanceOf(FailedPreconditionError);
    expect(error.message).toContain('locked');
    await first.close();
  });

  it('records the bootstrap membership and identity of a new directory', async () => {
    // Proves initialConf and the owner are written at creation, and initialConf is ignored afterwards.
    await (await open()).close();
    await withRawDb(async (db) => {
      expect(Array.from(await rawGet(db, MetaKey.cluster))).toEqual(Array.from(encodeCluster({ formatVersion: 1, clusterId: '', nodeId: n1 })));
    });
    const s = await LevelStorage.open({ path, nodeId: n1, initialConf: { voters: [n1], learners: [] } });
    expect(s.initialState().confState).toEqual(conf);
    await s.close();
  });
});

describe('LevelStorage: writes', () => {
  it('persists one Ready in exactly one synced LevelDB batch', async () => {
    // Proves the group-commit contract: hard state, entries and snapshot go in ONE batch with ONE fsync.
    const s = await open();
    const batches = recordBatches(s);
    await s.persist({ hardState: hs(1, 0), entries: [1, 2, 3].map((i) => entry(i, 1)), snapshot: null });
    expect(batches).toHaveLength(1);
    expect(batches[0]?.sync).toBe(true);
    expect(batches[0]?.ops).toHaveLength(4);
    // An empty Ready writes nothing.
    await s.persist({ hardState: null, entries: [], snapshot: null });
    expect(batches).toHaveLength(1);
    await s.close();
  });

  it("fsyncs unless the batch says sync: false (the Ready's mustSync), and keeps what it wrote", async () => {
    // Proves the driver's MustSync decision reaches LevelDB, and an unsynced commit is still stored.
    const s = await open();
    const batches = recordBatches(s);
    const syncs = (): boolean[] => batches.map((b) => b.sync);
    await s.persist({ hardState: hs(1, 0), entries: [1, 2].map((i) => entry(i, 1)), snapshot: null });
    await s.persist({ hardState: hs(1, 2), entries: [], snapshot: null, sync: false });
    await s.persist({ hardState: hs(2, 2), entries: [], snapshot: null });
    await s.persist({ hardState: { term: term(2), vote: nodeId('n2'), commit: logIndex(2) }, entries: [], snapshot: null });
    expect(syncs()).toEqual([true, false, true, true]);
    await s.close();
    const again = await open();
    expect(again.initialState().hardState).toEqual({ term: 2, vote: 'n2', commit: 2 });
    await again.close();
  });

  it('writes a Ready and its apply batch in ONE synced LevelDB batch (persistWithApply)', async () => {
    // Proves lever 1 of issue 12: entries, hard state and the state machine's changes with their
    // applied index share one fsync, and the apply batch may claim the commit index it carries.
    const s = await open();
    await s.persist({ hardState: hs(1, 0), entries: [1, 2].map((i) => entry(i, 1)), snapshot: null });
    const batches = recordBatches(s);
    const kv = { key: new TextEncoder().encode('a'), value: new TextEncoder().encode('1'), createRevision: revision(1), modRevision: revision(1), version: 1 };
    await s.persistWithApply({ hardState: hs(1, 2), entries: [entry(3, 1)], snapshot: null }, { appliedIndex: logIndex(2), revision: revision(1), clockMs: 5, mutations: [{ type: 'putKey', kv }] });
    expect(batches).toHaveLength(1);
    expect(batches[0]?.sync).toBe(true);
    expect(s.kvAppliedIndex()).toBe(2);
    expect(s.lastIndex()).toBe(3);
    // An apply batch beyond the commit index it travels with is refused before anything is written.
    await expect(s.persistWithApply({ hardState: null, entries: [], snapshot: null }, { appliedIndex: logIndex(3), revision: revision(1), clockMs: 5, mutations: [] })).rejects.toThrow(AssertionError);
    expect(batches).toHaveLength(1);
    await s.close();
    const again = await open();
    expect(again.kvAppliedIndex()).toBe(2);
    expect(again.initialState().hardState.commit).toBe(2);
    const image = await again.loadKvImage();
    expect([...image.kvs].map((k) => new TextDecoder().decode(k.key))).toEqual(['a']);
    await again.close();
  });

  it('asserts before writing, and writes nothing, when a persist would break an invariant', async () => {
    // Proves the pre-write assertions: a committed entry is never overwritten, the term never goes down.
    await seedLog();
    const s = await open();
    await expect(s.persist({ hardState: hs(2, 3), entries: [entry(3, 2)], snapshot: null })).rejects.toThrow(AssertionError);
    await expect(s.persist({ hardState: hs(0, 3), entries: [], snapshot: null })).rejects.toThrow(/term would go down/);
    await expect(s.persist({ hardState: hs(1, 2), entries: [], snapshot: null })).rejects.toThrow(/commit index would go down/);
    await expect(s.persist({ hardState: { term: term(1), vote: nodeId('n2'), commit: logIndex(3) }, entries: [], snapshot: null })).resolves.toBeUndefined();
    await expect(s.persist({ hardState: { term: term(1), vote: nodeId('n3'), commit: logIndex(3) }, entries: [], snapshot: null })).rejects.toThrow(/vote in term 1 would change/);
    await expect(s.persist({ hardState: null, entries: [entry(7, 1)], snapshot: null })).rejects.toThrow(/outside \[1, 6\]/);
    await s.close();
    const again = await open();
    expect(again.lastIndex()).toBe(5);
    expect(again.term(logIndex(3))).toBe(1);
    expect(again.initialState().hardState).toEqual({ term: 1, vote: 'n2', commit: 3 });
    await again.close();
  });

  it('runs concurrent writes in call order', async () => {
    // Proves the write queue: writes issued without awaiting land in the order they were called.
    const s = await open();
    const writes = [];
    for (let i = 1; i <= 20; i++) writes.push(s.persist({ hardState: hs(i, 0), entries: [entry(i, i)], snapshot: null }));
    writes.push(s.persist({ hardState: hs(21, 0), entries: [entry(5, 21)], snapshot: null }));
    await Promise.all(writes);
    expect(s.lastIndex()).toBe(5);
    await s.close();
    const again = await open();
    expect([1, 2, 3, 4, 5].map((i) => again.term(logIndex(i)))).toEqual([1, 2, 3, 4, 21]);
    expect(again.initialState().hardState.term).toBe(21);
    await again.close();
  });

  it('refuses every write after a failed write (fail-stop)', async () => {
    // Proves a failed fsync poisons the storage instead of letting the node continue on unknown disk state.
    const s = await open();
    failNextBatch(s, new Error('EIO: simulated fsync failure'));
    await expect(s.persist({ hardState: hs(1, 0), entries: [entry(1, 1)], snapshot: null })).rejects.toThrow('EIO');
    expect(s.lastIndex()).toBe(0);
    await expect(s.persist({ hardState: hs(1, 0), entries: [entry(1, 1)], snapshot: null })).rejects.toThrow(/earlier write .* failed \(EIO: simulated fsync failure\)/);
    await s.close();
  });

  it('treats compacting to the compaction point as a no-op and below it as CompactedError', async () => {
    // Proves compact() is idempotent at the current point and refuses to go back.
    await seedLog();
    const s = await open();
    await s.createSnapshot(logIndex(3), conf, new Uint8Array(0));
    await s.compact(logIndex(2));
    await s.compact(logIndex(2));
    expect(s.firstIndex()).toBe(3);
    await expect(s.compact(logIndex(1))).rejects.toThrow(/already compacted up to index 2/);
    await expect(s.compact(logIndex(4))).rejects.toThrow(AssertionError);
    expect(() => s.term(logIndex(6))).toThrow(AssertionError);
    await s.close();
  });

  it('flushes earlier unsynced writes into table files before compacting the log', async () => {
    // Proves the durability barrier runs: compact() turns the memtable (holding unsynced KV batches) into synced .ldb table files first.
    await seedLog();
    const s = await open();
    const tables = async () => (await readdir(path)).filter((f) => f.endsWith('.ldb')).length;
    await s.applyBatch({ appliedIndex: logIndex(3), revision: revision(1), clockMs: 1, mutations: [{ type: 'putKey', kv: { key: new Uint8Array([1]), value: new Uint8Array(1000), createRevision: revision(1), modRevision: revision(1), version: 1 } }] });
    await s.createSnapshot(logIndex(3), conf, new Uint8Array(0));
    const before = await tables();
    await s.compact(logIndex(3));
    expect(await tables()).toBeGreaterThan(before);
    await s.close();
  });

  it('skips the barrier when every apply batch since the last one was synced, and runs it after an unsynced one', async () => {
    // Proves issue 12's bulk-load finding: the barrier (a memtable flush) took up to 0.7 s under load with the Ready
    // loop waiting, and caused leader changes, though every apply batch of the normal path is synced on its own.
    await seedLog();
    const s = await open();
    await s.persist({ hardState: hs(1, 5), entries: [], snapshot: null });
    const tables = async () => (await readdir(path)).filter((f) => f.endsWith('.ldb')).length;
    const put = (index: number, sync: boolean) =>
      s.applyBatch({ appliedIndex: logIndex(index), revision: revision(index), clockMs: 1, mutations: [{ type: 'putKey', kv: { key: new Uint8Array([index]), value: new Uint8Array(1000), createRevision: revision(index), modRevision: revision(index), version: 1 } }] }, { sync });
    // The first compaction after open runs the barrier (the last process may have left unsynced writes).
    await put(1, true);
    await s.createSnapshot(logIndex(1), conf, new Uint8Array(0));
    await s.compact(logIndex(1));
    const afterFirst = await tables();
    expect(afterFirst).toBeGreaterThan(0);
    await put(2, true);
    await put(3, true);
    await s.createSnapshot(logIndex(3), conf, new Uint8Array(0));
    await s.compact(logIndex(3));
    expect(await tables()).toBe(afterFirst);
    await put(4, false);
    await s.createSnapshot(logIndex(4), conf, new Uint8Array(0));
    await s.compact(logIndex(4));
    expect(await tables()).toBeGreaterThan(afterFirst);
    await s.close();
  });
});
