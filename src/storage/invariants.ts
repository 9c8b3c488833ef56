/**
 * The durable properties of the stored Raft state, as pure checks that return a description of
 * the first problem found, or null. Each is used twice (CONVENTIONS.md, "Errors"): before a write,
 * where a problem is a bug and fails an `assert`; and after reading the state back at open, where
 * a problem means the data on disk is bad and becomes a `CorruptionError`.
 */
import type { ConfState, Entry, HardState, SnapshotMetadata } from '../raft/index.js';
import type { LogStart } from './raft-records.js';

/** A compact view of the stored Raft state, enough to check the cross-record invariants. */
export interface RaftStateSummary {
  readonly hardState: HardState;
  readonly conf: ConfState;
  readonly snapshot: SnapshotMetadata;
  readonly logStart: LogStart;
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** The term the log holds at `snapshot.index`, or null if the log does not cover it. */
  readonly termAtSnapshotIndex: number | null;
}

/** Problems with a membership: empty or duplicate ids, or a node both voter and learner. */
export function confProblem(conf: ConfState, what: string): string | null {
  const seen = new Set<string>();
  for (const id of [...conf.voters, ...conf.learners]) {
    if (id.length === 0) return `${what}: empty node id`;
    if (seen.has(id)) return `${what}: node ${id} listed twice (voters and learners must be disjoint, without duplicates)`;
    seen.add(id);
  }
  return null;
}

/**
 * Problems with a run of entries that follows `(prevIndex, prevTerm)`: indexes must be contiguous
 * and terms must never decrease (Raft paper §5.3, Log Matching; a leader only appends in its term).
 */
export function logSegmentProblem(prevIndex: number, prevTerm: number, entries: readonly Entry[]): string | null {
  let index = prevIndex;
  let lastTerm = prevTerm;
  for (const entry of entries) {
    if (entry.index !== index + 1) return `entry index ${entry.index} follows index ${index} (indexes must be contiguous)`;
    if (entry.term < lastTerm) return `entry ${entry.index} has term ${entry.term}, lower than term ${lastTerm} before it`;
    if (entry.type !== 'normal' && entry.type !== 'confChange') return `entry ${entry.index} has unknown type ${String(entry.type)}`;
    index = entry.index;
    lastTerm = entry.term;
  }
  return null;
}

/**
 * Problems across the stored records:
 * - `logStart.index <= snapshot.index <= lastIndex`: the log is only compacted behind a snapshot,
 *   and a snapshot covers entries the log had (committed entries are never truncated);
 * - the log agrees with the snapshot on the term at `snapshot.index`;
 * - `logStart.index <= commit <= lastIndex` (etcd-io/raft checks the same at start-up): commit
 *   never points past the stored log, and everything compacted was committed;
 * - no stored term exceeds `hardState.term` (entries and snapshots come from leaders of terms this
 *   node has seen);
 * - both memberships are well formed.
 */
export function raftStateProblem(s: RaftStateSummary): string | null {
  const { hardState, snapshot, logStart } = s;
  if (snapshot.index < logStart.index) return `snapshot index ${snapshot.index} is below the compaction point ${logStart.index}`;
  if (snapshot.index > s.lastIndex) return `snapshot index ${snapshot.index} is beyond the last log index ${s.lastIndex}`;
  if (s.termAtSnapshotIndex !== null && s.termAtSnapshotIndex !== snapshot.term) {
    return `snapshot at index ${snapshot.index} has term ${snapshot.term} but the log has term ${s.termAtSnapshotIndex} there`;
  }
  if (hardState.commit < logStart.index) return `commit index ${hardState.commit} is below the compaction point ${logStart.index}`;
  if (hardState.commit > s.lastIndex) return `commit index ${hardState.commit} is beyond the last log index ${s.lastIndex}`;
  if (s.lastTerm > hardState.term) return `last entry term ${s.lastTerm} exceeds the hard state term ${hardState.term}`;
  if (snapshot.term > hardState.term) return `snapshot term ${snapshot.term} exceeds the hard state term ${hardState.term}`;
  return confProblem(s.conf, 'membership') ?? confProblem(snapshot.conf, 'snapshot membership');
}

/**
 * Problems with replacing hard state `prev` by `next` (Raft paper, Figure 2): the term never goes
 * down, a vote cast in a term is never changed within it, and the commit index never goes down.
 */
export function hardStateTransitionProblem(prev: HardState, next: HardState): string | null {
  if (next.term < prev.term) return `hard state term would go down from ${prev.term} to ${next.term}`;
  if (next.term === prev.term && prev.vote !== null && next.vote !== prev.vote) {
    return `vote in term ${prev.term} would change from ${prev.vote} to ${String(next.vote)}`;
  }
  if (next.commit < prev.commit) return `commit index would go down from ${prev.commit} to ${next.commit}`;
  return null;
}
