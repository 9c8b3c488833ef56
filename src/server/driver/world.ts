/**
 * What the driver takes from the world, as interfaces: time (`Clock`), deferred work
 * (`Scheduler`), randomness (a seed for the core's `Prng`), and storage (`DriverStorage`, the
 * durable Raft log and hard state next to the KV state store; `SnapshotStaging`, where incoming
 * snapshots wait on disk). The node passes the production implementations (system-world.ts,
 * LevelStorage, FileSnapshotStaging); a simulator passes virtual ones, so the same driver code
 * runs in both. Nothing in `driver/` or `raft-driver.ts` reads `Date.now`, sets a timer or draws
 * a random number itself.
 */
import type { DurableRaftStorage, PersistBatch } from '../../raft/index.js';
import type { KvApplyBatch, KvStateSource, KvStateStore } from '../../storage/index.js';
import type { LogIndex } from '../../util/index.js';
import type { StagedSnapshot } from '../snapshot-staging.js';

/**
 * Time. `nowMs` is wall-clock time in ms since the epoch: it may jump either way (NTP steps, VM
 * resumes) and differ between nodes; the driver uses it only where a wall-clock time is the point
 * (the time a write carries into the replicated state machine). `monotonicMs` never goes back
 * and does not jump: every duration the driver measures (staleness, read timeouts, how long
 * since a peer was heard) uses it, so a clock step cannot make stale state look fresh.
 */
export interface Clock {
  nowMs(): number;
  monotonicMs(): number;
}

/** A handle to cancel a scheduled callback. */
export interface Cancellable {
  cancel(): void;
}

/** Runs callbacks later: periodic ticks, "as soon as the current work is done", and timeouts. */
export interface Scheduler {
  /** Calls `fn` every `intervalMs` until cancelled. */
  every(intervalMs: number, fn: () => void): Cancellable;
  /** Calls `fn` once, after the current task and the promise jobs it queued. */
  immediate(fn: () => void): void;
  /** Calls `fn` once after `delayMs`, unless cancelled. */
  after(delayMs: number, fn: () => void): Cancellable;
}

/**
 * How loaded the process is, for admission control: the event-loop delay in ms, counting the turn
 * running now (how long since the loop last got round to a timer) as well as the last measured one.
 */
export interface LoadProbe {
  eventLoopDelayMs(): number;
  /** Stops measuring (the node is stopping). */
  close(): void;
}

/** Everything the driver takes from the world but its storage and network. */
export interface DriverWorld {
  readonly clock: Clock;
  readonly scheduler: Scheduler;
  /** Seeds the Raft core's PRNG (election timeouts). Each process incarnation draws its own. */
  readonly seed: number;
  /**
   * Unique to this process incarnation (never repeated after a restart): tags the contexts of
   * this node's ReadIndex requests so a leader's late answer to a request of an earlier
   * incarnation cannot confirm a new one.
   */
  readonly incarnation: string;
  /** The process's load (production: system-world.ts); without one, no write is shed for delay. */
  readonly load?: LoadProbe;
}

/** The node's durable storage as the driver uses it: the Raft log and hard state, and the KV state. */
export interface DriverStorage extends DurableRaftStorage, KvStateStore {
  /** The cluster id recorded in the data dir ('' if none). */
  readonly clusterId: string;
  /**
   * `persist(batch)` and `applyBatch(apply)` as ONE synced batch (one fsync): the apply batch may
   * claim up to the commit index `batch` carries. `batch` must not carry a snapshot.
   */
  persistWithApply(batch: PersistBatch, apply: KvApplyBatch): Promise<void>;
  /** Data bytes of the stored entries `[lo, hi]` (held in memory: the snapshot pipeline bounds them). */
  logDataBytes(lo: LogIndex, hi: LogIndex): number;
  /** The smallest stored index from which the entries up to `hi` hold at most `bytesMax` data bytes. */
  logFirstIndexWithin(hi: LogIndex, bytesMax: number): LogIndex;
}

/** Incoming snapshots, staged durably before the core may install them (snapshot-staging.ts). */
export interface SnapshotStaging {
  /**
   * Stages an incoming state stream; resolves once it is complete, verified and durable. Refuses
   * a state of another index than `expectedIndex` or larger than `bytesMax`.
   */
  stage(options: { readonly expectedIndex: LogIndex; readonly chunks: AsyncIterable<Uint8Array>; readonly source: string; readonly bytesMax: number }): Promise<StagedSnapshot>;
  /** Opens a staged snapshot as a state source (records streamed). */
  open(staged: StagedSnapshot): Promise<KvStateSource>;
  /** Removes every staged snapshot at or below `index`. */
  removeUpTo(index: LogIndex): Promise<void>;
}
