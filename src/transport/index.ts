/**
 * transport: the gRPC peer transport (Raft messages over one batched stream per peer, snapshot
 * streaming), its in-memory twin for tests, and the binary codec of proto/raft.proto.
 */
export type { Transport, TransportHandlers } from './transport.js';
export { GrpcTransport } from './grpc-transport.js';
export type { GrpcTransportOptions } from './grpc-transport.js';
export type { PeerStreamStatus } from './peer-stream.js';
export { addRaftPeerService } from './peer-server.js';
export type { RaftPeerServiceOptions } from './peer-server.js';
export { peerChannelOptions, peerServerOptions, transportDefaults } from './options.js';
export type { ConnectionOptions } from './options.js';
export { MemoryNetwork, MemoryTransport } from './memory-transport.js';
export type { MemoryTransportOptions } from './memory-transport.js';
export { noopTransportMetrics, registerPeerSecurityMetrics } from './metrics.js';
export type { DropReason, PeerRejection, TransportMetrics } from './metrics.js';
export { SenderFilter, admitCall } from './peer-admission.js';
export type { Admission, AdmissionContext, CallAuthContext, PeerAuthentication } from './peer-admission.js';
export { MalformedMessageError, SnapshotTransferError } from './errors.js';
export type { SnapshotFailure } from './errors.js';
export { fullJitterBackoffMs } from './backoff.js';
export type { BackoffOptions } from './backoff.js';
export {
  decodeBatch,
  decodeMessage,
  decodeSnapshotAck,
  decodeSnapshotChunk,
  decodeStreamAck,
  encodeBatch,
  encodeMessage,
  encodeSnapshotAck,
  encodeSnapshotChunk,
  encodeStreamAck,
} from './codec.js';
export type { DecodedBatch, SnapshotAck, SnapshotChunk, StreamAck } from './codec.js';
export { peerMetadataKeys, raftPeerPaths, raftPeerServiceDefinition } from './service.js';
