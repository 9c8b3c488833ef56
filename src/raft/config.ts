/**
 * Configuration of one Raft core instance. Everything the core needs from outside comes in here:
 * storage to read, a seeded PRNG for election timeouts, a logger, and limits.
 */
import type { LogIndex, Logger, NodeId, Prng } from '../util/index.js';
import type { RaftStorage } from './storage.js';

/**
 * Deliberately broken behaviours, for negative controls only: the simulator and jepsen-lite run
 * with one of these on and must report a violation. Never set outside tests.
 */
export interface RaftTestFaults {
  /** Commit an entry from an earlier term by counting replicas (Raft paper §5.4.2, Figure 8). */
  readonly commitPreviousTermByCounting?: boolean;
  /** Grant a vote without putting it in the hard state to persist. */
  readonly voteWithoutPersist?: boolean;
  /** Answer ReadIndex at once from the leader's commit index, without a heartbeat round. */
  readonly readIndexWithoutHeartbeat?: boolean;
}

/** Configuration of a `RawNode`. */
export interface RaftConfig {
  /** This node's id. */
  readonly id: NodeId;
  /** Where the core reads its persisted log, hard state and membership from. */
  readonly storage: RaftStorage;
  /** Source of randomness for election timeouts. */
  readonly prng: Prng;
  /**
   * Ticks without hearing from a leader before a follower starts an election. The actual timeout
   * is drawn from `[electionTicks, 2 * electionTicks - 1]` each time (Raft paper §5.2).
   */
  readonly electionTicks: number;
  /** Ticks between a leader's heartbeats. Invariant: heartbeatTicks < electionTicks. */
  readonly heartbeatTicks: number;
  /** The last index the application has applied (0 on a new node); entries after it are re-applied. */
  readonly applied: LogIndex;
  /** Most append messages in flight to one follower. */
  readonly inflightAppendsMax: number;
  /** Most entry bytes in one append message. */
  readonly appendBytesMax: number;
  /** Most bytes of uncommitted entries on a leader before proposals are dropped. */
  readonly uncommittedBytesMax: number;
  /** Most committed entry bytes handed out in one Ready. */
  readonly applyBytesMax: number;
  /** Pre-vote (Raft thesis §9.6). On by default; turned off only by tests. */
  readonly preVote?: boolean;
  /** Check-quorum (Raft thesis §6.2). On by default; turned off only by tests. */
  readonly checkQuorum?: boolean;
  /** Logger; no-op by default. */
  readonly logger?: Logger;
  /** Negative controls. Never set outside tests. */
  readonly testFaults?: RaftTestFaults;
}
