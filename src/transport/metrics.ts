/**
 * Metric hooks of the peer transport. The transport only counts; `server/` implements this
 * interface with prom-client (`raftkv_peer_messages_sent_total{peer=...}` and so on) and passes
 * it down. Every method is a counter increment and must be cheap and must not throw.
 */
import type { NodeId } from '../util/index.js';

/** Why a message was not delivered. */
export type DropReason =
  /** The peer's bounded send queue was full (limits.peerQueueMessagesMax). Raft resends. */
  | 'queueFull'
  /** The message was addressed to a node that is not in the peer map (or to this node itself). */
  | 'unknownPeer'
  /** The encoded message is larger than the transport's `messageBytesMax`. */
  | 'tooLarge'
  /** The transport was not running (before `start()` or after `stop()`). */
  | 'stopped'
  /** Received from a peer, but it could not be decoded or failed validation. */
  | 'malformed'
  /** Received from a peer, but addressed to another node. */
  | 'misaddressed';

/** Counters the transport reports. `peer` is the remote node on both the send and receive side. */
export interface TransportMetrics {
  /** Messages written to a peer's stream. */
  messagesSent(peer: NodeId, count: number): void;
  /** Messages dropped, by reason. */
  messagesDropped(peer: NodeId, reason: DropReason, count: number): void;
  /** Batches (stream writes) sent to a peer. */
  batchesSent(peer: NodeId, count: number): void;
  /** Bytes sent to a peer (message batches and snapshot chunks, as encoded). */
  bytesSent(peer: NodeId, bytes: number): void;
  /** Reconnection attempts scheduled after a peer's stream failed or could not be opened. */
  reconnects(peer: NodeId): void;
  /** Messages received from a peer and handed to the node. */
  messagesReceived(peer: NodeId, count: number): void;
  /** Bytes received from a peer (message batches and snapshot chunks, as encoded). */
  bytesReceived(peer: NodeId, bytes: number): void;
  /** Message streams accepted from a peer by the local peer service. */
  streamsAccepted(peer: NodeId): void;
  /** Snapshot transfers this node finished sending, successfully or not. */
  snapshotsSent(peer: NodeId, ok: boolean): void;
  /** Snapshot transfers this node finished receiving, successfully or not. */
  snapshotsReceived(peer: NodeId, ok: boolean): void;
}

/** Metrics that count nothing: the default. */
export const noopTransportMetrics: TransportMetrics = Object.freeze({
  messagesSent: () => {},
  messagesDropped: () => {},
  batchesSent: () => {},
  bytesSent: () => {},
  reconnects: () => {},
  messagesReceived: () => {},
  bytesReceived: () => {},
  streamsAccepted: () => {},
  snapshotsSent: () => {},
  snapshotsReceived: () => {},
});
