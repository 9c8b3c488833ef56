/**
 * The snapshot pipeline of one node: SEND the state to a follower behind the log (streamed from a
 * point-in-time reader), RECEIVE a follower's incoming state (staged on disk, then stepped into
 * the core), INSTALL what the core accepted (replace the stored KV state from the staged file),
 * and TAKE snapshots of the applied state every `snapshotEntries` entries and COMPACT the log
 * behind them. See design-notes.md, "Snapshots are the KV state itself".
 */
import type { KvStateImage } from '../../kv/index.js';
import type { ConfState, Message, Snapshot, SnapshotMessage } from '../../raft/index.js';
import type { Transport } from '../../transport/index.js';
import { assert, logIndex } from '../../util/index.js';
import type { Logger, LogIndex, NodeId } from '../../util/index.js';
import type { NodeMetrics } from '../metrics.js';
import type { NodeOptions } from '../options.js';
import type { StagedSnapshot } from '../snapshot-staging.js';
import { encodeStateStream } from '../state-stream.js';
import type { StateCapture } from './types.js';
import type { DriverStorage, SnapshotStaging } from './world.js';

/** What the pipeline needs from the driver around it. */
export interface SnapshotHost {
  /** A consistent capture of the state machine (see `RaftDriver.captureState`). */
  captureState(): Promise<StateCapture>;
  /** The snapshot data (address book, cluster id) for a snapshot of membership `conf`. */
  snapshotData(conf: ConfState): Uint8Array;
  /** Steps a message into the core (an incoming snapshot, once staged). */
  step(message: Message): void;
  /** Tells the core how a snapshot transfer to `to` ended, unless the node stopped. */
  reportSnapshot(to: NodeId, ok: boolean): void;
  /** True once the driver stopped. */
  isStopped(): boolean;
}

/** What `install` hands back: the new stored state, loaded. */
export interface InstalledState {
  readonly image: KvStateImage;
  readonly conf: ConfState;
  readonly staged: StagedSnapshot;
}

/** Sends, receives, installs and takes snapshots. */
export class SnapshotPipeline {
  /** Incoming snapshots staged on disk (snapshot-staging.ts), by index, waiting for the core. */
  private readonly staged = new Map<LogIndex, StagedSnapshot>();
  /** Followers a snapshot is being streamed to (one at a time each). */
  private readonly sending = new Set<NodeId>();
  /** The index of the last snapshot taken or installed. */
  private lastIndex: LogIndex;

  constructor(
    private readonly deps: {
      readonly options: NodeOptions;
      readonly storage: DriverStorage;
      readonly staging: SnapshotStaging;
      readonly transport: Transport;
      readonly metrics: NodeMetrics;
      readonly logger: Logger;
      readonly nowMs: () => number;
    },
    private readonly host: SnapshotHost,
  ) {
    this.lastIndex = deps.storage.snapshot().metadata.index;
  }

  /** The index of the last snapshot taken or installed. */
  get snapshotIndex(): LogIndex {
    return this.lastIndex;
  }

  /**
   * Streams the current state to a follower that is behind the log's first index. The state is
   * read from a point-in-time reader, so writes go on meanwhile; the metadata is rewritten to the
   * index that state is at (which is at or after the snapshot the core asked for), and its data
   * carries the members' addresses (member-addresses.ts).
   */
  async send(m: SnapshotMessage): Promise<void> {
    const { transport, options, logger, metrics, nowMs } = this.deps;
    if (this.sending.has(m.to)) return;
    this.sending.add(m.to);
    let ok = false;
    try {
      const { reader, term } = await this.host.captureState();
      const index = reader.appliedIndex;
      const message: SnapshotMessage = {
        ...m,
        snapshot: { metadata: { index, term, conf: reader.confState }, data: this.host.snapshotData(reader.confState) },
      };
      const started = nowMs();
      logger.info({ to: m.to, index }, 'snapshot: streaming the state to a follower');
      const records = (async function* () {
        for await (const r of reader) yield r;
      })();
      ok = await transport.sendSnapshot(m.to, message, encodeStateStream({ appliedIndex: index, revision: reader.revision, clockMs: reader.clockMs }, records, options.limits.snapshotChunkBytesMax));
      await reader.close();
      metrics.snapshotsSent.inc({ result: ok ? 'ok' : 'failed' });
      logger.info({ to: m.to, index, ok, ms: nowMs() - started }, 'snapshot: stream finished');
    } catch (e) {
      logger.warn({ to: m.to, err: String(e) }, 'snapshot: sending failed');
    } finally {
      this.sending.delete(m.to);
      if (!this.host.isStopped()) this.host.reportSnapshot(m.to, ok);
    }
  }

  /**
   * A peer is streaming a snapshot. The state is written to a staging file as it arrives
   * (snapshot-staging.ts: memory stays bounded), every frame checked; once the whole transfer is
   * verified and the file is durable, the snapshot message is stepped into the core, which
   * decides whether to install it. An interrupted transfer leaves nothing behind; the leader
   * retries it from the start.
   */
  async receive(message: SnapshotMessage, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    const { options, logger, nowMs, staging } = this.deps;
    const started = nowMs();
    const staged = await staging.stage({
      expectedIndex: message.snapshot.metadata.index,
      chunks,
      source: `snapshot from ${message.from}`,
      bytesMax: options.limits.dataBytesMax + 64 * 1024 * 1024,
    });
    logger.info({ from: message.from, index: staged.index, bytes: staged.bytes, ms: nowMs() - started }, 'snapshot: received and staged');
    if (this.host.isStopped()) return;
    this.staged.set(staged.index, staged);
    this.host.step(message);
  }

  /**
   * Installs the staged state of an incoming snapshot the core accepted (its metadata is already
   * persisted): replaces the stored KV state from the staging file, streamed, then loads it.
   * Asserts that the loaded image is at the snapshot's index.
   */
  async install(snapshot: Snapshot): Promise<InstalledState> {
    const index = snapshot.metadata.index;
    const staged = this.staged.get(index);
    assert(staged !== undefined, () => `the core installed snapshot ${index} but no state is staged for it (staged: ${[...this.staged.keys()].join(', ') || 'none'})`);
    // A newer snapshot may already be staged (and stepped) while this one installs: keep it.
    for (const i of [...this.staged.keys()]) if (i <= index) this.staged.delete(i);
    const { storage, staging, metrics } = this.deps;
    await storage.replaceKvState(await staging.open(staged));
    await staging.removeUpTo(index);
    const image = await storage.loadKvImage();
    assert(image.appliedIndex === index, () => `snapshot install: the installed state is at applied index ${image.appliedIndex}, the snapshot at ${index}`);
    this.lastIndex = index;
    metrics.snapshotsInstalled.inc();
    return { image, conf: storage.initialState().confState, staged };
  }

  /**
   * Every `snapshotEntries` applied entries, or once the applied entries still in the log hold
   * `snapshotLogBytes` (the log is kept in memory), records a snapshot at the applied index and
   * compacts the log behind it, keeping `snapshotCatchupEntries` for slow followers, and of those
   * at most `snapshotCatchupBytes`. The snapshot's data is the KV state already in storage
   * (address book in the metadata's data).
   */
  async maybeTake(applied: LogIndex, conf: ConfState): Promise<void> {
    const { storage, options, metrics, logger } = this.deps;
    // A log that still holds index 1 could be replayed from the start to a node that joined with
    // no membership (see conf-change.ts, "Joining nodes"). Compacting index 1 away as soon as it
    // is applied makes every leader send such a node a snapshot, which carries the membership.
    const holdsFirstEntry = storage.firstIndex() <= 1 && applied >= 1;
    const dueByEntries = applied - this.lastIndex >= options.snapshotEntries;
    const dueByBytes = !dueByEntries && applied > this.lastIndex && storage.logDataBytes(storage.firstIndex(), applied) >= options.snapshotLogBytes;
    if (!dueByEntries && !dueByBytes && !holdsFirstEntry) return;
    const started = this.deps.nowMs();
    await storage.createSnapshot(applied, conf, this.host.snapshotData(conf));
    const createdMs = this.deps.nowMs() - started;
    this.lastIndex = applied;
    metrics.snapshotsTaken.inc();
    let compactTo = applied - options.snapshotCatchupEntries;
    // Keep no more catch-up bytes than `snapshotCatchupBytes` (the first index that fits, minus one).
    if (applied >= storage.firstIndex()) compactTo = Math.max(compactTo, storage.logFirstIndexWithin(applied, options.snapshotCatchupBytes) - 1);
    if (holdsFirstEntry) compactTo = Math.max(compactTo, 1);
    if (compactTo >= storage.firstIndex()) await storage.compact(logIndex(compactTo));
    const by = dueByEntries ? 'entries' : dueByBytes ? 'bytes' : 'first entry';
    logger.info({ index: applied, firstIndex: storage.firstIndex(), by, createMs: createdMs, compactMs: this.deps.nowMs() - started - createdMs }, 'snapshot: taken, log compacted');
  }
}
