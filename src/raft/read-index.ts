/**
 * Raft thesis §6.4: ReadIndex on the leader, batched. A read is answered with a read index once
 * the leader has (1) committed an entry of its current term and (2) confirmed, with one
 * heartbeat round acknowledged by a majority, that it was still the leader after the read
 * arrived. Every read queued between two Readys shares one round (see `ReadOnly`).
 */
import type { LogIndex } from '../util/index.js';
import type { Raft } from './raft.js';
import type { ReadRequest } from './read-only.js';
import { bcastHeartbeat } from './replication.js';

/** True once the leader committed an entry of its own term (its no-op, at the latest). */
export function committedInCurrentTerm(r: Raft): boolean {
  return r.raftLog.term(r.raftLog.committed) === r.term;
}

/** Hands a confirmed read to whoever asked: a ReadState here, or a response to the follower. */
function respond(r: Raft, request: ReadRequest, index: LogIndex): void {
  if (request.from === r.id) r.readStates.push({ index, context: request.context });
  else r.send({ type: 'readIndexResponse', to: request.from, index, context: request.context });
}

/** Leader: accepts a read from itself or a follower. */
export function leaderReadIndex(r: Raft, request: ReadRequest): void {
  if (!committedInCurrentTerm(r)) {
    // Until then the leader's commit index may lag entries committed by its predecessors.
    r.pendingReads.push(request);
    return;
  }
  const index = r.raftLog.committed;
  if (r.testFaults.readIndexWithoutHeartbeat === true) {
    respond(r, request, index);
    return;
  }
  if (r.tracker.voters.length === 1 && r.tracker.isVoter(r.id)) {
    // A single voter is always the leader of its term: nothing to confirm.
    respond(r, request, index);
    return;
  }
  r.readOnly.add(request, index);
}

/** Leader: starts one heartbeat round for every read queued since the last round. */
export function flushReadRounds(r: Raft): void {
  if (r.role !== 'leader' || !r.readOnly.hasUnflushed()) return;
  bcastHeartbeat(r, r.readOnly.startRound(r.id));
  confirmAckedRounds(r);
}

/**
 * Leader: confirms every round a majority has already acknowledged. Needed when the majority
 * changes under a round (a membership change can leave the leader as the only voter).
 */
export function confirmAckedRounds(r: Raft): void {
  const context = r.readOnly.newestRoundWith((acks) => r.tracker.hasQuorum(acks));
  if (context === null) return;
  for (const read of r.readOnly.confirm(context)) respond(r, read.request, read.index);
}

/** Leader: a heartbeat answer echoed `context`; confirms the reads once a majority has. */
export function readIndexAck(r: Raft, from: ReadRequest['from'], context: string): void {
  if (!r.tracker.isVoter(from)) return;
  const acks = r.readOnly.recvAck(from, context);
  if (acks === null || !r.tracker.hasQuorum(acks)) return;
  for (const read of r.readOnly.confirm(context)) respond(r, read.request, read.index);
}

/** Leader: once an entry of the term is committed, the reads that waited for it proceed. */
export function releasePendingReads(r: Raft): void {
  if (r.pendingReads.length === 0 || !committedInCurrentTerm(r)) return;
  const reads = r.pendingReads;
  r.pendingReads = [];
  for (const request of reads) leaderReadIndex(r, request);
}
