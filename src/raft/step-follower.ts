/**
 * The follower's step function, and the handlers for leader traffic that candidates share
 * (appends, heartbeats, snapshots: Raft paper §5.3 and §7).
 */
import { logIndex, term as asTerm, unreachable } from '../util/index.js';
import type { LogIndex } from '../util/index.js';
import type { AppendMessage, HeartbeatMessage, Message, SnapshotMessage } from './message.js';
import type { Raft } from './raft.js';
import type { Snapshot } from './types.js';

/** Follower: obeys the leader, forwards transfer requests, campaigns on `timeoutNow`. */
export function stepFollower(r: Raft, m: Message): void {
  switch (m.type) {
    case 'append':
      heardFromLeader(r, m);
      handleAppend(r, m);
      return;
    case 'heartbeat':
      heardFromLeader(r, m);
      handleHeartbeat(r, m);
      return;
    case 'snapshot':
      heardFromLeader(r, m);
      handleSnapshot(r, m);
      return;
    case 'transferLeader':
      forwardTransfer(r, m.transferee);
      return;
    case 'timeoutNow':
      // Raft thesis §3.10: the leader chose us; campaign at once, skipping pre-vote.
      r.logger.info({ term: r.term, from: m.from }, 'timeoutNow received: campaigning');
      r.hup(true);
      return;
    case 'readIndexResponse':
      r.readStates.push({ index: m.index, context: m.context });
      return;
    case 'readIndex':
      r.logger.warn({ term: r.term, from: m.from }, 'readIndex dropped: not the leader');
      return;
    case 'vote':
    case 'preVote':
    case 'voteResponse':
    case 'preVoteResponse':
    case 'appendResponse':
    case 'heartbeatResponse':
      // Vote requests are handled by Raft.step; the rest answer a role we no longer have.
      return;
    default:
      unreachable(m, 'message');
  }
}

function heardFromLeader(r: Raft, m: Message): void {
  r.electionElapsed = 0;
  r.lead = m.from;
}

/** Sends a leadership transfer request on to the leader. */
export function forwardTransfer(r: Raft, transferee: Message['to']): void {
  if (r.lead === null || r.lead === r.id) {
    r.logger.warn({ term: r.term, transferee }, 'leadership transfer dropped: no leader known');
    return;
  }
  r.send({ type: 'transferLeader', to: r.lead, transferee });
}

function respond(r: Raft, m: Message, answer: { index: LogIndex; reject?: boolean; rejectHint?: LogIndex; hintTerm?: number }): void {
  r.send({
    type: 'appendResponse',
    to: m.from,
    index: answer.index,
    reject: answer.reject ?? false,
    rejectHint: answer.rejectHint ?? logIndex(0),
    hintTerm: asTerm(answer.hintTerm ?? 0),
  });
}

/**
 * Raft paper §5.3 (AppendEntries receiver): accept entries that follow a matching entry,
 * overwrite a conflicting suffix, advance the commit index. On a mismatch, reject with a hint
 * that lets the leader skip the whole conflicting term (etcd's findConflictByTerm).
 */
export function handleAppend(r: Raft, m: AppendMessage): void {
  const log = r.raftLog;
  if (m.prevLogIndex < log.committed) {
    // Everything up to our commit index matches any leader's log: say where we are.
    respond(r, m, { index: log.committed });
    return;
  }
  if (log.matchTerm(m.prevLogIndex, m.prevLogTerm)) {
    const lastNew = logIndex(m.prevLogIndex + m.entries.length);
    const conflict = log.findConflict(m.entries);
    const first = m.entries[conflict];
    if (first !== undefined && first.index <= log.committed) {
      // Only possible if Raft's safety was already broken elsewhere: never overwrite a committed entry.
      r.logger.error({ term: r.term, from: m.from, index: first.index, commit: log.committed }, 'append conflicts with a committed entry: dropped');
      return;
    }
    if (first !== undefined) log.append(m.entries.slice(conflict));
    log.commitTo(logIndex(Math.min(m.commit, lastNew)));
    respond(r, m, { index: lastNew });
    return;
  }
  const hint = log.findConflictByTerm(logIndex(Math.min(m.prevLogIndex, log.lastIndex())), m.prevLogTerm);
  r.logger.debug({ term: r.term, prevLogIndex: m.prevLogIndex, prevLogTerm: m.prevLogTerm, hint }, 'append rejected');
  respond(r, m, { index: m.prevLogIndex, reject: true, rejectHint: hint.index, hintTerm: hint.term });
}

/** A heartbeat: advance the commit index (never past our log) and echo the context. */
export function handleHeartbeat(r: Raft, m: HeartbeatMessage): void {
  const last = r.raftLog.lastIndex();
  if (m.commit > last) r.logger.warn({ term: r.term, commit: m.commit, lastIndex: last }, 'heartbeat commit beyond our log: clamped');
  r.raftLog.commitTo(logIndex(Math.min(m.commit, last)));
  r.send({ type: 'heartbeatResponse', to: m.from, context: m.context });
}

/** Raft paper §7 (InstallSnapshot receiver). Answers with the index our log now reaches. */
export function handleSnapshot(r: Raft, m: SnapshotMessage): void {
  const { index, term } = m.snapshot.metadata;
  if (restore(r, m.snapshot)) {
    r.logger.info({ term: r.term, index, snapshotTerm: term }, 'snapshot restored');
    respond(r, m, { index: r.raftLog.lastIndex() });
  } else {
    r.logger.info({ term: r.term, index, snapshotTerm: term, commit: r.raftLog.committed }, 'snapshot ignored');
    respond(r, m, { index: r.raftLog.committed });
  }
}

/**
 * Installs `snapshot` unless it is not newer than our commit index, or our log already holds
 * its last entry (Raft paper Figure 13, step 6: keep the suffix, just commit up to it). Returns
 * true if the log was replaced.
 */
function restore(r: Raft, snapshot: Snapshot): boolean {
  const { index, term, conf } = snapshot.metadata;
  if (index <= r.raftLog.committed) return false;
  if (r.raftLog.matchTerm(index, term)) {
    r.raftLog.commitTo(index);
    return false;
  }
  r.raftLog.restore(snapshot);
  r.restoreConf(conf);
  return true;
}
