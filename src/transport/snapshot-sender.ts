/**
 * The sending side of RaftPeer.SendSnapshot: reads the snapshot's bytes lazily from an async
 * source, cuts them into chunks of at most limits.snapshotChunkBytesMax, and writes them with
 * back-pressure, so at most a few chunks are in memory at once. The last chunk carries the total
 * length and the SHA-256 of everything sent. The call has a deadline for the whole transfer.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { Metadata, status as grpcStatus } from '@grpc/grpc-js';
import type { Client, ClientWritableStream, ServiceError } from '@grpc/grpc-js';
import type { NodeId } from '../util/index.js';
import type { SnapshotMessage } from '../raft/index.js';
import { decodeSnapshotAck, encodeSnapshotChunk } from './codec.js';
import type { SnapshotChunk } from './codec.js';
import { SnapshotTransferError } from './errors.js';
import type { SnapshotFailure } from './errors.js';
import { deserializeBytes, peerMetadataKeys, raftPeerPaths, serializeBytes } from './service.js';

/** What `sendSnapshotChunks` needs. */
export interface SnapshotSendOptions {
  /** A channel to the peer. */
  readonly client: Client;
  /** This node's id. */
  readonly from: NodeId;
  /** The InstallSnapshot message; goes in the first chunk. */
  readonly message: SnapshotMessage;
  /** The snapshot's bytes, in order. */
  readonly data: AsyncIterable<Uint8Array>;
  /** Largest chunk. */
  readonly chunkBytesMax: number;
  /** Deadline of the whole transfer. */
  readonly deadlineMs: number;
  /** Cancels the transfer (transport stopping). */
  readonly signal: AbortSignal;
  /** Counts the bytes of every chunk written. */
  readonly onBytesSent: (bytes: number) => void;
}

/** Re-cuts a byte stream into pieces of exactly `size` bytes (the last may be shorter). */
export async function* rechunk(source: AsyncIterable<Uint8Array>, size: number): AsyncGenerator<Uint8Array> {
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  const take = (): Uint8Array => {
    const out = pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    return out;
  };
  for await (const piece of source) {
    let rest = piece;
    while (pendingBytes + rest.length >= size) {
      const head = size - pendingBytes;
      pending.push(rest.subarray(0, head));
      pendingBytes = size;
      rest = rest.subarray(head);
      yield take();
    }
    if (rest.length > 0) {
      pending.push(rest);
      pendingBytes += rest.length;
    }
  }
  if (pendingBytes > 0) yield take();
}

/** How the call ended: the peer's ack, or the error status. */
type CallOutcome = { readonly ok: true; readonly ack: Buffer } | { readonly ok: false; readonly error: ServiceError };

/** Thrown into the sending loop when the call ended (or was aborted) before the loop finished. */
class CallEnded extends Error {}

/**
 * Streams one snapshot and resolves to the number of bytes the peer verified. Rejects with
 * `SnapshotTransferError` if the source fails, the call fails, or the peer refuses the snapshot.
 */
export async function sendSnapshotChunks(options: SnapshotSendOptions): Promise<number> {
  const metadata = new Metadata();
  metadata.set(peerMetadataKeys.from, options.from);
  metadata.set(peerMetadataKeys.to, options.message.to);
  let call!: ClientWritableStream<Uint8Array>;
  const outcome = new Promise<CallOutcome>((resolve) => {
    call = options.client.makeClientStreamRequest<Uint8Array, Buffer>(
      raftPeerPaths.sendSnapshot,
      serializeBytes,
      deserializeBytes,
      metadata,
      { deadline: Date.now() + options.deadlineMs },
      (error, ack) => resolve(error !== null || ack === undefined ? { ok: false, error: error as ServiceError } : { ok: true, ack }),
    );
  });
  const onAbort = (): void => call.cancel();
  if (options.signal.aborted) call.cancel();
  options.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const sent = await writeChunks(options, call, outcome);
    const result = await outcome;
    if (!result.ok) throw callFailure(result.error);
    const { bytesReceived } = decodeSnapshotAck(result.ack);
    if (bytesReceived !== sent) throw new SnapshotTransferError('checksum', `sent ${sent} bytes, the peer acknowledged ${bytesReceived}`);
    return sent;
  } catch (e) {
    if (e instanceof CallEnded) {
      const result = await outcome;
      throw result.ok ? new SnapshotTransferError('interrupted', 'the call ended early') : callFailure(result.error);
    }
    call.cancel();
    throw e instanceof SnapshotTransferError ? e : new SnapshotTransferError('interrupted', e instanceof Error ? e.message : String(e));
  } finally {
    options.signal.removeEventListener('abort', onAbort);
  }
}

/** The failure a call's error status stands for (the receiver's statuses are listed in raft.proto). */
function callFailure(error: ServiceError | undefined): SnapshotTransferError {
  const reasons: Partial<Record<number, SnapshotFailure>> = {
    [grpcStatus.DATA_LOSS]: 'checksum',
    [grpcStatus.INVALID_ARGUMENT]: 'malformed',
    [grpcStatus.RESOURCE_EXHAUSTED]: 'busy',
    [grpcStatus.CANCELLED]: 'interrupted',
    [grpcStatus.DEADLINE_EXCEEDED]: 'interrupted',
    [grpcStatus.UNAVAILABLE]: 'interrupted',
  };
  const reason = (error === undefined ? undefined : reasons[error.code]) ?? 'refused';
  return new SnapshotTransferError(reason, error?.details || error?.message || 'no answer from the peer');
}

/** Writes every chunk, then half-closes the call. Returns the bytes sent. */
async function writeChunks(options: SnapshotSendOptions, call: ClientWritableStream<Uint8Array>, outcome: Promise<CallOutcome>): Promise<number> {
  const ended = outcome.then(() => {
    throw new CallEnded();
  });
  ended.catch(() => {}); // Observed through the races below.
  const hash = createHash('sha256');
  let offset = 0;
  let header: SnapshotMessage | null = options.message;
  const write = async (chunk: SnapshotChunk): Promise<void> => {
    const bytes = encodeSnapshotChunk(chunk);
    options.onBytesSent(bytes.length);
    if (!call.write(bytes)) await Promise.race([once(call, 'drain'), ended]);
  };
  const pieces = rechunk(options.data, options.chunkBytesMax)[Symbol.asyncIterator]();
  try {
    for (;;) {
      const next = await Promise.race([pieces.next(), ended]);
      if (next.done === true) break;
      hash.update(next.value);
      await write({ header, offset, data: next.value, last: false, totalBytes: 0, sha256: new Uint8Array(0) });
      header = null;
      offset += next.value.length;
    }
  } finally {
    // Closes the source (a LevelDB iterator, a file) if the loop stopped early.
    void pieces.return(undefined).catch(() => {});
  }
  await write({ header, offset, data: new Uint8Array(0), last: true, totalBytes: offset, sha256: hash.digest() });
  call.end();
  return offset;
}
