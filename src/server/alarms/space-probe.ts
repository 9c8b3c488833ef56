/**
 * The probe for space before a node with the NOSPACE alarm reopens its storage: write a file of
 * `diskAlarmLimits.probeBytes` in the data dir, fsync it, remove it. Opening LevelDB writes a new
 * log and manifest, and the first Raft batches follow at once: a probe that cannot write 1 MiB
 * means those would fail too, so the alarm is kept and the next probe backs off.
 */
import { open, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { diskAlarmLimits } from './disk-fault.js';

/** The probe file's name in the data dir (removed after every probe, and at start-up). */
export const spaceProbeFile = 'raftkv-space-probe.tmp';

/** Resolves if `probeBytes` could be written and synced in `dataDir`; throws the disk error otherwise. */
export async function probeSpace(dataDir: string): Promise<void> {
  const path = join(dataDir, spaceProbeFile);
  try {
    const handle = await open(path, 'w');
    try {
      await handle.write(new Uint8Array(diskAlarmLimits.probeBytes));
      await handle.sync();
    } finally {
      await handle.close();
    }
  } finally {
    await rm(path, { force: true });
  }
}
