/**
 * Linearizable reads in flight on this node (Raft thesis §6.4, ReadIndex): a read waits first for
 * its read index to be confirmed (a `ReadState` with its context), then for the state machine to
 * apply up to that index. Reads are failed when the leader changes before confirmation, and when
 * they expire.
 */
import type { ReadState } from '../../raft/index.js';
import { UnavailableError } from '../../util/index.js';
import type { LogIndex } from '../../util/index.js';
import { splitBy } from './split.js';

/** A linearizable read waiting for its read index, then for apply to reach it. */
interface PendingRead {
  readonly resolve: () => void;
  readonly reject: (e: Error) => void;
  /** Clock time after which the read is failed (its ReadIndex may have been lost). */
  readonly expiresAtMs: number;
  /** Clock time the read was issued at. */
  readonly issuedAtMs: number;
}

/** Pending and confirmed reads. */
export class ReadTracker {
  /** Reads waiting for their read index, by context. */
  private readonly pending = new Map<string, PendingRead>();
  /** Reads whose read index is confirmed, waiting for apply to reach it. */
  private confirmed: { index: LogIndex; read: PendingRead }[] = [];

  /** `onReleased` hears of every read answered: issued at `issuedAtMs`, confirmed at `index`. */
  constructor(private readonly onReleased: (issuedAtMs: number, index: LogIndex) => void = () => {}) {}

  /** Reads waiting, confirmed or not (what `readsPendingMax` bounds). */
  get size(): number {
    return this.pending.size + this.confirmed.length;
  }

  /** Registers a read with the `context` handed to the core's `readIndex`. */
  begin(context: string, issuedAtMs: number, expiresAtMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.pending.set(context, { resolve, reject, expiresAtMs, issuedAtMs });
    });
  }

  /** A read index was confirmed; answers the read at once if `applied` is already there. */
  confirm(rs: ReadState, applied: LogIndex): void {
    const read = this.pending.get(rs.context);
    if (read === undefined) return;
    this.pending.delete(rs.context);
    if (applied >= rs.index) this.answer(read, rs.index);
    else this.confirmed.push({ index: rs.index, read });
  }

  /** Answers the confirmed reads whose index is at or below `applied`. */
  release(applied: LogIndex): void {
    if (this.confirmed.length === 0) return;
    const { picked, rest } = splitBy(this.confirmed, (c) => c.index <= applied);
    this.confirmed = rest;
    for (const c of picked) this.answer(c.read, c.index);
  }

  private answer(read: PendingRead, index: LogIndex): void {
    read.resolve();
    this.onReleased(read.issuedAtMs, index);
  }

  /**
   * Fails the reads whose time is up, confirmed or not: a confirmed read waits for entries that a
   * partition may keep away indefinitely, and its slot counts against `readsPendingMax`.
   */
  expire(nowMs: number): void {
    for (const [context, read] of this.pending) {
      if (read.expiresAtMs <= nowMs) {
        this.pending.delete(context);
        read.reject(new UnavailableError('the read index was not confirmed in time (no quorum reachable?)'));
      }
    }
    const { picked, rest } = splitBy(this.confirmed, (c) => c.read.expiresAtMs <= nowMs);
    this.confirmed = rest;
    for (const c of picked) c.read.reject(new UnavailableError(`the read index ${c.index} was confirmed but not applied in time (is this node cut off from the leader?)`));
  }

  /** Fails every read. */
  failAll(e: Error): void {
    for (const r of this.pending.values()) r.reject(e);
    this.pending.clear();
    for (const c of this.confirmed) c.read.reject(e);
    this.confirmed = [];
  }
}
