/**
 * Fixed limits of the exactly-once session machinery. They shape replicated state, so every
 * replica must use the same values: they are constants of the format, not tunables (the tunable
 * `sessionsMax` lives in util's `Limits`).
 */

/**
 * Most saved responses per session. Past it the lowest seq is dropped and the session's `ackSeq`
 * rises to it, so a retry of that seq is refused as stale rather than applied twice.
 */
export const sessionResponsesMax = 1024;

/**
 * Largest encoded result saved for replay. A larger answer (a big txn range, a delete with many
 * prevKvs) is replaced in the session by a FAILED_PRECONDITION "applied, answer not kept" result,
 * so a retry still cannot apply the write twice and sessions stay small.
 */
export const savedResultBytesMax = 64 * 1024;

/** Most expired sessions removed while applying one command (expiry is lazy and bounded). */
export const sessionsExpiredPerApplyMax = 16;

/** Largest client id, in UTF-8 bytes. */
export const clientIdBytesMax = 256;

/**
 * Most one entry's `timeMs` moves the replicated clock forward. A leader whose wall clock jumps
 * ahead (NTP step, VM resume) cannot expire every session with one write: the clock follows it at
 * most this much per entry. On a cluster that writes at least every few seconds the clock tracks
 * real time; on an idle one, sessions live longer than their TTL, which is the safe direction.
 */
export const clockStepMsMax = 5_000;
