/**
 * The NOSPACE alarm's in-process recovery (docs/design-notes.md, "Alarms"). A write to the data
 * dir failed with a disk fault (disk-fault.ts): the driver's Raft instance may hold unstable
 * entries and a hard state that never reached the disk, so it is dropped (`pause`), and the node
 * goes on without Raft: writes are refused (not applied), Raft traffic is dropped (a node that
 * cannot persist must not acknowledge), STALE reads are served. A probe then reopens storage with
 * a bounded back-off and the driver rebuilds its Raft instance from what is on disk (`reboot`),
 * exactly as a restart would. A probe that fails with anything but a disk fault is fatal.
 */
import type { KvStateImage } from '../../kv/index.js';
import { assert } from '../../util/index.js';
import type { Logger } from '../../util/index.js';
import { classifyDiskFault, diskAlarmLimits } from '../alarms/disk-fault.js';
import type { DiskFault } from '../alarms/disk-fault.js';
import type { Cancellable, DriverStorage, Scheduler } from './world.js';

/** Reopens storage after a disk fault; throws while the disk is still not writable. */
export type ReopenStorage = () => Promise<{ readonly storage: DriverStorage; readonly image: KvStateImage }>;

/** What the recovery needs from the driver around it. */
export interface DiskFaultRecoveryDeps {
  readonly logger: Logger;
  readonly scheduler: Scheduler;
  /** Without it a disk fault is fatal: the node cannot recover in process. */
  readonly reopenStorage: ReopenStorage | undefined;
  readonly isStopped: () => boolean;
  /** Drops the failed Raft instance: fail waiting requests, leave leadership (`reason`: why). */
  readonly pause: (reason: string) => void;
  /** Builds and runs a new Raft instance from reopened storage, as a restart would. */
  readonly reboot: (storage: DriverStorage, image: KvStateImage) => void;
  /** The alarm was raised (a write failed: the reason) or cleared (null). */
  readonly onDiskAlarm: ((reason: string | null) => void) | undefined;
  /** Reopening failed with an error that is not a disk fault: the node stops. */
  readonly fatal: (e: unknown) => void;
}

/** The NOSPACE alarm this node holds locally, and the probe that ends it. */
export class DiskFaultRecovery {
  private fault: { readonly reason: string; probeMs: number; probe: Cancellable | null } | null = null;
  /** True while `resume` reopens storage (one attempt at a time). */
  private resuming = false;

  constructor(private readonly deps: DiskFaultRecoveryDeps) {}

  /** The reason this node holds its NOSPACE alarm (a disk write failed), or null. */
  get reason(): string | null {
    return this.fault?.reason ?? null;
  }

  /** True while the alarm holds: there is no Raft instance until `resume`. */
  get held(): boolean {
    return this.fault !== null;
  }

  /** `e` from the Ready loop is a disk fault: raise the alarm and pause. False if it is not one. */
  suspendOn(e: unknown): boolean {
    const fault = this.deps.reopenStorage === undefined ? null : classifyDiskFault(e);
    if (fault === null) return false;
    this.suspend(fault);
    return true;
  }

  private suspend(fault: DiskFault): void {
    const reason = `${fault.code}: ${fault.message}`;
    assert(this.fault === null, 'suspend: the NOSPACE alarm is already held');
    this.fault = { reason, probeMs: diskAlarmLimits.probeIntervalMs, probe: null };
    this.deps.pause(reason);
    this.deps.logger.error({ kind: fault.kind, err: reason }, 'storage: a write failed; NOSPACE alarm raised, Raft paused until the data dir is writable again');
    this.deps.onDiskAlarm?.(reason);
    this.scheduleProbe();
  }

  /**
   * Tries to leave the alarm now (the probe's timer, or `raftkv alarm disarm`): reopens storage
   * and rebuilds the Raft instance from it. Resolves true once the node runs again (or held no
   * alarm), false if the disk is still not writable.
   */
  async resume(): Promise<boolean> {
    const fault = this.fault;
    const reopen = this.deps.reopenStorage;
    if (fault === null) return true;
    if (this.deps.isStopped() || this.resuming || reopen === undefined) return false;
    fault.probe?.cancel();
    fault.probe = null;
    this.resuming = true;
    try {
      const { storage, image } = await reopen();
      if (this.deps.isStopped()) return false;
      this.fault = null;
      this.deps.reboot(storage, image);
      this.deps.onDiskAlarm?.(null);
      this.deps.logger.warn({ applied: image.appliedIndex, lastIndex: storage.lastIndex() }, 'storage: the data dir is writable again; NOSPACE alarm cleared, Raft restarted from storage');
      return true;
    } catch (e) {
      if (classifyDiskFault(e) === null) {
        this.deps.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'storage: reopening the data dir failed with an error that is not a disk fault');
        this.deps.fatal(e);
        return false;
      }
      fault.probeMs = Math.min(fault.probeMs * 2, diskAlarmLimits.probeIntervalMsMax);
      this.deps.logger.warn({ err: e instanceof Error ? e.message : String(e), nextProbeMs: fault.probeMs }, 'storage: the data dir is still not writable; NOSPACE alarm kept');
      this.scheduleProbe();
      return false;
    } finally {
      this.resuming = false;
    }
  }

  /** The node stops: no more probes. */
  stop(): void {
    this.fault?.probe?.cancel();
  }

  private scheduleProbe(): void {
    const fault = this.fault;
    if (fault === null || this.deps.isStopped()) return;
    fault.probe = this.deps.scheduler.after(fault.probeMs, () => void this.resume());
  }
}
