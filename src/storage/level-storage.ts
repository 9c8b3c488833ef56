/**
 * The node's durable storage: the Raft log, hard state, membership and snapshot metadata, and the
 * state machine's data, all in ONE LevelDB database per node (docs/design.md, "Storage").
 *
 * Reads by the Raft core are synchronous and served from an in-memory mirror of the stored log
 * tail and metadata, loaded and verified at open. Writes go to LevelDB first and update the
 * mirror only AFTER the batch is written, so the core never sees state that is not on disk.
 *
 * Durability (what is fsynced when):
 * - `persist`: ONE batch (hard state, entries, suffix deletions, snapshot metadata), `sync: true`,
 *   exactly one fsync per call, unless the batch says `sync: false`: the driver passes the Ready's
 *   `mustSync` (etcd-io/raft's rule: entries, a snapshot, or a new term or vote), so a batch that
 *   only moves the commit index is written without fsync. The commit index can always be learned
 *   again from the leader, and it is written before
 *   the apply batch of the entries it commits, so LevelDB's ordered log keeps applied <= commit
 *   (see load-state.ts for the power-loss case). An empty batch writes nothing.
 * - `createSnapshot`, `compact`, `setConfState`: one batch each, `sync: true` (they are rare).
 *   `compact` first runs a durability barrier (below) if any KV batch since the last one was
 *   written unsynced, because it deletes entries such a batch may still need for re-applying.
 * - `applyBatch`: one batch, `sync: true` by default (see `ApplyBatchOptions.sync`): the applied
 *   index rides in the same batch as the mutations, and the batch is durable before any later
 *   write can be, so the stored applied index never claims a batch a power loss took away.
 * - `persistWithApply`: a Ready's persist batch and its apply batch as ONE synced batch (one
 *   fsync for both); the driver's write path for every Ready that applies entries.
 * - `replaceKvState`: the restore marker is synced; the bulk is not; then a durability barrier;
 *   then the final switch, synced.
 *
 * The durability barrier: LevelDB does NOT fsync a write-ahead log file when it rotates to a new
 * one, so a later `sync: true` write does not make earlier unsynced writes durable if a rotation
 * happened in between (on power loss the old file's tail may vanish while the new file survives).
 * `compactRange` on an empty key range flushes the memtables to table files, which LevelDB syncs,
 * so once it resolves every earlier write is on disk. It costs one memtable flush, so it is used
 * only before the rare writes that depend on earlier unsynced ones.
 *
 * All writes are serialised in call order: LevelDB would otherwise run concurrent batches in any
 * order. A failed write poisons the storage: every later write is refused, because after a failed
 * fsync the state on disk is unknown (fail-stop).
 */
import { Level } from 'level';
import { assert, CompactedError, FailedPreconditionError, InvalidArgumentError, logIndex, noopLogger, unreachable } from '../util/index.js';
import type { LogIndex, Logger, NodeId, Revision, Term } from '../util/index.js';
import type { ConfState, DurableRaftStorage, EntriesQuery, Entry, HardState, InitialState, PersistBatch, Snapshot } from '../raft/index.js';
import { LoadedKeys } from '../kv/index.js';
import type { KvStateImage, PackedKeyValue, SessionRecord } from '../kv/index.js';
import { planApplyOps } from './apply-ops.js';
import type { BatchOp } from './apply-ops.js';
import { confProblem, hardStateTransitionProblem, logSegmentProblem, raftStateProblem } from './invariants.js';
import { kvKey, logKey, MetaKey, Prefix, prefixRange, sessionKey } from './keys.js';
import {
  decodeCounter,
  decodePackedKeyValueRecord,
  decodeSessionRecord,
  encodeCounter,
  encodeKeyValueRecord,
  encodeRestoreMarker,
  encodeSessionRecord,
  keyValueProblem,
} from './kv-records.js';
import type { RestoreMarker } from './kv-records.js';
import type { ApplyBatchOptions, KvApplyBatch, KvRecovery, KvSnapshotReader, KvStateSource, KvStateStore } from './kv-state-store.js';
import { LevelKvSnapshotReader, streamPrefix, streamPrefixChunks } from './level-kv-snapshot-reader.js';
import { decodeOrCorrupt, loadState } from './load-state.js';
import type { BytesLevel, LoadedState } from './load-state.js';
import { LogMirror } from './log-mirror.js';
import { encodeConfState, encodeEntry, encodeHardState, encodeLogStart, encodeSnapshot } from './raft-records.js';
import type { LogStart } from './raft-records.js';
import { RecordFormatError } from './record-codec.js';

/** Options of `LevelStorage.open`. */
export interface LevelStorageOptions {
  /** The node's data directory (created if missing). One LevelDB database lives in it. */
  readonly path: string;
  /** The node that owns the directory: opening another node's directory is refused. */
  readonly nodeId: NodeId;
  /** The cluster id: recorded at creation, and if both are known, checked at every open. */
  readonly clusterId?: string;
  /** The membership of a brand-new directory (bootstrap). Ignored when the directory exists. */
  readonly initialConf?: ConfState;
  /** Logger; no-op by default. */
  readonly logger?: Logger;
  /** Most bytes per LevelDB batch while `replaceKvState` writes an incoming state. */
  readonly restoreBatchBytesMax?: number;
  /**
   * The database handle to use instead of opening classic-level at `path` (the simulator passes
   * a simulated LevelDB with the same durability model, test/sim/sim-level.ts). Not yet opened;
   * `open` opens it, and `close` closes it.
   */
  readonly db?: BytesLevel;
}

/** Default of `LevelStorageOptions.restoreBatchBytesMax`. */
export const RESTORE_BATCH_BYTES_MAX_DEFAULT = 4 * 1024 * 1024;

/** The log as it will be after a persist's snapshot step (or as it is, without a snapshot). */
interface PersistBase {
  /** The compaction point. */
  readonly start: LogStart;
  readonly lastIndex: number;
  /** The term at `i` for `start.index <= i <= lastIndex`. */
  readonly termAt: (i: number) => number;
  readonly snapshot: Snapshot;
  readonly conf: ConfState;
  /** Updates the mirror for the snapshot step, once the batch is written. */
  readonly applySnapshot: () => void;
}

/** The Raft log store and state machine store of one node, on LevelDB. */
export class LevelStorage implements DurableRaftStorage, KvStateStore {
  /** The stored log tail and compaction point. */
  private readonly log: LogMirror;
  /** The stored hard state. */
  private hard: HardState;
  /** The stored membership (latest applied configuration change or installed snapshot). */
  private conf: ConfState;
  /** The stored snapshot (metadata and opaque data). Invariant: log.start.index <= snap.index <= lastIndex. */
  private snap: Snapshot;
  /** The state machine's stored applied index. Invariant: applied <= hard.commit. */
  private applied: LogIndex;
  /** The state machine's stored revision. */
  private rev: Revision;
  /** The state machine's stored clock (largest applied command time). Invariant: never goes down. */
  private clock: number;
  /** Set while a `replaceKvState` is unfinished (also after a crash midway). */
  private restoreMarker: RestoreMarker | null;
  /** The end of the write queue: every write runs after the previous one settled. */
  private tail: Promise<void> = Promise.resolve();
  /** The first failed write; once set, every write is refused. */
  private failure: unknown = null;
  /**
   * True while a state machine write made since the last durability barrier may not be durable
   * (an unsynced apply batch, a restore's bulk writes; and at open, whatever the last process
   * left). `compact` needs the barrier only then: every other apply batch is synced on its own.
   */
  private unsyncedKvWrites = true;
  /** Set once `close()` ran. */
  private closed = false;
  /** The pending or finished close. */
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly db: BytesLevel,
    /** The data directory. */
    readonly path: string,
    /** The node that owns the data directory. */
    readonly nodeId: NodeId,
    /** The cluster id recorded in the data directory ('' if none was given at creation). */
    readonly clusterId: string,
    private readonly logger: Logger,
    private readonly restoreBatchBytesMax: number,
    loaded: LoadedState,
  ) {
    this.log = new LogMirror(loaded.logStart, loaded.entries);
    this.hard = loaded.hardState;
    this.conf = loaded.conf;
    this.snap = loaded.snapshot;
    this.applied = loaded.kvAppliedIndex;
    this.rev = loaded.kvRevision;
    this.clock = loaded.kvClockMs;
    this.restoreMarker = loaded.restoreMarker;
  }

  /**
   * Opens (or creates) the data directory at `path` and loads and VERIFIES its state: every
   * record's checksum, the log's contiguity and terms, and the invariants across records.
   * Refuses a directory owned by another node or cluster, or of an unknown format version
   * (`FailedPreconditionError`); throws `CorruptionError` for damaged data.
   */
  static async open(options: LevelStorageOptions): Promise<LevelStorage> {
    const { path, nodeId, logger = noopLogger } = options;
    assert(nodeId.length > 0, 'LevelStorage.open: nodeId must not be empty');
    const restoreBatchBytesMax = options.restoreBatchBytesMax ?? RESTORE_BATCH_BYTES_MAX_DEFAULT;
    assert(Number.isSafeInteger(restoreBatchBytesMax) && restoreBatchBytesMax > 0, 'restoreBatchBytesMax must be a positive integer');
    const db: BytesLevel = options.db ?? new Level<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' });
    // classic-level (what `level` is on Node.js) has compactRange; the browser backend would not.
    assert(typeof (db as unknown as { compactRange?: unknown }).compactRange === 'function', 'LevelStorage needs classic-level (compactRange)');
    try {
      await db.open({ createIfMissing: true });
    } catch (e) {
      throw new FailedPreconditionError(`cannot open data dir ${path}: ${describeOpenError(e)}`, { cause: e });
    }
    try {
      const loaded = await loadState(db, { path, nodeId, clusterId: options.clusterId, initialConf: options.initialConf });
      const storage = new LevelStorage(db, path, nodeId, loaded.cluster.clusterId, logger, restoreBatchBytesMax, loaded);
      logger.info(
        {
          path,
          created: loaded.created,
          firstIndex: storage.firstIndex(),
          lastIndex: storage.lastIndex(),
          term: loaded.hardState.term,
          commit: loaded.hardState.commit,
          snapshotIndex: loaded.snapshot.metadata.index,
          kvAppliedIndex: loaded.kvAppliedIndex,
          kvRecovery: storage.kvRecovery().status,
        },
        loaded.created ? 'storage: created a new data dir' : 'storage: opened and verified the data dir',
      );
      const recovery = storage.kvRecovery();
      if (recovery.status !== 'ok') logger.warn({ path, ...recovery }, `storage: ${describeRecovery(recovery)}`);
      return storage;
    } catch (e) {
      await db.close();
      throw e;
    }
  }

  // ---------------------------------------------------------------------------------------------
  // RaftStorage: synchronous reads from the mirror.

  initialState(): InitialState {
    return { hardState: this.hard, confState: this.conf };
  }

  entries(query: EntriesQuery): readonly Entry[] {
    return this.log.entries(query);
  }

  term(index: LogIndex): Term {
    return this.log.term(index);
  }

  firstIndex(): LogIndex {
    return this.log.firstIndex();
  }

  lastIndex(): LogIndex {
    return this.log.lastIndex();
  }

  /** Data bytes of the stored entries `[lo, hi]` (the mirror keeps them in memory). */
  logDataBytes(lo: LogIndex, hi: LogIndex): number {
    return this.log.dataBytes(lo, hi);
  }

  /** The smallest stored index from which the entries up to `hi` hold at most `bytesMax` bytes (log-mirror.ts). */
  logFirstIndexWithin(hi: LogIndex, bytesMax: number): LogIndex {
    return logIndex(this.log.firstIndexWithin(hi, bytesMax));
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  // ---------------------------------------------------------------------------------------------
  // DurableRaftStorage: writes.

  /**
   * Persists one Ready: the snapshot (Raft paper Figure 13: the log suffix after it is kept if the
   * log has the snapshot's last entry, otherwise the whole log is discarded), then the entries
   * (deleting any stored suffix beyond the new last entry), then the hard state. ONE batch, ONE
   * fsync. Asserts the durable invariants of the resulting state BEFORE writing.
   */
  persist(batch: PersistBatch): Promise<void> {
    return this.exclusive('persist', async () => {
      if (batch.hardState === null && batch.entries.length === 0 && batch.snapshot === null) return;
      const plan = this.planPersist(batch);
      await this.write(plan.ops, batch.sync ?? true);
      plan.apply();
    });
  }

  /**
   * Records a snapshot the application took at `index` (applied, committed and in the log) with
   * membership `conf`. Does not compact the log. `data` is kept as given; the node passes an empty
   * array, its snapshot data being the KV state itself.
   */
  createSnapshot(index: LogIndex, conf: ConfState, data: Uint8Array): Promise<Snapshot> {
    return this.exclusive('createSnapshot', async () => {
      assert(index >= this.snap.metadata.index, () => `createSnapshot(${index}) is older than the current snapshot at ${this.snap.metadata.index}`);
      assert(index <= this.hard.commit, () => `createSnapshot(${index}) beyond the commit index ${this.hard.commit}`);
      assert(index >= this.log.start.index && index <= this.log.lastIndex(), () => `createSnapshot(${index}) outside the log [${this.log.start.index}, ${this.log.lastIndex()}]`);
      const problem = confProblem(conf, 'snapshot membership');
      assert(problem === null, () => `createSnapshot: ${problem}`);
      const snapshot: Snapshot = { metadata: { index, term: this.log.term(index), conf: copyConf(conf) }, data: data.slice() };
      await this.write([{ type: 'put', key: MetaKey.snapshot, value: encodeSnapshot(snapshot) }], true);
      this.snap = snapshot;
      return snapshot;
    });
  }

  /**
   * Deletes every stored entry up to and including `index` (<= the snapshot's index) and moves
   * the compaction point there, in one synced batch. Compacting to the current compaction point
   * is a no-op; below it throws `CompactedError`.
   */
  compact(index: LogIndex): Promise<void> {
    return this.exclusive('compact', async () => {
      const start = this.log.start;
      if (index < start.index) throw new CompactedError(`compact(${index}): the log is already compacted up to index ${start.index}`);
      if (index === start.index) return;
      assert(index <= this.snap.metadata.index, () => `compact(${index}) beyond the snapshot at ${this.snap.metadata.index}: only snapshotted entries may be discarded`);
      // The state machine batches that applied the entries about to go may still be unsynced.
      // The barrier flushes the memtable, which under a heavy write load waited up to 0.7 s on
      // LevelDB's own compactions, with the Ready loop (and so the heartbeats) waiting behind it:
      // it runs only when some apply batch since the last one was written unsynced.
      if (this.unsyncedKvWrites) await this.durabilityBarrier();
      const next: LogStart = { index, term: this.log.term(index) };
      const ops: BatchOp[] = [];
      for (let i = start.index + 1; i <= index; i++) ops.push({ type: 'del', key: logKey(i) });
      ops.push({ type: 'put', key: MetaKey.logStart, value: encodeLogStart(next) });
      await this.write(ops, true);
      this.log.compactTo(next);
    });
  }

  /** Records the membership after a configuration change was applied (synced). */
  setConfState(conf: ConfState): Promise<void> {
    return this.exclusive('setConfState', async () => {
      const problem = confProblem(conf, 'membership');
      assert(problem === null, () => `setConfState: ${problem}`);
      const copy = copyConf(conf);
      await this.write([{ type: 'put', key: MetaKey.conf, value: encodeConfState(copy) }], true);
      this.conf = copy;
    });
  }

  /** Computes the batch for `persist` and the mirror update to run once it is written. */
  private planPersist(batch: PersistBatch): { ops: BatchOp[]; apply: () => void } {
    const ops: BatchOp[] = [];
    const base = batch.snapshot === null ? this.currentLogView() : this.planSnapshotInstall(batch.snapshot, ops);
    const { start, termAt } = base;
    let lastIndex = base.lastIndex;

    const entries = batch.entries.map(copyEntry);
    const first = entries[0];
    if (first !== undefined) {
      assert(first.index > start.index && first.index <= lastIndex + 1, () => `persist: entries start at ${first.index}, outside [${start.index + 1}, ${lastIndex + 1}]`);
      const segment = logSegmentProblem(first.index - 1, termAt(first.index - 1), entries);
      assert(segment === null, () => `persist: ${segment}`);
      // Raft paper §5.4 (Leader Completeness): a committed entry is never replaced by another.
      const committedOverlapTo = Math.min(lastIndex, this.hard.commit);
      for (let i = first.index; i <= committedOverlapTo; i++) {
        const incoming = entries[i - first.index];
        assert(incoming?.term === termAt(i), () => `persist: would overwrite committed entry ${i} (term ${termAt(i)}) with term ${String(incoming?.term)}`);
      }
      for (const entry of entries) ops.push({ type: 'put', key: logKey(entry.index), value: encodeEntry(entry) });
      const newLast = first.index + entries.length - 1;
      for (let i = newLast + 1; i <= lastIndex; i++) ops.push({ type: 'del', key: logKey(i) });
      lastIndex = newLast;
    }

    const hardState = batch.hardState ?? this.hard;
    if (batch.hardState !== null) {
      const transition = hardStateTransitionProblem(this.hard, batch.hardState);
      assert(transition === null, () => `persist: ${transition}`);
      ops.push({ type: 'put', key: MetaKey.hardState, value: encodeHardState(batch.hardState) });
    }

    // The term at `i` once this batch is written, or null if the log will not hold `i`.
    const termAfter = (i: number): number | null => {
      if (first !== undefined && i >= first.index) return entries[i - first.index]?.term ?? null;
      return i >= start.index && i <= base.lastIndex ? termAt(i) : null;
    };
    const problem = raftStateProblem({
      hardState,
      conf: base.conf,
      snapshot: base.snapshot.metadata,
      logStart: start,
      lastIndex,
      lastTerm: termAfter(lastIndex) ?? start.term,
      termAtSnapshotIndex: termAfter(base.snapshot.metadata.index),
    });
    assert(problem === null, () => `persist would store an inconsistent state: ${problem}`);

    const apply = (): void => {
      base.applySnapshot();
      this.log.append(entries);
      this.hard = hardState;
    };
    return { ops, apply };
  }

  /** The stored log as `planPersist` sees it when the batch carries no snapshot. */
  private currentLogView(): PersistBase {
    return {
      start: this.log.start,
      lastIndex: this.log.lastIndex(),
      termAt: (i) => this.log.term(logIndex(i)),
      snapshot: this.snap,
      conf: this.conf,
      applySnapshot: () => {},
    };
  }

  /**
   * Plans installing an incoming snapshot (Raft paper, Figure 13, steps 6 and 7): if the log holds
   * the snapshot's last entry, the entries after it are kept; otherwise the whole log is discarded.
   * The snapshot's membership becomes the stored membership.
   */
  private planSnapshotInstall(incoming: Snapshot, ops: BatchOp[]): PersistBase {
    const meta = incoming.metadata;
    assert(meta.index >= this.snap.metadata.index, () => `persist: incoming snapshot at ${meta.index} is older than the stored one at ${this.snap.metadata.index}`);
    const keepSuffix = this.log.matches(meta.index, meta.term);
    const dropTo = keepSuffix ? meta.index : this.log.lastIndex();
    for (let i = this.log.start.index + 1; i <= dropTo; i++) ops.push({ type: 'del', key: logKey(i) });
    const start: LogStart = { index: meta.index, term: meta.term };
    const snapshot: Snapshot = { metadata: { index: meta.index, term: meta.term, conf: copyConf(meta.conf) }, data: incoming.data.slice() };
    const conf = snapshot.metadata.conf;
    ops.push({ type: 'put', key: MetaKey.snapshot, value: encodeSnapshot(snapshot) });
    ops.push({ type: 'put', key: MetaKey.conf, value: encodeConfState(conf) });
    ops.push({ type: 'put', key: MetaKey.logStart, value: encodeLogStart(start) });
    return {
      start,
      lastIndex: keepSuffix ? this.log.lastIndex() : meta.index,
      termAt: (i) => (i === start.index ? start.term : this.log.term(logIndex(i))),
      snapshot,
      conf,
      applySnapshot: () => {
        if (keepSuffix) this.log.compactTo(start);
        else this.log.reset(start);
        this.snap = snapshot;
        this.conf = conf;
      },
    };
  }

  // ---------------------------------------------------------------------------------------------
  // KvStateStore: the state machine's data.

  kvAppliedIndex(): LogIndex {
    return this.applied;
  }

  kvRevision(): Revision {
    return this.rev;
  }

  kvClockMs(): number {
    return this.clock;
  }

  kvRecovery(): KvRecovery {
    if (this.restoreMarker !== null) return { status: 'restoreInterrupted', targetIndex: this.restoreMarker.appliedIndex };
    if (this.applied < this.log.start.index) return { status: 'behindLog', appliedIndex: this.applied, firstIndex: this.log.firstIndex() };
    return { status: 'ok' };
  }

  /**
   * Writes the mutations of one or more applied entries, the new applied index and revision, and
   * the membership if given, in ONE batch: a crash never applies an entry twice or skips one.
   * Synced unless `options.sync` is false (see `ApplyBatchOptions`).
   */
  applyBatch(batch: KvApplyBatch, options: ApplyBatchOptions = {}): Promise<void> {
    return this.exclusive('applyBatch', async () => {
      const ops: BatchOp[] = [];
      const commit = this.planApply(batch, this.hard.commit, ops);
      if (options.sync === false) this.unsyncedKvWrites = true;
      await this.write(ops, options.sync ?? true);
      commit();
    });
  }

  /**
   * Persists one Ready (as `persist`) AND the apply batch of its committed entries (as
   * `applyBatch`) in ONE synced LevelDB batch: one fsync where the two would take two. The apply
   * batch may claim up to the commit index this same batch persists. Refuses a snapshot (its
   * install replaces the KV state in between, see `replaceKvState`).
   */
  persistWithApply(batch: PersistBatch, apply: KvApplyBatch): Promise<void> {
    return this.exclusive('persistWithApply', async () => {
      assert(batch.snapshot === null, 'persistWithApply: a Ready with a snapshot persists it alone, then installs it');
      const empty = batch.hardState === null && batch.entries.length === 0;
      const plan = empty ? null : this.planPersist(batch);
      const ops = plan?.ops ?? [];
      const commit = this.planApply(apply, batch.hardState?.commit ?? this.hard.commit, ops);
      await this.write(ops, true);
      plan?.apply();
      commit();
    });
  }

  /** Appends the apply batch's operations to `ops`; returns the mirror update to run once written. */
  private planApply(batch: KvApplyBatch, commitIndex: LogIndex, ops: BatchOp[]): () => void {
    const recovery = this.kvRecovery();
    assert(recovery.status === 'ok', () => `applyBatch on a KV state that needs recovery: ${describeRecovery(recovery)}`);
    const conf = planApplyOps(batch, { applied: this.applied, revision: this.rev, clockMs: this.clock }, commitIndex, ops);
    return () => {
      this.applied = batch.appliedIndex;
      this.rev = batch.revision;
      this.clock = batch.clockMs;
      if (conf !== null) this.conf = conf;
    };
  }

  /**
   * Reads the whole stored state machine (start-up), verifying every record. Refuses with
   * `FailedPreconditionError` unless `kvRecovery()` is `ok`: partial or stale data is never served.
   */
  loadKvImage(): Promise<KvStateImage> {
    return this.exclusive('loadKvImage', async () => {
      const recovery = this.kvRecovery();
      if (recovery.status !== 'ok') {
        throw new FailedPreconditionError(`cannot load the KV state of data dir ${this.path}: ${describeRecovery(recovery)}`);
      }
      const snapshot = this.db.snapshot();
      try {
        const applied = await this.readCounter(MetaKey.appliedIndex, snapshot);
        const rev = await this.readCounter(MetaKey.revision, snapshot);
        const clock = await this.readCounter(MetaKey.clockMs, snapshot);
        // Read back what the mirror says was written: a mismatch is a bug, not corruption.
        assert(applied === this.applied && rev === this.rev && clock === this.clock, () => `stored applied index/revision/clock ${applied}/${rev}/${clock} differ from the mirror ${this.applied}/${this.rev}/${this.clock}`);
        // Records go straight into the key space, checked and packed a chunk at a time (loaded-keys.ts).
        const kvs = new LoadedKeys(rev);
        const decode = (key: Uint8Array, value: Uint8Array): PackedKeyValue => decodePackedKeyValueRecord(key, value, rev);
        for await (const chunk of streamPrefixChunks(this.db, this.path, snapshot, Prefix.kv, decode)) for (const kv of chunk) kvs.add(kv.key, kv.record);
        const sessions: SessionRecord[] = [];
        for await (const session of streamPrefix(this.db, this.path, snapshot, Prefix.session, decodeSessionRecord)) sessions.push(session);
        return { appliedIndex: this.applied, revision: this.rev, clockMs: this.clock, kvs, sessions };
      } finally {
        await snapshot.close();
      }
    });
  }

  /**
   * A consistent point-in-time reader of the state machine (kv/, session/, kv-meta and meta/conf),
   * for streaming snapshots and online backups. The LevelDB snapshot is taken synchronously in
   * this call, so the reader shows every write whose promise resolved before it, and nothing after.
   */
  kvSnapshotIterator(): Promise<KvSnapshotReader> {
    if (this.closed) return Promise.reject(new FailedPreconditionError(`storage for data dir ${this.path} is closed`));
    return LevelKvSnapshotReader.open(this.db, this.path);
  }

  /**
   * Replaces the whole state machine with `source` (an incoming snapshot or a restored backup).
   *
   * Crash safety: (1) a synced batch writes `meta/restoring`; (2) the old kv/ and session/ keys are
   * deleted and the new records written in batches of at most `restoreBatchBytesMax`, unsynced;
   * (3) after a durability barrier, ONE synced batch writes the applied index, revision and clock
   * and deletes the marker. A crash (or an error, such as an invalid record in `source`) before (3)
   * leaves the marker: at the next open `kvRecovery()` reports `restoreInterrupted`, `loadKvImage`
   * and `kvSnapshotIterator` refuse, and `applyBatch` asserts, until a new `replaceKvState` (which
   * starts by deleting everything) succeeds.
   *
   * Ordering with Raft: persist the incoming snapshot's metadata (`persist({ snapshot })`) FIRST,
   * then call this; a crash between the two shows as `behindLog`, handled the same way.
   */
  replaceKvState(source: KvStateSource): Promise<void> {
    return this.exclusive('replaceKvState', async () => {
      assert(source.appliedIndex <= this.hard.commit, () => `replaceKvState: applied index ${source.appliedIndex} beyond the persisted commit index ${this.hard.commit}`);
      assert(source.appliedIndex >= this.applied, () => `replaceKvState: applied index ${source.appliedIndex} older than the stored ${this.applied}`);
      assert(Number.isSafeInteger(source.clockMs) && source.clockMs >= 0, () => `replaceKvState: clockMs ${source.clockMs} is not a non-negative integer`);
      const marker: RestoreMarker = { appliedIndex: source.appliedIndex, revision: source.revision, clockMs: source.clockMs };
      this.logger.info({ path: this.path, appliedIndex: source.appliedIndex, revision: source.revision }, 'storage: replacing the KV state');
      await this.write([{ type: 'put', key: MetaKey.restoring, value: encodeRestoreMarker(MetaKey.restoring, marker) }], true);
      this.restoreMarker = marker;
      await this.guard(() => this.db.clear(prefixRange(Prefix.kv)));
      await this.guard(() => this.db.clear(prefixRange(Prefix.session)));
      const counts = await this.writeKvSource(source);
      // Every deletion and bulk batch must be on disk before the marker goes.
      await this.durabilityBarrier();
      await this.write(
        [
          { type: 'put', key: MetaKey.appliedIndex, value: encodeCounter(MetaKey.appliedIndex, source.appliedIndex) },
          { type: 'put', key: MetaKey.revision, value: encodeCounter(MetaKey.revision, source.revision) },
          { type: 'put', key: MetaKey.clockMs, value: encodeCounter(MetaKey.clockMs, source.clockMs) },
          { type: 'del', key: MetaKey.restoring },
        ],
        true,
      );
      this.applied = source.appliedIndex;
      this.rev = source.revision;
      this.clock = source.clockMs;
      this.restoreMarker = null;
      this.logger.info({ path: this.path, appliedIndex: source.appliedIndex, ...counts }, 'storage: KV state replaced');
    });
  }

  /** Writes the records of `source` in bounded, unsynced batches, validating each one. */
  private async writeKvSource(source: KvStateSource): Promise<{ keys: number; sessions: number }> {
    let ops: BatchOp[] = [];
    let bytes = 0;
    const add = async (key: Uint8Array, value: Uint8Array): Promise<void> => {
      ops.push({ type: 'put', key, value });
      bytes += key.length + value.length;
      if (bytes >= this.restoreBatchBytesMax) {
        this.unsyncedKvWrites = true;
        await this.write(ops, false);
        ops = [];
        bytes = 0;
      }
    };
    let keys = 0;
    for await (const kv of source.kvs) {
      const problem = keyValueProblem(kv, source.revision);
      if (problem !== null) throw new InvalidArgumentError(`kvs[${keys}]`, problem);
      await add(kvKey(kv.key), encodeKeyValueRecord(kv));
      keys++;
    }
    let sessions = 0;
    for await (const session of source.sessions) {
      const field = `sessions[${sessions}]`;
      if (session.clientId.length === 0) throw new InvalidArgumentError(field, 'clientId is empty');
      if (session.lastSeenMs > source.clockMs) throw new InvalidArgumentError(field, `lastSeenMs ${session.lastSeenMs} is after the clock ${source.clockMs}`);
      let value: Uint8Array;
      try {
        value = encodeSessionRecord(session);
      } catch (e) {
        if (e instanceof InvalidArgumentError) throw new InvalidArgumentError(field, e.message);
        throw e;
      }
      await add(sessionKey(session.clientId), value);
      sessions++;
    }
    if (ops.length > 0) {
      this.unsyncedKvWrites = true;
      await this.write(ops, false);
    }
    return { keys, sessions };
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle and plumbing.

  /** Waits for queued writes, then closes the database. Idempotent. Later writes are refused. */
  close(): Promise<void> {
    if (this.closing === null) {
      // Queued like a write, but allowed after a failed write: closing releases the LOCK file.
      const run = async (): Promise<void> => {
        this.closed = true;
        await this.db.close();
      };
      this.closing = this.tail.then(run, run);
      this.tail = this.closing.then(
        () => undefined,
        () => undefined,
      );
    }
    return this.closing;
  }

  private async readCounter(key: Uint8Array, snapshot: ReturnType<BytesLevel['snapshot']>): Promise<number> {
    const value = (await this.db.get(key, { snapshot })) as Uint8Array | undefined;
    return decodeOrCorrupt(this.path, key, () => {
      if (value === undefined) throw new RecordFormatError('record is missing');
      return decodeCounter(key, value);
    });
  }

  /** Runs `fn` after every earlier write settled; refuses once closed or after a failed write. */
  private exclusive<T>(operation: string, fn: () => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      if (this.closed) throw new FailedPreconditionError(`${operation}: storage for data dir ${this.path} is closed`);
      if (this.failure !== null) {
        throw new FailedPreconditionError(`${operation} refused: an earlier write to data dir ${this.path} failed (${describeError(this.failure)}); restart the node`, { cause: this.failure });
      }
      return fn();
    };
    const result = this.tail.then(run, run);
    this.tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  /**
   * Returns once every earlier write is durable, even across a write-ahead log rotation (see the
   * file comment): `compactRange` flushes the memtables into synced table files first.
   */
  private async durabilityBarrier(): Promise<void> {
    const db = this.db as unknown as { compactRange(start: Uint8Array, end: Uint8Array): Promise<void> };
    await this.guard(() => db.compactRange(MetaKey.barrier, MetaKey.barrier));
    this.unsyncedKvWrites = false;
  }

  /**
   * Writes one LevelDB batch; a failure poisons the storage. It goes through the chained batch
   * API: the array form (`db.batch(ops)`) copies every operation into a new object with the
   * options spread in and normalises its encodings one by one, which cost about 4 times the CPU
   * per operation on the main thread (docs/benchmarks.md, "two storage costs found by profiling"). Both
   * forms build the same single LevelDB WriteBatch, so atomicity and durability are the same.
   */
  private write(ops: readonly BatchOp[], sync: boolean): Promise<void> {
    return this.guard(async () => {
      const batch = this.db.batch();
      try {
        for (const op of ops) {
          if (op.type === 'put') batch.put(op.key, op.value);
          else batch.del(op.key);
        }
      } catch (e) {
        await batch.close();
        throw e;
      }
      await batch.write({ sync });
    });
  }

  /** Runs a LevelDB write; a failure poisons the storage. */
  private async guard(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (e) {
      this.failure ??= e;
      this.logger.error({ path: this.path, err: describeError(e) }, 'storage: a write failed; refusing further writes');
      throw e;
    }
  }
}

function copyEntry(entry: Entry): Entry {
  return { term: entry.term, index: entry.index, type: entry.type, data: entry.data.slice() };
}

function copyConf(conf: ConfState): ConfState {
  return { voters: [...conf.voters], learners: [...conf.learners] };
}

function describeRecovery(recovery: KvRecovery): string {
  switch (recovery.status) {
    case 'ok':
      return 'ok';
    case 'restoreInterrupted':
      return `a KV state restore to index ${recovery.targetIndex} did not finish, so the KV data is incomplete; install a snapshot again`;
    case 'behindLog':
      return `the KV state is at applied index ${recovery.appliedIndex} but the log starts at ${recovery.firstIndex}, so it cannot catch up from the log; install a snapshot`;
    default:
      return unreachable(recovery, 'KV recovery status');
  }
}

function describeError(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function describeOpenError(e: unknown): string {
  const cause = e instanceof Error && e.cause instanceof Error ? e.cause : null;
  const code = cause !== null && 'code' in cause ? String(cause.code) : '';
  if (code === 'LEVEL_LOCKED') return 'the database is locked: another raftkv process (or storage instance) is using it';
  return cause !== null ? `${describeError(e)}: ${cause.message}` : describeError(e);
}

