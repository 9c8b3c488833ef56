/**
 * A point-in-time reader of the state machine's records, backed by an explicit LevelDB snapshot:
 * every read (kv-meta, meta/conf, kv/, session/) goes through the same snapshot, so the reader
 * sees exactly the state at the moment it was created while writes continue.
 */
import { assert, FailedPreconditionError, logIndex, revision } from '../util/index.js';
import type { LogIndex, Revision } from '../util/index.js';
import type { ConfState } from '../raft/index.js';
import type { KeyValue } from '../kv/index.js';
import type { KvSnapshotReader, KvSnapshotRecord } from './kv-state-store.js';
import { MetaKey, Prefix, prefixRange } from './keys.js';
import { decodeCounter, decodeKeyValueRecord, decodeSessionRecord, keyValueProblem } from './kv-records.js';
import { corruption, decodeOrCorrupt } from './load-state.js';
import type { BytesLevel, LevelSnapshot } from './load-state.js';
import { decodeConfState } from './raft-records.js';
import { RecordFormatError } from './record-codec.js';

/**
 * Most records fetched from LevelDB per round trip while streaming, and most bytes: the iterator
 * stops a chunk at whichever comes first (classic-level's `highWaterMarkBytes`, 16 KiB by default:
 * about 50 records of 256-byte values, which made a load of 1,000,000 keys take 18,500 round trips
 * and 4.1 s of reading where 1,000 chunks take 2.8 s). The next chunk is fetched while this one
 * is decoded, so at most two are held.
 */
const READ_CHUNK_RECORDS = 1024;
const READ_CHUNK_BYTES = 1024 * 1024;

/** Reads one required record through `snapshot`. */
async function readAt<T>(db: BytesLevel, path: string, snapshot: LevelSnapshot, key: Uint8Array, decode: (v: Uint8Array) => T): Promise<T> {
  const value = (await db.get(key, { snapshot })) as Uint8Array | undefined;
  if (value === undefined) throw corruption(path, key, 'record is missing');
  return decodeOrCorrupt(path, key, () => decode(value));
}

/**
 * Streams the decoded, verified records under `prefix` through `snapshot`, one chunk of at most
 * `READ_CHUNK_RECORDS` at a time: the next chunk is read from LevelDB (on the thread pool) while
 * the caller works on this one. Every record's checksum is checked; a bad one throws
 * `CorruptionError` and ends the stream.
 */
export async function* streamPrefixChunks<T>(
  db: BytesLevel,
  path: string,
  snapshot: LevelSnapshot,
  prefix: Uint8Array,
  decode: (key: Uint8Array, value: Uint8Array) => T,
): AsyncGenerator<T[], void, undefined> {
  const iterator = db.iterator({ ...prefixRange(prefix), snapshot, highWaterMarkBytes: READ_CHUNK_BYTES });
  let next = iterator.nextv(READ_CHUNK_RECORDS);
  try {
    for (;;) {
      const chunk = await next;
      if (chunk.length === 0) return;
      next = iterator.nextv(READ_CHUNK_RECORDS);
      const decoded: T[] = [];
      for (const [key, value] of chunk) decoded.push(decodeOrCorrupt(path, key, () => decode(key, value)));
      yield decoded;
    }
  } finally {
    // An early stop (a bad record, a caller that stopped reading) leaves a read in flight: let it settle first.
    await next.catch(() => undefined);
    await iterator.close();
  }
}

/** `streamPrefixChunks`, one record at a time. */
export async function* streamPrefix<T>(
  db: BytesLevel,
  path: string,
  snapshot: LevelSnapshot,
  prefix: Uint8Array,
  decode: (key: Uint8Array, value: Uint8Array) => T,
): AsyncGenerator<T, void, undefined> {
  for await (const chunk of streamPrefixChunks(db, path, snapshot, prefix, decode)) yield* chunk;
}

/** Decodes and shape-checks a stored key-value, which may not be newer than `revisionMax`. */
export function decodeStoredKeyValue(revisionMax: number): (key: Uint8Array, value: Uint8Array) => KeyValue {
  return (key: Uint8Array, value: Uint8Array): KeyValue => {
    const kv = decodeKeyValueRecord(key, value);
    const problem = keyValueProblem(kv, revisionMax);
    if (problem !== null) throw new RecordFormatError(problem);
    return kv;
  };
}

/** The LevelDB implementation of `KvSnapshotReader`. Create with `LevelKvSnapshotReader.open`. */
export class LevelKvSnapshotReader implements KvSnapshotReader {
  /** True once iteration started: a reader is iterated once. */
  private started = false;
  /** True once the snapshot was released. */
  private closed = false;

  private constructor(
    private readonly db: BytesLevel,
    private readonly path: string,
    private readonly snapshot: LevelSnapshot,
    readonly appliedIndex: LogIndex,
    readonly revision: Revision,
    readonly clockMs: number,
    readonly confState: ConfState,
  ) {}

  /**
   * Takes the LevelDB snapshot NOW (synchronously, before the first await), then reads the
   * state's position through it. Refuses if a KV restore was in progress at that moment.
   */
  static async open(db: BytesLevel, path: string): Promise<LevelKvSnapshotReader> {
    const snapshot = db.snapshot();
    try {
      const marker = (await db.get(MetaKey.restoring, { snapshot })) as Uint8Array | undefined;
      if (marker !== undefined) throw new FailedPreconditionError(`cannot read a KV snapshot of data dir ${path}: a KV state restore is in progress or was interrupted`);
      const applied = await readAt(db, path, snapshot, MetaKey.appliedIndex, (v) => decodeCounter(MetaKey.appliedIndex, v));
      const rev = await readAt(db, path, snapshot, MetaKey.revision, (v) => decodeCounter(MetaKey.revision, v));
      const clock = await readAt(db, path, snapshot, MetaKey.clockMs, (v) => decodeCounter(MetaKey.clockMs, v));
      const conf = await readAt(db, path, snapshot, MetaKey.conf, decodeConfState);
      return new LevelKvSnapshotReader(db, path, snapshot, logIndex(applied), revision(rev), clock, conf);
    } catch (e) {
      await snapshot.close();
      throw e;
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<KvSnapshotRecord, void, undefined> {
    assert(!this.started, 'a KvSnapshotReader can be iterated only once');
    assert(!this.closed, 'KvSnapshotReader used after close()');
    this.started = true;
    try {
      const decodeKv = decodeStoredKeyValue(this.revision);
      for await (const kv of streamPrefix(this.db, this.path, this.snapshot, Prefix.kv, decodeKv)) {
        yield { type: 'kv', kv };
      }
      for await (const session of streamPrefix(this.db, this.path, this.snapshot, Prefix.session, decodeSessionRecord)) {
        yield { type: 'session', session };
      }
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.snapshot.close();
  }
}
