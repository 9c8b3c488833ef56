/**
 * The peer transport: how the driver loop in `server/` hands Raft messages to other nodes and
 * receives theirs. Implementations: `GrpcTransport` (the node) and `MemoryTransport` (tests).
 *
 * Delivery is best effort, in order per peer, at most once: Raft tolerates loss, duplication by
 * retransmission and reordering across peers, so the transport never retries a message itself.
 * It drops instead of blocking, counts what it drops, and reports the peer as unreachable so that
 * the leader falls back to probing (etcd-io/raft `ReportUnreachable`).
 */
import type { NodeId } from '../util/index.js';
import type { Message, SnapshotMessage } from '../raft/index.js';

/**
 * What the transport calls back. Callbacks are never invoked re-entrantly from `send()` or
 * `sendSnapshot()`: they always run from a later event-loop turn, so the driver can call
 * `send()` while it holds a Ready.
 */
export interface TransportHandlers {
  /**
   * A message arrived from a peer. Messages from one peer arrive in the order that peer sent
   * them. Called synchronously from the network event: queue the message, do not block.
   */
  onMessage(message: Message): void;
  /**
   * A peer is streaming a snapshot to this node. `message` is its InstallSnapshot message (the
   * Raft metadata; its `snapshot.data` is whatever the sender put inline, usually empty).
   * `chunks` yields the snapshot's bytes in order and may be iterated once. It ends normally only
   * after the whole transfer's length and checksum have been verified; if it throws, the bytes
   * already yielded must be discarded. Resolve once the snapshot is durably staged (the sender
   * is then told it succeeded); reject to refuse it. The handler must read `chunks` to the end
   * before resolving, or the transfer counts as failed.
   */
  onSnapshot(message: SnapshotMessage, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /**
   * Messages to `peer` were lost: its stream failed, or its queue overflowed and messages were
   * dropped. Reported once per episode, not once per lost message. The driver passes it to
   * Raft so that the leader probes the follower instead of sending optimistically.
   */
  onUnreachable(peer: NodeId): void;
  /** A `sendSnapshot` to `peer` finished: `ok` is true if the peer verified and accepted it. */
  onSnapshotStatus(peer: NodeId, ok: boolean): void;
  /** A peer opened a message stream and announced its advertised client address. */
  onPeerInfo?(peer: NodeId, info: { readonly clientAddress: string }): void;
}

/** Sends Raft messages and snapshots to the other members of the cluster. */
export interface Transport {
  /** Starts connecting to the peers. Messages sent before `start()` are dropped. */
  start(): Promise<void>;
  /**
   * Closes every connection and cancels snapshot transfers in flight. Queued messages are
   * dropped; no callback runs after the returned promise resolves. A stopped transport stays
   * stopped.
   */
  stop(): Promise<void>;
  /**
   * Queues messages for their peers (`message.to`) and returns at once: never blocks, never
   * throws for a slow, dead or unknown peer. A message to a peer whose queue is full is dropped.
   * Every message must come from this node.
   */
  send(messages: readonly Message[]): void;
  /**
   * Streams a snapshot to `to`: `message` is the InstallSnapshot message (with `to` equal to
   * `to`), `data` the snapshot's bytes, read lazily so that memory stays bounded. The source must
   * not reuse a buffer it has yielded. Resolves to true once the peer verified the checksum and
   * accepted the snapshot, false otherwise; never rejects. `onSnapshotStatus` reports the same.
   * At most one transfer per peer runs at a time; a second one resolves to false at once.
   */
  sendSnapshot(to: NodeId, message: SnapshotMessage, data: AsyncIterable<Uint8Array>): Promise<boolean>;
  /**
   * Replaces the peer map (node id to address, for example `10.0.0.2:7001`) after a membership
   * change. New peers are connected, removed peers are disconnected and their queues dropped, and
   * a peer whose address changed is reconnected to the new address (its queue is kept).
   * This node's own id, if present, is ignored.
   */
  setPeers(peers: ReadonlyMap<NodeId, string>): void;
}
