/**
 * One seed of one front end, as a plain-data job and result: what the CLI runs in its own thread
 * or hands to a worker thread (sim-worker.ts). Both front ends run the production driver through
 * driver-host.ts: `core` is simulation.ts (Raft's safety properties after every event, the large
 * network and nemesis fault space, membership changes, linearizability), `node` is driver-sim.ts
 * (joins with --join, bounded STALE reads, lost acknowledged writes).
 */
import { runDriverSim } from './driver-sim.js';
import type { DriverSimOptions, DriverSimResult } from './driver-sim.js';
import type { SimOptions } from './params.js';
import { runSimulation } from './simulation.js';
import type { SimResult } from './simulation.js';
import { SimViolation } from './violation.js';

/** One seed to run. */
export type SeedJob =
  | { readonly layer: 'core'; readonly options: Omit<SimOptions, 'trace'>; readonly verbose: boolean }
  | { readonly layer: 'node'; readonly seed: number; readonly options: Omit<DriverSimOptions, 'trace'>; readonly verbose: boolean };

/** A violation as plain data (it crosses a thread boundary). */
export interface ViolationData {
  readonly kind: string;
  readonly message: string;
  readonly replay: string;
  readonly atMs: number;
}

/** What one job found. */
export type SeedOutcome =
  | { readonly layer: 'core'; readonly seed: number; readonly result: SimResult | null; readonly violation: ViolationData | null }
  | { readonly layer: 'node'; readonly seed: number; readonly result: DriverSimResult };

/** Runs one job; `trace` receives the event trace when the job is verbose. */
export async function runSeedJob(job: SeedJob, trace: (line: string) => void): Promise<SeedOutcome> {
  if (job.layer === 'node') {
    const result = await runDriverSim(job.seed, { ...job.options, ...(job.verbose ? { trace } : {}) });
    return { layer: 'node', seed: job.seed, result };
  }
  try {
    const result = await runSimulation({ ...job.options, ...(job.verbose ? { trace } : {}) });
    return { layer: 'core', seed: job.options.seed, result, violation: null };
  } catch (e) {
    if (!(e instanceof SimViolation)) throw e;
    return { layer: 'core', seed: job.options.seed, result: null, violation: { kind: e.kind, message: e.message, replay: e.replay, atMs: e.atMs } };
  }
}
