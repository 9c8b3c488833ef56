/**
 * An in-process `Transport` for tests of the node and the driver loop: transports registered on
 * one `MemoryNetwork` exchange messages without sockets. It keeps the contract of the gRPC
 * transport where it matters to the caller: `send()` never blocks, each peer has a bounded queue
 * that drops when full, messages are delivered in order per peer on a later event-loop turn,
 * lost messages are reported through `onUnreachable`, and snapshots are streamed in chunks of at
 * most limits.snapshotChunkBytesMax. Messages cross as bytes through the codec, as on the wire,
 * so the receiver never shares an object with the sender.
 */
import { assert, noopLogger } from '../util/index.js';
import type { Limits, Logger, NodeId } from '../util/index.js';
import type { Message, SnapshotMessage } from '../raft/index.js';
import { decodeMessage, encodeMessage } from './codec.js';
import { SnapshotTransferError } from './errors.js';
import { rechunk } from './snapshot-sender.js';
import type { Transport, TransportHandlers } from './transport.js';

/** Connects `MemoryTransport`s by address, with links that tests can cut. */
export class MemoryNetwork {
  /** Running transports, by address. */
  private readonly endpoints = new Map<string, MemoryTransport>();
  /** Cut links, as `from->to` node id pairs (one direction each). */
  private readonly cut = new Set<string>();

  /** Cuts the links between `a` and `b`, both ways: messages between them are lost. */
  partition(a: NodeId, b: NodeId): void {
    this.cut.add(`${a}->${b}`);
    this.cut.add(`${b}->${a}`);
  }

  /** Restores the links between `a` and `b`. */
  heal(a: NodeId, b: NodeId): void {
    this.cut.delete(`${a}->${b}`);
    this.cut.delete(`${b}->${a}`);
  }

  /** Restores every link. */
  healAll(): void {
    this.cut.clear();
  }

  /** @internal Called by `MemoryTransport.start()`. */
  register(address: string, transport: MemoryTransport): void {
    assert(!this.endpoints.has(address), () => `address ${address} is already in use`);
    this.endpoints.set(address, transport);
  }

  /** @internal Called by `MemoryTransport.stop()`. */
  unregister(address: string, transport: MemoryTransport): void {
    if (this.endpoints.get(address) === transport) this.endpoints.delete(address);
  }

  /** @internal The transport reachable from `from` at `address` as node `to`, if any. */
  route(from: NodeId, to: NodeId, address: string): MemoryTransport | undefined {
    if (this.cut.has(`${from}->${to}`)) return undefined;
    const target = this.endpoints.get(address);
    return target?.nodeId === to ? target : undefined;
  }
}

/** Options of a `MemoryTransport`. */
export interface MemoryTransportOptions {
  readonly nodeId: NodeId;
  /** This transport's own address on the network. */
  readonly address: string;
  readonly network: MemoryNetwork;
  /** Node id to address. */
  readonly peers: ReadonlyMap<NodeId, string>;
  readonly limits: Pick<Limits, 'peerQueueMessagesMax' | 'snapshotChunkBytesMax'>;
  readonly handlers: TransportHandlers;
  readonly logger?: Logger;
}

/** An in-process `Transport`. */
export class MemoryTransport implements Transport {
  /** This node's id. */
  readonly nodeId: NodeId;
  /** Peer addresses, by node id (never this node). */
  private peers = new Map<NodeId, string>();
  /** Encoded messages waiting for the next delivery turn, by peer. Invariant: each <= peerQueueMessagesMax. */
  private readonly queues = new Map<NodeId, Uint8Array[]>();
  /** Peers with a snapshot transfer in progress: at most one each. */
  private readonly snapshotsInFlight = new Set<NodeId>();
  /** Peers reported unreachable since their last successful delivery (one report per episode). */
  private readonly unreachable = new Set<NodeId>();
  private readonly logger: Logger;
  /** True while a delivery turn is scheduled. */
  private deliveryScheduled = false;
  /** True between `start()` and `stop()`. */
  private running = false;
  /** Set by `stop()`: the transport cannot start again. */
  private stopped = false;

  constructor(private readonly options: MemoryTransportOptions) {
    this.nodeId = options.nodeId;
    this.logger = options.logger ?? noopLogger;
    this.setPeers(options.peers);
  }

  async start(): Promise<void> {
    assert(!this.running && !this.stopped, 'start() on a started or stopped transport');
    this.options.network.register(this.options.address, this);
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopped = true;
    this.queues.clear();
    this.options.network.unregister(this.options.address, this);
  }

  send(messages: readonly Message[]): void {
    for (const m of messages) {
      assert(m.from === this.nodeId, () => `sending a message from ${m.from} through the transport of ${this.nodeId}`);
      if (!this.running || !this.peers.has(m.to)) continue;
      const queue = this.queues.get(m.to) ?? [];
      this.queues.set(m.to, queue);
      if (queue.length >= this.options.limits.peerQueueMessagesMax) {
        this.reportUnreachable(m.to);
        continue;
      }
      queue.push(encodeMessage(m));
    }
    this.scheduleDelivery();
  }

  async sendSnapshot(to: NodeId, message: SnapshotMessage, data: AsyncIterable<Uint8Array>): Promise<boolean> {
    assert(message.to === to && message.from === this.nodeId, 'snapshot message addressed inconsistently');
    const address = this.peers.get(to);
    let ok = false;
    if (this.running && address !== undefined && !this.snapshotsInFlight.has(to)) {
      this.snapshotsInFlight.add(to);
      ok = await this.streamSnapshot(to, address, message, data).finally(() => this.snapshotsInFlight.delete(to));
    }
    this.later(() => this.options.handlers.onSnapshotStatus(to, ok));
    return ok;
  }

  setPeers(peers: ReadonlyMap<NodeId, string>): void {
    this.peers = new Map([...peers].filter(([id]) => id !== this.nodeId));
    for (const id of this.queues.keys()) if (!this.peers.has(id)) this.queues.delete(id);
  }

  /** Streams the chunks to the target's `onSnapshot`; false if the link fails or it refuses. */
  private async streamSnapshot(to: NodeId, address: string, message: SnapshotMessage, data: AsyncIterable<Uint8Array>): Promise<boolean> {
    const target = this.options.network.route(this.nodeId, to, address);
    if (target === undefined) return false;
    const network = this.options.network;
    const from = this.nodeId;
    const chunkBytesMax = target.options.limits.snapshotChunkBytesMax;
    let complete = false;
    async function* chunks(): AsyncGenerator<Uint8Array> {
      for await (const chunk of rechunk(data, chunkBytesMax)) {
        if (network.route(from, to, address) !== target) throw new SnapshotTransferError('interrupted', 'the link was cut');
        yield new Uint8Array(chunk);
      }
      complete = true;
    }
    try {
      await target.options.handlers.onSnapshot(decodeMessage(encodeMessage(message)) as SnapshotMessage, chunks());
      return complete;
    } catch (e) {
      this.logger.warn({ peer: to, err: e instanceof Error ? e.message : String(e) }, 'snapshot transfer failed');
      return false;
    }
  }

  private scheduleDelivery(): void {
    if (this.deliveryScheduled) return;
    this.deliveryScheduled = true;
    setImmediate(() => {
      this.deliveryScheduled = false;
      this.deliver();
    });
  }

  /** Delivers every queue, in order, or drops it and reports the peer when the link is down. */
  private deliver(): void {
    if (!this.running) return;
    for (const [to, queue] of this.queues) {
      if (queue.length === 0) continue;
      this.queues.set(to, []);
      const address = this.peers.get(to);
      const target = address === undefined ? undefined : this.options.network.route(this.nodeId, to, address);
      if (target === undefined || !target.running) {
        this.reportUnreachable(to);
        continue;
      }
      this.unreachable.delete(to);
      for (const bytes of queue) target.options.handlers.onMessage(decodeMessage(bytes));
    }
  }

  private reportUnreachable(peer: NodeId): void {
    if (this.unreachable.has(peer)) return;
    this.unreachable.add(peer);
    this.later(() => this.options.handlers.onUnreachable(peer));
  }

  /** Runs a callback on a later turn, unless the transport has stopped by then. */
  private later(callback: () => void): void {
    setImmediate(() => {
      if (this.running) callback();
    });
  }
}
