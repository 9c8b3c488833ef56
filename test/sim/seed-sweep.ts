/**
 * The seed sweep of the core front end, shared by sim.test.ts, sim-2.test.ts and sim-3.test.ts
 * (three files of 100 seeds, so vitest runs them on parallel workers). Each chunk of seeds must
 * find no violation, decide every history, and show the faults and features happened.
 */
import { describe, expect, it } from 'vitest';
import { runSimulation } from './simulation.js';
import type { SimResult } from './simulation.js';
import { SimViolation } from './violation.js';

const chunk = 25;
/** One chunk of the async simulator on a busy 2-core machine: generous, never a timed assertion. */
const chunkTimeoutMs = 1_200_000;

/** What a chunk adds up, to show the faults and features happened. */
export interface SweepTotals {
  opsChecked: number;
  indeterminate: number;
  leaderTerms: number;
  snapshotsInstalled: number;
  crashes: number;
  powerLosses: number;
  rotations: number;
  clockJumps: number;
  membershipCycles: number;
  joins: number;
  threeNode: number;
  fiveNode: number;
}

/** Adds one run's result to `t` (also used by the CLI's summary). */
export function addToSweep(t: SweepTotals, r: SimResult): void {
  t.opsChecked += r.opsChecked;
  t.indeterminate += r.ops.indeterminate;
  t.leaderTerms += r.leaderTerms;
  t.snapshotsInstalled += r.snapshotsInstalled;
  t.crashes += r.crashes;
  t.powerLosses += r.storage.powerLosses;
  t.rotations += r.storage.rotations;
  t.clockJumps += r.storage.clockJumps;
  t.membershipCycles += r.membershipCycles;
  t.joins += r.joins;
  if (r.nodeCount === 3) t.threeNode++;
  else t.fiveNode++;
}

async function runChunk(first: number) {
  const violations: string[] = [];
  const undecided: number[] = [];
  const totals: SweepTotals = { opsChecked: 0, indeterminate: 0, leaderTerms: 0, snapshotsInstalled: 0, crashes: 0, powerLosses: 0, rotations: 0, clockJumps: 0, membershipCycles: 0, joins: 0, threeNode: 0, fiveNode: 0 };
  for (let seed = first; seed < first + chunk; seed++) {
    try {
      const r = await runSimulation({ seed });
      if (r.checkerVerdict !== 'linearizable') undecided.push(seed);
      addToSweep(totals, r);
    } catch (e) {
      if (!(e instanceof SimViolation)) throw e;
      violations.push(e.message);
    }
  }
  return { violations, undecided, totals };
}

/** Declares the sweep of seeds `first` .. `first + count - 1`, in chunks of 25. */
export function sweepSeeds(first: number, count: number): void {
  describe(`simulation of the production driver over seeds ${first}-${first + count - 1}`, () => {
    for (let from = first; from < first + count; from += chunk) {
      it(
        `finds no violation in seeds ${from}-${from + chunk - 1}, with both cluster sizes, elections, crashes, power losses, rotations, clock jumps, snapshots, membership changes, joins and uncertain writes`,
        async () => {
          const { violations, undecided, totals } = await runChunk(from);
          expect(violations).toEqual([]);
          expect(undecided, 'seeds whose history the checker could not decide').toEqual([]);
          expect(totals.threeNode).toBeGreaterThan(chunk / 5);
          expect(totals.fiveNode).toBeGreaterThan(chunk / 5);
          expect(totals.opsChecked).toBeGreaterThan(chunk * 50);
          expect(totals.leaderTerms).toBeGreaterThan(chunk * 3);
          expect(totals.crashes).toBeGreaterThan(chunk);
          expect(totals.powerLosses).toBeGreaterThan(chunk);
          expect(totals.rotations).toBeGreaterThan(chunk * 10);
          expect(totals.clockJumps).toBeGreaterThan(0);
          expect(totals.snapshotsInstalled).toBeGreaterThan(0);
          expect(totals.membershipCycles).toBeGreaterThan(0);
          expect(totals.joins).toBeGreaterThan(0);
          expect(totals.indeterminate).toBeGreaterThan(0);
        },
        chunkTimeoutMs,
      );
    }
  });
}
