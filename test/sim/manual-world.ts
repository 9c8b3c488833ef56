/**
 * A virtual world for the production driver (src/server/driver/world.ts): a clock that moves
 * only when told, a scheduler whose timers fire in virtual time, and `settle()`, which runs
 * queued immediates and drains promise jobs until nothing is left. Storage completions (the
 * simulated disk resolves at once) are promise jobs, so one `settle()` runs a whole Ready turn.
 * Everything runs in one deterministic order: timers by (due time, creation order), immediates
 * first in, first out.
 */
import type { Cancellable, Clock, DriverWorld, Scheduler } from '../../src/server/driver/world.js';

interface Timer {
  readonly seq: number;
  dueMs: number;
  readonly intervalMs: number | null;
  readonly fn: () => void;
  cancelled: boolean;
}

/** Rounds of "run immediates, drain jobs" after which `settle` reports a livelock. */
const settleRoundsMax = 100_000;

/** Lets every queued promise job run (a real macrotask: the host's, never the driver's). */
const drainJobs = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Immediates and `settle()`, shared by the worlds of both simulator front ends (this one, with
 * its own timers in ms, and queue-world.ts, on the core simulator's event queue in µs).
 */
export abstract class SettlingWorld {
  private immediates: (() => void)[] = [];
  /** How many incarnations were handed out (each driver start draws a new one). */
  private incarnations = 0;

  /** Queues `fn` to run at the next `settle` round, first in, first out. */
  protected queueImmediate(fn: () => void): void {
    this.immediates.push(fn);
  }

  /** A fresh incarnation id: never repeated within this world. */
  protected nextIncarnation(): string {
    this.incarnations += 1;
    return `sim${this.incarnations}`;
  }

  /** Runs queued immediates and promise jobs until none are left. */
  async settle(): Promise<void> {
    for (let round = 0; ; round++) {
      if (round >= settleRoundsMax) throw new Error(`settle: still busy after ${settleRoundsMax} rounds (livelock?)`);
      await drainJobs();
      if (this.immediates.length === 0) {
        await drainJobs();
        if (this.immediates.length === 0) return;
      }
      const batch = this.immediates;
      this.immediates = [];
      for (const fn of batch) fn();
    }
  }
}

/** Virtual time and scheduling for one or more drivers. */
export class ManualWorld extends SettlingWorld {
  private now: number;
  private seq = 0;
  private timers: Timer[] = [];

  constructor(startMs = 1_700_000_000_000) {
    super();
    this.now = startMs;
  }

  readonly clock: Clock = { nowMs: () => this.now, monotonicMs: () => this.now };

  readonly scheduler: Scheduler = {
    every: (intervalMs, fn) => this.addTimer(intervalMs, intervalMs, fn),
    immediate: (fn) => this.queueImmediate(fn),
    after: (delayMs, fn) => this.addTimer(delayMs, null, fn),
  };

  /** A driver's view of this world, with its own seed and a fresh incarnation id. */
  worldFor(seed: number, clock: Clock = this.clock): DriverWorld {
    return { clock, scheduler: this.scheduler, seed, incarnation: this.nextIncarnation() };
  }

  /** The virtual time in ms. */
  get nowMs(): number {
    return this.now;
  }

  /** Moves virtual time forward by `ms`, firing every timer due on the way, settling after each. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    await this.settle();
    for (;;) {
      const next = this.nextTimer();
      if (next === null || next.dueMs > end) break;
      this.now = Math.max(this.now, next.dueMs);
      if (next.intervalMs === null) next.cancelled = true;
      else next.dueMs += next.intervalMs;
      next.fn();
      await this.settle();
    }
    this.now = end;
    this.timers = this.timers.filter((t) => !t.cancelled);
  }

  private nextTimer(): Timer | null {
    let best: Timer | null = null;
    for (const t of this.timers) {
      if (t.cancelled) continue;
      if (best === null || t.dueMs < best.dueMs || (t.dueMs === best.dueMs && t.seq < best.seq)) best = t;
    }
    return best;
  }

  private addTimer(delayMs: number, intervalMs: number | null, fn: () => void): Cancellable {
    const timer: Timer = { seq: this.seq++, dueMs: this.now + Math.max(1, delayMs), intervalMs, fn, cancelled: false };
    this.timers.push(timer);
    return { cancel: () => (timer.cancelled = true) };
  }
}
