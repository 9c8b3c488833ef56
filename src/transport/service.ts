/**
 * The gRPC definition of `raftkv.raft.v1.RaftPeer` (proto/raft.proto), with pass-through
 * serializers: gRPC moves raw bytes and `codec.ts` encodes and decodes them. Doing the decoding
 * ourselves lets a malformed message be logged and dropped instead of failing the whole call,
 * and lets the sender frame pre-encoded messages into batches without re-encoding.
 * A test checks these paths against the ones @grpc/proto-loader derives from the .proto file.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';

/** Raw bytes to the `Buffer` gRPC writes, without copying. */
function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** gRPC hands received messages over as they are. */
function passThrough(bytes: Buffer): Buffer {
  return bytes;
}

/** The RPC paths. */
export const raftPeerPaths = Object.freeze({
  stream: '/raftkv.raft.v1.RaftPeer/Stream',
  sendSnapshot: '/raftkv.raft.v1.RaftPeer/SendSnapshot',
});

/** Metadata keys the sending side puts on every peer call. */
export const peerMetadataKeys = Object.freeze({
  /** The caller's node id. */
  from: 'raftkv-from',
  /** The node id the caller expects to reach; any other node refuses the call. */
  to: 'raftkv-to',
  /** The caller's advertised client address, so that peers can send clients to it (leader hints). */
  clientAddress: 'raftkv-client-address',
});

/** The RaftPeer service for `grpc.Server.addService`, working on raw bytes. */
export const raftPeerServiceDefinition = {
  stream: {
    path: raftPeerPaths.stream,
    requestStream: true,
    responseStream: true,
    requestSerialize: toBuffer,
    requestDeserialize: passThrough,
    responseSerialize: toBuffer,
    responseDeserialize: passThrough,
    originalName: 'Stream',
  },
  sendSnapshot: {
    path: raftPeerPaths.sendSnapshot,
    requestStream: true,
    responseStream: false,
    requestSerialize: toBuffer,
    requestDeserialize: passThrough,
    responseSerialize: toBuffer,
    responseDeserialize: passThrough,
    originalName: 'SendSnapshot',
  },
} satisfies ServiceDefinition;

/** Serializes outgoing bytes for client calls. */
export const serializeBytes = toBuffer;
/** Hands incoming bytes over unchanged for client calls. */
export const deserializeBytes = passThrough;
