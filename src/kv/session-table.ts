/**
 * Every live client session, indexed by client id and by (lastSeenMs, clientId): the second index
 * makes expiry and least-recently-seen eviction cheap and, because ties break on the client id,
 * the same on every replica.
 */
import { assert } from '../util/index.js';
import { compareStrings, OrderedTree } from './ordered-tree.js';
import type { SessionRecord } from './types.js';

/** A session's place in the recency order. */
type RecencyKey = readonly [lastSeenMs: number, clientId: string];

function compareRecency(a: RecencyKey, b: RecencyKey): number {
  return a[0] - b[0] || compareStrings(a[1], b[1]);
}

/** The sessions, with a recency index. Records are immutable and replaced on every change. */
export class SessionTable {
  /** Sessions by client id. */
  private readonly byClientId = new OrderedTree<string, SessionRecord>(undefined, compareStrings);
  /** The same sessions, least recently seen first. Invariant: same size and records as `byClientId`. */
  private readonly byRecency = new OrderedTree<RecencyKey, SessionRecord>(undefined, compareRecency);

  /** Number of sessions. */
  get size(): number {
    return this.byClientId.size;
  }

  /** The session of `clientId`, if any. */
  get(clientId: string): SessionRecord | undefined {
    return this.byClientId.get(clientId);
  }

  /** Stores `session`, replacing the client's previous record. */
  set(session: SessionRecord): void {
    const previous = this.byClientId.get(session.clientId);
    if (previous !== undefined) this.byRecency.delete([previous.lastSeenMs, previous.clientId]);
    this.byClientId.set(session.clientId, session);
    this.byRecency.set([session.lastSeenMs, session.clientId], session);
    assert(this.byRecency.size === this.byClientId.size, 'session indexes agree');
  }

  /** Removes the session of `clientId`. */
  delete(clientId: string): void {
    const previous = this.byClientId.get(clientId);
    assert(previous !== undefined, () => `deleting unknown session ${JSON.stringify(clientId)}`);
    this.byClientId.delete(clientId);
    this.byRecency.delete([previous.lastSeenMs, clientId]);
  }

  /**
   * Up to `countMax` sessions, least recently seen first, that satisfy `stale`, skipping the
   * session of `keepClientId`. It stops at the first session that is not stale, so `stale` must be
   * monotone in recency (true for every session seen before some point).
   */
  leastRecent(options: { countMax: number; keepClientId: string; stale: (session: SessionRecord) => boolean }): SessionRecord[] {
    const found: SessionRecord[] = [];
    for (const [, session] of this.byRecency.entries()) {
      if (found.length >= options.countMax || !options.stale(session)) break;
      if (session.clientId !== options.keepClientId) found.push(session);
    }
    return found;
  }

  /** Every session in client id order (UTF-16 code unit order). */
  values(): IterableIterator<SessionRecord> {
    return this.byClientId.values();
  }

  /** A point-in-time, re-iterable view of every session in client id order (a copy-on-write clone). */
  snapshot(): Iterable<SessionRecord> {
    const frozen = this.byClientId.clone();
    return { [Symbol.iterator]: () => frozen.values() };
  }
}
