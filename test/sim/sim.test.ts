// Proves Raft safety (election safety, log matching, leader completeness, state machine safety),
// linearizable client histories, liveness after healing and replica convergence over seeds 0-99
// of the core front end on the PRODUCTION driver (raft-driver.ts on LevelStorage on simulated
// LevelDB disks), with power losses, rotations, disk faults, clock jumps, snapshots, membership
// changes and joins. Seeds 100-299: sim-2.test.ts and sim-3.test.ts.
import { sweepSeeds } from './seed-sweep.js';

sweepSeeds(0, 100);
