/**
 * The sending side for one peer: a bounded queue of encoded messages and ONE long-lived
 * RaftPeer.Stream call that carries them, batched. Each peer has its own queue, channel and
 * timers, so a slow or dead peer never holds up another.
 *
 * Flow: `enqueue()` appends to the queue and schedules a flush on the next event-loop turn, so
 * everything queued meanwhile (typically the messages of one or more Readys) leaves as one
 * `MessageBatch`. Writing starts once the peer has accepted the stream (its first `StreamAck`). A flush writes batches until the stream's `write()` reports back-pressure,
 * then waits for `drain`; meanwhile the queue absorbs new messages up to
 * limits.peerQueueMessagesMax and drops beyond it. A failed stream is reopened after a backoff
 * with full jitter; the queue survives the reconnection.
 */
import { Client, Metadata } from '@grpc/grpc-js';
import type { ChannelCredentials, ChannelOptions, ClientDuplexStream, StatusObject } from '@grpc/grpc-js';
import type { Logger, NodeId } from '../util/index.js';
import { fullJitterBackoffMs } from './backoff.js';
import { decodeStreamAck, encodeBatch, framedSize } from './codec.js';
import type { TransportMetrics } from './metrics.js';
import { deserializeBytes, peerMetadataKeys, raftPeerPaths, serializeBytes } from './service.js';

/** What every peer stream of one transport shares. */
export interface PeerStreamContext {
  /** This node's id. */
  readonly nodeId: NodeId;
  /** This node's advertised client address, announced to peers when a stream opens. */
  readonly clientAddress?: string;
  readonly logger: Logger;
  readonly metrics: TransportMetrics;
  /** The channel credentials for a peer (the same object each time for one peer). */
  readonly credentialsFor: (peer: NodeId) => ChannelCredentials;
  /** The channel options for a peer. */
  readonly channelOptionsFor: (peer: NodeId) => ChannelOptions;
  /** Most messages waiting in one peer's queue. */
  readonly queueMessagesMax: number;
  /** Soft cap of one batch's bytes. */
  readonly batchBytesMax: number;
  readonly reconnectBackoffBaseMs: number;
  readonly reconnectBackoffMaxMs: number;
  /** Uniform random numbers in [0, 1), for the backoff jitter. */
  readonly random: () => number;
  /** Reports that messages to a peer were lost. Called from a later turn, never re-entrantly. */
  readonly reportUnreachable: (peer: NodeId) => void;
}

/** A snapshot of one peer's sending state, for tests and status pages. */
export interface PeerStreamStatus {
  readonly peer: NodeId;
  readonly address: string;
  /** True once the peer accepted the current stream (its first ack arrived). */
  readonly connected: boolean;
  /** Messages waiting to be written. */
  readonly queuedMessages: number;
  /** Messages dropped because the queue was full, since the transport started. */
  readonly droppedMessages: number;
  /** Streams opened since the transport started. */
  readonly streamsOpened: number;
}

/** One peer's queue and stream. */
export class PeerStream {
  /** Encoded messages waiting to be written, oldest first. Invariant: length <= queueMessagesMax. */
  private queue: Uint8Array[] = [];
  /** The channel of the current attempt, or null between attempts. */
  private client: Client | null = null;
  /** The current stream, or null between attempts. */
  private call: ClientDuplexStream<Uint8Array, Buffer> | null = null;
  /** True once the peer's first ack arrived on the current stream. */
  private connected = false;
  /** True while the current stream's `write()` asked us to wait for `drain`. */
  private waitingForDrain = false;
  /** True while a flush is scheduled for the next event-loop turn. */
  private flushScheduled = false;
  /** The pending reconnection, if any. */
  private reconnectTimer: NodeJS.Timeout | null = null;
  /** Consecutive failed attempts; drives the backoff. Reset when a stream is accepted. */
  private failures = 0;
  /** Set once messages were reported lost; cleared when the peer is reachable again and caught up. */
  private unreachableReported = false;
  /** Set by the first `open()`: from then on the peer is kept connected. */
  private started = false;
  /** Set by `close()`: the stream is never reopened. */
  private closed = false;
  /** Messages dropped because the queue was full (for `status()`; metrics count them too). */
  private droppedMessages = 0;
  /** Streams opened so far (for `status()`: a healthy peer keeps one). */
  private streamsOpened = 0;

  constructor(
    private readonly ctx: PeerStreamContext,
    /** The peer's node id. */
    readonly peer: NodeId,
    /** The peer's host:port. */
    private address: string,
  ) {}

  /** Opens the stream (if it is not open or about to be). */
  open(): void {
    if (this.closed || this.call !== null || this.reconnectTimer !== null) return;
    this.started = true;
    try {
      this.client = new Client(this.address, this.ctx.credentialsFor(this.peer), this.ctx.channelOptionsFor(this.peer));
    } catch (e) {
      // An unusable address (it came from a membership change) must not take the node down:
      // the peer stays unreachable, retried with backoff, until setPeers() corrects it.
      this.ctx.logger.error({ peer: this.peer, address: this.address, err: e instanceof Error ? e.message : String(e) }, 'invalid peer address');
      this.reportUnreachable();
      this.scheduleReconnect();
      return;
    }
    const metadata = new Metadata();
    metadata.set(peerMetadataKeys.from, this.ctx.nodeId);
    metadata.set(peerMetadataKeys.to, this.peer);
    if (this.ctx.clientAddress) metadata.set(peerMetadataKeys.clientAddress, this.ctx.clientAddress);
    const call = this.client.makeBidiStreamRequest<Uint8Array, Buffer>(raftPeerPaths.stream, serializeBytes, deserializeBytes, metadata);
    this.call = call;
    this.connected = false;
    this.waitingForDrain = false;
    this.streamsOpened += 1;
    call.on('data', (bytes: Buffer) => this.onAck(call, bytes));
    call.on('status', (status: StatusObject) => this.onStreamEnded(call, status));
    // Failures arrive through 'status'; the listener keeps an 'error' event from being fatal.
    call.on('error', () => {});
  }

  /**
   * Queues one encoded message. Returns false, after counting the drop, if the queue is full.
   */
  enqueue(encoded: Uint8Array): boolean {
    if (this.queue.length >= this.ctx.queueMessagesMax) {
      this.droppedMessages += 1;
      this.ctx.metrics.messagesDropped(this.peer, 'queueFull', 1);
      this.reportUnreachable();
      return false;
    }
    this.queue.push(encoded);
    this.scheduleFlush();
    return true;
  }

  /** Points the stream at a new address: the current stream is closed and a new one opened. */
  setAddress(address: string): void {
    if (address === this.address) return;
    this.ctx.logger.info({ peer: this.peer, from: this.address, to: address }, 'peer address changed');
    this.address = address;
    this.closeStream();
    this.clearReconnect();
    this.failures = 0;
    if (this.started) this.open();
  }

  /** Closes the stream for good and drops the queue. */
  close(): void {
    this.closed = true;
    this.clearReconnect();
    this.closeStream();
    if (this.queue.length > 0) this.ctx.metrics.messagesDropped(this.peer, 'stopped', this.queue.length);
    this.queue = [];
  }

  /** The peer's current sending state. */
  status(): PeerStreamStatus {
    return {
      peer: this.peer,
      address: this.address,
      connected: this.connected,
      queuedMessages: this.queue.length,
      droppedMessages: this.droppedMessages,
      streamsOpened: this.streamsOpened,
    };
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  /**
   * Writes batches until the queue is empty or the stream pushes back. Nothing is written before
   * the peer accepted the stream (its first ack): messages written into a stream that then fails
   * to open would be lost, while in the queue they survive until the peer is back.
   */
  private flush(): void {
    const call = this.call;
    if (call === null || !this.connected || this.waitingForDrain || this.closed) return;
    while (this.queue.length > 0) {
      const count = this.batchLength();
      const batch = count === this.queue.length ? this.queue : this.queue.slice(0, count);
      this.queue = count === this.queue.length ? [] : this.queue.slice(count);
      const frame = encodeBatch(batch);
      const more = call.write(frame);
      this.ctx.metrics.batchesSent(this.peer, 1);
      this.ctx.metrics.messagesSent(this.peer, count);
      this.ctx.metrics.bytesSent(this.peer, frame.length);
      if (!more) {
        this.waitingForDrain = true;
        call.once('drain', () => {
          if (call !== this.call) return;
          this.waitingForDrain = false;
          this.flush();
        });
        return;
      }
    }
    // Everything queued has been handed to a stream the peer accepted: losses are over.
    if (this.connected) this.unreachableReported = false;
  }

  /** How many messages from the head of the queue go into the next batch (at least one). */
  private batchLength(): number {
    let bytes = 0;
    let count = 0;
    for (const m of this.queue) {
      const size = framedSize(m);
      if (count > 0 && bytes + size > this.ctx.batchBytesMax) break;
      bytes += size;
      count += 1;
    }
    return count;
  }

  private onAck(call: ClientDuplexStream<Uint8Array, Buffer>, bytes: Buffer): void {
    if (call !== this.call) return;
    let ack;
    try {
      ack = decodeStreamAck(bytes);
    } catch (e) {
      this.ctx.logger.warn({ peer: this.peer, err: e instanceof Error ? e.message : String(e) }, 'malformed stream ack from a peer');
      return;
    }
    if (!this.connected) {
      this.connected = true;
      this.failures = 0;
      this.ctx.logger.info({ peer: this.peer, address: this.address }, 'message stream to peer established');
      if (ack.nodeId !== this.peer) this.ctx.logger.warn({ peer: this.peer, answeredBy: ack.nodeId }, 'a different node answered at the peer address');
      this.flush();
    }
    if (ack.messagesRejected > 0) {
      this.ctx.logger.warn({ peer: this.peer, messagesRejected: ack.messagesRejected }, 'the peer rejected messages on this stream');
    }
  }

  private onStreamEnded(call: ClientDuplexStream<Uint8Array, Buffer>, status: StatusObject): void {
    if (call !== this.call) return; // A stream we closed on purpose.
    const wasConnected = this.connected;
    this.call = null;
    this.connected = false;
    this.waitingForDrain = false;
    this.client?.close();
    this.client = null;
    const log = { peer: this.peer, address: this.address, code: status.code, details: status.details, failures: this.failures };
    if (wasConnected) this.ctx.logger.warn(log, 'message stream to peer lost');
    else this.ctx.logger.debug(log, 'could not open a message stream to peer');
    this.reportUnreachable();
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.closed) return;
    const delayMs = fullJitterBackoffMs({
      attempt: this.failures,
      baseMs: this.ctx.reconnectBackoffBaseMs,
      maxMs: this.ctx.reconnectBackoffMaxMs,
      random: this.ctx.random,
    });
    this.failures += 1;
    this.ctx.metrics.reconnects(this.peer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.open();
    }, delayMs);
  }

  private reportUnreachable(): void {
    if (this.unreachableReported) return;
    this.unreachableReported = true;
    this.ctx.reportUnreachable(this.peer);
  }

  private clearReconnect(): void {
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
  }

  /** Cancels the current stream without scheduling a reconnection. */
  private closeStream(): void {
    const call = this.call;
    const client = this.client;
    this.call = null;
    this.client = null;
    this.connected = false;
    this.waitingForDrain = false;
    call?.cancel();
    client?.close();
  }
}
