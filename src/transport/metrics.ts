/**
 * Metric hooks of the peer transport. The transport only counts; `server/` implements this
 * interface with prom-client (`raftkv_peer_messages_sent_total{peer=...}` and so on) and passes
 * it down. Every method is a counter increment and must be cheap and must not throw.
 * `registerPeerSecurityMetrics` is the one prom-client counter this module defines itself: the
 * rejections of the peer port, counted by reason only (a rejected caller's id is its own claim,
 * and must not become a label).
 */
import { Counter } from 'prom-client';
import type { Registry } from 'prom-client';
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

/** Why the peer port refused a call or dropped a message before Raft saw it (peer-admission.ts). */
export type PeerRejection =
  /** No usable identity: no node certificate on a TLS peer port, or no `raftkv-from` at all. */
  | 'unauthenticated'
  /** The certificate names another node than the call claims (or this node itself). */
  | 'identityMismatch'
  /** A message whose `from` is not the node the stream (or snapshot) belongs to. */
  | 'forgedSender'
  /** A message from a node that is neither a member nor being added. */
  | 'notMember';

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
  /** Calls refused or messages dropped by the peer port's admission checks, by reason. */
  peerRejected(reason: PeerRejection, count: number): void;
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
  peerRejected: () => {},
});

/** The peer-port rejection counter on `registry`, and the hook that increments it. */
export function registerPeerSecurityMetrics(registry: Registry): (reason: PeerRejection, count: number) => void {
  const counter = new Counter({
    name: 'raftkv_peer_rejected_total',
    help: 'Peer calls refused and peer messages dropped before Raft saw them: unauthenticated, identityMismatch, forgedSender, notMember',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  for (const reason of ['unauthenticated', 'identityMismatch', 'forgedSender', 'notMember'] as const) counter.inc({ reason }, 0);
  return (reason, count) => counter.inc({ reason }, count);
}
