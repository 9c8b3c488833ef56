/**
 * How stale this node's state may be: the bound a STALE read reports and checks against
 * `max_staleness_ms` (issue 10, defect b). It must be a bound the node can PROVE:
 *
 * - On a follower, an append from the leader proves "the leader had committed up to `commit` at
 *   about the time it arrived"; it makes the follower fresh as of that time only once the follower
 *   has APPLIED up to that commit index (not when it arrives: a follower that was cut off would
 *   otherwise report 0 while serving values overwritten long ago). A heartbeat proves nothing: its
 *   commit index is capped at what the leader knows the follower holds, so it cannot tell a
 *   follower that more was committed. Heartbeats once extended an append's freshness for an
 *   election timeout, which under-reported whenever the leader committed entries through other
 *   voters meanwhile (node-layer seed 7279: a follower just restarted, still probed by the leader,
 *   reported 2 ms while missing a write acknowledged 20 ms earlier). A linearizable read released
 *   at index i also proves freshness as of when it was issued, so a bounded STALE read a node
 *   cannot prove takes one ReadIndex round instead (kv-requests.ts).
 * - On the leader, once it has APPLIED the first entry of its own term, its state holds every commit
 *   up to its last QUORUM acknowledgement (the time by which a majority of voters, itself
 *   included, had answered it in its current term): every earlier leader's commits precede that
 *   entry in its log (Leader Completeness), and no later leader can have committed anything
 *   before that time. Before that entry is applied, a new leader may hold committed entries of
 *   earlier terms that it does not know are committed (sweep seed 504): it keeps the freshness it
 *   proved as a follower. A deposed leader that does not know it yet reports the time since its
 *   last quorum acknowledgement, not 0; a leader that lost its quorum keeps that time.
 *
 * Times are the injected clock's MONOTONIC time (world.ts): a wall clock stepped back would make
 * old contacts look recent.
 */
import type { LogIndex, NodeId } from '../../util/index.js';
import { splitBy } from './split.js';

/** Contacts waiting for the apply to reach their commit index (a bounded queue). */
const pendingContactsMax = 64;

/** The freshness of one node's applied state. */
export class Freshness {
  /** The time as of which the applied state is known to hold every commit; -Infinity if never known. */
  private freshAtMs = Number.NEGATIVE_INFINITY;
  /** Contacts whose commit index is not applied yet, commit and time ascending. */
  private pending: { atMs: number; commit: LogIndex }[] = [];
  /** On the leader: when each voter last answered it in its current term. */
  private readonly acks = new Map<NodeId, number>();
  /** On the leader: the index of its term's first entry; its acknowledgements prove freshness once that is applied. */
  private leaderFirstIndex: LogIndex | null = null;

  /** An append from the leader arrived at `nowMs`, carrying the leader's commit index `commit`. */
  onLeaderAppend(commit: LogIndex, nowMs: number, applied: LogIndex): void {
    this.credit({ atMs: nowMs, commit }, applied);
  }

  /** A linearizable read issued at `issuedAtMs` was confirmed at `index`, now applied. */
  onReadReleased(issuedAtMs: number, index: LogIndex, applied: LogIndex): void {
    this.credit({ atMs: issuedAtMs, commit: index }, applied);
  }

  /** The applied index moved: contacts whose commit index is now applied count. */
  onApplied(applied: LogIndex): void {
    if (this.pending.length === 0) return;
    const { picked, rest } = splitBy(this.pending, (c) => c.commit <= applied);
    this.pending = rest;
    for (const c of picked) this.markFresh(c.atMs);
  }

  /** A voter answered this leader in its current term. */
  onAck(voter: NodeId, nowMs: number): void {
    this.acks.set(voter, nowMs);
  }

  /**
   * This node became leader with `firstIndex` the index of its term's first entry: acknowledgements
   * of earlier terms prove nothing, and its own prove freshness only once that entry is applied.
   */
  onBecameLeader(firstIndex: LogIndex): void {
    this.acks.clear();
    this.leaderFirstIndex = firstIndex;
  }

  /** This node stopped leading: it keeps the freshness its last quorum acknowledgement proved. */
  onLostLeadership(self: NodeId, voters: readonly NodeId[], nowMs: number, applied: LogIndex): void {
    const at = this.leaderProofMs(self, voters, nowMs, applied);
    if (Number.isFinite(at)) this.markFresh(at);
    this.acks.clear();
    this.leaderFirstIndex = null;
  }

  /** Milliseconds of staleness this node can prove at most (Infinity if it cannot prove any). */
  stalenessMs(leader: { self: NodeId; voters: readonly NodeId[] } | null, nowMs: number, applied: LogIndex): number {
    const at = leader === null ? this.freshAtMs : Math.max(this.freshAtMs, this.leaderProofMs(leader.self, leader.voters, nowMs, applied));
    return Number.isFinite(at) ? Math.max(0, nowMs - at) : Number.POSITIVE_INFINITY;
  }

  /** What this leader's acknowledgements prove (-Infinity before its term's first entry is applied). */
  private leaderProofMs(self: NodeId, voters: readonly NodeId[], nowMs: number, applied: LogIndex): number {
    if (this.leaderFirstIndex === null || applied < this.leaderFirstIndex) return Number.NEGATIVE_INFINITY;
    return this.quorumAckMs(self, voters, nowMs);
  }

  /** The time by which a majority of `voters` (this node counting as now) had acknowledged it; -Infinity if none. */
  private quorumAckMs(self: NodeId, voters: readonly NodeId[], nowMs: number): number {
    if (voters.length === 0) return Number.NEGATIVE_INFINITY;
    const times = voters.map((v) => (v === self ? nowMs : (this.acks.get(v) ?? Number.NEGATIVE_INFINITY))).sort((a, b) => b - a);
    return times[Math.floor(voters.length / 2)] ?? Number.NEGATIVE_INFINITY;
  }

  private credit(contact: { atMs: number; commit: LogIndex }, applied: LogIndex): void {
    if (contact.commit <= applied) {
      this.markFresh(contact.atMs);
      return;
    }
    // A later contact with a lower or equal commit index makes an earlier one redundant (it counts
    // no later and proves a later time).
    this.pending = this.pending.filter((c) => c.commit < contact.commit);
    this.pending.push(contact);
    if (this.pending.length > pendingContactsMax) this.pending.shift();
  }

  private markFresh(atMs: number): void {
    this.freshAtMs = Math.max(this.freshAtMs, atMs);
  }
}
