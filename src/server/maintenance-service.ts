/**
 * The public `raftkv.v1.Maintenance` service: `Backup` streams an online, consistent backup of
 * the answering node (backup-source.ts) as the bytes of a backup file, with write back-pressure
 * (memory stays bounded by a chunk or two whatever the size of the state).
 */
import type { ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import type * as M from '../api/index.js';
import { requireWellFormed } from '../api/index.js';
import type { Logger } from '../util/index.js';
import type { BackupHeader } from './backup-format.js';
import { takeBackup } from './backup-source.js';
import type { Authorizer } from './auth/authorizer.js';
import { toGrpcError } from './grpc-errors.js';
import type { NodeMetrics } from './metrics.js';
import type { NodeOptions } from './options.js';
import type { RaftDriver } from './raft-driver.js';

/** What the service needs. */
export interface MaintenanceServiceDeps {
  readonly options: NodeOptions;
  readonly driver: RaftDriver;
  readonly metrics: NodeMetrics;
  readonly logger: Logger;
  readonly authorizer: Authorizer;
}

/** The header as the `BackupInfo` message. */
export function backupInfoMsg(h: BackupHeader): M.BackupInfoMsg {
  return {
    formatVersion: h.formatVersion,
    clusterId: h.clusterId,
    nodeId: h.nodeId,
    revision: h.revision,
    raftIndex: h.index,
    raftTerm: h.term,
    createdMs: h.createdMs,
    keyCount: h.keyCount,
    sessionCount: h.sessionCount,
    linearizable: h.linearizable,
  };
}

/** Builds the `Maintenance` service implementation. */
export function maintenanceServiceImplementation(deps: MaintenanceServiceDeps): UntypedServiceImplementation {
  return {
    Backup: (call: ServerWritableStream<M.BackupRequestMsg, M.BackupResponseMsg>) => {
      const done = deps.metrics.grpcCall('Backup');
      streamBackup(deps, call).then(
        () => done('OK'),
        (e: unknown) => {
          const err = toGrpcError(e, { write: false });
          done(grpcStatus[err.code] ?? String(err.code));
          deps.logger.warn({ err: err.details }, 'backup: failed');
          // 'error' (not destroy): grpc-js then sends the status; a destroyed stream never sends one.
          if (!call.cancelled) call.emit('error', Object.assign(new Error(err.details), err));
        },
      );
    },
  };
}

async function streamBackup(deps: MaintenanceServiceDeps, call: ServerWritableStream<M.BackupRequestMsg, M.BackupResponseMsg>): Promise<void> {
  requireWellFormed(call.request);
  // A backup holds every key, value and user: root only once auth is on.
  deps.authorizer.requireRoot(call, 'Maintenance/Backup');
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  const timeoutMs = Number.isFinite(deadlineMs) && deadlineMs > 0 ? Math.max(1, deadlineMs - Date.now()) : deps.options.requestTimeoutMs;
  const backup = await takeBackup(deps, { linearizable: call.request.local !== true, timeoutMs: Math.min(timeoutMs, deps.options.requestTimeoutMs) });
  let cancelled = false;
  call.on('cancelled', () => {
    cancelled = true;
  });
  let first = true;
  try {
    for await (const data of backup.bytes) {
      if (cancelled) break;
      const more = call.write({ data, info: first ? backupInfoMsg(backup.header) : null });
      first = false;
      if (!more) await writableDrained(call);
    }
  } finally {
    await backup.bytes.return(undefined);
  }
  if (!cancelled) call.end();
  deps.logger.info({ index: backup.header.index, keys: backup.header.keyCount, cancelled }, 'backup: streamed');
}

/** Resolves once a server stream's write buffer drained, or the call was cancelled or closed. */
export function writableDrained(call: ServerWritableStream<unknown, unknown>): Promise<void> {
  return new Promise<void>((resolve) => {
    const resume = (): void => {
      call.off('drain', resume);
      call.off('cancelled', resume);
      call.off('close', resume);
      resolve();
    };
    call.on('drain', resume);
    call.on('cancelled', resume);
    call.on('close', resume);
  });
}
