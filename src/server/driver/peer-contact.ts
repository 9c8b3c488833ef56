/**
 * What the driver notes about its peers as messages come and go: when each peer was last heard
 * from, heartbeat round trips while leading (the peer round-trip metric), what a message of the
 * current term proves about this node's freshness (freshness.ts), and the messages a node that
 * joined must drop until its first snapshot. Times are the driver's monotonic ms, passed in.
 */
import type { Message } from '../../raft/index.js';
import type { LogIndex, NodeId } from '../../util/index.js';
import type { Freshness } from './freshness.js';
import { PeerRoundTrips } from './peer-round-trips.js';

/** How often the "waiting for a snapshot" warning of a joining node is logged at most. */
const joinWarningIntervalMs = 5_000;

/** This node's role and membership as far as message bookkeeping needs them. */
export interface PeerView {
  readonly leading: boolean;
  readonly leader: NodeId | null;
  readonly voters: readonly NodeId[];
  readonly appliedIndex: LogIndex;
  /** For an append: the entry at its commit index is in this node's log, with the message's term. */
  readonly commitInLeaderTerm: boolean;
}

/** Last contact and round trips by peer. */
export class PeerContact {
  private readonly lastHeardMs = new Map<NodeId, number>();
  private readonly roundTrips = new PeerRoundTrips();
  private joinWarnedMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly freshness: Freshness) {}

  /** Milliseconds since `peer` was last heard from (Infinity if never). */
  sinceHeardMs(peer: NodeId, nowMs: number): number {
    const at = this.lastHeardMs.get(peer);
    return at === undefined ? Number.POSITIVE_INFINITY : nowMs - at;
  }

  /** True if a dropped append of a joining node should be logged now (rate limit). */
  joinWarningDue(nowMs: number): boolean {
    if (nowMs - this.joinWarnedMs <= joinWarningIntervalMs) return false;
    this.joinWarnedMs = nowMs;
    return true;
  }

  /** `message` arrived at `nowMs`: the heartbeat round trip it ends, in ms, or null. */
  received(message: Message, nowMs: number, leading: boolean): number | null {
    this.lastHeardMs.set(message.from, nowMs);
    return message.type === 'heartbeatResponse' && leading ? this.roundTrips.answered(message.from, nowMs) : null;
  }

  /** What a message of the current term, stepped at `nowMs`, proves about this node's freshness. */
  observeFreshness(message: Message, nowMs: number, view: PeerView): void {
    if (view.leading) {
      if ((message.type === 'appendResponse' || message.type === 'heartbeatResponse') && view.voters.includes(message.from)) this.freshness.onAck(message.from, nowMs);
    } else if (message.from === view.leader && message.type === 'append') {
      // Only an append carries the leader's commit index; a heartbeat's is capped (freshness.ts).
      // A leader's commit index is the cluster's only once it covers an entry of the leader's own
      // term: before that, entries committed by earlier leaders may lie beyond it (sweep seed
      // 655). The entry at the commit index is in this node's log once the message is stepped.
      if (!view.commitInLeaderTerm) return;
      this.freshness.onLeaderAppend(message.commit, nowMs, view.appliedIndex);
    }
  }

  /** `messages` are being sent at `nowMs`. */
  sending(messages: readonly Message[], nowMs: number): void {
    for (const m of messages) if (m.type === 'heartbeat') this.roundTrips.sent(m.to, nowMs);
  }

  /** Leadership lost: a later heartbeat response says nothing of ours. */
  lostLeadership(): void {
    this.roundTrips.clear();
  }
}
