/**
 * Incoming snapshots, staged on disk rather than in memory.
 *
 * A follower receives a snapshot as a state stream (state-stream.ts) before the Raft core decides
 * whether to install it. The bytes go straight to a file, `<dataDir>/incoming-snapshots/
 * snapshot-<index>.staged`, while every frame is decoded and checked on the fly, so memory stays
 * bounded by a chunk or two whatever the size of the state. The file ends with the SHA-256 of
 * what precedes it. It is fsynced and renamed into place BEFORE the snapshot message is stepped
 * into the core, so once the core installs the snapshot (persists its metadata, then replaces the
 * KV state from the file), the state it needs is durable.
 *
 * That closes the crash window between "snapshot metadata persisted" and "KV state replaced": at
 * start-up, a data dir whose KV state is not usable (`kvRecovery()` other than ok) is repaired
 * from the staged file of the snapshot's index, if there is one and its checksum holds
 * (`recoverFromStagedSnapshot`). LevelDB ignores files it does not know, so the folder can live
 * inside the data dir and goes away with it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { KeyValue, SessionRecord } from '../kv/index.js';
import type { DurableRaftStorage } from '../raft/index.js';
import type { KvStateSource, KvStateStore, LevelStorage } from '../storage/index.js';
import { CorruptionError, FailedPreconditionError, InvalidArgumentError, OverloadedError } from '../util/index.js';
import type { Logger, LogIndex, Revision } from '../util/index.js';
import { decodeStateStream } from './state-stream.js';
import type { StateFrame } from './state-stream.js';

/** Bytes of the SHA-256 trailer. */
const digestBytes = 32;
/** Read size when streaming a staged file back. */
const readChunkBytes = 1024 * 1024;

/** Transfers staged by this process (names their temporary files apart). */
let transfers = 0;

/** A snapshot state staged on disk. */
export interface StagedSnapshot {
  readonly index: LogIndex;
  readonly revision: Revision;
  readonly clockMs: number;
  readonly path: string;
  /** Size of the state stream (without the trailer). */
  readonly bytes: number;
}

/** The staging folder of a data dir. */
export function stagingDir(dataDir: string): string {
  return join(dataDir, 'incoming-snapshots');
}

function stagedPath(dataDir: string, index: number): string {
  return join(stagingDir(dataDir), `snapshot-${index}.staged`);
}

/** The position of a staged state (its header frame). */
export interface StagedHeader {
  readonly index: LogIndex;
  readonly revision: Revision;
  readonly clockMs: number;
}

/**
 * Decodes an incoming state stream to its end, checking every frame: the state must be at
 * `expectedIndex` and hold at most `bytesMax` bytes of keys and values. Resolves to its header.
 */
export async function checkIncomingState(chunks: AsyncIterable<Uint8Array>, options: { readonly expectedIndex: LogIndex; readonly source: string; readonly bytesMax: number }): Promise<StagedHeader> {
  let header: StagedHeader | null = null;
  let stateBytes = 0;
  for await (const frame of decodeStateStream(chunks, options.source)) {
    if (frame.type === 'header') {
      if (frame.appliedIndex !== options.expectedIndex) {
        throw new InvalidArgumentError('snapshot', `state is at index ${frame.appliedIndex} but the metadata says ${options.expectedIndex}`);
      }
      header = { index: frame.appliedIndex, revision: frame.revision, clockMs: frame.clockMs };
    } else if (frame.type === 'kv') {
      stateBytes += frame.kv.key.length + frame.kv.value.length;
      if (stateBytes > options.bytesMax) throw new OverloadedError(`incoming snapshot exceeds ${options.bytesMax} bytes of keys and values`);
    }
  }
  if (header === null) throw new CorruptionError(`${options.source}: no header frame`);
  return header;
}

/**
 * Writes an incoming state stream to the staging folder, checking every frame as it passes and
 * refusing a state larger than `bytesMax` or at another index than `expectedIndex`. Resolves once
 * the file is complete, checksummed, fsynced and renamed into place; on any failure the partial
 * file is removed and the error rethrown.
 */
export async function stageSnapshot(options: {
  readonly dataDir: string;
  readonly expectedIndex: LogIndex;
  readonly chunks: AsyncIterable<Uint8Array>;
  readonly source: string;
  readonly bytesMax: number;
}): Promise<StagedSnapshot> {
  const dir = stagingDir(options.dataDir);
  await mkdir(dir, { recursive: true });
  transfers += 1;
  const tmp = join(dir, `snapshot-${options.expectedIndex}.${process.pid}.${transfers}.tmp`);
  const file = await open(tmp, 'w');
  const hash = createHash('sha256');
  let bytes = 0;
  let closed = false;
  try {
    async function* tee(): AsyncGenerator<Uint8Array> {
      for await (const chunk of options.chunks) {
        await file.write(chunk);
        hash.update(chunk);
        bytes += chunk.length;
        yield chunk;
      }
    }
    const header = await checkIncomingState(tee(), options);
    await file.write(hash.digest());
    await file.sync();
    await file.close();
    closed = true;
    const path = stagedPath(options.dataDir, header.index);
    await rename(tmp, path);
    await syncDir(dir);
    return { ...header, path, bytes };
  } catch (e) {
    if (!closed) await file.close().catch(() => {});
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Reads a staged file's state back as a `KvStateSource` (streamed: the records are read from the
 * file as they are consumed). With `verify`, the whole file's checksum is checked first.
 */
export async function openStagedSnapshot(path: string, options: { verify: boolean }): Promise<{ header: StagedSnapshot; source: KvStateSource }> {
  const size = (await stat(path)).size;
  if (size < digestBytes) throw new CorruptionError(`staged snapshot ${path} is truncated (${size} bytes)`);
  const bodyBytes = size - digestBytes;
  if (options.verify) await verifyDigest(path, bodyBytes);
  const frames = decodeStateStream(readRange(path, bodyBytes), `staged snapshot ${path}`);
  const first = await frames.next();
  if (first.done === true || first.value.type !== 'header') throw new CorruptionError(`staged snapshot ${path} has no header frame`);
  const h = first.value;
  const header: StagedSnapshot = { index: h.appliedIndex, revision: h.revision, clockMs: h.clockMs, path, bytes: bodyBytes };
  return { header, source: { appliedIndex: h.appliedIndex, revision: h.revision, clockMs: h.clockMs, ...splitRecords(frames) } };
}

/**
 * Splits the frames after the header into the two streams `replaceKvState` reads one after the
 * other (every key, then every session). The frames are drained to the end, so that the decoder's
 * final checks (record count, truncation) run before the sessions stream ends.
 */
export function splitRecords(frames: AsyncGenerator<StateFrame>): { kvs: AsyncIterable<KeyValue>; sessions: AsyncIterable<SessionRecord> } {
  let firstSession: SessionRecord | null = null;
  let finished = false;
  async function* kvs(): AsyncGenerator<KeyValue> {
    for (;;) {
      const next = await frames.next();
      if (next.done === true) {
        finished = true;
        return;
      }
      const f = next.value;
      if (f.type === 'kv') yield f.kv;
      else if (f.type === 'session') {
        firstSession = f.session;
        return;
      } else if (f.type === 'header') throw new CorruptionError('a second header frame');
    }
  }
  async function* sessions(): AsyncGenerator<SessionRecord> {
    if (firstSession !== null) yield firstSession;
    if (finished) return;
    for (;;) {
      const next = await frames.next();
      if (next.done === true) return;
      const f = next.value;
      if (f.type === 'session') yield f.session;
      else if (f.type === 'kv') throw new CorruptionError('a key record after the session records');
      else if (f.type === 'header') throw new CorruptionError('a second header frame');
    }
  }
  return { kvs: kvs(), sessions: sessions() };
}

/** Removes staged files (and leftovers of interrupted transfers) at or below `index`; all with no index. */
export async function removeStagedSnapshots(dataDir: string, index?: number): Promise<void> {
  const dir = stagingDir(dataDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const m = /^snapshot-(\d+)\./.exec(name);
    if (m && (index === undefined || Number(m[1]) <= index)) await rm(join(dir, name), { force: true });
  }
}

/**
 * Repairs a KV state left unusable by a crash during a snapshot install (see the file comment),
 * from the staged file of the snapshot's index. Returns true if it repaired the state, false if
 * the state was fine. Throws `FailedPreconditionError`, naming what to do, if it cannot.
 *
 * Why this is safe: the snapshot's metadata (index, term, membership) is already persisted, so
 * Raft's view is exactly "installed snapshot at index I"; the staged file holds the state at I
 * that the leader sent, verified when it arrived and again now by its checksum; and
 * `replaceKvState` starts by deleting the whole KV state, so repeating it is harmless.
 */
export async function recoverFromStagedSnapshot(storage: LevelStorage, dataDir: string, logger: Logger): Promise<boolean> {
  return finishInterruptedInstall(storage, dataDir, logger, async (target) => {
    const opened = await openStagedSnapshot(stagedPath(dataDir, target), { verify: true });
    return { index: opened.header.index, source: opened.source };
  });
}

/**
 * `recoverFromStagedSnapshot` for any staging: `openStaged(target)` opens (and verifies) the
 * staged state of the snapshot at `target`, or throws if there is none. `where` names the data
 * dir in errors and logs.
 */
export async function finishInterruptedInstall(
  storage: Pick<KvStateStore, 'kvRecovery' | 'replaceKvState'> & Pick<DurableRaftStorage, 'snapshot'>,
  where: string,
  logger: Logger,
  openStaged: (target: LogIndex) => Promise<{ index: LogIndex; source: KvStateSource }>,
): Promise<boolean> {
  const recovery = storage.kvRecovery();
  if (recovery.status === 'ok') return false;
  const target = recovery.status === 'restoreInterrupted' ? recovery.targetIndex : storage.snapshot().metadata.index;
  const problem = (why: string): FailedPreconditionError =>
    new FailedPreconditionError(
      `the state machine in ${where} is not usable (${recovery.status}): a snapshot install to index ${target} was interrupted, and ${why}. ` +
        'Remove the data dir and add the node back to the cluster (raftkv member remove, then raftkv member add and start it with --join).',
    );
  let opened: { index: LogIndex; source: KvStateSource };
  try {
    opened = await openStaged(target);
  } catch (e) {
    throw problem(`its staged copy cannot be used (${e instanceof Error ? e.message : String(e)})`);
  }
  if (opened.index !== target) throw problem(`its staged copy is at index ${opened.index}`);
  logger.warn({ dataDir: where, status: recovery.status, index: target }, 'snapshot: finishing an interrupted snapshot install from its staged copy');
  await storage.replaceKvState(opened.source);
  return true;
}

async function verifyDigest(path: string, bodyBytes: number): Promise<void> {
  const hash = createHash('sha256');
  for await (const chunk of readRange(path, bodyBytes)) hash.update(chunk);
  const stored = await readAt(path, bodyBytes, digestBytes);
  if (!hash.digest().equals(stored)) throw new CorruptionError(`staged snapshot ${path}: SHA-256 mismatch`);
}

/** `length` bytes of a file at `position`. */
export async function readAt(path: string, position: number, length: number): Promise<Buffer> {
  const handle = await open(path, 'r');
  try {
    const out = Buffer.alloc(length);
    const { bytesRead } = await handle.read(out, 0, length, position);
    return out.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

/** The first `bytes` bytes of a file, in chunks. */
export async function* readRange(path: string, bytes: number): AsyncGenerator<Uint8Array> {
  if (bytes === 0) return;
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1, highWaterMark: readChunkBytes })) yield chunk as Buffer;
}

/** Fsyncs a directory, so that a rename in it is durable. */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
