/**
 * The production implementations of the driver's world (world.ts): the system clock, Node.js
 * timers, a random seed from the operating system, and snapshot staging in the data dir. The only
 * place in the driver where these are touched.
 */
import { randomBytes, randomInt } from 'node:crypto';
import type { LogIndex } from '../../util/index.js';
import { openStagedSnapshot, removeStagedSnapshots, stageSnapshot } from '../snapshot-staging.js';
import type { StagedSnapshot } from '../snapshot-staging.js';
import type { KvStateSource } from '../../storage/index.js';
import type { Cancellable, Clock, DriverWorld, LoadProbe, Scheduler, SnapshotStaging } from './world.js';

/** `Date.now`, and `performance.now` for durations. */
export const systemClock: Clock = { nowMs: () => Date.now(), monotonicMs: () => performance.now() };

/** Node.js timers. Ticks do not keep the process alive on their own once everything else stopped. */
export const systemScheduler: Scheduler = {
  every(intervalMs: number, fn: () => void): Cancellable {
    const timer = setInterval(fn, intervalMs);
    return { cancel: () => clearInterval(timer) };
  },
  immediate(fn: () => void): void {
    setImmediate(fn);
  },
  after(delayMs: number, fn: () => void): Cancellable {
    const timer = setTimeout(fn, delayMs);
    return { cancel: () => clearTimeout(timer) };
  },
};

/** How often the event-loop probe's timer runs. */
const loadProbeIntervalMs = 20;

/**
 * The event-loop delay, from a timer that should run every `loadProbeIntervalMs`: how late it ran
 * last time, or, if it is overdue now, how overdue (a long turn is running: the caller is in it).
 * The timer does not keep the process alive.
 */
export class EventLoopProbe implements LoadProbe {
  private lastRunMs = performance.now();
  private lastDelayMs = 0;
  private readonly timer = setInterval(() => {
    const now = performance.now();
    this.lastDelayMs = Math.max(0, now - this.lastRunMs - loadProbeIntervalMs);
    this.lastRunMs = now;
  }, loadProbeIntervalMs).unref();

  eventLoopDelayMs(): number {
    const overdueMs = performance.now() - this.lastRunMs - loadProbeIntervalMs;
    return Math.max(this.lastDelayMs, overdueMs);
  }

  close(): void {
    clearInterval(this.timer);
  }
}

/** The production world: system clock and timers, a fresh random seed and incarnation id, an event-loop probe. */
export function systemWorld(): DriverWorld {
  return { clock: systemClock, scheduler: systemScheduler, seed: randomInt(0x7fffffff), incarnation: randomBytes(8).toString('hex'), load: new EventLoopProbe() };
}

/** Snapshot staging in `<dataDir>/incoming-snapshots` (snapshot-staging.ts). */
export class FileSnapshotStaging implements SnapshotStaging {
  constructor(private readonly dataDir: string) {}

  stage(options: Parameters<SnapshotStaging['stage']>[0]): Promise<StagedSnapshot> {
    return stageSnapshot({ dataDir: this.dataDir, ...options });
  }

  async open(staged: StagedSnapshot): Promise<KvStateSource> {
    return (await openStagedSnapshot(staged.path, { verify: false })).source;
  }

  removeUpTo(index: LogIndex): Promise<void> {
    return removeStagedSnapshots(this.dataDir, index);
  }
}
