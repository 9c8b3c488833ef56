/** What the node gives its Raft driver (raft-driver.ts), and the driver's negative controls. */
import type { RaftTestFaults } from '../../raft/index.js';
import type { Transport } from '../../transport/index.js';
import type { Logger } from '../../util/index.js';
import type { NodeMetrics } from '../metrics.js';
import type { NodeOptions } from '../options.js';
import type { ReopenStorage } from './disk-fault-recovery.js';
import type { AppliedChange } from './types.js';
import type { DriverStorage, DriverWorld, SnapshotStaging } from './world.js';

/** What the driver needs. */
export interface RaftDriverDeps {
  readonly options: NodeOptions;
  /** The durable Raft log and hard state, and the KV state store (LevelStorage in production). */
  readonly storage: DriverStorage;
  /** Where incoming snapshots are staged before the core installs them. */
  readonly staging: SnapshotStaging;
  readonly transport: Transport;
  /** Clock, scheduler, seed and incarnation (system-world.ts in production). */
  readonly world: DriverWorld;
  readonly metrics: NodeMetrics;
  readonly logger: Logger;
  /** Called once if the node hits an error it cannot continue after (disk failure, corruption). */
  readonly onFatal: (e: unknown) => void;
  /** Called after every applied batch with each entry's changes, for watchers. */
  readonly onApplied?: (changes: readonly AppliedChange[]) => void;
  /** Negative controls for the simulator: deliberately broken driver behaviour. Never set outside tests. */
  readonly driverFaults?: DriverFaults;
  /** Reopens storage after a disk fault, as a restart would (disk-fault-recovery.ts). Without it a disk fault is fatal. */
  readonly reopenStorage?: ReopenStorage;
  /** Called when this node's NOSPACE alarm is raised (a write failed: the reason) or cleared (null). */
  readonly onDiskAlarm?: (reason: string | null) => void;
}

/** Deliberate driver bugs the simulator must catch (negative controls). */
export interface DriverFaults {
  /** Write apply batches without fsync (defect c's shape: a rotation can lose one while a later one survives). */
  readonly unsyncedApplyBatches?: boolean;
  /** Send every Ready's messages before its batch is durable (votes and acknowledgements too). */
  readonly sendBeforePersist?: boolean;
  /** Deliberate bugs of the Raft core itself, run inside the production driver. */
  readonly raft?: RaftTestFaults;
}
