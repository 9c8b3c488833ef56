/**
 * Pure transformations of a client session (Raft thesis §6.3: "Implementing linearizable
 * semantics"). Records are immutable: each change returns a new record, so a record handed out in
 * a mutation or an image never changes under its reader.
 *
 * Invariant: `responses` are in strictly increasing seq order, every seq above `ackSeq`, at most
 * `sessionResponsesMax` of them.
 */
import { assert } from '../util/index.js';
import { sessionResponsesMax } from './session-limits.js';
import type { SessionRecord } from './types.js';

/** One saved response. */
type SavedResponse = SessionRecord['responses'][number];

/** A new session that has saved nothing yet. */
export function newSession(clientId: string, ackSeq: number, nowMs: number): SessionRecord {
  return { clientId, ackSeq, lastSeenMs: nowMs, responses: [] };
}

/** The saved encoded result for `seq`, if the session still has it. */
export function findResponse(session: SessionRecord, seq: number): Uint8Array | undefined {
  const { responses } = session;
  let lo = 0;
  let hi = responses.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const response = responses[mid] as SavedResponse;
    if (response.seq === seq) return response.result;
    if (response.seq < seq) lo = mid + 1;
    else hi = mid - 1;
  }
  return undefined;
}

/**
 * The session after the client said it has received every answer up to `ackSeq`: those saved
 * responses are dropped. A lower `ackSeq` than the session's (an old, reordered message) changes
 * nothing, since acknowledgements only move forward.
 */
export function acknowledge(session: SessionRecord, ackSeq: number): SessionRecord {
  if (ackSeq <= session.ackSeq) return session;
  return { ...session, ackSeq, responses: session.responses.filter((response) => response.seq > ackSeq) };
}

/**
 * The session after saving `result` for `seq` and seeing the client at `nowMs`. If that makes more
 * than `sessionResponsesMax` responses, the lowest seqs are dropped and `ackSeq` rises to the last
 * one dropped, so a retry of a forgotten seq is refused as stale instead of being applied twice.
 */
export function saveResponse(session: SessionRecord, options: { seq: number; result: Uint8Array; nowMs: number }): SessionRecord {
  const { seq, result, nowMs } = options;
  assert(seq > session.ackSeq, () => `saving seq ${seq} at or below ackSeq ${session.ackSeq}`);
  assert(findResponse(session, seq) === undefined, () => `seq ${seq} is already saved`);
  const responses = [...session.responses];
  let at = responses.length;
  while (at > 0 && (responses[at - 1] as SavedResponse).seq > seq) at--;
  responses.splice(at, 0, { seq, result });
  let { ackSeq } = session;
  while (responses.length > sessionResponsesMax) {
    ackSeq = (responses.shift() as SavedResponse).seq;
  }
  return { clientId: session.clientId, ackSeq, lastSeenMs: nowMs, responses };
}
