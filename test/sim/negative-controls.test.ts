// Proves the simulator can fail: with each deliberately broken Raft behaviour (RaftConfig.testFaults)
// or driver behaviour (DriverFaults: sending before the batch is durable, apply batches written
// unsynced across a WAL rotation), run inside the PRODUCTION driver, it reports violations.
import { describe, expect, it } from 'vitest';
import { driverFaultNames, faultNames } from './params.js';
import type { SimOptions } from './params.js';
import { runSimulation } from './simulation.js';
import { SimViolation } from './violation.js';

/** Seeds tried per control at most; the scan stops once `catchesWanted` seeds caught it. */
const seedCount = 40;
const catchesWanted = 2;
const scanTimeoutMs = 900_000;

/** Runs seeds 0.. with `variant` and returns the seeds that found a violation. */
async function scan(variant: Omit<SimOptions, 'seed'>, flag: string): Promise<{ seed: number; kind: string; tried: number }[]> {
  const caught: { seed: number; kind: string; tried: number }[] = [];
  for (let seed = 0; seed < seedCount && caught.length < catchesWanted; seed++) {
    try {
      await runSimulation({ seed, ...variant });
    } catch (e) {
      if (!(e instanceof SimViolation)) throw e;
      expect(e.message).toContain(`npm run sim -- --seed ${seed} ${flag}`);
      caught.push({ seed, kind: e.kind, tried: seed + 1 });
    }
  }
  return caught;
}

function report(name: string, caught: readonly { seed: number; kind: string; tried: number }[]): void {
  const tried = caught[caught.length - 1]?.tried ?? seedCount;
  console.log(`${name}: caught in ${caught.length} of the first ${tried} seeds: ${caught.map((c) => `${c.seed} (${c.kind})`).join(', ')}`);
}

describe('negative controls (in the production driver)', () => {
  for (const fault of faultNames) {
    it(
      `catches the core fault ${fault}`,
      async () => {
        const caught = await scan({ fault }, `--fault ${fault}`);
        report(fault, caught);
        expect(caught.length).toBeGreaterThan(0);
      },
      scanTimeoutMs,
    );
  }

  for (const driverFault of driverFaultNames) {
    it(
      `catches the driver fault ${driverFault}`,
      async () => {
        const caught = await scan({ driverFault }, `--driver-fault ${driverFault}`);
        report(driverFault, caught);
        expect(caught.length).toBeGreaterThan(0);
      },
      scanTimeoutMs,
    );
  }
});
