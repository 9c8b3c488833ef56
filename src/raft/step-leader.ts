/**
 * The leader's step and tick functions, and the leader-only operations `RawNode` calls:
 * proposals, the self-acknowledgement after persisting, snapshot and reachability reports,
 * and the follow-up of a membership change (Raft paper §5.3, thesis §3.10, §6.2, §6.4).
 */
import { logIndex, ProposalDroppedError, unreachable } from '../util/index.js';
import type { LogIndex, NodeId, Term } from '../util/index.js';
import { leaderTransfer, maybeSendTimeoutNow } from './leader-transfer.js';
import type { AppendResponseMessage, HeartbeatResponseMessage, Message } from './message.js';
import type { Progress } from './progress.js';
import type { Raft } from './raft.js';
import { confirmAckedRounds, leaderReadIndex, readIndexAck, releasePendingReads } from './read-index.js';
import { bcastAppend, bcastHeartbeat, maybeCommit, sendAppend } from './replication.js';
import type { EntryType } from './types.js';

/** Leader: handles acknowledgements, forwarded reads and transfer requests. */
export function stepLeader(r: Raft, m: Message): void {
  switch (m.type) {
    case 'appendResponse':
      handleAppendResponse(r, m);
      return;
    case 'heartbeatResponse':
      handleHeartbeatResponse(r, m);
      return;
    case 'readIndex':
      leaderReadIndex(r, { context: m.context, from: m.from });
      return;
    case 'transferLeader':
      leaderTransfer(r, m.transferee);
      return;
    case 'append':
    case 'heartbeat':
    case 'snapshot':
      // Two leaders in one term means Election Safety is already broken (Raft paper §5.2).
      r.logger.error({ term: r.term, from: m.from, type: m.type }, 'another leader in our term: message dropped');
      return;
    case 'vote':
    case 'preVote':
    case 'voteResponse':
    case 'preVoteResponse':
    case 'readIndexResponse':
    case 'timeoutNow':
      // Vote requests are handled by Raft.step; the rest are stale or not meant for a leader.
      return;
    default:
      unreachable(m, 'message');
  }
}

/**
 * Leader tick: heartbeats every `heartbeatTicks`; every election timeout, check-quorum (thesis
 * §6.2), abandon an unfinished leadership transfer, and resend snapshots that went silent.
 */
export function tickLeader(r: Raft): void {
  r.heartbeatElapsed++;
  r.electionElapsed++;
  if (r.electionElapsed >= r.electionTicks) {
    r.electionElapsed = 0;
    if (r.checkQuorum && !checkQuorum(r)) return;
    if (r.leadTransferee !== null) r.abortLeaderTransfer();
  }
  retrySilentSnapshots(r);
  if (r.heartbeatElapsed >= r.heartbeatTicks) {
    r.heartbeatElapsed = 0;
    // Regular heartbeats repeat the newest read round's context, so a lost round still completes.
    bcastHeartbeat(r, r.readOnly.lastContext());
  }
}

/** Raft thesis §6.2: steps down unless a majority answered since the last check. */
function checkQuorum(r: Raft): boolean {
  if (!r.tracker.quorumActive(r.id)) {
    r.logger.warn({ term: r.term }, 'check-quorum failed: stepping down');
    r.becomeFollower(r.term, null);
    return false;
  }
  for (const [id, pr] of r.tracker.progress) if (id !== r.id) pr.recentActive = false;
  return true;
}

/**
 * A snapshot message lost without a `reportSnapshot` would leave its follower in the `snapshot`
 * state forever: after `3 * electionTicks` without an answer, probe (and so resend) again.
 */
function retrySilentSnapshots(r: Raft): void {
  for (const [id, pr] of r.tracker.progress) {
    if (pr.state !== 'snapshot' || ++pr.snapshotTicks < 3 * r.electionTicks) continue;
    r.logger.warn({ term: r.term, to: id, snapshot: pr.pendingSnapshot }, 'no answer to a snapshot: resending');
    pr.pendingSnapshot = logIndex(0);
    pr.becomeProbe();
    sendAppend(r, id);
  }
}

/** After the commit index moved: release reads waiting for it and spread the news. */
function afterCommit(r: Raft): void {
  releasePendingReads(r);
  r.appendsDue = true;
}

/** Raft paper §5.3: an append was accepted or rejected. */
function handleAppendResponse(r: Raft, m: AppendResponseMessage): void {
  const pr = r.tracker.progress.get(m.from);
  if (pr === undefined) return;
  if (m.index > r.raftLog.lastIndex()) {
    // Our log never shrinks while we lead: such an answer cannot be about our log.
    r.logger.warn({ term: r.term, from: m.from, index: m.index, lastIndex: r.raftLog.lastIndex() }, 'append answer beyond our log: dropped');
    return;
  }
  pr.recentActive = true;
  if (m.reject) {
    handleRejection(r, m, pr);
    return;
  }
  const wasPaused = pr.isPaused();
  if (!pr.maybeUpdate(m.index) && !(pr.match === m.index && pr.state === 'probe')) return;
  switch (pr.state) {
    case 'probe':
      pr.becomeReplicate();
      break;
    case 'snapshot':
      if (pr.match + 1 >= r.raftLog.firstIndex()) {
        pr.becomeProbe();
        pr.becomeReplicate();
      }
      break;
    case 'replicate':
      pr.inflights.freeLE(m.index);
      break;
  }
  if (maybeCommit(r)) afterCommit(r);
  // A follower that was paused in probe gets an append now, unless appends are already due: then
  // the flush in ready() sends it one with everything, and a second one here would be a duplicate
  // (found by the golden files; etcd's bcastAppend skips the paused follower the same way).
  else if (wasPaused && !r.appendsDue) sendAppend(r, m.from);
  // Fill the pipelining window.
  while (sendAppend(r, m.from, false));
  maybeSendTimeoutNow(r, m.from);
}

/** A rejection: back up `next` using the follower's hint (fast backtracking) and probe again. */
function handleRejection(r: Raft, m: AppendResponseMessage, pr: Progress): void {
  let hint = m.rejectHint;
  if (m.hintTerm > 0) {
    // Skip every entry of ours whose term is above the follower's term at the hint.
    hint = r.raftLog.findConflictByTerm(m.rejectHint, m.hintTerm).index;
  }
  if (!pr.maybeDecrTo(m.index, hint)) return;
  r.logger.debug({ term: r.term, from: m.from, rejected: m.index, next: pr.next }, 'append rejected: backing up');
  if (pr.state === 'replicate') pr.becomeProbe();
  sendAppend(r, m.from);
}

/** A heartbeat answer: the follower is alive; resume sending and count read acknowledgements. */
function handleHeartbeatResponse(r: Raft, m: HeartbeatResponseMessage): void {
  const pr = r.tracker.progress.get(m.from);
  if (pr === undefined) return;
  pr.recentActive = true;
  pr.probeSent = false;
  // A lost acknowledgement must not block a full window forever.
  if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
  if (pr.match < r.raftLog.lastIndex() || pr.state === 'probe') sendAppend(r, m.from);
  if (m.context !== '') readIndexAck(r, m.from, m.context);
}

/** Leader: appends one proposed entry and replicates it. Throws `ProposalDroppedError`. */
export function leaderPropose(r: Raft, entry: { type: EntryType; data: Uint8Array }): { index: LogIndex; term: Term } {
  if (r.leadTransferee !== null) throw new ProposalDroppedError(`leadership transfer to ${r.leadTransferee} in progress`);
  const index = r.appendEntries([entry]);
  if (index === null) throw new ProposalDroppedError(`too many uncommitted bytes (${r.uncommittedBytes}, uncommittedBytesMax ${r.uncommittedBytesMax})`);
  r.appendsDue = true;
  return { index, term: r.term };
}

/** Leader: sends the appends owed since the last Ready (see `Raft.appendsDue`), one per follower. */
export function flushAppends(r: Raft): void {
  if (r.role !== 'leader' || !r.appendsDue) return;
  r.appendsDue = false;
  bcastAppend(r);
}

/** Leader: its own entries were persisted, so its copy now counts towards commit. */
export function leaderSelfAck(r: Raft): void {
  const pr = r.tracker.progress.get(r.id);
  if (pr !== undefined && pr.maybeUpdate(r.raftLog.persistedLastIndex()) && maybeCommit(r)) afterCommit(r);
}

/** Leader: the membership changed; the quorums may now be met, and new members need probing. */
export function leaderAfterConfChange(r: Raft): void {
  confirmAckedRounds(r);
  if (maybeCommit(r)) afterCommit(r);
  else for (const [id, pr] of r.tracker.progress) sendAppend(r, id, pr.state === 'probe');
}

/** Leader: the transport reports whether a snapshot reached `id`. */
export function leaderReportSnapshot(r: Raft, id: NodeId, ok: boolean): void {
  const pr = r.tracker.progress.get(id);
  if (pr === undefined || pr.state !== 'snapshot') return;
  if (!ok) pr.pendingSnapshot = logIndex(0);
  pr.becomeProbe();
  // Success: wait for the follower's answer. Failure: retry after the next heartbeat answer.
  pr.probeSent = true;
}

/** Leader: the transport could not reach `id`; stop pipelining to it. */
export function leaderReportUnreachable(r: Raft, id: NodeId): void {
  const pr = r.tracker.progress.get(id);
  if (pr !== undefined && pr.state === 'replicate') pr.becomeProbe();
}
