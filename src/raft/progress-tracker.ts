/**
 * The membership as the leader and the candidates see it: who votes, who only learns, each
 * member's replication progress, the votes of the current election, and the quorum arithmetic
 * (after etcd-io/raft `tracker/tracker.go` and `quorum/majority.go`).
 */
import { assert, logIndex } from '../util/index.js';
import type { LogIndex, NodeId } from '../util/index.js';
import { Progress } from './progress.js';
import type { ConfState } from './types.js';

/** The state of an election as seen by a candidate. */
export type VoteResult = 'pending' | 'won' | 'lost';

/** Membership, progress and votes. Iteration order is sorted by id, so output is deterministic. */
export class ProgressTracker {
  /** Voting members, sorted. Invariant: disjoint from `learners`. */
  voters: readonly NodeId[] = [];
  /** Non-voting members, sorted (Raft thesis §4.2.1). */
  learners: readonly NodeId[] = [];
  /** Replication progress of every member (voters and learners), in sorted id order. */
  progress = new Map<NodeId, Progress>();
  /** Votes received in the current election (Raft paper §5.2): true if granted. */
  private readonly votes = new Map<NodeId, boolean>();

  /** @param inflightAppendsMax the pipelining window given to every new progress. */
  constructor(private readonly inflightAppendsMax: number) {}

  /**
   * Switches to the membership `conf`. Members that stay keep their progress; new members start
   * probing at `lastIndex + 1` and count as recently active, so that check-quorum does not depose
   * the leader before they could answer.
   */
  setConf(conf: ConfState, lastIndex: LogIndex): void {
    const voters = [...new Set(conf.voters)].sort();
    const learners = [...new Set(conf.learners)].sort();
    assert(!voters.some((id) => learners.includes(id)), () => `voters and learners overlap: ${JSON.stringify(conf)}`);
    const progress = new Map<NodeId, Progress>();
    for (const id of [...voters, ...learners].sort()) {
      progress.set(id, this.progress.get(id) ?? this.newProgress(lastIndex));
    }
    this.voters = voters;
    this.learners = learners;
    this.progress = progress;
  }

  /** Resets every progress for a new term: nothing is known to match except `selfMatch` for `self`. */
  resetProgress(lastIndex: LogIndex, self: NodeId, selfMatch: LogIndex): void {
    for (const id of this.progress.keys()) {
      const pr = this.newProgress(lastIndex);
      pr.recentActive = false;
      if (id === self) pr.maybeUpdate(selfMatch);
      this.progress.set(id, pr);
    }
  }

  /** The membership as plain data. */
  confState(): ConfState {
    return { voters: [...this.voters], learners: [...this.learners] };
  }

  /** True if `id` votes. */
  isVoter(id: NodeId): boolean {
    return this.voters.includes(id);
  }

  /** True if `id` is a learner. */
  isLearner(id: NodeId): boolean {
    return this.learners.includes(id);
  }

  /** The size of a majority of the voters. */
  quorum(): number {
    return Math.floor(this.voters.length / 2) + 1;
  }

  /**
   * The highest index replicated on a majority of voters (Raft paper §5.3, §5.4.2: the caller
   * still checks the entry's term). With no voters, nothing can be committed: returns 0.
   */
  committedIndex(): LogIndex {
    if (this.voters.length === 0) return logIndex(0);
    const matches = this.voters.map((id) => this.progress.get(id)?.match ?? 0).sort((a, b) => b - a);
    return logIndex(matches[this.quorum() - 1] ?? 0);
  }

  /** True if the voters in `acks` form a majority. */
  hasQuorum(acks: ReadonlySet<NodeId>): boolean {
    return this.voters.filter((id) => acks.has(id)).length >= this.quorum();
  }

  /** Check-quorum (Raft thesis §6.2): true if a majority of voters was recently active. */
  quorumActive(self: NodeId): boolean {
    const active = new Set(this.voters.filter((id) => id === self || this.progress.get(id)?.recentActive === true));
    return this.hasQuorum(active);
  }

  /** Forgets the current election's votes. */
  resetVotes(): void {
    this.votes.clear();
  }

  /** Records `id`'s answer; only its first answer in an election counts. */
  recordVote(id: NodeId, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /** Counts the votes of voters: won with a majority granted, lost once a majority is out of reach. */
  voteResult(): { granted: number; rejected: number; result: VoteResult } {
    let granted = 0;
    let rejected = 0;
    for (const id of this.voters) {
      const vote = this.votes.get(id);
      if (vote === true) granted++;
      else if (vote === false) rejected++;
    }
    const quorum = this.quorum();
    const missing = this.voters.length - granted - rejected;
    const result: VoteResult = granted >= quorum ? 'won' : granted + missing < quorum ? 'lost' : 'pending';
    return { granted, rejected, result };
  }

  private newProgress(lastIndex: LogIndex): Progress {
    return new Progress({
      match: logIndex(0),
      next: logIndex(lastIndex + 1),
      inflightAppendsMax: this.inflightAppendsMax,
      recentActive: true,
    });
  }
}
