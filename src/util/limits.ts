/**
 * Every queue, batch and size in raftkv has a named limit, and they all live here.
 * Hitting one is a tested path with a clear error, never a crash or a hang.
 * `checkLimits` runs at start-up and refuses combinations that cannot work together.
 */
import { InvalidArgumentError } from './errors.js';

/** All limits. Names end in `Max`; units are in the name where they are not a count. */
export interface Limits {
  /** Largest key, in bytes. */
  readonly keyBytesMax: number;
  /** Largest value, in bytes. */
  readonly valueBytesMax: number;
  /** Largest client request, in bytes (gRPC receive limit on the client port). */
  readonly requestBytesMax: number;
  /** Most operations in one transaction (compares + success ops + failure ops, each counted). */
  readonly txnOpsMax: number;
  /**
   * Most proposals waiting for commit and apply on the leader before new writes are shed. It also
   * bounds the work of one Ready (its entries and the entries it applies), and so how long the
   * leader's event loop is busy between two heartbeats.
   */
  readonly proposalsPendingMax: number;
  /** Most bytes of encoded client writes proposed on the leader and not yet applied; beyond it new writes are shed. */
  readonly proposalBytesPendingMax: number;
  /**
   * Most event-loop delay, in ms, at which the leader still admits a new write: past it (a long
   * turn running now, or the last one late) writes are shed, so client work cannot starve Raft's
   * ticks and heartbeats. Keep it well under the election timeout.
   */
  readonly eventLoopDelayMsMax: number;
  /** Most linearizable reads waiting for a ReadIndex round before new reads are shed. */
  readonly readsPendingMax: number;
  /** Most client calls (writes, leader-only etcd calls) a follower has forwarded to the leader and not yet answered; beyond it they are shed. */
  readonly forwardsPendingMax: number;
  /** Most append messages in flight to one follower (the pipelining window). */
  readonly inflightAppendsMax: number;
  /** Most entry bytes in one append message. */
  readonly appendBytesMax: number;
  /** Most bytes of proposed but uncommitted entries on a leader; beyond it proposals are dropped. */
  readonly uncommittedBytesMax: number;
  /** Most committed entry bytes handed to the application in one Ready. */
  readonly applyBytesMax: number;
  /** Most bytes in one snapshot chunk on the wire. */
  readonly snapshotChunkBytesMax: number;
  /** Most client sessions remembered for exactly-once writes; the oldest are evicted past it. */
  readonly sessionsMax: number;
  /** Most concurrent watchers on one node. */
  readonly watchersMax: number;
  /** Most messages queued for one peer before new ones are dropped for Raft to resend. */
  readonly peerQueueMessagesMax: number;
  /** Most keys returned by one range request. */
  readonly rangeKeysMax: number;
  /** Most bytes of live keys and values held by the state machine (the space quota). */
  readonly dataBytesMax: number;
}

/** Defaults, chosen for a laptop cluster that can still take a benchmark. */
export const defaultLimits: Limits = Object.freeze({
  keyBytesMax: 4 * 1024,
  valueBytesMax: 1024 * 1024,
  requestBytesMax: 1536 * 1024,
  txnOpsMax: 128,
  proposalsPendingMax: 2_048,
  proposalBytesPendingMax: 16 * 1024 * 1024,
  eventLoopDelayMsMax: 200,
  readsPendingMax: 10_000,
  forwardsPendingMax: 10_000,
  inflightAppendsMax: 256,
  appendBytesMax: 2 * 1024 * 1024,
  uncommittedBytesMax: 64 * 1024 * 1024,
  applyBytesMax: 4 * 1024 * 1024,
  snapshotChunkBytesMax: 1024 * 1024,
  sessionsMax: 100_000,
  watchersMax: 10_000,
  peerQueueMessagesMax: 4096,
  rangeKeysMax: 10_000,
  dataBytesMax: 2 * 1024 * 1024 * 1024,
});

/**
 * Checks that a set of limits is usable: every limit is a positive integer, and the sizes fit
 * inside each other (a value must fit in a request, a request in an append message).
 * Throws `InvalidArgumentError` naming the limit otherwise.
 */
export function checkLimits(limits: Limits): Limits {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new InvalidArgumentError(name, `must be a positive integer, got ${String(value)}`);
    }
  }
  const mustBeAtLeast = (big: keyof Limits, small: keyof Limits): void => {
    if (limits[big] < limits[small]) {
      throw new InvalidArgumentError(big, `(${limits[big]}) must be at least ${small} (${limits[small]})`);
    }
  };
  mustBeAtLeast('requestBytesMax', 'valueBytesMax');
  mustBeAtLeast('requestBytesMax', 'keyBytesMax');
  mustBeAtLeast('appendBytesMax', 'requestBytesMax');
  mustBeAtLeast('uncommittedBytesMax', 'appendBytesMax');
  mustBeAtLeast('applyBytesMax', 'requestBytesMax');
  mustBeAtLeast('proposalBytesPendingMax', 'requestBytesMax');
  return limits;
}

/** Merges overrides into the defaults and checks the result. */
export function makeLimits(overrides: Partial<Limits> = {}): Limits {
  return checkLimits({ ...defaultLimits, ...overrides });
}

/**
 * Limits of the pipelined stream (`Pipeline/Stream`, src/server/pipeline-service.ts). They are the
 * same on every node and known to the client library, which keeps under them (it splits frames and
 * holds requests back) so that only raw gRPC clients ever hit them.
 */
export const pipelineLimits = Object.freeze({
  /** Most requests in one frame; the excess of a frame is refused (RESOURCE_EXHAUSTED). */
  requestsPerFrameMax: 512,
  /** Largest frame, in bytes; a larger one ends the stream (RESOURCE_EXHAUSTED), nothing in it runs. */
  frameBytesMax: 1024 * 1024,
  /** Most requests of one stream received and not yet answered; past it requests are refused (RESOURCE_EXHAUSTED). */
  requestsInFlightMax: 2048,
  /** Most frames of one stream with a request not yet answered; past it a frame's requests are refused. */
  framesPendingMax: 256,
  /** Most pipeline streams open on one node; past it a new stream is refused (RESOURCE_EXHAUSTED). */
  streamsMax: 1024,
  /** What a refused request's `raftkv-retry-after-ms` says, in ms. */
  retryAfterMs: 20,
});
