/**
 * The receiving side of RaftPeer.SendSnapshot: validates chunks as they arrive and hands their
 * bytes to the node as a stream, so memory stays bounded by gRPC's read-ahead (a Node object
 * stream buffers at most 16 messages, so 16 chunks plus the HTTP/2 window), never the whole
 * snapshot. The length and SHA-256 are checked when the last chunk arrives, before the chunk
 * iterator ends normally.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { status as grpcStatus } from '@grpc/grpc-js';
import type { ServerErrorResponse, ServerReadableStream, sendUnaryData } from '@grpc/grpc-js';
import { AssertionError } from '../util/index.js';
import type { Logger, NodeId } from '../util/index.js';
import type { SnapshotMessage } from '../raft/index.js';
import { decodeSnapshotChunk, encodeSnapshotAck } from './codec.js';
import type { SnapshotChunk } from './codec.js';
import { MalformedMessageError, SnapshotTransferError } from './errors.js';
import type { SnapshotFailure } from './errors.js';
import type { TransportMetrics } from './metrics.js';
import { SenderFilter, admitCall } from './peer-admission.js';
import type { AdmissionContext } from './peer-admission.js';
import { peerMetadataKeys } from './service.js';
import type { TransportHandlers } from './transport.js';

/** What the snapshot receiver needs from the peer service. */
export interface SnapshotReceiverContext {
  readonly nodeId: NodeId;
  readonly snapshotChunkBytesMax: number;
  readonly onSnapshot: TransportHandlers['onSnapshot'];
  readonly logger: Logger;
  readonly metrics: TransportMetrics;
  /** Transfers accepted at once. */
  readonly snapshotReceivesMax: number;
  /** Transfers in progress now (shared by all calls of one service). */
  active: number;
  /** Who may send snapshots (peer-admission.ts). */
  readonly admission: AdmissionContext;
}

/** Checks the chunks of one transfer in order: offsets, sizes, header placement, length and digest. */
class ChunkVerifier {
  private readonly hash: Hash = createHash('sha256');
  /** Bytes accepted so far. Invariant: equals the offset the next chunk must have. */
  bytes = 0;

  constructor(private readonly chunkBytesMax: number) {}

  /** Accepts the next chunk or throws `SnapshotTransferError`. */
  accept(chunk: SnapshotChunk, first: boolean): void {
    if (!first && chunk.header !== null) throw failure('malformed', `a header in the chunk at offset ${chunk.offset}`);
    if (chunk.offset !== this.bytes) throw failure('malformed', `chunk at offset ${chunk.offset}, expected ${this.bytes}`);
    if (chunk.data.length > this.chunkBytesMax) {
      throw failure('malformed', `chunk of ${chunk.data.length} bytes exceeds snapshotChunkBytesMax (${this.chunkBytesMax})`);
    }
    this.hash.update(chunk.data);
    this.bytes += chunk.data.length;
    if (chunk.last) this.verifyEnd(chunk);
  }

  private verifyEnd(last: SnapshotChunk): void {
    if (last.totalBytes !== this.bytes) throw failure('checksum', `received ${this.bytes} bytes, the sender announced ${last.totalBytes}`);
    const digest = this.hash.digest();
    if (!digest.equals(last.sha256)) throw failure('checksum', `SHA-256 mismatch after ${this.bytes} bytes`);
  }
}

function failure(reason: SnapshotFailure, message: string): SnapshotTransferError {
  return new SnapshotTransferError(reason, message);
}

/** The gRPC status a failed transfer ends with. */
function statusOf(e: SnapshotTransferError): ServerErrorResponse {
  const code = {
    checksum: grpcStatus.DATA_LOSS,
    malformed: grpcStatus.INVALID_ARGUMENT,
    interrupted: grpcStatus.CANCELLED,
    refused: grpcStatus.ABORTED,
    busy: grpcStatus.RESOURCE_EXHAUSTED,
  }[e.reason];
  return Object.assign(new Error(e.message), { name: 'SnapshotTransferError', code, details: e.message });
}

/** Turns whatever a transfer threw into a `SnapshotTransferError` (rethrowing bugs). */
function asTransferError(e: unknown): SnapshotTransferError {
  if (e instanceof AssertionError) throw e;
  if (e instanceof SnapshotTransferError) return e;
  if (e instanceof MalformedMessageError) return failure('malformed', e.message);
  const message = e instanceof Error ? e.message : String(e);
  return failure('refused', message);
}

/** Reads the first chunk, which must carry the header, addressed to this node. */
async function readHeader(
  ctx: SnapshotReceiverContext,
  chunks: AsyncIterator<Buffer>,
  peer: NodeId,
): Promise<SnapshotChunk & { header: SnapshotMessage }> {
  const next = await chunks.next().catch(() => {
    throw failure('interrupted', 'the stream failed before the first chunk');
  });
  if (next.done === true) throw failure('interrupted', 'the stream ended before the first chunk');
  ctx.metrics.bytesReceived(peer, next.value.length);
  const first = decodeSnapshotChunk(next.value);
  const header = first.header;
  if (header === null) throw failure('malformed', 'the first chunk has no header');
  if (header.to !== ctx.nodeId) throw failure('malformed', `addressed to ${header.to}, this is ${ctx.nodeId}`);
  if (!new SenderFilter(ctx.admission, peer).accepts(header.from)) throw failure('refused', `a snapshot from "${header.from}" on a call from "${peer}", or from a node that is not a member`);
  return { ...first, header };
}

/** Serves one SendSnapshot call to completion; never throws (except for a broken invariant). */
async function receive(ctx: SnapshotReceiverContext, call: ServerReadableStream<Buffer, Buffer>, peer: NodeId): Promise<number> {
  const raw = call[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const first = await readHeader(ctx, raw, peer);
  const verifier = new ChunkVerifier(ctx.snapshotChunkBytesMax);
  let complete = false;
  async function* verified(): AsyncGenerator<Uint8Array> {
    let chunk: SnapshotChunk = first;
    for (let isFirst = true; ; isFirst = false) {
      verifier.accept(chunk, isFirst);
      if (chunk.data.length > 0) yield chunk.data;
      if (chunk.last) break;
      const next = await raw.next().catch(() => {
        throw failure('interrupted', `the stream failed after ${verifier.bytes} bytes`);
      });
      if (next.done === true) throw failure('interrupted', `the stream ended after ${verifier.bytes} bytes, before the last chunk`);
      ctx.metrics.bytesReceived(peer, next.value.length);
      chunk = decodeSnapshotChunk(next.value);
    }
    const after = await raw.next();
    if (after.done !== true) throw failure('malformed', 'data after the last chunk');
    complete = true;
  }
  await ctx.onSnapshot(first.header, verified());
  if (!complete) throw failure('refused', 'the snapshot handler returned before reading every chunk');
  return verifier.bytes;
}

/** The handler of RaftPeer.SendSnapshot. */
export function handleSendSnapshot(ctx: SnapshotReceiverContext): (call: ServerReadableStream<Buffer, Buffer>, callback: sendUnaryData<Buffer>) => void {
  return (call, callback) => {
    const claimed = call.metadata.get(peerMetadataKeys.from)[0];
    const admission = admitCall(ctx.admission, typeof claimed === 'string' ? claimed : undefined, call.getAuthContext(), 'snapshot transfer');
    if (!admission.ok) {
      callback(Object.assign(new Error(admission.details), { code: grpcStatus.PERMISSION_DENIED, details: admission.details }));
      return;
    }
    const { peer } = admission;
    if (ctx.active >= ctx.snapshotReceivesMax) {
      ctx.logger.warn({ peer, snapshotReceivesMax: ctx.snapshotReceivesMax }, 'refusing a snapshot transfer: too many in progress');
      ctx.metrics.snapshotsReceived(peer, false);
      callback(statusOf(failure('busy', `already receiving ${ctx.active} snapshots`)));
      return;
    }
    ctx.active += 1;
    receive(ctx, call, peer).then(
      (bytes) => {
        ctx.active -= 1;
        ctx.metrics.snapshotsReceived(peer, true);
        ctx.logger.info({ peer, bytes }, 'received a snapshot');
        callback(null, Buffer.from(encodeSnapshotAck({ bytesReceived: bytes })));
      },
      (e: unknown) => {
        ctx.active -= 1;
        ctx.metrics.snapshotsReceived(peer, false);
        const error = asTransferError(e);
        ctx.logger.warn({ peer, reason: error.reason, err: error.message }, 'snapshot transfer failed');
        callback(statusOf(error));
      },
    );
  };
}
