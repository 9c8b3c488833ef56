import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Level } from 'level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssertionError, CorruptionError, FailedPreconditionError, InvalidArgumentError, logIndex, nodeId, revision, term } from '../util/index.js';
import type { ConfState, Entry } from '../raft/index.js';
import { encodeKeyValue, LoadedKeys } from '../kv/index.js';
import type { KeyValue, KvStateImage, SessionRecord } from '../kv/index.js';
import { kvKey, MetaKey } from './keys.js';
import { frameRecord, RecordKind } from './record-codec.js';
import { LevelStorage } from './level-storage.js';
import type { KvSnapshotRecord, KvStateSource } from './kv-state-store.js';
import type { BytesLevel } from './load-state.js';
import { failNextBatch, recordBatches } from '../../test/support/level-batches.js';

const n1 = nodeId('n1');
const conf: ConfState = { voters: [n1, nodeId('n2'), nodeId('n3')], learners: [] };
const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

function kv(key: string, value: string, createRevision: number, modRevision: number, version: number): KeyValue {
  return { key: bytes(key), value: bytes(value), createRevision: revision(createRevision), modRevision: revision(modRevision), version };
}

function session(clientId: string, ackSeq: number, lastSeenMs: number): SessionRecord {
  return { clientId, ackSeq, lastSeenMs, responses: [{ seq: ackSeq + 1, result: bytes(`r${ackSeq + 1}`) }] };
}

/** Plain, comparable form of an image. */
function plainImage(image: KvStateImage) {
  return {
    appliedIndex: image.appliedIndex,
    revision: image.revision,
    clockMs: image.clockMs,
    kvs: [...image.kvs].map((x) => ({ ...x, key: text(x.key), value: text(x.value) })),
    sessions: [...image.sessions].map((x) => ({ ...x, responses: x.responses.map((r) => ({ seq: r.seq, result: text(r.result) })) })),
  };
}

let dir = '';
let path = '';

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'raftkv-kv-state-'));
  path = join(dir, 'data');
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const open = (restoreBatchBytesMax?: number) => LevelStorage.open({ path, nodeId: n1, initialConf: conf, ...(restoreBatchBytesMax ? { restoreBatchBytesMax } : {}) });

/** Opens a storage whose log holds entries 1..`commit`, all committed, so they may be applied. */
async function openCommitted(commit: number, restoreBatchBytesMax?: number): Promise<LevelStorage> {
  const s = await open(restoreBatchBytesMax);
  const entries: Entry[] = [];
  for (let i = 1; i <= commit; i++) entries.push({ index: logIndex(i), term: term(1), type: 'normal', data: new Uint8Array(0) });
  await s.persist({ hardState: { term: term(1), vote: null, commit: logIndex(commit) }, entries, snapshot: null });
  return s;
}

async function collect(reader: AsyncIterable<KvSnapshotRecord>): Promise<{ kvs: string[]; sessions: string[] }> {
  const kvs: string[] = [];
  const sessions: string[] = [];
  for await (const record of reader) {
    if (record.type === 'kv') kvs.push(`${text(record.kv.key)}=${text(record.kv.value)}@${record.kv.modRevision}`);
    else sessions.push(`${record.session.clientId}:${record.session.ackSeq}`);
  }
  return { kvs, sessions };
}

describe('LevelStorage: state machine persistence', () => {
  it('writes mutations, applied index, revision, clock and membership in ONE batch, and loads them back', async () => {
    // Proves applyBatch is a single LevelDB batch (so a crash never applies an entry twice or skips one), synced by default
    // (so no later write can outlive it across a WAL rotation: issue 10, defect c), and loadKvImage round-trips it.
    const s = await openCommitted(10);
    const batches = recordBatches(s);
    await s.applyBatch({
      appliedIndex: logIndex(3),
      revision: revision(2),
      clockMs: 1000,
      mutations: [
        { type: 'putKey', kv: kv('a', 'one', 1, 1, 1) },
        { type: 'putKey', kv: kv('b', 'two', 2, 2, 1) },
        { type: 'putSession', session: session('c1', 0, 900) },
      ],
    });
    expect(batches).toHaveLength(1);
    expect(batches[0]?.sync).toBe(true);
    expect(batches[0]?.ops.map((op) => text(op.key))).toEqual(['kv/a', 'kv/b', 'session/c1', 'kv-meta/appliedIndex', 'kv-meta/revision', 'kv-meta/clockMs']);

    const newConf: ConfState = { voters: [n1, nodeId('n2')], learners: [nodeId('n3')] };
    await s.applyBatch(
      {
        appliedIndex: logIndex(5),
        revision: revision(4),
        clockMs: 2000,
        confState: newConf,
        mutations: [
          { type: 'putKey', kv: kv('a', 'uno', 1, 3, 2) },
          { type: 'deleteKey', key: bytes('b') },
          { type: 'putSession', session: session('c2', 4, 1500) },
          { type: 'deleteSession', clientId: 'c1' },
          { type: 'putKey', kv: kv('c', 'three', 4, 4, 1) },
        ],
      },
      { sync: true },
    );
    expect(batches).toHaveLength(2);
    expect(batches[1]?.sync).toBe(true);
    const expected = {
      appliedIndex: 5,
      revision: 4,
      clockMs: 2000,
      kvs: [
        { key: 'a', value: 'uno', createRevision: 1, modRevision: 3, version: 2 },
        { key: 'c', value: 'three', createRevision: 4, modRevision: 4, version: 1 },
      ],
      sessions: [{ clientId: 'c2', ackSeq: 4, lastSeenMs: 1500, responses: [{ seq: 5, result: 'r5' }] }],
    };
    expect(plainImage(await s.loadKvImage())).toEqual(expected);
    await s.close();

    const again = await open();
    expect(plainImage(await again.loadKvImage())).toEqual(expected);
    expect(again.kvAppliedIndex()).toBe(5);
    expect(again.kvRevision()).toBe(4);
    expect(again.kvClockMs()).toBe(2000);
    expect(again.initialState().confState).toEqual(newConf);
    expect(again.kvRecovery()).toEqual({ status: 'ok' });
    await again.close();
  });

  it("writes only each session's last record of a batch, and stores the same state", async () => {
    // Proves issue 12's session fix: a pipelined client's k writes in one batch replace its whole session
    // record k times; only the last survives the batch, so only the last is encoded and written.
    const s = await openCommitted(10);
    const batches = recordBatches(s);
    await s.applyBatch({
      appliedIndex: logIndex(4),
      revision: revision(3),
      clockMs: 40,
      mutations: [
        { type: 'putKey', kv: kv('a', 'one', 1, 1, 1) },
        { type: 'putSession', session: session('c1', 0, 10) },
        { type: 'putSession', session: session('c2', 0, 10) },
        { type: 'putKey', kv: kv('b', 'two', 2, 2, 1) },
        { type: 'putSession', session: session('c1', 1, 20) },
        { type: 'deleteSession', clientId: 'c2' },
        { type: 'putSession', session: session('c1', 2, 30) },
        { type: 'deleteSession', clientId: 'c3' },
        { type: 'putSession', session: session('c3', 5, 40) },
      ],
    });
    expect(batches[0]?.ops.map((op) => `${op.type} ${text(op.key)}`)).toEqual([
      'put kv/a',
      'put kv/b',
      'del session/c2',
      'put session/c1',
      'put session/c3',
      'put kv-meta/appliedIndex',
      'put kv-meta/revision',
      'put kv-meta/clockMs',
    ]);
    const expected = [
      { clientId: 'c1', ackSeq: 2, lastSeenMs: 30, responses: [{ seq: 3, result: 'r3' }] },
      { clientId: 'c3', ackSeq: 5, lastSeenMs: 40, responses: [{ seq: 6, result: 'r6' }] },
    ];
    expect(plainImage(await s.loadKvImage()).sessions).toEqual(expected);
    await s.close();
    const again = await open();
    expect(plainImage(await again.loadKvImage()).sessions).toEqual(expected);
    await again.close();
  });

  it('leaves neither the mutations nor the applied index behind when the batch fails', async () => {
    // Proves all-or-nothing: a failed applyBatch changes nothing on disk, so the entry is re-applied exactly once.
    const s = await openCommitted(10);
    await s.applyBatch({ appliedIndex: logIndex(1), revision: revision(1), clockMs: 1, mutations: [{ type: 'putKey', kv: kv('a', 'one', 1, 1, 1) }] });
    failNextBatch(s, new Error('EIO: simulated'));
    await expect(s.applyBatch({ appliedIndex: logIndex(2), revision: revision(2), clockMs: 2, mutations: [{ type: 'putKey', kv: kv('a', 'two', 1, 2, 2) }] })).rejects.toThrow('EIO');
    expect(s.kvAppliedIndex()).toBe(1);
    await s.close();
    const again = await open();
    expect(plainImage(await again.loadKvImage())).toMatchObject({ appliedIndex: 1, revision: 1, kvs: [{ key: 'a', value: 'one' }] });
    await again.close();
  });

  it('asserts before writing when a batch would apply an entry twice, beyond the commit index, or move the clock back', async () => {
    // Proves the pre-write assertions of applyBatch.
    const s = await openCommitted(5);
    await s.applyBatch({ appliedIndex: logIndex(2), revision: revision(1), clockMs: 10, mutations: [] });
    await expect(s.applyBatch({ appliedIndex: logIndex(2), revision: revision(1), clockMs: 10, mutations: [] })).rejects.toThrow(/applied twice/);
    await expect(s.applyBatch({ appliedIndex: logIndex(6), revision: revision(1), clockMs: 10, mutations: [] })).rejects.toThrow(/beyond the persisted commit index 5/);
    await expect(s.applyBatch({ appliedIndex: logIndex(3), revision: revision(1), clockMs: 9, mutations: [] })).rejects.toThrow(AssertionError);
    await expect(s.applyBatch({ appliedIndex: logIndex(3), revision: revision(2), clockMs: 10, mutations: [{ type: 'putKey', kv: kv('a', 'x', 1, 3, 1) }] })).rejects.toThrow(
      /modRevision \(3\) <= revision \(2\)/,
    );
    expect(s.kvAppliedIndex()).toBe(2);
    await s.close();
  });

  it('refuses to load a corrupted key record, naming the key', async () => {
    // Proves KV records are checksummed and verified on read: corrupt data is never handed to the state machine.
    const s = await openCommitted(2);
    await s.applyBatch({ appliedIndex: logIndex(1), revision: revision(1), clockMs: 1, mutations: [{ type: 'putKey', kv: kv('alpha', 'value', 1, 1, 1) }] });
    await s.close();
    const db: BytesLevel = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    const value = Uint8Array.from((await db.get(kvKey(bytes('alpha')))) as Uint8Array);
    value[value.length - 2] = (value[value.length - 2] ?? 0) ^ 0xff;
    await db.put(kvKey(bytes('alpha')), value);
    await db.close();
    const again = await open();
    const error = await again.loadKvImage().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as Error).message).toContain('at kv/alpha: checksum mismatch');
    expect((error as Error).message).toContain(path);
    await again.close();
  });
});

describe('LevelStorage: streamed start-up load', () => {
  /** Stores `count` keys k00000.. (more than one read chunk of 1,024 records) at applied index 1. */
  async function storeKeys(count: number): Promise<void> {
    const s = await openCommitted(2);
    const mutations = Array.from({ length: count }, (_, i) => ({ type: 'putKey' as const, kv: kv(`k${String(i).padStart(5, '0')}`, `v${i}`.repeat(20), 1, 1, 1) }));
    await s.applyBatch({ appliedIndex: logIndex(1), revision: revision(1), clockMs: 1, mutations });
    await s.close();
  }

  it('hands the keys to the state machine already checked and packed, over several read chunks', async () => {
    // Proves issue 12's restart fix: loadKvImage no longer builds an array of every KeyValue (1,000,000 of them
    // held 1.47 GB after a restart); it fills a LoadedKeys a chunk at a time, which the state machine adopts.
    await storeKeys(2500);
    const s = await open();
    const image = await s.loadKvImage();
    expect(image.kvs).toBeInstanceOf(LoadedKeys);
    const keys = [...image.kvs].map((x) => text(x.key));
    expect(keys).toHaveLength(2500);
    expect(keys[0]).toBe('k00000');
    expect(keys[2499]).toBe('k02499');
    expect(text([...image.kvs][1234]?.value ?? new Uint8Array(0))).toBe('v1234'.repeat(20));
    await s.close();
  });

  it('stops at a corrupted record in a later chunk, with a read in flight, and leaves the storage usable', async () => {
    // Proves the read-ahead: the chunk after the bad record is already being fetched when decoding throws; the
    // stream settles it, closes its iterator and reports the corruption; the storage still closes cleanly.
    await storeKeys(2500);
    const db: BytesLevel = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    const bad = kvKey(bytes('k01500'));
    const value = Uint8Array.from((await db.get(bad)) as Uint8Array);
    value[value.length - 1] = (value[value.length - 1] ?? 0) ^ 0xff;
    await db.put(bad, value);
    await db.close();
    const again = await open();
    const error = await again.loadKvImage().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as Error).message).toContain('at kv/k01500: checksum mismatch');
    expect(again.kvAppliedIndex()).toBe(1);
    await again.close();
  });

  it('refuses a record stored under another key, and one newer than the stored revision', async () => {
    // Proves the packed decoder keeps the checks decodeKeyValueRecord and keyValueProblem made.
    for (const [record, problem] of [
      [encodeKeyValue(kv('other', 'v', 1, 1, 1)), /at kv\/k00000: record holds key other but is stored under kv\/k00000/],
      [encodeKeyValue(kv('k00000', 'v', 1, 5, 1)), /at kv\/k00000: key k00000 has modRevision 5, after the store's revision 1/],
    ] as const) {
      await rm(path, { recursive: true, force: true });
      await storeKeys(3);
      const db: BytesLevel = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' });
      await db.open();
      // Framed and checksummed correctly for the key it is stored under: only the body is wrong.
      await db.put(kvKey(bytes('k00000')), frameRecord(kvKey(bytes('k00000')), RecordKind.keyValue, record));
      await db.close();
      const again = await open();
      await expect(again.loadKvImage()).rejects.toThrow(problem);
      await again.close();
    }
  });
});

describe('LevelStorage: kvSnapshotIterator', () => {
  it('shows the state at the moment it was taken while writes continue underneath', async () => {
    // Proves LevelDB snapshot semantics: a reader created at applied index 2 streams exactly that state, though later batches (before and during the stream) change, delete and add keys and sessions.
    const s = await openCommitted(10);
    const keys = Array.from({ length: 1000 }, (_, i) => `k${String(i).padStart(4, '0')}`);
    await s.applyBatch({
      appliedIndex: logIndex(2),
      revision: revision(1),
      clockMs: 5,
      mutations: [...keys.map((k) => ({ type: 'putKey' as const, kv: kv(k, 'old', 1, 1, 1) })), { type: 'putSession', session: session('c1', 1, 5) }],
    });
    const reader = await s.kvSnapshotIterator();
    expect([reader.appliedIndex, reader.revision, reader.clockMs]).toEqual([2, 1, 5]);
    expect(reader.confState).toEqual(conf);
    // A write between taking the reader and starting to iterate is not seen either.
    await s.applyBatch({ appliedIndex: logIndex(3), revision: revision(2), clockMs: 6, mutations: [{ type: 'putKey', kv: kv('k0000', 'between', 1, 2, 2) }] });

    const seen: string[] = [];
    let wrote = false;
    for await (const record of reader) {
      if (record.type === 'kv') seen.push(`${text(record.kv.key)}=${text(record.kv.value)}`);
      else seen.push(`session ${record.session.clientId}`);
      if (seen.length === 300 && !wrote) {
        wrote = true;
        await s.applyBatch({
          appliedIndex: logIndex(4),
          revision: revision(3),
          clockMs: 7,
          mutations: [
            ...keys.slice(0, 600).map((k) => ({ type: 'putKey' as const, kv: kv(k, 'new', 1, 3, 3) })),
            ...keys.slice(600).map((k) => ({ type: 'deleteKey' as const, key: bytes(k) })),
            { type: 'putKey', kv: kv('k9999-added', 'new', 3, 3, 1) },
            { type: 'deleteSession', clientId: 'c1' },
          ],
        });
      }
    }
    expect(wrote).toBe(true);
    expect(seen).toEqual([...keys.map((k) => `${k}=old`), 'session c1']);

    const after = await collect(await s.kvSnapshotIterator());
    expect(after.kvs).toHaveLength(601);
    expect(after.kvs[0]).toBe('k0000=new@3');
    expect(after.sessions).toEqual([]);
    await s.close();
  });

  it('can be closed before the end and refuses a second iteration', async () => {
    // Proves the reader releases its LevelDB snapshot on close and is single-use.
    const s = await openCommitted(2);
    await s.applyBatch({ appliedIndex: logIndex(1), revision: revision(1), clockMs: 1, mutations: [{ type: 'putKey', kv: kv('a', '1', 1, 1, 1) }] });
    const reader = await s.kvSnapshotIterator();
    await reader.close();
    await reader.close();
    const iterator = reader[Symbol.asyncIterator]();
    await expect(iterator.next()).rejects.toThrow(AssertionError);
    await s.close();
  });
});

describe('LevelStorage: replaceKvState', () => {
  const image = (appliedIndex: number, count: number): KvStateSource => ({
    appliedIndex: logIndex(appliedIndex),
    revision: revision(50),
    clockMs: 7000,
    kvs: Array.from({ length: count }, (_, i) => kv(`new${String(i).padStart(3, '0')}`, `v${i}`, 10, 20 + (i % 30), 3)),
    sessions: [session('s1', 2, 6000), session('s2', 0, 7000)],
  });

  it('replaces every key and session, the applied index, revision and clock, in bounded batches', async () => {
    // Proves an incoming snapshot fully replaces the old state (no old key survives) and is durable across a reopen.
    const s = await openCommitted(20, 256);
    await s.applyBatch({
      appliedIndex: logIndex(3),
      revision: revision(3),
      clockMs: 100,
      mutations: [{ type: 'putKey', kv: kv('old-a', 'x', 1, 1, 1) }, { type: 'putKey', kv: kv('zzz', 'x', 2, 3, 2) }, { type: 'putSession', session: session('old', 0, 50) }],
    });
    const batches = recordBatches(s);
    const source = image(20, 100);
    await s.replaceKvState(source);
    // Marker, at least several bounded bulk batches, final switch.
    expect(batches.length).toBeGreaterThan(5);
    const syncs = batches.map((b) => b.sync);
    expect(syncs[0]).toBe(true);
    expect(syncs.at(-1)).toBe(true);
    expect(syncs.slice(1, -1).every((x) => !x)).toBe(true);

    const expected = plainImage({ ...source, kvs: source.kvs as Iterable<KeyValue>, sessions: source.sessions as Iterable<SessionRecord> });
    expect(plainImage(await s.loadKvImage())).toEqual(expected);
    expect(s.kvRecovery()).toEqual({ status: 'ok' });
    await s.close();
    const again = await open();
    expect(plainImage(await again.loadKvImage())).toEqual(expected);
    await again.close();
  });

  it('detects a restore interrupted midway, refuses to serve the partial state, and recovers with a new restore', async () => {
    // Proves the meta/restoring marker: after a failure (or crash) mid-restore the KV data is never loaded or streamed until a restore completes.
    const s = await openCommitted(20, 256);
    await s.applyBatch({ appliedIndex: logIndex(3), revision: revision(1), clockMs: 1, mutations: [{ type: 'putKey', kv: kv('old', 'x', 1, 1, 1) }] });
    async function* failingKvs(): AsyncGenerator<KeyValue> {
      for (let i = 0; i < 50; i++) yield kv(`new${i}`, 'v', 1, 1, 1);
      throw new Error('peer stream broken');
    }
    await expect(s.replaceKvState({ ...image(20, 0), kvs: failingKvs() })).rejects.toThrow('peer stream broken');
    expect(s.kvRecovery()).toEqual({ status: 'restoreInterrupted', targetIndex: 20 });
    await expect(s.loadKvImage()).rejects.toThrow(FailedPreconditionError);
    await expect(s.kvSnapshotIterator()).rejects.toThrow(/restore is in progress or was interrupted/);
    await expect(s.applyBatch({ appliedIndex: logIndex(4), revision: revision(2), clockMs: 2, mutations: [] })).rejects.toThrow(AssertionError);
    await s.close();

    // The marker is durable: a restart still refuses the partial state.
    const again = await open(256);
    expect(again.kvRecovery()).toEqual({ status: 'restoreInterrupted', targetIndex: 20 });
    await expect(again.loadKvImage()).rejects.toThrow(/restore to index 20 did not finish/);
    // An invalid record from a peer is refused by name, and also leaves the marker.
    const bad = { ...image(20, 5), kvs: [kv('a', 'v', 1, 1, 1), kv('b', 'v', 3, 2, 1)] };
    const error = await again.replaceKvState(bad).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InvalidArgumentError);
    expect((error as InvalidArgumentError).field).toBe('kvs[1]');
    expect(again.kvRecovery().status).toBe('restoreInterrupted');
    await again.replaceKvState(image(20, 10));
    expect(again.kvRecovery()).toEqual({ status: 'ok' });
    const loaded = plainImage(await again.loadKvImage());
    expect(loaded.kvs.map((x) => x.key)).toEqual(Array.from({ length: 10 }, (_, i) => `new${String(i).padStart(3, '0')}`));
    await again.close();
  });

  it('reports a state machine left behind an installed snapshot, and catches up by replacing it', async () => {
    // Proves a crash between persisting an incoming snapshot and installing its state is detected (the log can no longer catch the KV up).
    const s = await openCommitted(5);
    await s.applyBatch({ appliedIndex: logIndex(5), revision: revision(1), clockMs: 1, mutations: [{ type: 'putKey', kv: kv('a', '1', 1, 1, 1) }] });
    await s.persist({
      hardState: { term: term(2), vote: null, commit: logIndex(30) },
      entries: [],
      snapshot: { metadata: { index: logIndex(30), term: term(2), conf }, data: new Uint8Array(0) },
    });
    await s.close();
    const again = await open();
    expect(again.kvRecovery()).toEqual({ status: 'behindLog', appliedIndex: 5, firstIndex: 31 });
    await expect(again.loadKvImage()).rejects.toThrow(/cannot catch up from the log/);
    await again.replaceKvState(image(30, 3));
    expect(again.kvRecovery()).toEqual({ status: 'ok' });
    expect((await again.loadKvImage()).appliedIndex).toBe(30);
    await again.close();
  });

  it('checks the kv-meta records like every other record', async () => {
    // Proves a damaged applied index is reported as corruption at open, with its key.
    await (await open()).close();
    const db: BytesLevel = new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' });
    await db.open();
    await db.put(MetaKey.revision, new Uint8Array([1, 2, 3]));
    await db.close();
    const error = await open().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CorruptionError);
    expect((error as Error).message).toContain('at kv-meta/revision: truncated record');
  });
});
