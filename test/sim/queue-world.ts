/**
 * The production driver's world (src/server/driver/world.ts) on the core simulator's event queue:
 * every timer a driver sets is an event of the queue (in virtual µs, ordered with the network's
 * and the nemesis's events, labelled with its node so the run digest sees it), immediates run at
 * the simulator's next `settle()`, and each node's scheduler is gated by its pauses: while a node
 * is paused its ticks are lost (one fires when it resumes), and its timers and immediates wait.
 */
import type { Cancellable, Clock, DriverWorld, Scheduler } from '../../src/server/driver/world.js';
import type { EventQueue } from './event-queue.js';
import { usPerMs } from './event-queue.js';
import { SettlingWorld } from './manual-world.js';

/** A node's pause state, as its scheduler sees it. */
export interface PauseGate {
  readonly paused: boolean;
  /** Runs `fn` when the node resumes (dropped if it crashes first). */
  whenResumed(fn: () => void): void;
}

/** Virtual time and scheduling on an EventQueue. */
export class QueueWorld extends SettlingWorld {
  constructor(
    private readonly queue: EventQueue,
    private readonly epochMs = 1_700_000_000_000,
  ) {
    super();
  }

  /** Virtual wall-clock time in ms (fractional: the queue counts µs). */
  get nowMs(): number {
    return this.epochMs + this.queue.now() / usPerMs;
  }

  /** A driver's world: its clock, and a scheduler labelled `label` and gated by `gate`. */
  worldFor(label: string, seed: number, clock: Clock, gate: PauseGate): DriverWorld {
    return { clock, scheduler: this.schedulerFor(label, gate), seed, incarnation: this.nextIncarnation() };
  }

  private schedulerFor(label: string, gate: PauseGate): Scheduler {
    const queue = this.queue;
    return {
      every: (intervalMs, fn) => {
        let cancelled = false;
        let missed = false;
        const fire = (): void => {
          if (cancelled) return;
          queue.schedule(intervalMs * usPerMs, `tick ${label}`, fire);
          if (!gate.paused) {
            fn();
            return;
          }
          // A stalled timer fires once on wake-up.
          if (missed) return;
          missed = true;
          gate.whenResumed(() => {
            missed = false;
            if (!cancelled) fn();
          });
        };
        queue.schedule(intervalMs * usPerMs, `tick ${label}`, fire);
        return { cancel: () => (cancelled = true) };
      },
      after: (delayMs, fn): Cancellable => {
        let cancelled = false;
        queue.schedule(Math.max(1, delayMs) * usPerMs, `timer ${label}`, () => {
          if (cancelled) return;
          if (gate.paused) gate.whenResumed(() => !cancelled && fn());
          else fn();
        });
        return { cancel: () => (cancelled = true) };
      },
      immediate: (fn) => {
        if (gate.paused) gate.whenResumed(() => this.queueImmediate(fn));
        else this.queueImmediate(fn);
      },
    };
  }
}
