/**
 * The step function of candidates and pre-candidates (Raft paper §5.2, thesis §9.6): count the
 * votes, and give up as soon as a leader of the term shows up.
 */
import { unreachable } from '../util/index.js';
import type { Message } from './message.js';
import type { Raft } from './raft.js';
import { handleAppend, handleHeartbeat, handleSnapshot } from './step-follower.js';

/** Candidate and pre-candidate: tally votes; a leader's message of our term makes us follow it. */
export function stepCandidate(r: Raft, m: Message): void {
  switch (m.type) {
    case 'append':
      r.becomeFollower(m.term, m.from);
      handleAppend(r, m);
      return;
    case 'heartbeat':
      r.becomeFollower(m.term, m.from);
      handleHeartbeat(r, m);
      return;
    case 'snapshot':
      r.becomeFollower(m.term, m.from);
      handleSnapshot(r, m);
      return;
    case 'voteResponse':
    case 'preVoteResponse':
      tally(r, m.type, m.from, !m.reject);
      return;
    case 'readIndexResponse':
      // A pre-candidate keeps its term, so a read the leader confirmed is still valid.
      r.readStates.push({ index: m.index, context: m.context });
      return;
    case 'timeoutNow':
    case 'readIndex':
    case 'transferLeader':
      r.logger.debug({ term: r.term, type: m.type, from: m.from }, 'dropped: campaigning, no leader');
      return;
    case 'vote':
    case 'preVote':
    case 'appendResponse':
    case 'heartbeatResponse':
      // Vote requests are handled by Raft.step; the rest answer a role we no longer have.
      return;
    default:
      unreachable(m, 'message');
  }
}

function tally(r: Raft, type: 'voteResponse' | 'preVoteResponse', from: Message['from'], granted: boolean): void {
  const expected = r.role === 'preCandidate' ? 'preVoteResponse' : 'voteResponse';
  if (type !== expected) return;
  switch (r.poll(from, granted)) {
    case 'won':
      if (r.role === 'preCandidate') r.campaign('vote', false);
      else r.becomeLeader();
      return;
    case 'lost':
      r.logger.info({ term: r.term, role: r.role }, 'election lost');
      r.becomeFollower(r.term, null);
      return;
    case 'pending':
      return;
  }
}
