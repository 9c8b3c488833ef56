/**
 * The knobs of one simulated run. Most are drawn from the seed (so many seeds cover many
 * configurations); the command-line variant flags (`--nodes`, `--fault`) override them.
 */
import type { Prng } from '../../src/util/index.js';
import { usPerMs } from './event-queue.js';
import type { ViolationKind } from './violation.js';

/** The negative controls: each names one flag of `RaftConfig.testFaults`. */
export const faultNames = ['commitPreviousTermByCounting', 'voteWithoutPersist', 'readIndexWithoutHeartbeat'] as const;
/** One negative-control fault. */
export type FaultName = (typeof faultNames)[number];

/**
 * Negative controls of the production driver (`DriverFaults` in src/server/raft-driver.ts):
 * `sendBeforePersist` breaks the Ready contract by sending a Ready's messages when it is taken,
 * before its batch is durable; `unsyncedApplyBatches` writes apply batches with their applied
 * index unsynced (defect c's shape: a WAL rotation can lose one while a later one survives).
 */
export const driverFaultNames = ['sendBeforePersist', 'unsyncedApplyBatches'] as const;
/** One driver fault. */
export type DriverFaultName = (typeof driverFaultNames)[number];

/** True if `s` names a negative-control fault. */
export function isFaultName(s: string): s is FaultName {
  return (faultNames as readonly string[]).includes(s);
}

/** What the caller may choose for a run. */
export interface SimOptions {
  readonly seed: number;
  /** Cluster size; drawn from the seed when absent. */
  readonly nodes?: 3 | 5 | undefined;
  /** Turn on one deliberately broken behaviour in the Raft core (negative control). */
  readonly fault?: FaultName | undefined;
  /** Break the simulated driver's Ready loop (negative control of the durability checks). */
  readonly driverFault?: DriverFaultName | undefined;
  /** Receives the event trace (describeMessage / describeReady lines) when set. */
  readonly trace?: ((line: string) => void) | undefined;
  /** Length of the fault phase in virtual milliseconds; drawn from the seed when absent. */
  readonly chaosMs?: number | undefined;
  /**
   * Safety checks to leave out (experiments only: which check catches a negative control when the
   * direct one is off). Empty in every real run.
   */
  readonly skipChecks?: readonly ViolationKind[] | undefined;
}

/**
 * Every parameter of a run, fixed at the start. The Raft settings become the nodes' flags; the
 * production driver always runs pre-vote and check-quorum (the core's unit and golden tests cover
 * them off), and the replicated cluster limits (session TTL included) keep their defaults.
 */
export interface SimParams {
  readonly seed: number;
  readonly nodeCount: number;
  /** Whether one more node starts with `--join` during the faults (added as a learner, then promoted). */
  readonly joiner: boolean;
  readonly fault: FaultName | null;
  readonly driverFault: DriverFaultName | null;
  /** Virtual time between two ticks of one node. */
  readonly tickUs: number;
  readonly electionTicks: number;
  readonly heartbeatTicks: number;
  readonly appendBytesMax: number;
  readonly inflightAppendsMax: number;
  readonly applyBytesMax: number;
  /** Take a snapshot every this many applied entries... */
  readonly snapshotEveryEntries: number;
  /** ...and compact the log up to that many entries before the snapshot. */
  readonly snapshotTailEntries: number;
  /** Range of one synced disk write (the time between ready() and the batch being durable). */
  readonly fsyncUsMin: number;
  readonly fsyncUsMax: number;
  /** Whether followers serve linearizable reads through a forwarded ReadIndex. */
  readonly followerReads: boolean;
  readonly clientCount: number;
  readonly keyCount: number;
  /** Length of the fault phase. */
  readonly chaosUs: number;
  /** After the faults stop, a leader must be elected and a write commit within this bound. */
  readonly livenessBoundUs: number;
  /** After the faults stop, every member must converge within this bound. */
  readonly convergenceBoundUs: number;
  /** Per-attempt timeout of a client request, and the overall deadline of one operation. */
  readonly attemptTimeoutUs: number;
  readonly opDeadlineUs: number;
}

/** Draws the parameters of a run from its PRNG; `options` override what they name. */
export function drawParams(options: SimOptions, prng: Prng): SimParams {
  const nodeCount = options.nodes ?? (prng.chance(0.5) ? 3 : 5);
  const electionTicks = prng.int(8, 12);
  const chaosUs = (options.chaosMs ?? prng.int(4_000, 8_000)) * usPerMs;
  return {
    seed: options.seed,
    nodeCount,
    joiner: prng.chance(0.35),
    fault: options.fault ?? null,
    driverFault: options.driverFault ?? null,
    tickUs: 10 * usPerMs,
    electionTicks,
    heartbeatTicks: prng.chance(0.2) ? 1 : prng.int(2, 3),
    appendBytesMax: prng.chance(0.35) ? 1 : 64 * 1024,
    inflightAppendsMax: prng.chance(0.3) ? 1 : prng.int(2, 64),
    applyBytesMax: prng.chance(0.3) ? 1 : 1024 * 1024,
    snapshotEveryEntries: prng.int(20, 50),
    snapshotTailEntries: prng.int(0, 10),
    fsyncUsMin: 200,
    fsyncUsMax: prng.int(500, 3_000),
    followerReads: prng.chance(0.5),
    clientCount: prng.int(2, 4),
    keyCount: prng.int(2, 4),
    chaosUs,
    livenessBoundUs: 10_000 * usPerMs,
    convergenceBoundUs: 20_000 * usPerMs,
    attemptTimeoutUs: prng.int(200, 400) * usPerMs,
    opDeadlineUs: prng.int(1_000, 2_500) * usPerMs,
  };
}

/** A one-line summary of the parameters, for the verbose trace. */
export function describeParams(p: SimParams): string {
  return [
    `seed=${p.seed}`,
    `nodes=${p.nodeCount}${p.joiner ? '+1 joining' : ''}`,
    `fault=${p.fault ?? p.driverFault ?? 'none'}`,
    `election=${p.electionTicks}t`,
    `heartbeat=${p.heartbeatTicks}t`,
    `appendBytesMax=${p.appendBytesMax}`,
    `inflight=${p.inflightAppendsMax}`,
    `applyBytesMax=${p.applyBytesMax}`,
    `snapshotEvery=${p.snapshotEveryEntries}/${p.snapshotTailEntries}`,
    `followerReads=${p.followerReads}`,
    `clients=${p.clientCount}`,
    `keys=${p.keyCount}`,
    `chaos=${p.chaosUs / usPerMs}ms`,
  ].join(' ');
}
