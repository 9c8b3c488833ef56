/**
 * The receiving side of the peer protocol: the RaftPeer service a node hosts on its peer port.
 * The node owns the `grpc.Server` (created with `peerServerOptions()`); this module only adds
 * the service. Nothing a peer sends can crash the node: malformed or misaddressed messages are
 * logged at warn, counted and dropped, and the rest of their batch is still delivered. Who may
 * send, and which messages count, is peer-admission.ts: a stream is refused unless its caller is
 * identified, and each message must come from that caller while it is a member.
 */
import { status as grpcStatus } from '@grpc/grpc-js';
import type { Metadata, Server, ServerDuplexStream } from '@grpc/grpc-js';
import { noopLogger } from '../util/index.js';
import type { Limits, Logger, NodeId } from '../util/index.js';
import { decodeBatch, encodeStreamAck } from './codec.js';
import { MalformedMessageError } from './errors.js';
import { noopTransportMetrics } from './metrics.js';
import type { TransportMetrics } from './metrics.js';
import { transportDefaults } from './options.js';
import { SenderFilter, admitCall } from './peer-admission.js';
import type { AdmissionContext, PeerAuthentication } from './peer-admission.js';
import { raftPeerServiceDefinition, peerMetadataKeys } from './service.js';
import { handleSendSnapshot } from './snapshot-receiver.js';
import type { SnapshotReceiverContext } from './snapshot-receiver.js';
import type { TransportHandlers } from './transport.js';

/** What `addRaftPeerService` needs. */
export interface RaftPeerServiceOptions {
  /** This node's id: messages and snapshots addressed to another node are refused. */
  readonly nodeId: NodeId;
  /** `snapshotChunkBytesMax` bounds every received chunk. */
  readonly limits: Pick<Limits, 'snapshotChunkBytesMax'>;
  /** Where received messages and snapshots go. */
  readonly handlers: Pick<TransportHandlers, 'onMessage' | 'onSnapshot' | 'onPeerInfo'>;
  /** Logger; no-op by default. */
  readonly logger?: Logger;
  /** Metric hooks; no-op by default. */
  readonly metrics?: TransportMetrics;
  /** Snapshot transfers received at once; see `transportDefaults.snapshotReceivesMax`. */
  readonly snapshotReceivesMax?: number;
  /**
   * `certificate`: the server port requires client certificates (mutual TLS) and a caller is the
   * node its certificate names. `none` (the default): a caller is who `raftkv-from` says.
   */
  readonly authentication?: PeerAuthentication;
  /**
   * Whether a node id is a member or being added; messages (and client addresses) from any
   * other node are dropped. Default: every node is known (for tests of the transport alone).
   */
  readonly isKnownPeer?: (id: NodeId) => boolean;
}

/** Longest client address a peer may announce. */
const clientAddressLengthMax = 512;

/** The first value of a metadata key, if it is a string. */
function metadataString(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === 'string' ? value : undefined;
}

/** Per-stream receiving state. */
interface StreamState {
  /** The sending peer: its certificate's node id, or its `raftkv-from` without TLS. */
  readonly peer: NodeId;
  /** Drops messages that do not come from `peer`, or come while it is not a member. */
  readonly senders: SenderFilter;
  /** The client address the peer announced, until it is delivered (once the peer is known). */
  pendingClientAddress: string | null;
  /** Batches received so far on this stream. */
  batches: number;
  /** Messages dropped so far on this stream. */
  rejected: number;
}

interface ServiceContext {
  readonly nodeId: NodeId;
  readonly onMessage: TransportHandlers['onMessage'];
  readonly onPeerInfo?: TransportHandlers['onPeerInfo'];
  readonly logger: Logger;
  readonly metrics: TransportMetrics;
  readonly admission: AdmissionContext;
}

/**
 * Hands the peer's announced client address to the node once the peer is a known member: a
 * leader hint must never point clients at an address a stranger chose.
 */
function deliverPeerInfo(ctx: ServiceContext, state: StreamState): void {
  const clientAddress = state.pendingClientAddress;
  if (clientAddress === null || !state.senders.peerIsKnown()) return;
  state.pendingClientAddress = null;
  ctx.onPeerInfo?.(state.peer, { clientAddress });
}

/** Delivers one received batch; returns how many of its messages were dropped. */
function deliverBatch(ctx: ServiceContext, state: StreamState, bytes: Buffer): number {
  const { peer } = state;
  ctx.metrics.bytesReceived(peer, bytes.length);
  let decoded;
  try {
    decoded = decodeBatch(bytes);
  } catch (e) {
    if (!(e instanceof MalformedMessageError)) throw e;
    ctx.logger.warn({ peer, bytes: bytes.length, err: e.message }, 'dropped a malformed message batch from a peer');
    ctx.metrics.messagesDropped(peer, 'malformed', 1);
    return 1;
  }
  if (decoded.rejected.length > 0) {
    ctx.logger.warn({ peer, dropped: decoded.rejected.length, err: decoded.rejected[0]?.message }, 'dropped malformed messages from a peer');
    ctx.metrics.messagesDropped(peer, 'malformed', decoded.rejected.length);
  }
  let misaddressed = 0;
  let delivered = 0;
  let refused = 0;
  for (const message of decoded.messages) {
    if (message.to !== ctx.nodeId) {
      misaddressed += 1;
      continue;
    }
    if (!state.senders.accepts(message.from)) {
      refused += 1;
      continue;
    }
    ctx.onMessage(message);
    delivered += 1;
  }
  if (misaddressed > 0) {
    ctx.logger.warn({ peer, dropped: misaddressed, nodeId: ctx.nodeId }, 'dropped messages addressed to another node');
    ctx.metrics.messagesDropped(peer, 'misaddressed', misaddressed);
  }
  ctx.metrics.messagesReceived(peer, delivered);
  if (delivered > 0) deliverPeerInfo(ctx, state);
  return decoded.rejected.length + misaddressed + refused;
}

/** The handler of RaftPeer.Stream: one call per sending peer, for as long as it is connected. */
function handleStream(ctx: ServiceContext): (call: ServerDuplexStream<Buffer, Uint8Array>) => void {
  return (call) => {
    const admission = admitCall(ctx.admission, metadataString(call.metadata, peerMetadataKeys.from), call.getAuthContext(), 'message stream');
    if (!admission.ok) {
      call.emit('error', { code: grpcStatus.PERMISSION_DENIED, details: admission.details });
      return;
    }
    const { peer } = admission;
    const expected = metadataString(call.metadata, peerMetadataKeys.to);
    if (expected !== undefined && expected !== ctx.nodeId) {
      ctx.logger.warn({ peer, expected, nodeId: ctx.nodeId }, 'refused a message stream meant for another node');
      call.emit('error', { code: grpcStatus.FAILED_PRECONDITION, details: `this is node ${ctx.nodeId}, not ${expected}` });
      return;
    }
    ctx.metrics.streamsAccepted(peer);
    const clientAddress = metadataString(call.metadata, peerMetadataKeys.clientAddress);
    ctx.logger.debug({ peer, authenticated: admission.authenticated }, 'accepted a message stream');
    const state: StreamState = {
      peer,
      senders: new SenderFilter(ctx.admission, peer),
      pendingClientAddress: clientAddress !== undefined && clientAddress !== '' && clientAddress.length <= clientAddressLengthMax ? clientAddress : null,
      batches: 0,
      rejected: 0,
    };
    deliverPeerInfo(ctx, state);
    const ack = (): void => {
      // Acks are advisory: if the sender is not reading them, skip rather than buffer.
      if (call.writableNeedDrain) return;
      call.write(encodeStreamAck({ nodeId: ctx.nodeId, batchesReceived: state.batches, messagesRejected: state.rejected }));
    };
    ack();
    call.on('data', (bytes: Buffer) => {
      state.batches += 1;
      const dropped = deliverBatch(ctx, state, bytes);
      if (dropped > 0) {
        state.rejected += dropped;
        ack();
      }
    });
    call.on('end', () => call.end());
    call.on('error', (e: Error) => ctx.logger.debug({ peer, err: e.message }, 'message stream closed with an error'));
  };
}

/**
 * Adds the RaftPeer service to `server`. Call before `server.bindAsync`. The server should be
 * created with `peerServerOptions()` so that its limits and keepalive match the senders'.
 */
export function addRaftPeerService(server: Server, options: RaftPeerServiceOptions): void {
  const logger = options.logger ?? noopLogger;
  const metrics = options.metrics ?? noopTransportMetrics;
  const admission: AdmissionContext = {
    nodeId: options.nodeId,
    authentication: options.authentication ?? 'none',
    isKnownPeer: options.isKnownPeer ?? (() => true),
    logger,
    metrics,
  };
  const ctx: ServiceContext = {
    nodeId: options.nodeId,
    onMessage: (m) => options.handlers.onMessage(m),
    onPeerInfo: (peer, info) => options.handlers.onPeerInfo?.(peer, info),
    logger,
    metrics,
    admission,
  };
  const snapshots: SnapshotReceiverContext = {
    nodeId: options.nodeId,
    snapshotChunkBytesMax: options.limits.snapshotChunkBytesMax,
    onSnapshot: (m, chunks) => options.handlers.onSnapshot(m, chunks),
    logger,
    metrics,
    snapshotReceivesMax: options.snapshotReceivesMax ?? transportDefaults.snapshotReceivesMax,
    active: 0,
    admission,
  };
  server.addService(raftPeerServiceDefinition, {
    stream: handleStream(ctx),
    sendSnapshot: handleSendSnapshot(snapshots),
  });
}
