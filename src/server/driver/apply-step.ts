/**
 * The apply step of the Ready loop: committed entries go into the state machine IN MEMORY, their
 * clients are answered, and what they changed comes back as ONE `KvApplyBatch` (mutations,
 * applied index, revision, clock, membership) for the driver to write. Writing is the driver's
 * business (raft-driver.ts, `handleReady`): the batch rides in the Ready's one synced LevelDB
 * batch with the entries and hard state (design-notes.md, "The storage fault model").
 *
 * Clients are answered before the batch is written: their entries are committed and durable in
 * this node's log (the core hands out only entries in stable storage), so a crash before the batch
 * lands re-applies them from the log, exactly once (sessions ride along).
 */
import { defaultClusterLimits, KvStateMachine } from '../../kv/index.js';
import type { KvStateImage, MemberUpdateResult, Mutation, WriteResult } from '../../kv/index.js';
import { decodeConfChange } from '../../raft/index.js';
import type { ConfChange, ConfState, Entry } from '../../raft/index.js';
import type { KvApplyBatch } from '../../storage/index.js';
import type { Transport } from '../../transport/index.js';
import { assert } from '../../util/index.js';
import type { Logger, NodeId } from '../../util/index.js';
import { applySkippingDuplicateCheck, noteAppliedOutcome } from '../apply-notes.js';
import type { NodeMetrics } from '../metrics.js';
import type { NodeOptions } from '../options.js';
import type { AddressBook } from './address-book.js';
import type { Freshness } from './freshness.js';
import type { ProposalTracker } from './proposal-tracker.js';
import type { ReadTracker } from './read-tracker.js';
import { noopResult } from './results.js';
import type { AppliedChange } from './types.js';

/** What the apply step needs from the driver around it. */
export interface ApplyStepDeps {
  readonly options: NodeOptions;
  readonly metrics: NodeMetrics;
  readonly logger: Logger;
  readonly transport: Transport;
  readonly book: AddressBook;
  readonly proposals: ProposalTracker;
  readonly reads: ReadTracker;
  readonly freshness: Freshness;
  /** The core's `applyConfChange`: the membership after `change`. */
  readonly applyConfChange: (change: ConfChange) => ConfState;
  /** The peers the transport should connect to under the current membership. */
  readonly peers: () => Map<NodeId, string>;
  /** Every applied command's result, as it is applied (the lease keeper learns grants and revokes). */
  readonly onResult?: (result: WriteResult) => void;
  /** Watchers: every applied entry's changes, once its batch is written. */
  readonly onApplied?: (changes: readonly AppliedChange[]) => void;
}

/** Entries applied in memory whose batch is not written yet. */
export interface AppliedInMemory {
  /** The state machine's changes and applied index: the driver writes them in ONE batch. */
  readonly batch: KvApplyBatch;
  /** Each entry's changes, for watchers (`written`). */
  readonly changes: readonly AppliedChange[];
  /** How many entries were applied. */
  readonly entries: number;
}

/** The state machine, the membership as of its applied index, and the step that advances them. */
export class ApplyStep {
  private machine: KvStateMachine;
  private membership: ConfState;

  constructor(
    private readonly deps: ApplyStepDeps,
    image: KvStateImage,
    conf: ConfState,
  ) {
    this.machine = newMachine(image);
    this.membership = conf;
  }

  /** The state machine (replaced when a snapshot is installed). */
  get kv(): KvStateMachine {
    return this.machine;
  }

  /** The membership as of the last applied entry. */
  get conf(): ConfState {
    return this.membership;
  }

  /** Swaps in the state machine and membership an installed snapshot holds. */
  replace(image: KvStateImage, conf: ConfState): void {
    this.machine = newMachine(image);
    this.membership = conf;
  }

  /**
   * Applies `entries` in memory and answers their clients and the reads waiting for them. Returns
   * the batch that makes them durable, or null if every entry was already applied (an installed
   * snapshot covered it).
   */
  applyInMemory(entries: readonly Entry[]): AppliedInMemory | null {
    const { metrics, options, proposals, reads, freshness } = this.deps;
    const end = metrics.applyDuration.startTimer();
    const kv = this.machine;
    const mutations: Mutation[] = [];
    const changes: AppliedChange[] = [];
    /** Each applied entry with its result; null for a leader's no-op (no client waits on one). */
    const settled: { entry: Entry; result: WriteResult | null }[] = [];
    let confState: ConfState | undefined;
    const skipDuplicateCheck = options.testFaults.skipDuplicateCheck;
    for (const entry of entries) {
      if (entry.index <= kv.appliedIndex) continue; // already in an installed snapshot
      // Applied entries are contiguous and follow the applied index: a gap would skip writes.
      assert(entry.index === kv.appliedIndex + 1, () => `apply: entry ${entry.index} does not follow the applied index ${kv.appliedIndex}`);
      if (entry.type === 'confChange') {
        confState = this.applyConfChange(entry);
        settled.push({ entry, result: noopResult(kv.revision) });
      } else if (entry.data.length === 0) {
        kv.applyNoop(entry.index);
        settled.push({ entry, result: null });
      } else {
        const outcome = skipDuplicateCheck ? applySkippingDuplicateCheck(kv, entry) : kv.applyEncoded(entry.index, entry.data);
        noteAppliedOutcome(entry, outcome, this.deps);
        this.deps.onResult?.(outcome.result);
        if (outcome.result.type === 'memberUpdate') this.onMemberUpdate(outcome.result);
        for (const m of outcome.mutations) mutations.push(m);
        if (outcome.mutations.length > 0) changes.push({ index: entry.index, revision: outcome.revision, mutations: outcome.mutations });
        settled.push({ entry, result: outcome.result });
      }
      assert(kv.appliedIndex === entry.index, () => `apply: the state machine is at ${kv.appliedIndex} after applying entry ${entry.index}`);
    }
    for (const { entry, result } of settled) proposals.settle(entry, result);
    metrics.proposalsPending.set(proposals.size);
    reads.release(kv.appliedIndex);
    freshness.onApplied(kv.appliedIndex);
    end();
    if (settled.length === 0) return null;
    const batch: KvApplyBatch = { appliedIndex: kv.appliedIndex, revision: kv.revision, clockMs: kv.clockMs, mutations, ...(confState ? { confState } : {}) };
    return { batch, changes, entries: settled.length };
  }

  /** The batch of `applied` is written: count it and tell the watchers. */
  written(applied: AppliedInMemory): void {
    this.deps.metrics.entriesApplied.inc(applied.entries);
    if (applied.changes.length > 0) this.deps.onApplied?.(applied.changes);
  }

  private applyConfChange(entry: Entry): ConfState {
    const change = decodeConfChange(entry.data);
    const conf = this.deps.applyConfChange(change);
    this.membership = conf;
    this.machine.applyNoop(entry.index);
    this.onMembership(change, conf);
    return conf;
  }

  /** A member's new addresses: into the book, and the transport reconnects to the new peer address. */
  private onMemberUpdate(update: MemberUpdateResult): void {
    const { transport, logger, book } = this.deps;
    const restart = book.onMemberUpdate(update);
    transport.setPeers(this.deps.peers());
    logger.info({ member: update.member, peerAddress: update.peerAddress, clientAddress: update.clientAddress }, 'membership: applied a member address update');
    if (restart) logger.warn({ peerAddress: update.peerAddress }, 'membership: peers now reach this node at a new peer address; restart it with --listen-peer there');
  }

  /** Keeps the address book and the transport's peer list in step with the membership. */
  private onMembership(change: ConfChange, conf: ConfState): void {
    const { transport, logger, options, book } = this.deps;
    if (!book.onChange(change)) logger.warn({ member: change.nodeId }, 'membership: change context is not the expected JSON; peer address unknown');
    transport.setPeers(this.deps.peers());
    logger.info({ change: change.type, member: change.nodeId, voters: conf.voters, learners: conf.learners }, 'membership: applied a change');
    if (change.type === 'removeNode' && change.nodeId === options.id) logger.warn({}, 'membership: this node was removed from the cluster; stop it');
  }
}

/** Apply runs by the replicated cluster limits, never this node's flags (kv/cluster-limits.ts). */
function newMachine(image: KvStateImage): KvStateMachine {
  return new KvStateMachine({ limits: defaultClusterLimits, sessionTtlMs: defaultClusterLimits.sessionTtlMs, image });
}
