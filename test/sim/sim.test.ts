// Proves Raft safety, linearizable client histories, liveness after healing and replica convergence
// hold over 300 seeded fault schedules (seeds 0-299) of the core front end, which runs the
// PRODUCTION driver (raft-driver.ts on LevelStorage on simulated LevelDB disks): with both cluster
// sizes, elections, crashes, power losses, WAL rotations, disk faults, clock jumps, snapshots,
// membership changes and uncertain writes.
import { describe, expect, it } from 'vitest';
import { runSimulation } from './simulation.js';
import { SimViolation } from './violation.js';

const seedCount = 300;
const chunk = 25;
/** One chunk of the async simulator on a busy 2-core machine: generous, never a timed assertion. */
const chunkTimeoutMs = 900_000;

/** Runs one chunk of seeds: the violations found, and totals showing the faults and features happened. */
async function runChunk(first: number) {
  const violations: string[] = [];
  const undecided: number[] = [];
  const totals = { opsChecked: 0, indeterminate: 0, leaderTerms: 0, snapshotsInstalled: 0, crashes: 0, powerLosses: 0, rotations: 0, clockJumps: 0, membershipCycles: 0, threeNode: 0, fiveNode: 0 };
  for (let seed = first; seed < first + chunk; seed++) {
    try {
      const r = await runSimulation({ seed });
      if (r.checkerVerdict !== 'linearizable') undecided.push(seed);
      totals.opsChecked += r.opsChecked;
      totals.indeterminate += r.ops.indeterminate;
      totals.leaderTerms += r.leaderTerms;
      totals.snapshotsInstalled += r.snapshotsInstalled;
      totals.crashes += r.crashes;
      totals.powerLosses += r.storage.powerLosses;
      totals.rotations += r.storage.rotations;
      totals.clockJumps += r.storage.clockJumps;
      totals.membershipCycles += r.membershipCycles;
      if (r.nodeCount === 3) totals.threeNode++;
      else totals.fiveNode++;
    } catch (e) {
      if (!(e instanceof SimViolation)) throw e;
      violations.push(e.message);
    }
  }
  return { violations, undecided, totals };
}

describe(`simulation over ${seedCount} seeds`, () => {
  for (let first = 0; first < seedCount; first += chunk) {
    it(
      `finds no violation in seeds ${first}-${first + chunk - 1}, with both cluster sizes, elections, crashes, power losses, rotations, clock jumps, snapshots, membership changes and uncertain writes`,
      async () => {
        const { violations, undecided, totals } = await runChunk(first);
        expect(violations).toEqual([]);
        expect(undecided, 'seeds whose history the checker could not decide').toEqual([]);
        expect(totals.threeNode).toBeGreaterThan(chunk / 5);
        expect(totals.fiveNode).toBeGreaterThan(chunk / 5);
        expect(totals.opsChecked).toBeGreaterThan(chunk * 50);
        expect(totals.leaderTerms).toBeGreaterThan(chunk * 3);
        expect(totals.crashes).toBeGreaterThan(chunk);
        expect(totals.powerLosses).toBeGreaterThan(0);
        expect(totals.rotations).toBeGreaterThan(chunk * 10);
        expect(totals.clockJumps).toBeGreaterThan(0);
        expect(totals.snapshotsInstalled).toBeGreaterThan(0);
        expect(totals.membershipCycles).toBeGreaterThan(0);
        expect(totals.indeterminate).toBeGreaterThan(0);
      },
      chunkTimeoutMs,
    );
  }
});
