/**
 * Raft's safety properties, checked incrementally while the simulation runs. Every method is cheap
 * enough to call after every event; the full log comparison (`checkLogMatching`) is sampled.
 * A broken property throws `InvariantBroken` (the simulator adds the seed and replay command).
 *
 * The checker knows nothing of RawNode: the simulator feeds it observations (roles, votes sent,
 * entries handed out as committed, persisted hard states, read states) and read-only log views.
 */
import { broken } from './violation.js';
import type { ViolationKind } from './violation.js';
import { bytesEqual, bytesFingerprint } from './digest.js';

/** The parts of a log entry the checker compares. */
export interface EntryLike {
  readonly term: number;
  readonly index: number;
  readonly type: string;
  readonly data: Uint8Array;
}

/**
 * A read-only view of one node's persisted log: entries in `[firstIndex(), lastIndex()]`;
 * `term(i)` is also defined at `firstIndex() - 1` (the snapshot's index).
 */
export interface LogView {
  firstIndex(): number;
  lastIndex(): number;
  term(index: number): number;
  entry(index: number): EntryLike;
}

/** A persisted hard state, as the checker sees it. */
export interface HardStateLike {
  readonly term: number;
  readonly vote: string | null;
  readonly commit: number;
}

/** Per-node bookkeeping. */
interface NodeTrack {
  /** Highest commit index seen in memory during the current incarnation. */
  commit: number;
  /** The hard state last written to this node's disk (survives crashes). */
  persisted: HardStateLike;
  /** The commit index of the last SYNCED hard state (survives power loss). */
  syncedCommit: number;
}

function describeEntry(e: EntryLike): string {
  return `{index ${e.index}, term ${e.term}, ${e.type}, ${e.data.length} bytes #${bytesFingerprint(e.data)}}`;
}

function sameEntry(a: EntryLike, b: EntryLike): boolean {
  return a.term === b.term && a.index === b.index && a.type === b.type && bytesEqual(a.data, b.data);
}

/** The incremental safety checker. */
export class SafetyChecker {
  /**
   * @param disabled properties to observe without reporting (for experiments that ask which
   *   check catches a fault first); empty in every real run.
   */
  constructor(private readonly disabled: ReadonlySet<ViolationKind> = new Set()) {}

  /** Reports a broken property unless it is disabled. */
  private fail(kind: ViolationKind, detail: string): void {
    if (!this.disabled.has(kind)) broken(kind, detail);
  }

  /** Every (term, leader) pair ever seen: Election Safety allows one leader per term. */
  private readonly leadersByTerm = new Map<number, string>();
  /** For each voter, the candidate it granted its vote to in each term. */
  private readonly votes = new Map<string, Map<number, string>>();
  /**
   * The first entry any node was handed as committed at each index, with the lowest term any node
   * was in when it was handed that entry: the entry was committed in that term or earlier.
   */
  private readonly committedAt = new Map<number, { entry: EntryLike; seenInTerm: number }>();
  /** The highest index any node was handed as committed. */
  private maxCommittedIndex = 0;
  private readonly nodes = new Map<string, NodeTrack>();
  /** For each pending ReadIndex (by node and context), the highest committed index when it was asked. */
  private readonly readCalls = new Map<string, number>();
  /** State hash recorded at each applied index (from snapshots and final states). */
  private readonly hashAt = new Map<number, { hash: string; node: string }>();

  /** The highest index any node has been handed as committed. */
  get maxCommitted(): number {
    return this.maxCommittedIndex;
  }

  /** How many terms had a leader. */
  get leaderTermCount(): number {
    return this.leadersByTerm.size;
  }

  /** How many distinct committed indexes were recorded. */
  get committedCount(): number {
    return this.committedAt.size;
  }

  /** The entry recorded as committed at `index`, if any. */
  committedEntry(index: number): EntryLike | undefined {
    return this.committedAt.get(index)?.entry;
  }

  private track(node: string): NodeTrack {
    let t = this.nodes.get(node);
    if (t === undefined) {
      t = { commit: 0, persisted: { term: 0, vote: null, commit: 0 }, syncedCommit: 0 };
      this.nodes.set(node, t);
    }
    return t;
  }

  /** A node is leader in `term` (Raft paper §5.2: at most one leader per term). */
  observeLeader(node: string, term: number): void {
    const known = this.leadersByTerm.get(term);
    if (known === undefined) this.leadersByTerm.set(term, node);
    else if (known !== node) this.fail('electionSafety', `two leaders in term ${term}: ${known} and ${node}`);
  }

  /** `voter` sent a granted (non-pre) vote to `candidate` in `term`. */
  observeVoteGranted(voter: string, term: number, candidate: string): void {
    let byTerm = this.votes.get(voter);
    if (byTerm === undefined) {
      byTerm = new Map();
      this.votes.set(voter, byTerm);
    }
    const earlier = byTerm.get(term);
    if (earlier === undefined) byTerm.set(term, candidate);
    else if (earlier !== candidate) this.fail('doubleVote', `${voter} voted for ${earlier} and then for ${candidate} in term ${term}`);
  }

  /**
   * `node` just became leader of `term`: its log must hold every entry committed in an earlier term
   * (Raft paper §5.4, Leader Completeness). An entry counts once some node in a term below `term`
   * was handed it as committed; a stale candidate that wins an old term late (its votes were
   * delayed) owes nothing to entries committed in later terms. `lastIndexInMemory` includes
   * entries not yet persisted.
   */
  checkLeaderCompleteness(node: string, term: number, log: LogView, lastIndexInMemory: number): void {
    let owed = this.maxCommittedIndex;
    while (owed > 0) {
      const c = this.committedAt.get(owed);
      if (c !== undefined && c.seenInTerm < term) break;
      owed--;
    }
    if (owed > lastIndexInMemory) {
      this.fail('leaderCompleteness', `${node} became leader of term ${term} with last index ${lastIndexInMemory}, but index ${owed} was committed in an earlier term`);
    }
    const lo = Math.max(log.firstIndex(), 1);
    const hi = Math.min(log.lastIndex(), owed);
    for (let i = lo; i <= hi; i++) {
      const c = this.committedAt.get(i);
      if (c === undefined || c.seenInTerm >= term) continue;
      const mine = log.entry(i);
      if (!sameEntry(c.entry, mine)) {
        this.fail('leaderCompleteness', `${node} became leader of term ${term} with ${describeEntry(mine)} at index ${i}, but ${describeEntry(c.entry)} was committed there by term ${c.seenInTerm}`);
      }
    }
  }

  /**
   * `node`, in `nodeTerm`, was handed `entry` as committed and is applying it (Raft paper §5.4.3,
   * State Machine Safety: no two nodes apply different entries at one index).
   */
  observeCommittedEntry(node: string, entry: EntryLike, nodeTerm: number): void {
    const first = this.committedAt.get(entry.index);
    if (first === undefined) {
      this.committedAt.set(entry.index, { entry, seenInTerm: nodeTerm });
      if (entry.index > this.maxCommittedIndex) this.maxCommittedIndex = entry.index;
    } else if (!sameEntry(first.entry, entry)) {
      this.fail('stateMachineSafety', `${node} applies ${describeEntry(entry)} at index ${entry.index}, but ${describeEntry(first.entry)} was applied there first`);
    } else if (nodeTerm < first.seenInTerm) {
      first.seenInTerm = nodeTerm;
    }
  }

  /** `node` restarted: its in-memory commit index starts again from its persisted hard state. */
  observeRestart(node: string, commitInMemory: number): void {
    const t = this.track(node);
    if (commitInMemory < t.persisted.commit) {
      this.fail('durableStateRegressed', `${node} restarted with commit ${commitInMemory} below its persisted commit ${t.persisted.commit}`);
    }
    t.commit = commitInMemory;
  }

  /** The in-memory commit index of `node` (never decreases within one incarnation). */
  observeCommitIndex(node: string, commit: number): void {
    const t = this.track(node);
    if (commit < t.commit) this.fail('durableStateRegressed', `${node}'s commit index went back from ${t.commit} to ${commit}`);
    if (commit < t.persisted.commit) this.fail('durableStateRegressed', `${node}'s commit index ${commit} is below its persisted commit ${t.persisted.commit}`);
    t.commit = commit;
  }

  /**
   * `node` lost power. A commit-only hard state is written unsynced (Ready.mustSync) and may be
   * lost; the commit index of the last synced one may not. Term and vote are always synced.
   */
  observePowerLoss(node: string): void {
    const t = this.track(node);
    t.persisted = { ...t.persisted, commit: t.syncedCommit };
  }

  /**
   * `node` persisted a hard state (`synced`: with fsync): term and commit never decrease, a vote
   * never changes within its term.
   */
  observePersistedHardState(node: string, hs: HardStateLike, synced = true): void {
    const t = this.track(node);
    const old = t.persisted;
    if (hs.term < old.term) this.fail('durableStateRegressed', `${node} persisted term ${hs.term} after term ${old.term}`);
    if (hs.commit < old.commit) this.fail('durableStateRegressed', `${node} persisted commit ${hs.commit} after commit ${old.commit}`);
    if (hs.term === old.term && old.vote !== null && hs.vote !== old.vote) {
      this.fail('durableStateRegressed', `${node} persisted vote ${String(hs.vote)} in term ${hs.term} after voting ${old.vote}`);
    }
    t.persisted = { term: hs.term, vote: hs.vote, commit: hs.commit };
    if (synced) t.syncedCommit = hs.commit;
  }

  /** `node`'s state machine has applied up to `applied`; its commit index is `commit`. */
  observeApplied(node: string, applied: number, commit: number): void {
    if (applied > commit) this.fail('applyOrder', `${node} applied index ${applied} beyond its commit index ${commit}`);
  }

  /** `node` called readIndex(`context`): remember what was committed at that moment. */
  observeReadIndexCall(node: string, context: string): void {
    this.readCalls.set(`${node}/${context}`, this.maxCommittedIndex);
  }

  /**
   * A ReadState answered `node`'s readIndex(`context`) with `index`. Linearizable reads need an
   * index at least as high as anything committed when the read began (Raft thesis §6.4).
   */
  observeReadState(node: string, context: string, index: number): void {
    const key = `${node}/${context}`;
    const atCall = this.readCalls.get(key);
    if (atCall === undefined) return;
    this.readCalls.delete(key);
    if (index < atCall) {
      this.fail('staleReadIndex', `${node} got read index ${index} for read ${context}, but index ${atCall} was already committed when the read began`);
    }
  }

  /** Forgets pending reads of a node that crashed. */
  forgetReads(node: string): void {
    for (const key of this.readCalls.keys()) if (key.startsWith(`${node}/`)) this.readCalls.delete(key);
  }

  /** Two replicas that applied the same index must have the same state. */
  observeStateHash(node: string, appliedIndex: number, hash: string): void {
    const known = this.hashAt.get(appliedIndex);
    if (known === undefined) this.hashAt.set(appliedIndex, { hash, node });
    else if (known.hash !== hash) {
      this.fail('stateDivergence', `${node} has state hash ${hash} at applied index ${appliedIndex}, but ${known.node} had ${known.hash}`);
    }
  }

  /**
   * Log Matching (Raft paper §5.3): for every pair of logs, if they hold an entry with the same
   * index and term, they are identical up to that index (within what both still hold).
   */
  checkLogMatching(logs: readonly { readonly node: string; readonly log: LogView }[]): void {
    for (let a = 0; a < logs.length; a++) {
      for (let b = a + 1; b < logs.length; b++) {
        checkPair(logs[a] as { node: string; log: LogView }, logs[b] as { node: string; log: LogView }, (kind, detail) => this.fail(kind, detail));
      }
    }
  }

  /** Checks that a batch of entries about to be persisted is well formed and joins the log at `prevTerm`. */
  checkAppendBatch(node: string, entries: readonly EntryLike[], prevTerm: number | null): void {
    let last: EntryLike | null = null;
    for (const e of entries) {
      if (last !== null && (e.index !== last.index + 1 || e.term < last.term)) {
        this.fail('logMatching', `${node} was asked to persist ${describeEntry(e)} right after ${describeEntry(last)}`);
      }
      last = e;
    }
    const first = entries[0];
    if (first !== undefined && prevTerm !== null && first.term < prevTerm) {
      this.fail('logMatching', `${node} was asked to persist ${describeEntry(first)} after an entry of term ${prevTerm}`);
    }
  }
}

function checkPair(x: { node: string; log: LogView }, y: { node: string; log: LogView }, fail: (kind: ViolationKind, detail: string) => void): void {
  const lo = Math.max(x.log.firstIndex(), y.log.firstIndex());
  const hi = Math.min(x.log.lastIndex(), y.log.lastIndex());
  let match = -1;
  for (let i = hi; i >= lo; i--) {
    if (x.log.term(i) === y.log.term(i)) {
      match = i;
      break;
    }
  }
  for (let i = lo; i <= match; i++) {
    const ex = x.log.entry(i);
    const ey = y.log.entry(i);
    if (!sameEntry(ex, ey)) {
      fail('logMatching', `${x.node} and ${y.node} both hold term ${x.log.term(match)} at index ${match}, but differ at index ${i}: ${describeEntry(ex)} vs ${describeEntry(ey)}`);
      return;
    }
  }
}
