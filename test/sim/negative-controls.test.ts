// Proves the simulator can fail: with each deliberately broken Raft behaviour (RaftConfig.testFaults), or a driver that breaks the Ready contract, it reports violations.
import { describe, expect, it } from 'vitest';
import { driverFaultNames, faultNames } from './params.js';
import type { SimOptions } from './params.js';
import { runSimulation } from './simulation.js';
import { SimViolation } from './violation.js';

/** Seeds tried per control: each is caught several times within them (the broken driver goes wrong faster). */
const seedCount = 40;
const driverSeedCount = 20;

/** Runs seeds 0..count-1 with `variant` and returns the seeds that found a violation. */
function scan(variant: Omit<SimOptions, 'seed'>, flag: string, count = seedCount): { seed: number; kind: string }[] {
  const caught: { seed: number; kind: string }[] = [];
  for (let seed = 0; seed < count; seed++) {
    try {
      runSimulation({ seed, ...variant });
    } catch (e) {
      if (!(e instanceof SimViolation)) throw e;
      expect(e.message).toContain(`npm run sim -- --seed ${seed} ${flag}`);
      caught.push({ seed, kind: e.kind });
    }
  }
  return caught;
}

function report(name: string, caught: readonly { seed: number; kind: string }[], count = seedCount): void {
  console.log(`${name}: caught in ${caught.length}/${count} seeds: ${caught.map((c) => `${c.seed} (${c.kind})`).join(', ')}`);
}

describe('negative controls', () => {
  for (const fault of faultNames) {
    it(`catches the core fault ${fault}`, () => {
      const caught = scan({ fault }, `--fault ${fault}`);
      report(fault, caught);
      expect(caught.length).toBeGreaterThan(0);
    });
  }

  for (const driverFault of driverFaultNames) {
    it(`catches the driver fault ${driverFault}`, () => {
      const caught = scan({ driverFault }, `--driver-fault ${driverFault}`, driverSeedCount);
      report(driverFault, caught, driverSeedCount);
      expect(caught.length).toBeGreaterThan(0);
    });
  }
});
