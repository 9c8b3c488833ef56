/**
 * The simulator's event queue: a binary min-heap ordered by (time, sequence number). Two events
 * at the same virtual time run in the order they were scheduled, so one seed gives one run, event
 * for event. Time is virtual and counted in integer microseconds; nothing here reads a clock.
 */
import { assert } from '../../src/util/index.js';

/** One scheduled event. `label` feeds the run digest and the verbose trace. */
export interface SimEvent {
  /** When the event runs, in virtual microseconds. */
  readonly timeUs: number;
  /** Tie-breaker: the order in which events were scheduled. */
  readonly seq: number;
  /** A short deterministic description (for the digest and the trace). */
  readonly label: string;
  /** What the event does. */
  readonly run: () => void;
}

/** Microseconds in one millisecond: the simulator's time unit is the microsecond. */
export const usPerMs = 1000;

/** A deterministic priority queue of events plus the virtual clock. */
export class EventQueue {
  private readonly heap: SimEvent[] = [];
  private seqNext = 0;
  /** The virtual time of the event being run (or the last one run). */
  private nowUs = 0;

  /** The current virtual time in microseconds. */
  now(): number {
    return this.nowUs;
  }

  /** Number of events waiting. */
  get size(): number {
    return this.heap.length;
  }

  /** Schedules `run` after `delayUs` (>= 0) virtual microseconds. */
  schedule(delayUs: number, label: string, run: () => void): SimEvent {
    assert(Number.isInteger(delayUs) && delayUs >= 0, () => `event delay must be a non-negative integer, got ${delayUs}`);
    const event: SimEvent = { timeUs: this.nowUs + delayUs, seq: this.seqNext++, label, run };
    this.push(event);
    return event;
  }

  /** Removes and returns the earliest event, advancing the clock to its time; undefined when empty. */
  pop(): SimEvent | undefined {
    const top = this.heap[0];
    if (top === undefined) return undefined;
    const last = this.heap.pop() as SimEvent;
    if (this.heap.length > 0) {
      this.heap[0] = last;
      this.siftDown(0);
    }
    // Invariant: virtual time never goes backwards.
    assert(top.timeUs >= this.nowUs, () => `virtual time went backwards: ${top.timeUs} < ${this.nowUs}`);
    this.nowUs = top.timeUs;
    return top;
  }

  /** The earliest event's time without removing it, or undefined when empty. */
  peekTimeUs(): number | undefined {
    return this.heap[0]?.timeUs;
  }

  private push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = heap[parent] as SimEvent;
      if (!before(event, p)) break;
      heap[i] = p;
      i = parent;
    }
    heap[i] = event;
  }

  private siftDown(start: number): void {
    const heap = this.heap;
    const n = heap.length;
    const item = heap[start] as SimEvent;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && before(heap[right] as SimEvent, heap[left] as SimEvent)) child = right;
      const c = heap[child] as SimEvent;
      if (!before(c, item)) break;
      heap[i] = c;
      i = child;
    }
    heap[i] = item;
  }
}

/** True if `a` runs before `b`. */
function before(a: SimEvent, b: SimEvent): boolean {
  return a.timeUs < b.timeUs || (a.timeUs === b.timeUs && a.seq < b.seq);
}
