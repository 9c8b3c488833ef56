/**
 * The client's side of exactly-once writes (Raft thesis §6.3). Every write carries the client id,
 * a sequence number (from 1, one per write, the SAME on every retry of that write) and `ackSeq`:
 * the highest seq such that the client has received the final answer of every seq up to it, so
 * the server may forget those answers.
 *
 * The server keeps at most `sessionResponsesMax` (1024) answers per client: if more writes were
 * outstanding above `ackSeq`, the answer of an old in-flight write could be dropped and its
 * retry refused as stale. The window keeps `seq - ackSeq` at most `windowMax` by making new
 * writes wait.
 */

/** Exactly-once bookkeeping for one client instance. */
export class WriteSession {
  /** The next seq to hand out. */
  private nextSeq = 1;
  /** Invariant: every seq <= ackSeq is complete, and ackSeq + 1 is not. */
  private acked = 0;
  /** Completed seqs above `acked`. */
  private readonly completed = new Set<number>();
  /** Writes waiting for room in the window. */
  private readonly waiting: (() => void)[] = [];

  constructor(
    /** The client id sent with every write. */
    readonly clientId: string,
    /** Most seqs outstanding above `ackSeq`. */
    private readonly windowMax: number,
  ) {}

  /** The `ack_seq` to send now. */
  get ackSeq(): number {
    return this.acked;
  }

  /** Seqs handed out and not yet complete or acknowledged. */
  get outstanding(): number {
    return this.nextSeq - 1 - this.acked;
  }

  /** A new seq, once the window has room. */
  async begin(): Promise<number> {
    while (this.outstanding >= this.windowMax) await new Promise<void>((resolve) => this.waiting.push(resolve));
    const seq = this.nextSeq;
    this.nextSeq += 1;
    return seq;
  }

  /**
   * The write `seq` got its final answer (success or a final error: it will not be sent again).
   * Advances `ackSeq` over every contiguous completed seq.
   */
  complete(seq: number): void {
    if (seq <= this.acked || seq >= this.nextSeq) return;
    this.completed.add(seq);
    while (this.completed.delete(this.acked + 1)) this.acked += 1;
    while (this.waiting.length > 0 && this.outstanding < this.windowMax) this.waiting.shift()?.();
  }
}
