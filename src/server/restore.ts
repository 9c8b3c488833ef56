/**
 * Restoring a backup into a fresh data dir for one node of a NEW cluster (`raftkv backup restore`).
 *
 * Every node of the new cluster runs it with the same backup file and the same
 * `--initial-cluster`; each gets a data dir holding:
 * - the cluster id: a NEW one, derived from the backup's checksum and the new membership, so that
 *   every node computes the same id without talking to the others, and a node of the old cluster
 *   can never be mixed in (its data dir names another cluster);
 * - a snapshot at the backup's index and term whose membership is the new cluster's voters and
 *   whose data carries their peer addresses (member-addresses.ts);
 * - the hard state (term = the backup's term, no vote, commit = the backup's index) and an
 *   empty log after the snapshot;
 * - the state machine at the backup's index (keys, revisions, sessions, clock), written through
 *   `LevelStorage.replaceKvState`, streamed.
 * All of this goes through LevelStorage's ordinary API: `open` (new dir, new id, membership),
 * `persist({ snapshot, hardState })` (the same path as installing a snapshot from a leader), then
 * `replaceKvState`. The nodes then start with `raftkv serve` and elect a leader in a later term.
 *
 * The file is verified completely (format, version, every frame, checksum) BEFORE anything is
 * written, and the target data dir must not exist or be empty; if writing fails midway, the data
 * dir this call created is removed again. So a corrupt, truncated or wrong-version file is refused
 * and nothing is written.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { emptyHardState } from '../raft/index.js';
import type { Snapshot } from '../raft/index.js';
import { LevelStorage } from '../storage/index.js';
import { FailedPreconditionError, logIndex, noopLogger, term as toTerm } from '../util/index.js';
import type { Logger, NodeId } from '../util/index.js';
import { openBackupState, verifyBackupFile } from './backup-format.js';
import type { BackupHeader } from './backup-format.js';
import { encodeSnapshotData } from './member-addresses.js';
import type { MemberAddress } from './member-addresses.js';
import type { InitialMember } from './options.js';

/** What `restoreBackup` needs. */
export interface RestoreOptions {
  /** The backup file. */
  readonly file: string;
  /** The data dir to create (must not exist, or be empty). */
  readonly dataDir: string;
  /** The node this data dir is for (one of `members`). */
  readonly nodeId: NodeId;
  /** The new cluster's voters and their peer addresses. */
  readonly members: readonly InitialMember[];
  /** The new cluster id; derived from the backup and `members` if not given. */
  readonly clusterId?: string;
  readonly logger?: Logger;
  /** Called as keys are checked (`verify`), then written (`write`), with the count so far (for a progress bar). */
  readonly onProgress?: (phase: 'verify' | 'write', keys: number) => void;
}

/** What a restore did. */
export interface RestoreResult {
  readonly header: BackupHeader;
  readonly clusterId: string;
  readonly verifyMs: number;
  readonly writeMs: number;
}

/** The new cluster's id: the same on every node restoring `sha256` into `members`. */
export function restoredClusterId(sha256: string, members: readonly InitialMember[]): string {
  const membership = [...members]
    .map((m) => `${m.id}=${m.peerAddress}`)
    .sort()
    .join(',');
  return `restored-${createHash('sha256').update(`${sha256}\n${membership}`).digest('hex').slice(0, 16)}`;
}

/** Builds a fresh data dir for one node of a new cluster from a backup (see the file comment). */
export async function restoreBackup(options: RestoreOptions): Promise<RestoreResult> {
  const logger = options.logger ?? noopLogger;
  if (!options.members.some((m) => m.id === options.nodeId)) {
    throw new FailedPreconditionError(`--initial-cluster does not list this node's id "${options.nodeId}"`);
  }
  if (existsSync(options.dataDir) && readdirSync(options.dataDir).length > 0) {
    throw new FailedPreconditionError(`refusing to restore into ${options.dataDir}: it exists and is not empty (restore builds a fresh data dir)`);
  }
  const verifyStarted = Date.now();
  const { onProgress } = options;
  const verified = await verifyBackupFile(options.file, onProgress === undefined ? undefined : (keys) => onProgress('verify', keys));
  const verifyMs = Date.now() - verifyStarted;
  const { header } = verified;
  const clusterId = options.clusterId ?? restoredClusterId(verified.sha256, options.members);
  const conf = { voters: options.members.map((m) => m.id), learners: [] };
  const book = new Map<NodeId, MemberAddress>(options.members.map((m) => [m.id, { peerAddress: m.peerAddress, clientAddress: '' }]));
  const createdDir = !existsSync(options.dataDir);
  const writeStarted = Date.now();
  let storage: LevelStorage | null = null;
  try {
    storage = await LevelStorage.open({ path: options.dataDir, nodeId: options.nodeId, clusterId, initialConf: conf, logger });
    if (header.index > 0) {
      const snapshot: Snapshot = {
        metadata: { index: header.index, term: toTerm(header.term), conf },
        data: encodeSnapshotData({ clusterId, members: book }),
      };
      await storage.persist({ hardState: { ...emptyHardState, term: toTerm(header.term), commit: logIndex(header.index) }, entries: [], snapshot });
    }
    const state = await openBackupState(options.file);
    const kvs = onProgress === undefined ? state.kvs : counted(state.kvs, (keys) => onProgress('write', keys));
    await storage.replaceKvState({ appliedIndex: header.index, revision: header.revision, clockMs: header.clockMs, kvs, sessions: state.sessions });
    await storage.close();
    storage = null;
  } catch (e) {
    await storage?.close().catch(() => {});
    // Nothing half-written stays behind: the dir was absent or empty before.
    await rm(options.dataDir, { recursive: true, force: true }).catch(() => {});
    if (!createdDir) await mkdir(options.dataDir, { recursive: true }).catch(() => {});
    throw e;
  }
  const writeMs = Date.now() - writeStarted;
  logger.info({ dataDir: options.dataDir, nodeId: options.nodeId, clusterId, index: header.index, keys: header.keyCount, verifyMs, writeMs }, 'restore: data dir written');
  return { header, clusterId, verifyMs, writeMs };
}

/** `items`, reporting how many have passed after every 1024th and the last. */
async function* counted<T>(items: AsyncIterable<T>, report: (count: number) => void): AsyncGenerator<T> {
  let count = 0;
  for await (const item of items) {
    yield item;
    count += 1;
    if (count % 1024 === 0) report(count);
  }
  report(count);
}
