// The backup file format round-trips, every kind of damage is detected, and a restore builds a data dir at the backup's index with the new membership, a new cluster id and the members' addresses.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { KeyValue } from '../src/kv/index.js';
import { BACKUP_FORMAT_VERSION, decodeSnapshotData, encodeBackup, openBackupState, restoreBackup, verifyBackupFile } from '../src/server/index.js';
import type { BackupHeader, StateRecord } from '../src/server/index.js';
import { LevelStorage } from '../src/storage/index.js';
import { CorruptionError, FailedPreconditionError, logIndex, nodeId, revision } from '../src/util/index.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);
const text = (b: Uint8Array): string => new TextDecoder().decode(b);
const keyCount = 2000;
const kvs: KeyValue[] = Array.from({ length: keyCount }, (_, i) => ({ key: bytes(`k${String(i).padStart(5, '0')}`), value: bytes(`v${i}`), createRevision: revision(i + 1), modRevision: revision(i + 1), version: 1 }));
const records: StateRecord[] = [...kvs.map((kv) => ({ type: 'kv' as const, kv })), { type: 'session', session: { clientId: 'c1', ackSeq: 1, lastSeenMs: 5, responses: [] } }];
const header: BackupHeader = {
  formatVersion: BACKUP_FORMAT_VERSION,
  clusterId: 'c-old',
  nodeId: 'n2',
  revision: revision(keyCount),
  index: logIndex(2050),
  term: 7,
  clockMs: 123_456,
  createdMs: 1_700_000_000_000,
  keyCount,
  sessionCount: 1,
  linearizable: true,
};

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'raftkv-backup-format-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function writeBackup(path: string, h: BackupHeader = header, recs: StateRecord[] = records): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of encodeBackup(h, recs, 4096)) parts.push(chunk);
  const data = Buffer.concat(parts);
  writeFileSync(path, data);
  return data;
}

describe('backup file format', () => {
  it('round-trips: verify reads the header back and the state streams out in order', async () => {
    const file = join(dir, 'b.rkvb');
    const data = await writeBackup(file);
    expect(data.subarray(0, 8).toString('latin1')).toBe('RAFTKVBK');
    const verified = await verifyBackupFile(file);
    expect(verified.header).toEqual(header);
    expect(verified.fileBytes).toBe(data.length);
    const state = await openBackupState(file);
    let n = 0;
    for await (const kv of state.kvs) expect(text(kv.key)).toBe(`k${String(n++).padStart(5, '0')}`);
    const sessions = [];
    for await (const s of state.sessions) sessions.push(s.clientId);
    expect(n).toBe(keyCount);
    expect(sessions).toEqual(['c1']);
  });

  it('detects every flipped byte region, truncation, a wrong version and a foreign file', async () => {
    const file = join(dir, 'b.rkvb');
    const data = await writeBackup(file);
    // A flipped byte anywhere (header, body, trailer) is caught.
    for (const at of [20, 200, Math.floor(data.length / 2), data.length - 40, data.length - 1]) {
      const bad = Buffer.from(data);
      bad[at] = (bad[at] ?? 0) ^ 0x01;
      writeFileSync(file, bad);
      await expect(verifyBackupFile(file), `byte ${at}`).rejects.toBeInstanceOf(CorruptionError);
    }
    for (const length of [10, 100, data.length - 33, data.length - 1]) {
      writeFileSync(file, data.subarray(0, length));
      await expect(verifyBackupFile(file), `cut at ${length}`).rejects.toBeInstanceOf(CorruptionError);
    }
    const v2 = Buffer.from(data);
    v2.writeUInt32BE(2, 8);
    writeFileSync(file, v2);
    await expect(verifyBackupFile(file)).rejects.toThrow(/format version 2; this raftkv reads version 1 only/);
    await expect(verifyBackupFile(file)).rejects.toBeInstanceOf(FailedPreconditionError);
    writeFileSync(file, Buffer.alloc(100, 7));
    await expect(verifyBackupFile(file)).rejects.toThrow(/not a raftkv backup/);
  });

  it('refuses to write a backup whose records do not match its header', async () => {
    await expect(writeBackup(join(dir, 'x.rkvb'), { ...header, keyCount: keyCount + 1 })).rejects.toThrow(/header says/);
  });
});

describe('restore', () => {
  const members = [
    { id: nodeId('a'), peerAddress: '10.0.0.1:7101' },
    { id: nodeId('b'), peerAddress: '10.0.0.2:7101' },
    { id: nodeId('c'), peerAddress: '10.0.0.3:7101' },
  ];

  it('builds a data dir at the backup index with the new membership, a new cluster id and the addresses', async () => {
    const file = join(dir, 'b.rkvb');
    await writeBackup(file);
    const results = [];
    for (const m of members) results.push(await restoreBackup({ file, dataDir: join(dir, m.id), nodeId: m.id, members }));
    const clusterId = results[0]?.clusterId;
    expect(results.every((r) => r.clusterId === clusterId)).toBe(true);
    expect(clusterId).not.toBe('c-old');
    const storage = await LevelStorage.open({ path: join(dir, 'b'), nodeId: nodeId('b') });
    try {
      expect(storage.clusterId).toBe(clusterId);
      expect(storage.kvRecovery().status).toBe('ok');
      const snap = storage.snapshot();
      expect(snap.metadata).toEqual({ index: 2050, term: 7, conf: { voters: ['a', 'b', 'c'], learners: [] } });
      expect(storage.initialState().hardState).toEqual({ term: 7, vote: null, commit: 2050 });
      expect(storage.firstIndex()).toBe(2051);
      expect(storage.lastIndex()).toBe(2050);
      const book = decodeSnapshotData(snap.data);
      expect(book.clusterId).toBe(clusterId);
      expect(book.members.get(nodeId('c'))?.peerAddress).toBe('10.0.0.3:7101');
      const image = await storage.loadKvImage();
      expect(image.appliedIndex).toBe(2050);
      expect(image.revision).toBe(keyCount);
      expect(image.clockMs).toBe(123_456);
      expect([...image.kvs]).toHaveLength(keyCount);
    } finally {
      await storage.close();
    }
  });

  it('writes nothing for a bad file, and refuses a data dir that is not empty', async () => {
    const file = join(dir, 'b.rkvb');
    const data = await writeBackup(file);
    writeFileSync(file, data.subarray(0, data.length - 100));
    await expect(restoreBackup({ file, dataDir: join(dir, 'a'), nodeId: nodeId('a'), members })).rejects.toBeInstanceOf(CorruptionError);
    expect(existsSync(join(dir, 'a'))).toBe(false);
    writeFileSync(file, data);
    await restoreBackup({ file, dataDir: join(dir, 'a'), nodeId: nodeId('a'), members });
    await expect(restoreBackup({ file, dataDir: join(dir, 'a'), nodeId: nodeId('a'), members })).rejects.toThrow(/not empty/);
    await expect(restoreBackup({ file, dataDir: join(dir, 'z'), nodeId: nodeId('z'), members })).rejects.toThrow(/does not list/);
    expect(readFileSync(file).equals(data)).toBe(true);
  });
});
