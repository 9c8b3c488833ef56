// Proves the properties of sim.test.ts (Raft safety, linearizability, liveness, convergence on the
// production driver under power losses, disk faults, clock jumps, membership changes and joins)
// over seeds 100-199 of the core front end.
import { sweepSeeds } from './seed-sweep.js';

sweepSeeds(100, 100);
