/**
 * An online, consistent backup of this node's state machine, as the bytes of a backup file
 * (backup-format.ts). Used by the Maintenance service (`raftkv backup save`) and by scheduled
 * backups. Writes go on while it streams: the state is read through a LevelDB snapshot.
 *
 * Consistency: by default the node first confirms with the leader (a ReadIndex round, Raft
 * thesis §6.4) and waits until it has applied up to the leader's commit index, then captures its
 * state. So a backup taken from any node, a follower too, holds every write acknowledged before
 * the backup began.
 */
import type { Logger } from '../util/index.js';
import { BACKUP_FORMAT_VERSION, encodeBackup } from './backup-format.js';
import type { BackupHeader } from './backup-format.js';
import type { NodeOptions } from './options.js';
import type { RaftDriver } from './raft-driver.js';

/** A backup being taken: its header, and the file's bytes (iterate once, to the end or not). */
export interface BackupStream {
  readonly header: BackupHeader;
  readonly bytes: AsyncGenerator<Uint8Array>;
}

/**
 * Starts a backup. With `linearizable`, fails (UNAVAILABLE) if the leader cannot confirm the read
 * index within `timeoutMs`.
 */
export async function takeBackup(deps: { driver: RaftDriver; options: NodeOptions; logger: Logger }, options: { linearizable: boolean; timeoutMs: number }): Promise<BackupStream> {
  const { driver } = deps;
  if (options.linearizable) await driver.linearizableRead(options.timeoutMs);
  const { reader, term, keyCount, sessionCount } = await driver.captureState();
  const header: BackupHeader = {
    formatVersion: BACKUP_FORMAT_VERSION,
    clusterId: driver.clusterId,
    nodeId: deps.options.id,
    revision: reader.revision,
    index: reader.appliedIndex,
    term,
    clockMs: reader.clockMs,
    createdMs: Date.now(),
    keyCount,
    sessionCount,
    linearizable: options.linearizable,
  };
  deps.logger.info({ index: header.index, keys: keyCount, linearizable: options.linearizable }, 'backup: started');
  return { header, bytes: encodeBackup(header, reader, deps.options.limits.snapshotChunkBytesMax) };
}
