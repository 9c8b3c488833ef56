/**
 * The leader's replication machinery (Raft paper §5.3, thesis §10.2): appends with pipelining,
 * batching and the inflight window, snapshots for followers that fell behind the compacted log,
 * heartbeats, and the commit rule (Raft paper §5.4.2: only current-term entries are committed by
 * counting replicas). The functions work on a narrow `LeaderContext` so this file does not depend
 * on the `Raft` class.
 */
import { logIndex } from '../util/index.js';
import type { Logger, NodeId, Term } from '../util/index.js';
import type { RaftTestFaults } from './config.js';
import type { Outgoing } from './outgoing.js';
import type { Progress } from './progress.js';
import type { ProgressTracker } from './progress-tracker.js';
import type { RaftLog } from './raft-log.js';

/** What replication needs from the Raft state. The `Raft` class satisfies it. */
export interface LeaderContext {
  readonly id: NodeId;
  readonly term: Term;
  readonly raftLog: RaftLog;
  readonly tracker: ProgressTracker;
  readonly logger: Logger;
  readonly appendBytesMax: number;
  readonly testFaults: RaftTestFaults;
  send(message: Outgoing): void;
}

/**
 * Sends `to` the entries after its `next` index (an empty append when `sendIfEmpty`, which also
 * carries the commit index), or a snapshot if those entries were compacted. Returns true if a
 * message was sent.
 */
export function sendAppend(r: LeaderContext, to: NodeId, sendIfEmpty = true): boolean {
  const pr = r.tracker.progress.get(to);
  if (pr === undefined || to === r.id || pr.isPaused()) return false;
  const prevLogIndex = logIndex(pr.next - 1);
  const prevLogTerm = r.raftLog.term(prevLogIndex);
  if (prevLogTerm === null) return sendSnapshot(r, to, pr);
  const entries = r.raftLog.entriesFrom(pr.next, r.appendBytesMax);
  if (entries === null) return sendSnapshot(r, to, pr);
  if (entries.length === 0 && !sendIfEmpty) return false;
  r.send({ type: 'append', to, prevLogIndex, prevLogTerm, entries, commit: r.raftLog.committed });
  pr.sentAppend(entries.length, entries[entries.length - 1]?.index ?? prevLogIndex);
  return true;
}

/** Raft paper §7: sends the latest snapshot to a follower whose next entry was compacted. */
function sendSnapshot(r: LeaderContext, to: NodeId, pr: Progress): boolean {
  if (!pr.recentActive) {
    r.logger.debug({ to }, 'not sending a snapshot to a follower that is not recently active');
    return false;
  }
  const snapshot = r.raftLog.snapshot();
  if (snapshot.metadata.index === 0) {
    r.logger.warn({ to, next: pr.next }, 'entries unavailable and no snapshot to send');
    return false;
  }
  r.logger.info({ to, index: snapshot.metadata.index, term: snapshot.metadata.term }, 'sending snapshot');
  pr.becomeSnapshot(snapshot.metadata.index);
  r.send({ type: 'snapshot', to, snapshot });
  return true;
}

/** Sends appends (empty ones too, to spread the commit index) to every other member. */
export function bcastAppend(r: LeaderContext): void {
  for (const id of r.tracker.progress.keys()) if (id !== r.id) sendAppend(r, id);
}

/** Sends one heartbeat. Its commit never exceeds what the follower is known to hold. */
export function sendHeartbeat(r: LeaderContext, to: NodeId, context: string): void {
  const pr = r.tracker.progress.get(to);
  if (pr === undefined) return;
  const commit = logIndex(Math.min(pr.match, r.raftLog.committed));
  r.send({ type: 'heartbeat', to, commit, context });
}

/** Sends a heartbeat to every other member, carrying `context` (a ReadIndex round, or ''). */
export function bcastHeartbeat(r: LeaderContext, context: string): void {
  for (const id of r.tracker.progress.keys()) if (id !== r.id) sendHeartbeat(r, id, context);
}

/**
 * Advances the commit index to the highest index replicated on a majority of voters, provided
 * that entry belongs to the current term (Raft paper §5.4.2, Figure 8): an older-term entry is
 * committed only indirectly, by committing a current-term entry after it. Returns true if the
 * commit index moved.
 */
export function maybeCommit(r: LeaderContext): boolean {
  const index = r.tracker.committedIndex();
  if (index <= r.raftLog.committed) return false;
  if (r.raftLog.term(index) !== r.term && r.testFaults.commitPreviousTermByCounting !== true) return false;
  r.raftLog.commitTo(index);
  return true;
}
