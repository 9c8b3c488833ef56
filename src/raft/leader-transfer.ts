/**
 * Raft thesis §3.10: leadership transfer. The leader stops accepting proposals, brings the
 * target's log up to date, then sends it `timeoutNow` so it campaigns at once (with
 * `transfer` set on its votes, which lets voters ignore the leader lease). The transfer is
 * abandoned after an election timeout (see `tickLeader`).
 */
import type { NodeId } from '../util/index.js';
import type { Raft } from './raft.js';
import { sendAppend } from './replication.js';

/** Leader: starts transferring leadership to `to`. */
export function leaderTransfer(r: Raft, to: NodeId): void {
  if (!r.tracker.isVoter(to)) {
    r.logger.warn({ term: r.term, to }, 'leadership transfer ignored: target is not a voter');
    return;
  }
  if (r.leadTransferee !== null) {
    if (r.leadTransferee === to) return;
    r.abortLeaderTransfer();
  }
  if (to === r.id) return;
  r.logger.info({ term: r.term, to }, 'leadership transfer started');
  // The transfer must finish within one election timeout.
  r.electionElapsed = 0;
  r.leadTransferee = to;
  if (!maybeSendTimeoutNow(r, to)) sendAppend(r, to);
}

/** Leader: sends `timeoutNow` if `from` is the transfer target and its log is now complete. */
export function maybeSendTimeoutNow(r: Raft, from: NodeId): boolean {
  const pr = r.tracker.progress.get(from);
  if (r.leadTransferee !== from || pr === undefined || pr.match !== r.raftLog.lastIndex()) return false;
  r.logger.info({ term: r.term, to: from }, 'transfer target caught up: sending timeoutNow');
  r.send({ type: 'timeoutNow', to: from });
  return true;
}
