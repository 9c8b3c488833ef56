/**
 * The linearizability search for one key: Wing and Gong's algorithm with Lowe's improvements
 * ("Testing for linearizability", Lowe 2017), as in Porcupine and Knossos.
 *
 * - Wing and Gong: keep the call and return events in one list sorted by time. An operation
 *   whose call comes before the first return still in the list may be linearized next: take its
 *   call and return out of the list, go on, and backtrack when the model refuses every candidate.
 * - Lowe's just-in-time linearization: only calls before the FIRST return are candidates, so the
 *   operation of that return is linearized before the search moves past it.
 * - Lowe's cache of configurations, extended to dominated configurations (`config-cache.ts`).
 * - Indeterminate operations have no return event. They are grouped into classes of identical
 *   effect (`IndeterminateClass`) and a class offers only its earliest-called unused operation,
 *   once that call is before the first return.
 * - Forced observations: a candidate get (or not-swapped cas) that is legal now is linearized at
 *   once, without trying the other candidates (`legalObservation`).
 *
 * Time ties: events are sorted by time with calls BEFORE returns at equal times. So operation A
 * precedes operation B in real time only if A.ret < B.call; when A.ret === B.call the two count as
 * concurrent. This is the conservative choice (also Porcupine's): clock granularity can never make
 * the checker reject a linearizable history.
 *
 * Candidates are tried definite operations first, then classes: configurations that spent fewer
 * indeterminate operations come first and dominate the ones found later. The search is iterative
 * (no recursion depth limit) and stops once the cache holds more than `statesMax` configurations.
 */
import { clearBit, makeBitset, mix32, setBit } from './bitset.js';
import { ConfigCache } from './config-cache.js';
import { describeValue } from './describe.js';
import type { HistoryOp } from './history.js';
import type { KeyOp, KeyProblem } from './prepare.js';
import { absent, illegal, step } from './register-model.js';

/** How far the search got before it failed: the configuration with the most definite operations linearized. */
export interface SearchFrontier {
  /** How many definite operations were linearized. */
  readonly linearizedCount: number;
  /** The last operations of that partial linearization, oldest first (at most `frontierTailMax`). */
  readonly tail: readonly HistoryOp[];
  /** The register value after them, as text. */
  readonly valueText: string;
  /** The pending operation whose return no candidate could get past. */
  readonly blocking: HistoryOp | null;
}

/** The outcome of the search for one key. */
export type SearchOutcome =
  | {
      readonly verdict: 'linearizable';
      readonly statesExplored: number;
      /** A witness: the operations in linearization order. Indeterminate operations left out did not take effect. */
      readonly order: readonly HistoryOp[];
    }
  | { readonly verdict: 'not-linearizable'; readonly statesExplored: number; readonly frontier: SearchFrontier }
  | { readonly verdict: 'unknown'; readonly statesExplored: number };

/** `Frame.nextClass` of a frame that has not yet looked for a forced move. */
const unscanned = -2;

/** How many operations a frontier's tail keeps, to keep explanations short. */
const frontierTailMax = 8;

/** A call or return event of a definite operation, in a doubly linked list sorted by time. */
interface Entry {
  /** Index into `KeyProblem.definite`; -1 for the list head. */
  readonly opIndex: number;
  /** True for a call event, false for a return event. */
  readonly isCall: boolean;
  /** When the event happened. */
  readonly time: number;
  prev: Entry | null;
  next: Entry | null;
  /** For a call: its return event. */
  match: Entry | null;
}

/** One level of the search: how it was entered, and where its candidate scan stands. */
interface Frame {
  /** The call event of the definite operation linearized to enter this frame, or null. */
  readonly entry: Entry | null;
  /** The indeterminate class used to enter this frame, or -1. Root: `entry` null and `classIndex` -1. */
  readonly classIndex: number;
  /** The operation linearized to enter this frame; null for the root. */
  readonly op: KeyOp | null;
  /** The model state before that operation, restored on backtrack. */
  readonly stateBefore: number;
  /** Pass 1: the next event to consider; candidates are the calls before the first return. */
  cursor: Entry | null;
  /** Pass 2: the next class to consider; -1 while pass 1 is running, `unscanned` before the frame looked for a forced move. */
  nextClass: number;
  /** The time of the first return event, found when pass 1 ends. Classes whose next call is later must wait. */
  limitTime: number;
}

/** Searches for a linearization of one key's operations, exploring at most `statesMax` configurations. */
export function searchKey(problem: KeyProblem, statesMax: number): SearchOutcome {
  return new Search(problem).run(statesMax);
}

/** The mutable state of one search. Every change made going forward is undone by `backtrack`. */
class Search {
  private readonly head: Entry;
  private readonly definiteBits: Uint32Array;
  /** How many operations of each class are used. Invariant: a class uses a prefix of its ops. */
  private readonly used: Uint32Array;
  private readonly opHashes: readonly number[];
  private readonly cache = new ConfigCache();
  private readonly frames: Frame[];
  /** The model state after the operations in `frames`. */
  private state: number = absent;
  /** XOR of `opHashes` of the linearized definite operations. */
  private definiteHash = 0;
  /** Definite operations not yet linearized. The search succeeds when it reaches 0. */
  private remaining: number;
  private frontier: SearchFrontier;

  constructor(private readonly problem: KeyProblem) {
    this.head = buildEventList(problem.definite);
    this.definiteBits = makeBitset(problem.definite.length);
    this.used = new Uint32Array(problem.classes.length);
    this.opHashes = problem.definite.map((_, i) => mix32(i));
    this.remaining = problem.definite.length;
    this.frames = [this.frame(null, -1, null)];
    this.cache.add(this.hash(absent), absent, this.definiteBits, this.used);
    this.frontier = this.describeFrontier();
  }

  run(statesMax: number): SearchOutcome {
    while (this.remaining > 0) {
      if (this.cache.size > statesMax) return { verdict: 'unknown', statesExplored: this.cache.size };
      if (!this.advance(this.frames[this.frames.length - 1]!) && !this.backtrack()) {
        return { verdict: 'not-linearizable', statesExplored: this.cache.size, frontier: this.frontier };
      }
    }
    return { verdict: 'linearizable', statesExplored: this.cache.size, order: this.frames.slice(1).map((f) => f.op!.source) };
  }

  /** Tries the frame's remaining candidates in order; true once one is linearized, false when none is left. */
  private advance(frame: Frame): boolean {
    if (frame.nextClass === unscanned) {
      frame.nextClass = -1;
      const observation = this.legalObservation();
      if (observation !== null) {
        // Forced move: no other candidate needs trying, whether or not this one works out.
        frame.cursor = null;
        frame.limitTime = -Infinity;
        frame.nextClass = this.problem.classes.length;
        return this.tryDefinite(observation);
      }
    }
    while (frame.nextClass < 0) {
      const entry = frame.cursor;
      if (entry === null || !entry.isCall) {
        frame.limitTime = entry === null ? Infinity : entry.time;
        frame.nextClass = 0;
        break;
      }
      frame.cursor = entry.next;
      if (this.tryDefinite(entry)) return true;
    }
    while (frame.nextClass < this.problem.classes.length) {
      if (this.tryClass(frame.nextClass++, frame.limitTime)) return true;
    }
    return false;
  }

  /**
   * The first candidate that observes without changing anything (a get, or a cas that did not
   * swap) and is legal in the current state, if any. Linearizing it right away loses nothing:
   * given any linearization of the rest, moving it to the front keeps every state the same, and
   * keeps real time, because it was called before the first pending return. So it is the only
   * child the frame needs (a partial-order reduction on top of Lowe's algorithm).
   */
  private legalObservation(): Entry | null {
    for (let entry = this.head.next; entry !== null && entry.isCall; entry = entry.next) {
      const effect = this.problem.definite[entry.opIndex]!.effect;
      if ((effect.type === 'read' || effect.type === 'cas-not-swapped') && step(this.state, effect) !== illegal) return entry;
    }
    return null;
  }

  private tryDefinite(entry: Entry): boolean {
    const index = entry.opIndex;
    const op = this.problem.definite[index]!;
    const next = step(this.state, op.effect);
    if (next === illegal) return false;
    setBit(this.definiteBits, index);
    this.definiteHash ^= this.opHashes[index]!;
    if (!this.cache.add(this.hash(next), next, this.definiteBits, this.used)) {
      clearBit(this.definiteBits, index);
      this.definiteHash ^= this.opHashes[index]!;
      return false;
    }
    lift(entry);
    this.frames.push(this.frame(entry, -1, op));
    this.state = next;
    this.remaining--;
    if (this.problem.definite.length - this.remaining > this.frontier.linearizedCount) this.frontier = this.describeFrontier();
    return true;
  }

  private tryClass(classIndex: number, limitTime: number): boolean {
    const { effect, ops } = this.problem.classes[classIndex]!;
    const op = ops[this.used[classIndex]!];
    if (op === undefined || op.call > limitTime) return false;
    const next = step(this.state, effect);
    if (next === illegal) return false;
    this.used[classIndex]!++;
    if (!this.cache.add(this.hash(next), next, this.definiteBits, this.used)) {
      this.used[classIndex]!--;
      return false;
    }
    this.frames.push(this.frame(null, classIndex, op));
    this.state = next;
    return true;
  }

  /** Undoes the last linearization; false if there is none (the root ran out of candidates). */
  private backtrack(): boolean {
    const frame = this.frames.pop()!;
    if (frame.entry !== null) {
      const index = frame.entry.opIndex;
      unlift(frame.entry);
      clearBit(this.definiteBits, index);
      this.definiteHash ^= this.opHashes[index]!;
      this.remaining++;
    } else if (frame.classIndex >= 0) {
      this.used[frame.classIndex]!--;
    } else {
      return false;
    }
    this.state = frame.stateBefore;
    return true;
  }

  private hash(state: number): number {
    return (this.definiteHash ^ mix32(0x80000000 + state)) >>> 0;
  }

  private frame(entry: Entry | null, classIndex: number, op: KeyOp | null): Frame {
    return { entry, classIndex, op, stateBefore: this.state, cursor: this.head.next, nextClass: unscanned, limitTime: Infinity };
  }

  /** The current value when it is `junk`: the value written by the last operation that changed it. */
  private describeJunk(): string {
    let after = this.state;
    for (let i = this.frames.length - 1; i > 0; i--) {
      const { op, stateBefore } = this.frames[i]!;
      if (stateBefore !== after) {
        const source = op!.source;
        return `${describeValue(source.kind === 'cas' ? source.newValue : source.value)} (which no operation reads)`;
      }
      after = stateBefore;
    }
    return 'a value that no operation reads';
  }

  private describeFrontier(): SearchFrontier {
    let firstReturn = this.head.next;
    while (firstReturn !== null && firstReturn.isCall) firstReturn = firstReturn.next;
    const { definite, junk } = this.problem;
    return {
      linearizedCount: definite.length - this.remaining,
      tail: this.frames.slice(Math.max(1, this.frames.length - frontierTailMax)).map((f) => f.op!.source),
      valueText: this.state === junk ? this.describeJunk() : describeValue(this.problem.values[this.state]),
      blocking: firstReturn === null ? null : definite[firstReturn.opIndex]!.source,
    };
  }
}

/**
 * Builds the event list of the definite operations: a head sentinel, then every call and return
 * sorted by time, with calls before returns at equal times (see the file comment), then by id.
 */
function buildEventList(ops: readonly KeyOp[]): Entry {
  const events: Entry[] = [];
  ops.forEach((op, opIndex) => {
    const call: Entry = { opIndex, isCall: true, time: op.call, prev: null, next: null, match: null };
    call.match = { opIndex, isCall: false, time: op.ret, prev: null, next: null, match: null };
    events.push(call, call.match);
  });
  events.sort((a, b) => a.time - b.time || Number(b.isCall) - Number(a.isCall) || ops[a.opIndex]!.source.id - ops[b.opIndex]!.source.id);
  const head: Entry = { opIndex: -1, isCall: false, time: -Infinity, prev: null, next: null, match: null };
  let last = head;
  for (const entry of events) {
    last.next = entry;
    entry.prev = last;
    last = entry;
  }
  return head;
}

/**
 * Takes a call event and its return event out of the list. The removed entries keep their own
 * links, so `unlift` can put them back; lifts and unlifts must be strictly LIFO (dancing links).
 */
function lift(call: Entry): void {
  remove(call);
  remove(call.match!);
}

/** Undoes `lift(call)`: puts the return event back, then the call event. */
function unlift(call: Entry): void {
  restore(call.match!);
  restore(call);
}

function remove(entry: Entry): void {
  entry.prev!.next = entry.next;
  if (entry.next !== null) entry.next.prev = entry.prev;
}

function restore(entry: Entry): void {
  entry.prev!.next = entry;
  if (entry.next !== null) entry.next.prev = entry;
}
