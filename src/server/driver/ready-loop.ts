/**
 * The Ready loop's scheduling: kicks are coalesced into one running loop, which handles one Ready
 * at a time (ready-step.ts) until the core has none, and runs the tasks that need a quiescent
 * moment (state-capture.ts) between turns. A failure ends the loop and goes to `onFailure`.
 */
import type { RawNode, Ready } from '../../raft/index.js';
import { QuiescentTasks } from './state-capture.js';
import type { Scheduler } from './world.js';

/** What the loop runs on. */
export interface ReadyLoopHost {
  readonly scheduler: Scheduler;
  /** The current core (rebuilt after a disk fault). */
  raw(): RawNode;
  handle(rd: Ready): Promise<void>;
  /** False once the node stopped or holds its NOSPACE alarm: no more turns. */
  running(): boolean;
  /** A turn threw (a storage failure). */
  onFailure(e: unknown): void;
}

/** One loop per driver. */
export class ReadyLoop {
  /** Work that needs the in-memory and stored state machines to agree (see `RaftDriver.captureState`). */
  private readonly quiescentTasks = new QuiescentTasks();
  private processing = false;
  private again = false;
  /** Settles when the running turn of the loop ends (see `settled`). */
  private idle: Promise<void> = Promise.resolve();
  private markIdle: () => void = () => {};

  constructor(private readonly host: ReadyLoopHost) {}

  /** Schedules a turn of the loop (coalesced with a running one). */
  kick(): void {
    if (this.processing) {
      this.again = true;
      return;
    }
    this.processing = true;
    this.idle = new Promise<void>((resolve) => (this.markIdle = resolve));
    this.host.scheduler.immediate(() => void this.loop());
  }

  /** Runs `task` at the next moment between two Ready turns (now, if the loop is not running). */
  whenQuiescent(task: () => void): void {
    this.quiescentTasks.push(task);
    if (!this.processing) this.quiescentTasks.run();
  }

  /** Resolves once the running turn (if any) ended, and runs the waiting quiescent tasks. */
  async settled(): Promise<void> {
    if (this.processing) await this.idle;
    this.quiescentTasks.run();
  }

  private async loop(): Promise<void> {
    const { host } = this;
    try {
      do {
        this.again = false;
        while (host.running() && host.raw().hasReady()) {
          await host.handle(host.raw().ready());
          this.quiescentTasks.run();
        }
      } while (this.again && host.running());
    } catch (e) {
      host.onFailure(e);
    } finally {
      this.processing = false;
      this.markIdle();
      this.quiescentTasks.run();
    }
  }
}
