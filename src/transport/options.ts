/**
 * Tunables of the gRPC peer transport and the gRPC options derived from them. The queue and
 * chunk limits come from util/limits.ts; the rest are transport-only knobs with defaults here.
 */
import type { ChannelOptions, ServerOptions } from '@grpc/grpc-js';

/** Transport defaults. Names follow the limits convention: units and `Max` last. */
export const transportDefaults = Object.freeze({
  /**
   * A batch is closed before the message that would take it past this many bytes (a single
   * larger message still goes, alone). Large enough to carry a full append, small enough that a
   * heartbeat queued behind a batch is not delayed by much.
   */
  batchBytesMax: 1024 * 1024,
  /**
   * The largest encoded message, batch or snapshot chunk on the peer port, both ways. A message
   * that encodes larger is dropped (and counted) by the sender rather than sent to be refused.
   * Leaves room for an append of limits.appendBytesMax of small entries, with their framing.
   */
  messageBytesMax: 64 * 1024 * 1024,
  /** The ceiling of the first reconnection delay. */
  reconnectBackoffBaseMs: 50,
  /** The largest reconnection delay. */
  reconnectBackoffMaxMs: 5_000,
  /** Idle time after which an HTTP/2 keepalive ping checks that the peer is alive. */
  keepaliveTimeMs: 5_000,
  /** How long a keepalive ping may go unanswered before the connection is declared dead. */
  keepaliveTimeoutMs: 5_000,
  /** The deadline of one whole snapshot transfer. */
  snapshotDeadlineMs: 10 * 60 * 1000,
  /** Snapshot transfers a node receives at once; more are refused (the sender retries later). */
  snapshotReceivesMax: 2,
});

/** The connection settings shared by the client and server side. */
export interface ConnectionOptions {
  /** See `transportDefaults.messageBytesMax`. */
  readonly messageBytesMax?: number;
  /** See `transportDefaults.keepaliveTimeMs`. */
  readonly keepaliveTimeMs?: number;
  /** See `transportDefaults.keepaliveTimeoutMs`. */
  readonly keepaliveTimeoutMs?: number;
}

/** Channel options for a connection to a peer. */
export function peerChannelOptions(options: ConnectionOptions & { readonly reconnectBackoffBaseMs: number; readonly reconnectBackoffMaxMs: number }): ChannelOptions {
  const messageBytesMax = options.messageBytesMax ?? transportDefaults.messageBytesMax;
  return {
    // The long-lived stream has no deadline (it lives as long as the peer), so a dead or paused
    // peer is detected by HTTP/2 keepalive pings instead, even while the stream is idle.
    'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? transportDefaults.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? transportDefaults.keepaliveTimeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.max_send_message_length': messageBytesMax,
    'grpc.max_receive_message_length': messageBytesMax,
    // The transport retries itself, with its own backoff: keep gRPC from buffering stream
    // messages for transparent retries, and from sharing a subchannel (and its backoff state)
    // between the channels of successive attempts.
    'grpc.enable_retries': 0,
    'grpc.use_local_subchannel_pool': 1,
    'grpc.initial_reconnect_backoff_ms': options.reconnectBackoffBaseMs,
    'grpc.max_reconnect_backoff_ms': options.reconnectBackoffMaxMs,
  };
}

/**
 * Options for the `grpc.Server` that hosts the peer service: the receive limit must admit the
 * largest batch and snapshot chunk, and the server pings idle clients too, so that the streams
 * of a dead peer are closed on this side as well.
 */
export function peerServerOptions(options: ConnectionOptions = {}): ServerOptions {
  const messageBytesMax = options.messageBytesMax ?? transportDefaults.messageBytesMax;
  return {
    'grpc.max_receive_message_length': messageBytesMax,
    'grpc.max_send_message_length': messageBytesMax,
    'grpc.keepalive_time_ms': options.keepaliveTimeMs ?? transportDefaults.keepaliveTimeMs,
    'grpc.keepalive_timeout_ms': options.keepaliveTimeoutMs ?? transportDefaults.keepaliveTimeoutMs,
    'grpc.keepalive_permit_without_calls': 1,
  };
}
