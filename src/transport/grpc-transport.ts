/**
 * The gRPC peer transport of a node. Sending: one `PeerStream` per peer (one long-lived
 * RaftPeer.Stream each, batched, bounded, reconnected with backoff) and one short-lived
 * SendSnapshot call per snapshot transfer, on a channel of its own so that a multi-megabyte
 * transfer does not share connection state with the message stream. Receiving: the RaftPeer
 * service, which the node adds to its peer-port server with
 * `addRaftPeerService(server, transport.serviceOptions())`.
 */
import { Client, credentials as grpcCredentials } from '@grpc/grpc-js';
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import { assert, noopLogger } from '../util/index.js';
import type { Limits, Logger, NodeId } from '../util/index.js';
import type { Message, SnapshotMessage } from '../raft/index.js';
import { encodeMessage, framedSize } from './codec.js';
import { noopTransportMetrics } from './metrics.js';
import type { TransportMetrics } from './metrics.js';
import { peerChannelOptions, transportDefaults } from './options.js';
import type { RaftPeerServiceOptions } from './peer-server.js';
import { PeerStream } from './peer-stream.js';
import type { PeerStreamContext, PeerStreamStatus } from './peer-stream.js';
import { sendSnapshotChunks } from './snapshot-sender.js';
import type { Transport, TransportHandlers } from './transport.js';

/** Options of a `GrpcTransport`. Everything after `handlers` has a default. */
export interface GrpcTransportOptions {
  /** This node's id. Every message sent must come from it. */
  readonly nodeId: NodeId;
  /** This node's advertised client address, announced to peers (for their leader hints). */
  readonly clientAddress?: string;
  /** The initial peers: node id to host:port of its peer port. */
  readonly peers: ReadonlyMap<NodeId, string>;
  /** `peerQueueMessagesMax` bounds each peer's queue; `snapshotChunkBytesMax` each chunk. */
  readonly limits: Pick<Limits, 'peerQueueMessagesMax' | 'snapshotChunkBytesMax'>;
  /** The node's callbacks (the receiving ones are used by `serviceOptions()`). */
  readonly handlers: TransportHandlers;
  /** Logger; no-op by default. The transport never creates one. */
  readonly logger?: Logger;
  /** Metric hooks; no-op by default. */
  readonly metrics?: TransportMetrics;
  /** See `transportDefaults.batchBytesMax`. */
  readonly batchBytesMax?: number;
  /** See `transportDefaults.messageBytesMax`. Must match the peers' `peerServerOptions()`. */
  readonly messageBytesMax?: number;
  /** See `transportDefaults.reconnectBackoffBaseMs`. */
  readonly reconnectBackoffBaseMs?: number;
  /** See `transportDefaults.reconnectBackoffMaxMs`. */
  readonly reconnectBackoffMaxMs?: number;
  /** See `transportDefaults.keepaliveTimeMs`. */
  readonly keepaliveTimeMs?: number;
  /** See `transportDefaults.keepaliveTimeoutMs`. */
  readonly keepaliveTimeoutMs?: number;
  /** See `transportDefaults.snapshotDeadlineMs`. */
  readonly snapshotDeadlineMs?: number;
  /** See `transportDefaults.snapshotReceivesMax` (used by `serviceOptions()`). */
  readonly snapshotReceivesMax?: number;
  /** Uniform random numbers in [0, 1) for the backoff jitter; `Math.random` by default. */
  readonly random?: () => number;
  /** Channel credentials of every peer; insecure by default. */
  readonly channelCredentials?: ChannelCredentials;
  /**
   * Channel credentials per peer (mutual TLS that checks the server is the node dialled, see
   * src/tls/credentials.ts); called once per peer. Takes precedence over `channelCredentials`.
   */
  readonly peerCredentials?: (peer: NodeId) => ChannelCredentials;
}

/** The transport's lifecycle. */
type State = 'new' | 'running' | 'stopped';

/** The gRPC implementation of `Transport`. */
export class GrpcTransport implements Transport {
  /** Per-peer senders, by node id. */
  private readonly peers = new Map<NodeId, PeerStream>();
  /** Snapshot transfers in flight, by peer: at most one each. */
  private readonly snapshotsInFlight = new Map<NodeId, AbortController>();
  /** What every peer stream shares (logger, metrics, limits, backoff, credentials). */
  private readonly ctx: PeerStreamContext;
  private readonly logger: Logger;
  private readonly metrics: TransportMetrics;
  /** The largest encoded message sent; larger ones are dropped as `tooLarge`. */
  private readonly messageBytesMax: number;
  /** Deadline of one whole snapshot transfer. */
  private readonly snapshotDeadlineMs: number;
  /** Options of every channel to a peer (keepalive, limits, backoff). */
  private readonly channelOptions: ChannelOptions;
  /** Lifecycle. Invariant: `peers` is empty once `stopped`. */
  private state: State = 'new';

  constructor(private readonly options: GrpcTransportOptions) {
    this.logger = options.logger ?? noopLogger;
    this.metrics = options.metrics ?? noopTransportMetrics;
    this.messageBytesMax = options.messageBytesMax ?? transportDefaults.messageBytesMax;
    this.snapshotDeadlineMs = options.snapshotDeadlineMs ?? transportDefaults.snapshotDeadlineMs;
    const reconnectBackoffBaseMs = options.reconnectBackoffBaseMs ?? transportDefaults.reconnectBackoffBaseMs;
    const reconnectBackoffMaxMs = options.reconnectBackoffMaxMs ?? transportDefaults.reconnectBackoffMaxMs;
    const batchBytesMax = options.batchBytesMax ?? transportDefaults.batchBytesMax;
    assert(options.limits.peerQueueMessagesMax > 0, 'peerQueueMessagesMax must be positive');
    assert(batchBytesMax > 0 && batchBytesMax <= this.messageBytesMax, 'batchBytesMax must be in (0, messageBytesMax]');
    assert(options.limits.snapshotChunkBytesMax < this.messageBytesMax, 'snapshotChunkBytesMax must be below messageBytesMax');
    assert(reconnectBackoffBaseMs > 0 && reconnectBackoffBaseMs <= reconnectBackoffMaxMs, 'need 0 < reconnectBackoffBaseMs <= reconnectBackoffMaxMs');
    this.channelOptions = peerChannelOptions({ ...options, reconnectBackoffBaseMs, reconnectBackoffMaxMs });
    const shared = options.channelCredentials ?? grpcCredentials.createInsecure();
    const perPeer = options.peerCredentials;
    const byPeer = new Map<NodeId, ChannelCredentials>();
    const credentialsFor = (peer: NodeId): ChannelCredentials => {
      if (perPeer === undefined) return shared;
      let c = byPeer.get(peer);
      if (c === undefined) {
        c = perPeer(peer);
        byPeer.set(peer, c);
      }
      return c;
    };
    this.ctx = {
      ...(options.clientAddress ? { clientAddress: options.clientAddress } : {}),
      nodeId: options.nodeId,
      logger: this.logger,
      metrics: this.metrics,
      credentialsFor,
      // With per-peer TLS the server name sent (SNI) is the peer's node id, which its certificate
      // carries as a DNS name: never an IP address, which SNI does not allow.
      channelOptionsFor: (peer) => (perPeer === undefined ? this.channelOptions : { ...this.channelOptions, 'grpc.ssl_target_name_override': peer }),
      queueMessagesMax: options.limits.peerQueueMessagesMax,
      batchBytesMax,
      reconnectBackoffBaseMs,
      reconnectBackoffMaxMs,
      random: options.random ?? Math.random,
      reportUnreachable: (peer) => this.later(() => options.handlers.onUnreachable(peer)),
    };
    this.setPeers(options.peers);
  }

  /** The options for `addRaftPeerService`, so that the node hosts the receiving side. */
  serviceOptions(): RaftPeerServiceOptions {
    const { nodeId, limits, handlers, logger, metrics, snapshotReceivesMax } = this.options;
    return { nodeId, limits, handlers, logger, metrics, snapshotReceivesMax };
  }

  async start(): Promise<void> {
    assert(this.state === 'new', () => `start() on a ${this.state} transport`);
    this.state = 'running';
    for (const peer of this.peers.values()) peer.open();
  }

  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    for (const peer of this.peers.values()) peer.close();
    this.peers.clear();
    for (const abort of this.snapshotsInFlight.values()) abort.abort();
  }

  send(messages: readonly Message[]): void {
    for (const m of messages) {
      assert(m.from === this.options.nodeId, () => `sending a message from ${m.from} through the transport of ${this.options.nodeId}`);
      const peer = this.peers.get(m.to);
      if (this.state !== 'running' || peer === undefined) {
        this.metrics.messagesDropped(m.to, this.state === 'running' ? 'unknownPeer' : 'stopped', 1);
        if (this.state === 'running') this.logger.debug({ peer: m.to, type: m.type }, 'dropped a message to an unknown peer');
        continue;
      }
      const encoded = encodeMessage(m);
      if (framedSize(encoded) > this.messageBytesMax) {
        this.metrics.messagesDropped(m.to, 'tooLarge', 1);
        this.logger.warn({ peer: m.to, type: m.type, bytes: encoded.length, messageBytesMax: this.messageBytesMax }, 'dropped a message larger than messageBytesMax');
        continue;
      }
      peer.enqueue(encoded);
    }
  }

  async sendSnapshot(to: NodeId, message: SnapshotMessage, data: AsyncIterable<Uint8Array>): Promise<boolean> {
    assert(message.to === to && message.from === this.options.nodeId, () => `snapshot message ${message.from}->${message.to} sent to ${to}`);
    const peer = this.peers.get(to);
    if (this.state !== 'running' || peer === undefined || this.snapshotsInFlight.has(to)) {
      const why = this.state !== 'running' ? 'the transport is not running' : peer === undefined ? 'unknown peer' : 'a transfer is already in progress';
      this.logger.warn({ peer: to, why }, 'snapshot not sent');
      return this.finishSnapshot(to, false);
    }
    const abort = new AbortController();
    this.snapshotsInFlight.set(to, abort);
    const index = message.snapshot.metadata.index;
    let client: Client | null = null;
    try {
      client = new Client(peer.status().address, this.ctx.credentialsFor(to), this.ctx.channelOptionsFor(to));
      const bytes = await sendSnapshotChunks({
        client,
        from: this.options.nodeId,
        message,
        data,
        chunkBytesMax: this.options.limits.snapshotChunkBytesMax,
        deadlineMs: this.snapshotDeadlineMs,
        signal: abort.signal,
        onBytesSent: (n) => this.metrics.bytesSent(to, n),
      });
      this.logger.info({ peer: to, index, bytes }, 'sent a snapshot');
      return this.finishSnapshot(to, true);
    } catch (e) {
      this.logger.warn({ peer: to, index, err: e instanceof Error ? e.message : String(e) }, 'snapshot transfer failed');
      return this.finishSnapshot(to, false);
    } finally {
      this.snapshotsInFlight.delete(to);
      client?.close();
    }
  }

  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    if (this.state === 'stopped') return;
    for (const [id, peer] of this.peers) {
      if (!peers.has(id)) {
        peer.close();
        this.peers.delete(id);
        this.snapshotsInFlight.get(id)?.abort();
        this.logger.info({ peer: id }, 'peer removed');
      }
    }
    for (const [id, address] of peers) {
      if (id === this.options.nodeId) continue;
      const existing = this.peers.get(id);
      if (existing !== undefined) {
        existing.setAddress(address);
        continue;
      }
      const peer = new PeerStream(this.ctx, id, address);
      this.peers.set(id, peer);
      if (this.state === 'running') peer.open();
    }
  }

  /** Each peer's sending state (for tests and status pages). */
  peerStatus(): PeerStreamStatus[] {
    return [...this.peers.values()].map((p) => p.status());
  }

  private finishSnapshot(to: NodeId, ok: boolean): boolean {
    this.metrics.snapshotsSent(to, ok);
    this.later(() => this.options.handlers.onSnapshotStatus(to, ok));
    return ok;
  }

  /** Runs a callback on a later turn, unless the transport has stopped by then. */
  private later(callback: () => void): void {
    setImmediate(() => {
      if (this.state === 'running') callback();
    });
  }
}
