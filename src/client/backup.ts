/**
 * `client.backup()`: an online backup (the Maintenance service's Backup stream) as an async
 * iterable of chunks. It streams from one node; a node that cannot be reached, or cannot serve a
 * consistent backup right now (no leader), is skipped for the next before any byte arrives. Once
 * bytes have arrived a failure ends the backup with a typed error: a backup is never stitched
 * together from two nodes. Breaking out of the loop, or aborting `signal`, cancels the stream.
 */
import type { ClientReadableStream } from '@grpc/grpc-js';
import type * as M from '../api/index.js';
import { maintenanceService, toNumber } from '../api/index.js';
import { InvalidArgumentError, UnavailableError } from '../util/index.js';
import type { RaftkvError } from '../util/index.js';
import type { Endpoint } from './endpoint.js';
import { classifyFailure } from './errors.js';
import type { Router } from './router.js';

/** Options of `backup()`. */
export interface BackupOptions {
  /** Back up the answering node's local state without confirming with the leader first. */
  readonly local?: boolean;
  /** Deadline of the whole backup, in ms (default: none: a large state takes a while). */
  readonly timeoutMs?: number;
  /** Cancels the backup; the iteration then rejects with the signal's reason. */
  readonly signal?: AbortSignal;
}

/** The backup's header, as the node describes it. */
export interface BackupInfo {
  readonly formatVersion: number;
  readonly clusterId: string;
  /** The node the backup was taken on. */
  readonly nodeId: string;
  readonly revision: number;
  readonly raftIndex: number;
  readonly raftTerm: number;
  readonly createdMs: number;
  readonly keyCount: number;
  readonly sessionCount: number;
  /** True if the node confirmed with the leader that its state was current (not `local`). */
  readonly linearizable: boolean;
}

/** Bytes of the backup file, in order; the first chunk carries `info`. */
export interface BackupChunk {
  readonly data: Uint8Array;
  readonly info: BackupInfo | null;
  /** The node streaming the backup (its address, and id when known). */
  readonly endpoint: string;
}

function infoOf(m: M.BackupInfoMsg): BackupInfo {
  return {
    formatVersion: m.formatVersion,
    clusterId: m.clusterId,
    nodeId: m.nodeId,
    revision: toNumber(m.revision),
    raftIndex: toNumber(m.raftIndex),
    raftTerm: toNumber(m.raftTerm),
    createdMs: toNumber(m.createdMs),
    keyCount: toNumber(m.keyCount),
    sessionCount: toNumber(m.sessionCount),
    linearizable: m.linearizable === true,
  };
}

/** The backup's chunks, from the first node that serves it. */
export async function* backupChunks(router: Router, options: BackupOptions): AsyncGenerator<BackupChunk> {
  const { signal } = options;
  if (options.timeoutMs !== undefined && !(Number.isFinite(options.timeoutMs) && options.timeoutMs > 0)) {
    throw new InvalidArgumentError('timeoutMs', `must be a positive number, got ${JSON.stringify(options.timeoutMs)}`);
  }
  const deadlineMs = options.timeoutMs === undefined ? undefined : Date.now() + options.timeoutMs;
  // Nodes whose circuit lets calls through first; every node is tried at most once.
  const candidates: Endpoint[] = [...router.endpoints].sort((a, b) => Number(b.available()) - Number(a.available()));
  let last: RaftkvError | null = null;
  for (const endpoint of candidates) {
    if (signal?.aborted) throw signal.reason;
    const stream: ClientReadableStream<M.BackupResponseMsg> = endpoint.stream(maintenanceService.Backup, { local: options.local === true }, deadlineMs);
    const cancel = (): void => stream.cancel();
    signal?.addEventListener('abort', cancel, { once: true });
    let received = 0;
    try {
      for await (const msg of stream as AsyncIterable<M.BackupResponseMsg>) {
        received += 1;
        yield { data: msg.data, info: msg.info ? infoOf(msg.info) : null, endpoint: endpoint.label };
      }
      return;
    } catch (e) {
      if (signal?.aborted) throw signal.reason;
      const failure = classifyFailure(e, { write: false, endpoint: endpoint.label, method: 'Backup' });
      if (received > 0 || failure.retry === 'final') throw failure.error;
      last = failure.error;
    } finally {
      signal?.removeEventListener('abort', cancel);
      stream.cancel();
    }
  }
  throw last ?? new UnavailableError('Backup: no endpoint to stream a backup from');
}
