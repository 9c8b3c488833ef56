/**
 * What an alarm refuses, decided from the replicated alarm list (the same answer on every
 * replica): a member with CORRUPT refuses reads, since its state is not the cluster's. Writes on
 * a node holding NOSPACE are refused by the driver itself (raft-driver.ts, `NoSpaceAlarmError`).
 */
import { hasAlarm } from '../../kv/index.js';
import type { AlarmState } from '../../kv/index.js';
import { CorruptionError } from '../../util/index.js';

/** Throws DATA_LOSS if `self` holds the CORRUPT alarm. */
export function assertReadable(alarms: AlarmState, self: string): void {
  if (!hasAlarm(alarms, self, 'corrupt')) return;
  throw new CorruptionError(
    `CORRUPT alarm: this member's state diverged from the majority's, so it refuses reads; read from another member, and restore this one from a backup (or remove and re-add it)`,
  );
}
