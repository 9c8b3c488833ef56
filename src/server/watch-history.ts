/**
 * The bounded history of recent watch events, oldest first, so that a watch can start in the past.
 * A deque (denque: O(1) push and shift, O(1) access by position) rather than an array: with an
 * array, dropping the oldest revision (`shift`) moves every kept element, which made each write
 * cost O(history) once the history was full (issue 12: 20 % of CPU at 100,000 kept events).
 * Revisions only grow, so the first revision at or after a start point is found by bisection.
 */
import Denque from 'denque';
import { assert } from '../util/index.js';
import type { Revision } from '../util/index.js';

/** The events of one revision. */
export interface HistoryEntry<E> {
  readonly revision: Revision;
  readonly events: readonly E[];
}

/** Recent events by revision, holding at most `eventsMax` events (but always the newest revision). */
export class WatchHistory<E> {
  private readonly entries = new Denque<HistoryEntry<E>>();
  private eventCount = 0;

  constructor(private readonly eventsMax: number) {
    assert(eventsMax > 0, 'watch history: eventsMax must be positive');
  }

  /** Number of events kept. */
  get events(): number {
    return this.eventCount;
  }

  /** Number of revisions kept. */
  get revisions(): number {
    return this.entries.length;
  }

  /** The oldest revision kept, or null when empty. */
  oldestRevision(): Revision | null {
    return this.entries.peekFront()?.revision ?? null;
  }

  /** Appends the events of a revision newer than every kept one, then drops the oldest past the limit. */
  push(rev: Revision, events: readonly E[]): void {
    const newest = this.entries.peekBack();
    assert(newest === undefined || rev > newest.revision, `watch history: revision ${rev} after ${newest?.revision}`);
    assert(events.length > 0, 'watch history: a revision with no events');
    this.entries.push({ revision: rev, events });
    this.eventCount += events.length;
    while (this.eventCount > this.eventsMax && this.entries.length > 1) {
      const dropped = this.entries.shift();
      assert(dropped !== undefined, 'watch history: shift of a non-empty deque');
      this.eventCount -= dropped.events.length;
    }
    assert(this.eventCount > 0 && (this.eventCount <= this.eventsMax || this.entries.length === 1), 'watch history: bound');
  }

  /** The kept revisions at or after `rev`, oldest first. */
  *since(rev: number): Generator<HistoryEntry<E>> {
    let lo = 0;
    let hi = this.entries.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const entry = this.entries.peekAt(mid);
      assert(entry !== undefined, 'watch history: index within length');
      if (entry.revision < rev) lo = mid + 1;
      else hi = mid;
    }
    for (let i = lo; i < this.entries.length; i++) {
      const entry = this.entries.peekAt(i);
      assert(entry !== undefined, 'watch history: index within length');
      yield entry;
    }
  }

  /** Forgets everything (a snapshot replaced the state). */
  clear(): void {
    this.entries.clear();
    this.eventCount = 0;
  }
}
