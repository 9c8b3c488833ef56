/**
 * One turn of the Ready loop (docs/design.md, "The Ready loop"): persist the Ready as one synced
 * LevelDB batch (with the apply batch of its committed entries), send its messages, install its
 * snapshot, answer the reads it confirms, advance the core, and take a snapshot if one is due.
 * The order is what makes replies, votes and acknowledgements durable before anyone sees them.
 */
import type { Entry, Message, ReadState, Ready, Snapshot, SoftState } from '../../raft/index.js';
import { assert, OutcomeUnknownError } from '../../util/index.js';
import type { NodeId } from '../../util/index.js';
import type { AppliedInMemory } from './apply-step.js';
import type { RaftDriverDeps } from './driver-deps.js';
import type { ProposalTracker } from './proposal-tracker.js';
import type { RaftInstance } from './raft-instance.js';
import type { ReadTracker } from './read-tracker.js';

/** What a Ready turn needs from the driver. */
export interface ReadyStepHost {
  readonly deps: Pick<RaftDriverDeps, 'metrics' | 'transport' | 'logger' | 'driverFaults' | 'onApplied'>;
  readonly proposals: ProposalTracker;
  readonly reads: ReadTracker;
  /** The current Raft instance (rebuilt after a disk fault). */
  instance(): RaftInstance;
  /** True while this node leads. */
  leading(): boolean;
  onSoftState(s: SoftState): void;
  peers(): Map<NodeId, string>;
  nowMs(): number;
  updateGauges(): void;
}

/** Runs one Ready at a time for the driver. */
export class ReadyStep {
  constructor(private readonly host: ReadyStepHost) {}

  /**
   * One Ready, with ONE LevelDB batch (one fsync at most): the committed entries are applied in
   * memory first (their clients answered: those entries are already durable in the log), and
   * their apply batch rides in the same synced batch as the Ready's entries and hard state. A
   * crash loses both or neither, and no later write can outlive it (design-notes.md, "The
   * storage fault model"). A Ready with a snapshot persists it, installs it, then applies.
   */
  async handle(rd: Ready): Promise<void> {
    const { host } = this;
    const inst = host.instance();
    if (rd.softState) host.onSoftState(rd.softState);
    // A leader whose term and vote did not change sends while its own batch is written (Raft
    // thesis §10.2.1): its fsync and the followers' overlap. Every other Ready sends only after
    // its batch is durable: votes and append acknowledgements depend on it.
    const sendFirst = rd.sendBeforePersist || host.deps.driverFaults?.sendBeforePersist === true;
    if (sendFirst) this.send(rd.messages);
    let applied: AppliedInMemory | null = null;
    let written: Promise<void>;
    if (rd.snapshot) {
      await this.persist(rd);
      await this.installSnapshot(rd.snapshot);
      written = Promise.resolve();
    } else {
      applied = rd.committedEntries.length > 0 ? inst.applied.applyInMemory(rd.committedEntries) : null;
      if (applied !== null && host.deps.driverFaults?.unsyncedApplyBatches === true) {
        // Negative control, defect c's shape: the apply batch written on its own, unsynced.
        const batch = applied.batch;
        written = this.persist(rd).then(() => inst.storage.applyBatch(batch, { sync: false }));
      } else written = this.persist(rd, applied);
      written.catch(() => {}); // awaited below; a failure stops the loop there
      // Messages depend on the batch only if it must sync (entries, term, vote): the commit index
      // and the apply batch carry nothing a peer relies on, so those are written while we send.
      if (rd.mustSync) await written;
    }
    if (!sendFirst) this.send(rd.messages);
    if (rd.snapshot && rd.committedEntries.length > 0) applied = await this.applyAlone(rd.committedEntries);
    for (const rs of rd.readStates) this.onReadState(rs);
    await written;
    if (applied !== null) inst.applied.written(applied);
    inst.raw.advance();
    host.updateGauges();
    await inst.snapshots.maybeTake(inst.applied.kv.appliedIndex, inst.applied.conf);
  }

  /**
   * Writes the Ready's hard state, entries and snapshot, with `applied`'s batch if given, as one
   * batch. Synced if the Ready must sync (entries, snapshot, term or vote) or carries an apply
   * batch; a batch that only moves the commit index is written unsynced (Raft learns the commit
   * index again from the leader; load-state.ts raises it to the applied index if needed).
   */
  private async persist(rd: Ready, applied: AppliedInMemory | null = null): Promise<void> {
    const { metrics } = this.host.deps;
    const storage = this.host.instance().storage;
    const batch = { hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot, sync: rd.mustSync };
    if (applied === null && !rd.snapshot && !rd.hardState && rd.entries.length === 0) return;
    const end = metrics.fsyncDuration.startTimer();
    await (applied === null ? storage.persist(batch) : storage.persistWithApply(batch, applied.batch));
    end();
    metrics.entriesPersisted.inc(rd.entries.length);
  }

  /** Sends a Ready's messages: snapshots stream on their own (snapshot-pipeline.ts). */
  send(messages: readonly Message[]): void {
    const inst = this.host.instance();
    const plain: Message[] = [];
    for (const m of messages) {
      if (m.type === 'snapshot') void inst.snapshots.send(m);
      else plain.push(m);
    }
    inst.contact.sending(messages, this.host.nowMs());
    if (plain.length > 0) this.host.deps.transport.send(plain);
  }

  /** Installs an incoming snapshot the core accepted and swaps in the state machine it holds. */
  private async installSnapshot(snapshot: Snapshot): Promise<void> {
    const { host } = this;
    const inst = host.instance();
    const index = snapshot.metadata.index;
    const { image, conf, staged } = await inst.snapshots.install(snapshot);
    inst.applied.replace(image, conf);
    inst.book.learnSnapshotData(snapshot.data, conf, true);
    host.deps.transport.setPeers(host.peers());
    host.proposals.failUpTo(index, new OutcomeUnknownError('a snapshot replaced the log while the write was in flight'));
    // Reads confirmed at or below the snapshot's index are answered now: nothing else may be
    // applied for a long time on an idle cluster.
    const kv = inst.applied.kv;
    host.reads.release(kv.appliedIndex);
    inst.freshness.onApplied(kv.appliedIndex);
    host.deps.logger.info({ index, keys: kv.keyCount, voters: inst.applied.conf.voters, learners: inst.applied.conf.learners }, 'snapshot: installed');
    host.deps.onApplied?.([{ index, revision: staged.revision, mutations: [], reset: true }]);
  }

  /** Applies `entries` after a snapshot install and writes their batch on its own, synced (defect c). */
  private async applyAlone(entries: readonly Entry[]): Promise<AppliedInMemory | null> {
    const inst = this.host.instance();
    const applied = inst.applied.applyInMemory(entries);
    if (applied !== null) await inst.storage.applyBatch(applied.batch);
    return applied;
  }

  private onReadState(rs: ReadState): void {
    const inst = this.host.instance();
    // The leader confirms a read at its own commit index; a read index beyond it is a core bug.
    // (A follower's read index is the leader's commit, which may be ahead of the follower's.)
    if (this.host.leading()) assert(rs.index <= inst.raw.commit, () => `read index ${rs.index} beyond the leader's commit index ${inst.raw.commit}`);
    this.host.reads.confirm(rs, inst.applied.kv.appliedIndex);
  }
}
