/**
 * The leader's queue of linearizable reads waiting for leadership confirmation (Raft thesis
 * §6.4: ReadIndex), batched: every read queued between two Readys joins ONE heartbeat round.
 * A round is identified by the context its heartbeats carry; once a majority of voters echoes
 * that context, every read queued in that round or an earlier one is confirmed, with the commit
 * index recorded when the read was queued.
 */
import type { LogIndex, NodeId, Term } from '../util/index.js';

/** Who asked for a read and with which context. `from` is the leader itself or a follower. */
export interface ReadRequest {
  readonly context: string;
  readonly from: NodeId;
}

/** A read with its read index: the leader's commit index when the read was queued. */
export interface ConfirmedRead {
  readonly request: ReadRequest;
  readonly index: LogIndex;
}

/** A read waiting for confirmation. */
interface QueuedRead extends ConfirmedRead {
  /** The round the read joined, or null while it waits for the next round to start. */
  round: number | null;
}

/** One heartbeat round confirming leadership for a batch of reads. */
interface Round {
  /** Increases with every round of this leader term. */
  readonly seq: number;
  /** The context the round's heartbeats carry and their answers echo. */
  readonly context: string;
  /** Voters (and learners, ignored when counting) that echoed the round's context. */
  readonly acks: Set<NodeId>;
}

/** Reads waiting for a heartbeat round, and the rounds in flight. */
export class ReadOnly {
  /** Reads not yet confirmed, in arrival order (so rounds appear in increasing order). */
  private queue: QueuedRead[] = [];
  /** Rounds whose heartbeats went out and await a majority, oldest first. */
  private rounds: Round[] = [];
  /** The sequence number of the next round. */
  private nextSeq = 1;

  /** @param term the leader's term, part of every round's context so contexts never repeat. */
  constructor(private readonly term: Term) {}

  /** Queues a read confirmed at `index` once a later round succeeds. */
  add(request: ReadRequest, index: LogIndex): void {
    this.queue.push({ request, index, round: null });
  }

  /** True if some reads wait for a round to start. */
  hasUnflushed(): boolean {
    return this.queue.some((read) => read.round === null);
  }

  /** How many reads are queued. */
  pendingCount(): number {
    return this.queue.length;
  }

  /** Starts a round for every read waiting for one, acknowledged by `self`; returns its context. */
  startRound(self: NodeId): string {
    const seq = this.nextSeq++;
    const round: Round = { seq, context: `read:${this.term}:${seq}`, acks: new Set([self]) };
    this.rounds.push(round);
    for (const read of this.queue) if (read.round === null) read.round = seq;
    return round.context;
  }

  /** The context of the newest round in flight, or '' (regular heartbeats repeat it). */
  lastContext(): string {
    return this.rounds[this.rounds.length - 1]?.context ?? '';
  }

  /** Records that `from` echoed `context`; returns the round's acknowledgements, or null if unknown. */
  recvAck(from: NodeId, context: string): ReadonlySet<NodeId> | null {
    const round = this.rounds.find((r) => r.context === context);
    if (round === undefined) return null;
    round.acks.add(from);
    return round.acks;
  }

  /** The context of the newest round whose acknowledgements satisfy `isQuorum`, or null. */
  newestRoundWith(isQuorum: (acks: ReadonlySet<NodeId>) => boolean): string | null {
    for (let i = this.rounds.length - 1; i >= 0; i--) {
      const round = this.rounds[i] as Round;
      if (isQuorum(round.acks)) return round.context;
    }
    return null;
  }

  /** Confirms the round with `context` and every earlier one; returns their reads, oldest first. */
  confirm(context: string): ConfirmedRead[] {
    const round = this.rounds.find((r) => r.context === context);
    if (round === undefined) return [];
    const done = this.queue.filter((read) => read.round !== null && read.round <= round.seq);
    this.queue = this.queue.filter((read) => read.round === null || read.round > round.seq);
    this.rounds = this.rounds.filter((r) => r.seq > round.seq);
    return done.map(({ request, index }) => ({ request, index }));
  }
}
