/**
 * What a leader knows about one follower's log (after etcd-io/raft `tracker/progress.go`).
 * Raft paper Figure 2 calls these `nextIndex[]` and `matchIndex[]`; the state machine around them
 * (probe / replicate / snapshot) decides how aggressively the leader sends.
 */
import { assert, logIndex } from '../util/index.js';
import type { LogIndex } from '../util/index.js';
import { Inflights } from './inflights.js';

/**
 * How the leader replicates to a follower:
 * - `probe`: one append at a time, until the follower's log position is known;
 * - `replicate`: pipelined appends, bounded by the inflight window;
 * - `snapshot`: a snapshot is on its way; nothing else is sent.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/** The leader's view of one follower (or learner, or itself). */
export class Progress {
  /** The highest index known to match the leader's log. Invariant: match < next. */
  match: LogIndex;
  /** The next index to send. */
  next: LogIndex;
  /** The replication state. */
  state: ProgressState = 'probe';
  /** In the `snapshot` state: the index of the snapshot being sent (0 if none). */
  pendingSnapshot: LogIndex = logIndex(0);
  /** Ticks spent in the `snapshot` state, to resend a snapshot that was silently lost. */
  snapshotTicks = 0;
  /** Whether the follower answered since the last check-quorum round (Raft thesis §6.2). */
  recentActive: boolean;
  /** In the `probe` state: an append was sent and its answer (or a heartbeat answer) is awaited. */
  probeSent = false;
  /** The pipelining window, used in the `replicate` state. */
  readonly inflights: Inflights;

  /** Creates a progress in the `probe` state. */
  constructor(init: { match: LogIndex; next: LogIndex; inflightAppendsMax: number; recentActive: boolean }) {
    this.match = init.match;
    this.next = init.next;
    this.recentActive = init.recentActive;
    this.inflights = new Inflights(init.inflightAppendsMax);
    this.checkInvariant();
  }

  /** Switches to `probe`: after a snapshot, resume after it; otherwise right after `match`. */
  becomeProbe(): void {
    const next = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.resetState('probe');
    this.next = logIndex(next);
  }

  /** Switches to `replicate`: pipelined sending from `match + 1`. */
  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = logIndex(this.match + 1);
  }

  /** Switches to `snapshot`: the snapshot at `index` is being sent. */
  becomeSnapshot(index: LogIndex): void {
    this.resetState('snapshot');
    this.pendingSnapshot = index;
  }

  /** Records an acknowledgement up to `index`. Returns false if it was stale (already known). */
  maybeUpdate(index: LogIndex): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    if (this.next < index + 1) this.next = logIndex(index + 1);
    this.checkInvariant();
    return updated;
  }

  /**
   * Handles a rejected append whose `prevLogIndex` was `rejected`; `matchHint` is the highest index
   * that may still match (from the follower's hint, Raft paper §5.3). Returns false if the
   * rejection is stale (it answers an older append) and must be ignored.
   */
  maybeDecrTo(rejected: LogIndex, matchHint: LogIndex): boolean {
    if (this.state === 'replicate') {
      // Appends are pipelined: a rejection at or below match answers an old message.
      if (rejected <= this.match) return false;
      this.next = logIndex(this.match + 1);
      return true;
    }
    // In probe (and snapshot) state only the answer to the last append counts.
    if (this.next - 1 !== rejected) return false;
    this.next = logIndex(Math.max(Math.min(rejected, matchHint + 1), this.match + 1));
    this.probeSent = false;
    this.checkInvariant();
    return true;
  }

  /**
   * Records that an append carrying `count` entries ending at `lastIndex` was just sent. In
   * `probe`, any append (even an empty one) pauses sending until it is answered.
   */
  sentAppend(count: number, lastIndex: LogIndex): void {
    if (this.state === 'probe') {
      this.probeSent = true;
    } else if (this.state === 'replicate' && count > 0) {
      this.next = logIndex(lastIndex + 1);
      this.inflights.add(lastIndex);
    }
    this.checkInvariant();
  }

  /** True when the leader must not send appends to this follower now. */
  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = logIndex(0);
    this.snapshotTicks = 0;
    this.inflights.reset();
  }

  private checkInvariant(): void {
    // Invariant: match < next.
    assert(this.match < this.next, () => `progress invariant broken: match ${this.match} >= next ${this.next}`);
  }
}
