/**
 * The role table: which step and tick functions each role uses. `Raft.becomeFollower()` and
 * friends swap between these entries (as etcd-io/raft swaps `r.step` and `r.tick`).
 */
import type { Raft, RoleTable } from './raft.js';
import { stepCandidate } from './step-candidate.js';
import { stepFollower } from './step-follower.js';
import { stepLeader, tickLeader } from './step-leader.js';

const tickElection = (r: Raft): void => r.tickElection();

/** The behaviour of every role. */
export const roleTable: RoleTable = Object.freeze({
  follower: { step: stepFollower, tick: tickElection },
  preCandidate: { step: stepCandidate, tick: tickElection },
  candidate: { step: stepCandidate, tick: tickElection },
  leader: { step: stepLeader, tick: tickLeader },
});
