/**
 * Round trips to each peer, measured on the leader from Raft's own heartbeats: the time from the
 * oldest heartbeat sent to a peer and not yet answered to that peer's next heartbeat response.
 * Responses do not name the heartbeat they answer, so after a lost heartbeat the figure includes
 * the wait for the next one: it can read long, never short. Times are the driver's monotonic
 * milliseconds, passed in (no clock here).
 */
import type { NodeId } from '../../util/index.js';

/** Unanswered heartbeats by peer. */
export class PeerRoundTrips {
  private readonly sentAtMs = new Map<NodeId, number>();

  /** A heartbeat went to `peer` at `nowMs` (an earlier unanswered one keeps its time). */
  sent(peer: NodeId, nowMs: number): void {
    if (!this.sentAtMs.has(peer)) this.sentAtMs.set(peer, nowMs);
  }

  /** `peer` answered a heartbeat at `nowMs`: the round trip in ms, or null if none was waiting. */
  answered(peer: NodeId, nowMs: number): number | null {
    const at = this.sentAtMs.get(peer);
    if (at === undefined) return null;
    this.sentAtMs.delete(peer);
    return Math.max(0, nowMs - at);
  }

  /** Forgets every pending heartbeat (leadership lost: a later response says nothing of ours). */
  clear(): void {
    this.sentAtMs.clear();
  }
}
