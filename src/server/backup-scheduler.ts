/**
 * Scheduled backups (`--backup-dir`, `--backup-interval-ms`, `--backup-keep`): every interval the
 * node writes a backup file of its state into the directory and keeps the newest `backupKeep`
 * files it wrote. A file appears only complete: it is written under a `.tmp` name, fsynced, then
 * renamed. Scheduled backups confirm with the leader first (like `raftkv backup save`); when no
 * leader can confirm, the backup is taken from local state anyway and marked as such in its
 * header (`linearizable: false`), because a backup is most useful precisely when the cluster is
 * in trouble.
 */
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../util/index.js';
import type { NodeMetrics } from './metrics.js';
import type { NodeOptions } from './options.js';
import type { RaftDriver } from './raft-driver.js';
import { takeBackup } from './backup-source.js';
import { syncDir } from './snapshot-staging.js';

/** What the scheduler needs. */
export interface BackupSchedulerDeps {
  readonly driver: RaftDriver;
  readonly options: NodeOptions;
  readonly metrics: NodeMetrics;
  readonly logger: Logger;
}

/** The file name of a backup: sorts by time. */
export function backupFileName(nodeId: string, createdMs: number, index: number): string {
  const stamp = new Date(createdMs).toISOString().replace(/[-:]/g, '').replace('.', '');
  return `raftkv-${nodeId}-${stamp}-${index}.rkvb`;
}

/** Writes a backup every `backupIntervalMs` into `backupDir`, keeping the newest `backupKeep`. */
export class BackupScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<unknown> = Promise.resolve();
  private busy = false;

  constructor(private readonly deps: BackupSchedulerDeps) {}

  /** Starts the schedule (the first backup after one interval). */
  start(): void {
    const { options } = this.deps;
    if (options.backupDir === '') return;
    this.timer = setInterval(() => {
      if (this.busy) return;
      this.busy = true;
      this.running = this.runOnce()
        .catch((e: unknown) => this.deps.logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'backup: scheduled backup failed'))
        .finally(() => {
          this.busy = false;
        });
    }, options.backupIntervalMs);
    this.deps.logger.info({ dir: options.backupDir, intervalMs: options.backupIntervalMs, keep: options.backupKeep }, 'backup: scheduled backups on');
  }

  /** Stops the schedule and waits for a backup in progress. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** Writes one backup now; returns its path. */
  async runOnce(): Promise<string> {
    const { options, logger, metrics } = this.deps;
    const dir = options.backupDir;
    await mkdir(dir, { recursive: true });
    let backup;
    try {
      backup = await takeBackup(this.deps, { linearizable: true, timeoutMs: options.requestTimeoutMs });
    } catch (e) {
      logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'backup: the leader could not confirm; backing up local state');
      backup = await takeBackup(this.deps, { linearizable: false, timeoutMs: 0 });
    }
    const name = backupFileName(options.id, backup.header.createdMs, backup.header.index);
    const tmp = join(dir, `${name}.tmp`);
    const file = await open(tmp, 'w');
    try {
      for await (const chunk of backup.bytes) await file.write(chunk);
      await file.sync();
    } catch (e) {
      await file.close();
      await rm(tmp, { force: true });
      metrics.backupsWritten.inc({ result: 'failed' });
      throw e;
    }
    await file.close();
    await rename(tmp, join(dir, name));
    await syncDir(dir);
    metrics.backupsWritten.inc({ result: 'ok' });
    await this.prune();
    logger.info({ file: join(dir, name), index: backup.header.index, keys: backup.header.keyCount }, 'backup: scheduled backup written');
    return join(dir, name);
  }

  /** Deletes this node's oldest backups beyond `backupKeep`, and leftover temporary files. */
  private async prune(): Promise<void> {
    const { options } = this.deps;
    const prefix = `raftkv-${options.id}-`;
    const names = (await readdir(options.backupDir)).filter((n) => n.startsWith(prefix));
    const done = names.filter((n) => n.endsWith('.rkvb')).sort();
    for (const old of done.slice(0, Math.max(0, done.length - options.backupKeep))) await rm(join(options.backupDir, old), { force: true });
    // Only one backup runs at a time, so any other temporary file is a leftover of a crash.
    for (const tmp of names.filter((n) => n.endsWith('.rkvb.tmp'))) await rm(join(options.backupDir, tmp), { force: true });
  }
}
