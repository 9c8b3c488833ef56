/**
 * Starting a linearizable read (Raft thesis §6.4, ReadIndex): admission (bounded pending reads,
 * `readsPendingMax`), a context unique to this process incarnation, the core's `readIndex`, and
 * the wait in the read tracker until this node has applied up to the confirmed index.
 */
import type { RawNode } from '../../raft/index.js';
import { isErrorCode, OverloadedError, UnavailableError } from '../../util/index.js';
import type { NodeMetrics } from '../metrics.js';
import type { NodeOptions } from '../options.js';
import type { ReadTracker } from './read-tracker.js';
import type { DriverWorld } from './world.js';

/** Issues ReadIndex requests and tracks them. */
export class LinearizableReads {
  private counter = 0;

  constructor(
    private readonly deps: {
      readonly options: NodeOptions;
      readonly metrics: NodeMetrics;
      readonly world: DriverWorld;
      readonly raw: RawNode;
      readonly reads: ReadTracker;
      readonly kick: () => void;
    },
  ) {}

  /** Resolves once local state holds every commit made before the call (see `RaftDriver.linearizableRead`). */
  begin(timeoutMs: number): Promise<void> {
    const { options, metrics, world, raw, reads } = this.deps;
    const { limits } = options;
    if (reads.size >= limits.readsPendingMax) {
      metrics.shed.inc({ queue: 'reads' });
      throw new OverloadedError(`too many reads pending (readsPendingMax ${limits.readsPendingMax})`, 50);
    }
    this.counter += 1;
    // Unique per process incarnation: the counter restarts at every start, and a leader's late
    // answer to a read of an earlier incarnation must not confirm a new read at an old index.
    const context = `${options.id}/${world.incarnation}/${this.counter}`;
    try {
      raw.readIndex(context);
    } catch (e) {
      if (isErrorCode(e, 'PROPOSAL_DROPPED')) throw new UnavailableError('no leader is known: cannot confirm a linearizable read');
      throw e;
    }
    const now = world.clock.monotonicMs();
    const done = reads.begin(context, now, now + timeoutMs);
    metrics.readsPending.set(reads.size);
    this.deps.kick();
    return done;
  }
}
