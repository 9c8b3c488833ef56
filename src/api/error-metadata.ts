/**
 * How raftkv's typed errors travel in gRPC trailers. The server sets these keys next to the gRPC
 * status (docs/design.md, "The client protocol and errors"); the client reads them back into the same typed errors.
 */

/** Trailer keys. */
export const ErrorTrailer = {
  /** The stable raftkv error code (`NOT_LEADER`, `OUTCOME_UNKNOWN`, ...). */
  code: 'raftkv-code',
  /** For a failed write: `not_applied` or `unknown`. */
  outcome: 'raftkv-outcome',
  /** The current leader's id, when known. */
  leaderId: 'raftkv-leader-id',
  /** The current leader's client address, when known. */
  leaderAddress: 'raftkv-leader-address',
  /** For overload: milliseconds after which a retry may succeed. */
  retryAfterMs: 'raftkv-retry-after-ms',
  /** For bad input: the offending field. */
  field: 'raftkv-field',
  /** For UNAUTHENTICATED: `token` when the token was refused (expired...): a new token may succeed. */
  authRetry: 'raftkv-auth-retry',
} as const;

/** Request metadata keys the client sends. */
export const RequestHeader = {
  /** A request id for log correlation. */
  requestId: 'raftkv-request-id',
  /**
   * `never`: a write reaching a follower is answered NOT_LEADER with the leader's id and address
   * instead of being forwarded to the leader (for clients that find the leader themselves).
   */
  forward: 'raftkv-forward',
  /** Set by a follower on a write it forwards to the leader: the follower's node id. */
  forwardedBy: 'raftkv-forwarded-by',
} as const;
