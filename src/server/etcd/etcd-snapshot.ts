/**
 * etcd's Maintenance/Snapshot as a raftkv backup file (backup-format.ts), in a shape etcd's
 * clients accept.
 *
 * etcdctl 3.4 `snapshot save` refuses a download whose size is not 32 more than a multiple of 512
 * ("sha256 checksum not found"): etcd sends a bbolt file (whole pages) and its SHA-256. A raftkv
 * backup already ends with the SHA-256 of everything before it, so only the size must fit: the
 * backup's JSON header is padded with spaces (JSON allows them; the header length field says
 * how long it is) and the trailer recomputed. The result is still a valid raftkv backup:
 * `raftkv backup verify` and `raftkv backup restore` read it.
 *
 * The backup is first written to a temporary file, so that every blob can say how many bytes
 * remain (memory stays bounded by a blob whatever the size of the state).
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { requireEtcdWellFormed } from '../../api/etcd/index.js';
import { CorruptionError } from '../../util/index.js';
import { takeBackup } from '../backup-source.js';
import { writableDrained } from '../maintenance-service.js';
import { authorizedCall, deadlineOf } from './etcd-call.js';
import { etcdHeader } from './etcd-deps.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { snapshotBlobBytesMax } from './etcd-kv-limits.js';

/** Bytes before a backup's JSON header (magic, version, header length) and of its SHA-256 trailer. */
const prefixBytes = 16;
const digestBytes = 32;
/** etcd's rule for a snapshot download: its size modulo this is the digest's size. */
const etcdPageBytes = 512;

/** Spaces to add to a backup of `size` bytes so etcd's clients find its checksum. */
export function snapshotPaddingBytes(size: number): number {
  return (((digestBytes - size) % etcdPageBytes) + etcdPageBytes) % etcdPageBytes;
}

/** Streams a snapshot of this node's state to `call`. */
export async function streamEtcdSnapshot(deps: EtcdServiceDeps, call: ServerWritableStream<EtcdMsg, EtcdMsg>): Promise<void> {
  requireEtcdWellFormed(call.request);
  // A snapshot holds every key, value and user: root only once auth is on.
  deps.authorizer.requireRoot(authorizedCall(call), 'Maintenance/Snapshot');
  const timeoutMs = Math.max(1, Math.min(deadlineOf(call.getDeadline(), deps.options.requestTimeoutMs) - Date.now(), deps.options.requestTimeoutMs));
  let cancelled = false;
  call.on('cancelled', () => {
    cancelled = true;
  });
  const dir = await mkdtemp(join(tmpdir(), 'raftkv-etcd-snapshot-'));
  const file = join(dir, 'backup');
  try {
    const backup = await takeBackup(deps, { linearizable: true, timeoutMs });
    const out = createWriteStream(file);
    try {
      for await (const data of backup.bytes) if (!out.write(data)) await once(out, 'drain');
    } finally {
      await backup.bytes.return(undefined);
      out.end();
      await once(out, 'close');
    }
    const size = (await stat(file)).size;
    const handle = await open(file, 'r');
    const prefix = Buffer.alloc(prefixBytes);
    let headerJson: Buffer;
    try {
      await handle.read(prefix, 0, prefixBytes, 0);
      headerJson = Buffer.alloc(prefix.readUInt32BE(12));
      await handle.read(headerJson, 0, headerJson.length, prefixBytes);
    } finally {
      await handle.close();
    }
    const bodyStart = prefixBytes + headerJson.length;
    if (size < bodyStart + digestBytes) throw new CorruptionError(`the backup taken for the snapshot is truncated (${size} bytes)`);
    const pad = snapshotPaddingBytes(size);
    prefix.writeUInt32BE(headerJson.length + pad, 12);
    const hash = createHash('sha256');
    let remaining = size + pad;
    const send = async (blob: Buffer, hashed: boolean): Promise<void> => {
      if (hashed) hash.update(blob);
      remaining -= blob.length;
      if (!call.write({ header: etcdHeader(deps), remainingBytes: remaining, blob })) await writableDrained(call as ServerWritableStream<unknown, unknown>);
    };
    await send(Buffer.concat([prefix, headerJson, Buffer.alloc(pad, 0x20)]), true);
    if (size - digestBytes > bodyStart) {
      for await (const chunk of createReadStream(file, { start: bodyStart, end: size - digestBytes - 1, highWaterMark: snapshotBlobBytesMax })) {
        if (cancelled) return;
        await send(chunk as Buffer, true);
      }
    }
    await send(hash.digest(), false);
    if (remaining !== 0) throw new CorruptionError(`the snapshot stream sent ${-remaining} bytes more than planned`);
    if (!cancelled) call.end();
    deps.logger.info({ index: backup.header.index, keys: backup.header.keyCount, bytes: size + pad }, 'etcd snapshot: streamed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
