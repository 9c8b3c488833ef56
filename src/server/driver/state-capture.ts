/**
 * Consistent captures of the state machine (`StateCapture`, for snapshots to followers and
 * backups), and the queue of work that must run between two turns of the Ready loop: only there
 * is every apply batch written, so the in-memory state machine and the stored one are at the same
 * applied index and the counts and term taken from memory describe exactly what the reader shows.
 */
import type { KvStateMachine } from '../../kv/index.js';
import type { Term } from '../../util/index.js';
import type { StateCapture } from './types.js';
import type { DriverStorage } from './world.js';

/** Work waiting for a moment between Ready turns. */
export class QuiescentTasks {
  private tasks: (() => void)[] = [];

  /** Queues `task` for the next quiescent moment. */
  push(task: () => void): void {
    this.tasks.push(task);
  }

  /** Runs (and forgets) every queued task. Call only between Ready turns. */
  run(): void {
    const tasks = this.tasks;
    if (tasks.length === 0) return;
    this.tasks = [];
    for (const task of tasks) task();
  }
}

/**
 * Captures `kv` and the stored state it must agree with. Call between Ready turns only (a
 * `QuiescentTasks` task). Writes go on meanwhile: the reader is a point-in-time LevelDB snapshot.
 */
export function captureNow(kv: KvStateMachine, storage: DriverStorage): Promise<StateCapture> {
  const applied = kv.appliedIndex;
  const keyCount = kv.keyCount;
  const sessionCount = kv.sessionRecordCount(); // what the stored session keyspace holds
  let term: Term;
  try {
    term = storage.term(applied);
  } catch (e) {
    return Promise.reject(e instanceof Error ? e : new Error(String(e)));
  }
  // kvSnapshotIterator takes the storage snapshot synchronously, before its first await.
  return storage.kvSnapshotIterator().then((reader) => {
    if (reader.appliedIndex !== applied) {
      void reader.close();
      throw new Error(`state capture raced with apply: stored ${reader.appliedIndex}, in memory ${applied}`);
    }
    return { reader, term, keyCount, sessionCount };
  });
}
