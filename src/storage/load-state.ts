/**
 * Opening a data directory: creating the initial records of a new one, or reading and VERIFYING
 * every Raft record and every log entry of an existing one before the node may use it. Any
 * checksum mismatch, undecodable or truncated record, gap in the log or broken invariant throws a
 * `CorruptionError` that names the problem, the key and the data directory.
 */
import type { Level } from 'level';
import { CorruptionError, FailedPreconditionError, logIndex, revision, term } from '../util/index.js';
import type { LogIndex, NodeId, Revision } from '../util/index.js';
import type { ConfState, Entry, HardState, Snapshot } from '../raft/index.js';
import { emptyHardState } from '../raft/index.js';
import { confProblem, logSegmentProblem, raftStateProblem } from './invariants.js';
import { describeKey, logKeyIndex, MetaKey, Prefix, prefixRange } from './keys.js';
import { decodeCounter, decodeRestoreMarker, encodeCounter } from './kv-records.js';
import type { RestoreMarker } from './kv-records.js';
import { RecordFormatError } from './record-codec.js';
import {
  decodeCluster,
  decodeConfState,
  decodeEntry,
  decodeHardState,
  decodeLogStart,
  decodeSnapshot,
  encodeCluster,
  encodeConfState,
  encodeHardState,
  encodeLogStart,
  encodeSnapshot,
  STORAGE_FORMAT_VERSION,
  UnsupportedFormatVersionError,
} from './raft-records.js';
import type { ClusterRecord, LogStart } from './raft-records.js';

/** The LevelDB handle type used throughout `storage/`: byte keys, byte values. */
export type BytesLevel = Level<Uint8Array, Uint8Array>;

/** An explicit LevelDB snapshot (a consistent point-in-time view for reads). */
export type LevelSnapshot = ReturnType<BytesLevel['snapshot']>;

/** Everything read from a data directory at open. */
export interface LoadedState {
  readonly cluster: ClusterRecord;
  readonly hardState: HardState;
  readonly conf: ConfState;
  readonly snapshot: Snapshot;
  readonly logStart: LogStart;
  readonly entries: readonly Entry[];
  readonly kvAppliedIndex: LogIndex;
  readonly kvRevision: Revision;
  readonly kvClockMs: number;
  readonly restoreMarker: RestoreMarker | null;
  /** True if the directory was empty and has just been initialised. */
  readonly created: boolean;
}

/** What identifies the directory's owner, from the open options. */
export interface OwnerCheck {
  readonly path: string;
  readonly nodeId: NodeId;
  readonly clusterId: string | undefined;
  readonly initialConf: ConfState | undefined;
}

/** A `CorruptionError` that says what is wrong, where (key), and in which data directory. */
export function corruption(path: string, key: Uint8Array | string, problem: string): CorruptionError {
  const where = typeof key === 'string' ? key : describeKey(key);
  return new CorruptionError(`storage corruption in data dir ${path}, at ${where}: ${problem}`);
}

/** Runs a decoder, turning a `RecordFormatError` into a `CorruptionError` for `key`. */
export function decodeOrCorrupt<T>(path: string, key: Uint8Array, decode: () => T): T {
  try {
    return decode();
  } catch (e) {
    if (e instanceof RecordFormatError) throw corruption(path, key, e.message);
    throw e;
  }
}

async function readRequired<T>(db: BytesLevel, path: string, key: Uint8Array, decode: (value: Uint8Array) => T): Promise<T> {
  const value = (await db.get(key)) as Uint8Array | undefined;
  if (value === undefined) throw corruption(path, key, 'record is missing (every data directory has it from creation)');
  return decodeOrCorrupt(path, key, () => decode(value));
}

async function isEmpty(db: BytesLevel): Promise<boolean> {
  const keys = await db.keys({ limit: 1 }).all();
  return keys.length === 0;
}

/** Writes the initial records of a new data directory in one synced batch. */
async function initialize(db: BytesLevel, owner: OwnerCheck): Promise<void> {
  const conf: ConfState = owner.initialConf ?? { voters: [], learners: [] };
  const problem = confProblem(conf, 'initialConf');
  if (problem !== null) throw new FailedPreconditionError(`cannot create data dir ${owner.path}: ${problem}`);
  const cluster: ClusterRecord = { formatVersion: STORAGE_FORMAT_VERSION, clusterId: owner.clusterId ?? '', nodeId: owner.nodeId };
  const snapshot: Snapshot = { metadata: { index: logIndex(0), term: term(0), conf }, data: new Uint8Array(0) };
  await db.batch(
    [
      { type: 'put', key: MetaKey.cluster, value: encodeCluster(cluster) },
      { type: 'put', key: MetaKey.hardState, value: encodeHardState(emptyHardState) },
      { type: 'put', key: MetaKey.conf, value: encodeConfState(conf) },
      { type: 'put', key: MetaKey.snapshot, value: encodeSnapshot(snapshot) },
      { type: 'put', key: MetaKey.logStart, value: encodeLogStart({ index: logIndex(0), term: term(0) }) },
      { type: 'put', key: MetaKey.appliedIndex, value: encodeCounter(MetaKey.appliedIndex, 0) },
      { type: 'put', key: MetaKey.revision, value: encodeCounter(MetaKey.revision, 0) },
      { type: 'put', key: MetaKey.clockMs, value: encodeCounter(MetaKey.clockMs, 0) },
    ],
    { sync: true },
  );
}

/** Reads `meta/cluster` and refuses a directory of another node, cluster or format version. */
async function checkOwner(db: BytesLevel, owner: OwnerCheck): Promise<ClusterRecord> {
  const value = (await db.get(MetaKey.cluster)) as Uint8Array | undefined;
  if (value === undefined) {
    throw corruption(owner.path, MetaKey.cluster, 'the database holds data but no meta/cluster record: not a raftkv data dir, or its identity record was lost');
  }
  let cluster: ClusterRecord;
  try {
    cluster = decodeOrCorrupt(owner.path, MetaKey.cluster, () => decodeCluster(value));
  } catch (e) {
    if (e instanceof UnsupportedFormatVersionError) {
      throw new FailedPreconditionError(`refusing to open data dir ${owner.path}: it was written with ${e.message}`);
    }
    throw e;
  }
  if (cluster.nodeId !== owner.nodeId) {
    throw new FailedPreconditionError(`refusing to open data dir ${owner.path}: it belongs to node ${cluster.nodeId}, not to node ${owner.nodeId}`);
  }
  if (owner.clusterId !== undefined && cluster.clusterId !== '' && cluster.clusterId !== owner.clusterId) {
    throw new FailedPreconditionError(`refusing to open data dir ${owner.path}: it belongs to cluster ${cluster.clusterId}, not to cluster ${owner.clusterId}`);
  }
  return cluster;
}

/**
 * Reads every stored log entry, verifying each checksum, that indexes run without a gap from the
 * compaction point, and that terms never decrease.
 */
async function scanLog(db: BytesLevel, path: string, start: LogStart): Promise<Entry[]> {
  const entries: Entry[] = [];
  let prevIndex: number = start.index;
  let prevTerm: number = start.term;
  const iterator = db.iterator(prefixRange(Prefix.log));
  try {
    for (;;) {
      const chunk = await iterator.nextv(1024);
      if (chunk.length === 0) break;
      for (const [key, value] of chunk) {
        const index = decodeOrCorrupt(path, key, () => logKeyIndex(key));
        if (index <= start.index) {
          throw corruption(path, key, `log entry ${index} is at or below the compaction point ${start.index} (meta/logstart); it should have been deleted with it`);
        }
        if (index !== prevIndex + 1) {
          throw corruption(path, key, `log gap: found index ${index} right after ${prevIndex === start.index ? `the compaction point ${prevIndex}` : `index ${prevIndex}`}; entries ${prevIndex + 1}..${index - 1} are missing`);
        }
        const entry = decodeOrCorrupt(path, key, () => decodeEntry(index, value));
        const problem = logSegmentProblem(prevIndex, prevTerm, [entry]);
        if (problem !== null) throw corruption(path, key, problem);
        entries.push(entry);
        prevIndex = index;
        prevTerm = entry.term;
      }
    }
  } finally {
    await iterator.close();
  }
  return entries;
}

/**
 * Opens the state of a data directory: initialises an empty one, otherwise checks its owner and
 * format and reads and verifies everything the mirror needs.
 */
export async function loadState(db: BytesLevel, owner: OwnerCheck): Promise<LoadedState> {
  const created = await isEmpty(db);
  if (created) await initialize(db, owner);
  const path = owner.path;
  const cluster = await checkOwner(db, owner);
  const hardState = await readRequired(db, path, MetaKey.hardState, decodeHardState);
  const conf = await readRequired(db, path, MetaKey.conf, decodeConfState);
  const snapshot = await readRequired(db, path, MetaKey.snapshot, decodeSnapshot);
  const logStart = await readRequired(db, path, MetaKey.logStart, decodeLogStart);
  const entries = await scanLog(db, path, logStart);
  const lastIndex = logStart.index + entries.length;
  const snapshotOffset = snapshot.metadata.index - logStart.index;
  const termAtSnapshotIndex = snapshotOffset === 0 ? logStart.term : (entries[snapshotOffset - 1]?.term ?? null);
  const problem = raftStateProblem({
    hardState,
    conf,
    snapshot: snapshot.metadata,
    logStart,
    lastIndex,
    lastTerm: entries.at(-1)?.term ?? logStart.term,
    termAtSnapshotIndex,
  });
  if (problem !== null) throw corruption(path, 'meta/*', `stored Raft state is inconsistent: ${problem}`);

  const kvAppliedIndex = logIndex(await readRequired(db, path, MetaKey.appliedIndex, (v) => decodeCounter(MetaKey.appliedIndex, v)));
  const kvRevision = revision(await readRequired(db, path, MetaKey.revision, (v) => decodeCounter(MetaKey.revision, v)));
  const kvClockMs = await readRequired(db, path, MetaKey.clockMs, (v) => decodeCounter(MetaKey.clockMs, v));
  const markerValue = (await db.get(MetaKey.restoring)) as Uint8Array | undefined;
  const restoreMarker = markerValue === undefined ? null : decodeOrCorrupt(path, MetaKey.restoring, () => decodeRestoreMarker(MetaKey.restoring, markerValue));
  // Invariant: applied <= committed. applyBatch checks it before writing, and the commit index is
  // written before any entry it commits is applied. A commit-only hard state is written without
  // fsync (see LevelStorage.persist), so after a power loss across a write-ahead-log rotation the
  // stored applied index can be ahead of the stored commit index. Only committed entries are ever
  // applied, so the commit index is raised to it; an applied index past the log's end is corrupt.
  if (kvAppliedIndex > lastIndex) {
    throw corruption(path, MetaKey.appliedIndex, `the state machine's applied index ${kvAppliedIndex} is beyond the last log index ${lastIndex}`);
  }
  const recoveredHardState = kvAppliedIndex > hardState.commit ? { ...hardState, commit: kvAppliedIndex } : hardState;
  return { cluster, hardState: recoveredHardState, conf, snapshot, logStart, entries, kvAppliedIndex, kvRevision, kvClockMs, restoreMarker, created };
}
