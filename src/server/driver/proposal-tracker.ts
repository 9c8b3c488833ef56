/**
 * The writes (and membership changes) this node proposed as leader, waiting for their entries to
 * be applied. A write's outcome is known exactly when it can be (design-notes.md, "A write's
 * outcome is known exactly when it can be"): applied at its (index, term): its result; another
 * entry applied at its index: certainly not applied; leadership lost or a snapshot replacing the
 * log while it is in flight: unknown.
 */
import type { WriteResult } from '../../kv/index.js';
import type { Entry } from '../../raft/index.js';
import { assert, UnavailableError } from '../../util/index.js';
import type { LogIndex, OutcomeUnknownError, Term } from '../../util/index.js';
import { errorOfResult } from './results.js';

/** A write waiting for its entry to be applied. */
interface PendingWrite {
  /** The term the entry was proposed in: a different entry at the same index means "not applied". */
  readonly term: Term;
  /** The encoded size of its entry (what `proposalBytesPendingMax` bounds). */
  readonly bytes: number;
  readonly resolve: (r: WriteResult) => void;
  readonly reject: (e: Error) => void;
}

/** Pending writes by log index. */
export class ProposalTracker {
  private readonly pending = new Map<LogIndex, PendingWrite>();
  private pendingBytes = 0;

  /** How many writes are waiting. */
  get size(): number {
    return this.pending.size;
  }

  /** The encoded bytes of the writes waiting. */
  get bytes(): number {
    return this.pendingBytes;
  }

  /**
   * Waits for the entry proposed at (`index`, `term`). A log index is proposed at most once per
   * term and a newer term drops every pending write first (`failAll` at leadership loss), so a
   * second write at one index is a bug: it would leave the first one's client hanging.
   */
  track(index: LogIndex, term: Term, bytes = 0): Promise<WriteResult> {
    assert(!this.pending.has(index), () => `proposal tracker: a pending write at index ${index} would be overwritten (term ${this.pending.get(index)?.term} by term ${term})`);
    assert(Number.isSafeInteger(bytes) && bytes >= 0, () => `proposal tracker: bad size ${bytes}`);
    this.pendingBytes += bytes;
    return new Promise<WriteResult>((resolve, reject) => this.pending.set(index, { term, bytes, resolve, reject }));
  }

  /**
   * Answers the write waiting at `entry.index`, if any. `result` is null for an entry no client
   * can wait on (a leader's no-op), which also means the write there was not applied.
   */
  settle(entry: Entry, result: WriteResult | null): void {
    const pending = this.pending.get(entry.index);
    if (pending === undefined) return;
    this.remove(entry.index, pending);
    if (pending.term !== entry.term || result === null) {
      pending.reject(new UnavailableError('the write was not applied: another entry was committed at its log position'));
      return;
    }
    if (result.type === 'error') {
      pending.reject(errorOfResult(result));
      return;
    }
    pending.resolve(result);
  }

  /** Fails every pending write with `e` (leadership lost, shutdown: the outcome is unknown). */
  failAll(e: OutcomeUnknownError): void {
    for (const w of this.pending.values()) w.reject(e);
    this.pending.clear();
    this.pendingBytes = 0;
  }

  /** Fails the writes at or below `index`: a snapshot up to there replaced their entries. */
  failUpTo(index: LogIndex, e: OutcomeUnknownError): void {
    for (const [i, w] of this.pending) {
      if (i <= index) {
        this.remove(i, w);
        w.reject(e);
      }
    }
  }

  private remove(index: LogIndex, w: PendingWrite): void {
    this.pending.delete(index);
    this.pendingBytes -= w.bytes;
    assert(this.pendingBytes >= 0, () => `proposal tracker: pending bytes went negative (${this.pendingBytes})`);
  }
}
