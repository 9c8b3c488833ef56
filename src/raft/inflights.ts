/**
 * The pipelining window of one follower (after etcd-io/raft `tracker/inflights.go`): the last
 * index of every append message sent but not yet acknowledged. A leader in the `replicate` state
 * stops sending appends once the window is full (Raft thesis §10.2.2: pipelining with a bound).
 */
import { assert } from '../util/index.js';
import type { LogIndex } from '../util/index.js';

/** The append messages in flight to one follower, oldest first. */
export class Inflights {
  /** Last index of each in-flight append, strictly increasing. Invariant: length <= countMax. */
  private indexes: LogIndex[] = [];

  /** @param countMax the most append messages in flight at once (`inflightAppendsMax`). */
  constructor(readonly countMax: number) {
    assert(Number.isSafeInteger(countMax) && countMax > 0, `inflightAppendsMax must be a positive integer, got ${countMax}`);
  }

  /** Records an append whose last entry is `index`. The window must not be full. */
  add(index: LogIndex): void {
    assert(!this.full(), 'Inflights.add on a full window');
    const last = this.indexes[this.indexes.length - 1];
    assert(last === undefined || last < index, () => `inflight index ${index} not after ${String(last)}`);
    this.indexes.push(index);
  }

  /** Frees every append whose last index is at or below `index` (they were acknowledged). */
  freeLE(index: LogIndex): void {
    let n = 0;
    while (n < this.indexes.length && (this.indexes[n] as LogIndex) <= index) n++;
    if (n > 0) this.indexes = this.indexes.slice(n);
  }

  /** Frees the oldest append, so that a lost acknowledgement cannot block the window forever. */
  freeFirstOne(): void {
    this.indexes = this.indexes.slice(1);
  }

  /** True when no more appends may be sent. */
  full(): boolean {
    return this.indexes.length >= this.countMax;
  }

  /** How many appends are in flight. */
  count(): number {
    return this.indexes.length;
  }

  /** Forgets every in-flight append. */
  reset(): void {
    this.indexes = [];
  }
}
