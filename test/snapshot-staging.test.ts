// Incoming snapshots are staged on disk, checked frame by frame; a bad transfer leaves nothing behind; a crash between "snapshot persisted" and "KV state replaced" is finished from the staged copy at start-up.
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeyValue, SessionRecord } from '../src/kv/index.js';
import { emptyHardState } from '../src/raft/index.js';
import type { Snapshot } from '../src/raft/index.js';
import { encodeStateStream, openStagedSnapshot, recoverFromStagedSnapshot, stageSnapshot, stagingDir } from '../src/server/index.js';
import type { StateRecord } from '../src/server/index.js';
import { LevelStorage } from '../src/storage/index.js';
import { CorruptionError, FailedPreconditionError, InvalidArgumentError, logIndex, nodeId, noopLogger, revision, term } from '../src/util/index.js';

const n1 = nodeId('n1');
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);

function kvs(count: number): KeyValue[] {
  return Array.from({ length: count }, (_, i) => ({ key: bytes(`key-${String(i).padStart(5, '0')}`), value: bytes(`value-${i}`.padEnd(200, '.')), createRevision: revision(i + 1), modRevision: revision(i + 1), version: 1 }));
}
const sessions: SessionRecord[] = [{ clientId: 'c1', ackSeq: 3, lastSeenMs: 900, responses: [{ seq: 4, result: bytes('r4') }] }];
const records = (count: number): StateRecord[] => [...kvs(count).map((kv) => ({ type: 'kv' as const, kv })), ...sessions.map((session) => ({ type: 'session' as const, session }))];

/** The chunks of a state stream at `index` holding `count` keys (with small chunks). */
async function stream(index: number, count: number): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  for await (const c of encodeStateStream({ appliedIndex: logIndex(index), revision: revision(count), clockMs: 1000 }, records(count), 4096)) out.push(c);
  return out;
}

async function* from(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c;
}

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'raftkv-staging-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('snapshot staging', () => {
  it('stages a state stream to disk and reads it back, streamed', async () => {
    const chunks = await stream(42, 500);
    expect(chunks.length).toBeGreaterThan(10);
    const staged = await stageSnapshot({ dataDir: dir, expectedIndex: logIndex(42), chunks: from(chunks), source: 'test', bytesMax: 1 << 30 });
    expect(staged).toMatchObject({ index: 42, revision: 500, clockMs: 1000 });
    const { header, source } = await openStagedSnapshot(staged.path, { verify: true });
    expect(header.index).toBe(42);
    const keys: string[] = [];
    for await (const kv of source.kvs) keys.push(text(kv.key));
    const clients: string[] = [];
    for await (const s of source.sessions) clients.push(s.clientId);
    expect(keys).toHaveLength(500);
    expect(keys[499]).toBe('key-00499');
    expect(clients).toEqual(['c1']);
  });

  it('refuses a truncated stream, a stream at another index and an oversized state, leaving no file', async () => {
    const chunks = await stream(7, 300);
    const truncated = chunks.slice(0, -1);
    await expect(stageSnapshot({ dataDir: dir, expectedIndex: logIndex(7), chunks: from(truncated), source: 'test', bytesMax: 1 << 30 })).rejects.toBeInstanceOf(CorruptionError);
    await expect(stageSnapshot({ dataDir: dir, expectedIndex: logIndex(8), chunks: from(chunks), source: 'test', bytesMax: 1 << 30 })).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(stageSnapshot({ dataDir: dir, expectedIndex: logIndex(7), chunks: from(chunks), source: 'test', bytesMax: 10_000 })).rejects.toThrow(/exceeds 10000 bytes/);
    expect(readdirSync(stagingDir(dir))).toEqual([]);
  });

  it('detects a damaged staged file by its checksum', async () => {
    const staged = await stageSnapshot({ dataDir: dir, expectedIndex: logIndex(3), chunks: from(await stream(3, 50)), source: 'test', bytesMax: 1 << 30 });
    const data = readFileSync(staged.path);
    data[100] = (data[100] ?? 0) ^ 0xff;
    writeFileSync(staged.path, data);
    await expect(openStagedSnapshot(staged.path, { verify: true })).rejects.toThrow(/SHA-256 mismatch/);
  });
});

describe('recovery from an interrupted snapshot install', () => {
  /** A data dir that persisted an incoming snapshot at `index` but did not replace its KV state. */
  async function persistedSnapshotOnly(index: number): Promise<LevelStorage> {
    const storage = await LevelStorage.open({ path: join(dir, 'db'), nodeId: n1, initialConf: { voters: [n1], learners: [] } });
    const snapshot: Snapshot = { metadata: { index: logIndex(index), term: term(2), conf: { voters: [n1], learners: [] } }, data: new Uint8Array(0) };
    await storage.persist({ hardState: { ...emptyHardState, term: term(2), commit: logIndex(index) }, entries: [], snapshot });
    return storage;
  }

  it('finishes the install from the staged copy after a crash before the KV state was replaced (behindLog)', async () => {
    const dataDir = join(dir, 'db');
    const storage = await persistedSnapshotOnly(20);
    await stageSnapshot({ dataDir, expectedIndex: logIndex(20), chunks: from(await stream(20, 100)), source: 'test', bytesMax: 1 << 30 });
    expect(storage.kvRecovery().status).toBe('behindLog');
    expect(await recoverFromStagedSnapshot(storage, dataDir, noopLogger)).toBe(true);
    expect(storage.kvRecovery().status).toBe('ok');
    const image = await storage.loadKvImage();
    expect([...image.kvs]).toHaveLength(100);
    expect(image.appliedIndex).toBe(20);
    await storage.close();
  });

  it('finishes the install after a crash midway through replacing the KV state (restoreInterrupted)', async () => {
    const dataDir = join(dir, 'db');
    const storage = await persistedSnapshotOnly(30);
    await stageSnapshot({ dataDir, expectedIndex: logIndex(30), chunks: from(await stream(30, 100)), source: 'test', bytesMax: 1 << 30 });
    async function* failing(): AsyncGenerator<KeyValue> {
      yield* kvs(10);
      throw new Error('crash');
    }
    await expect(storage.replaceKvState({ appliedIndex: logIndex(30), revision: revision(100), clockMs: 1000, kvs: failing(), sessions: [] })).rejects.toThrow('crash');
    await storage.close();
    const reopened = await LevelStorage.open({ path: dataDir, nodeId: n1 });
    expect(reopened.kvRecovery().status).toBe('restoreInterrupted');
    expect(await recoverFromStagedSnapshot(reopened, dataDir, noopLogger)).toBe(true);
    const image = await reopened.loadKvImage();
    expect([...image.kvs]).toHaveLength(100);
    expect([...image.sessions].map((s) => s.clientId)).toEqual(['c1']);
    await reopened.close();
  });

  it('refuses to start, saying what to do, when there is no staged copy', async () => {
    const storage = await persistedSnapshotOnly(40);
    const error = await recoverFromStagedSnapshot(storage, join(dir, 'db'), noopLogger).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FailedPreconditionError);
    expect(String((error as Error).message)).toMatch(/interrupted.*member remove/);
    expect(existsSync(join(dir, 'db'))).toBe(true);
    await storage.close();
  });
});
