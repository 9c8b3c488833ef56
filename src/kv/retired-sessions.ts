/**
 * Retired sessions: what the state machine remembers of a client session after it expired or was
 * evicted, so that exactly-once survives the loss of the session (Raft thesis §6.3). A retired
 * session keeps only the highest seq applied under it (`seqMax`):
 *
 * - a later write of that client with a seq above `seqMax` was never applied: it starts a new
 *   session as usual, so a client that was merely idle past its TTL writes on;
 * - a write with a seq at or below `seqMax` may be a retry of a write that was applied: it is
 *   refused with SESSION_EXPIRED (outcome unknown) rather than applied a second time.
 *
 * At most `sessionsMax` (the cluster limit) retired sessions are kept, the least recently retired
 * dropped first; a client id with neither a session nor a retired one that carries `ackSeq > 0`
 * is refused the same way. Stored form: a record in the session keyspace under the reserved id
 * `retiredSessionPrefix + clientId`, `ackSeq` holding `seqMax` and `lastSeenMs` the time it was
 * retired, so it travels wherever sessions do (LevelDB, snapshots, backups).
 */
import { SessionTable } from './session-table.js';
import type { Fnv1a64 } from './state-hash.js';
import type { Mutation, SessionRecord } from './types.js';

/** The reserved id prefix of retired session records (client ids may not start with U+0000). */
export const retiredSessionPrefix = '\u0000raftkv/retired/';

const retiredTag = new Uint8Array([4]);

/** The retired sessions, by client id, with a recency index for the bound. */
export class RetiredSessions {
  /** In memory the records carry the plain client id, `ackSeq` = seqMax, `lastSeenMs` = retired at. */
  private readonly table = new SessionTable();

  get size(): number {
    return this.table.size;
  }

  /** The highest seq applied under `clientId`'s retired session, if it has one. */
  seqMax(clientId: string): number | undefined {
    return this.table.get(clientId)?.ackSeq;
  }

  /**
   * Retires `session` at `nowMs` (it was just removed from the live sessions) and drops the least
   * recently retired ones beyond `countMax`. Returns the mutations that store this.
   */
  retire(session: SessionRecord, nowMs: number, countMax: number): Mutation[] {
    const last = session.responses[session.responses.length - 1];
    const seqMax = Math.max(session.ackSeq, last?.seq ?? 0);
    const record: SessionRecord = { clientId: session.clientId, ackSeq: seqMax, lastSeenMs: nowMs, responses: [] };
    this.table.set(record);
    const mutations: Mutation[] = [{ type: 'putSession', session: stored(record) }];
    const excess = this.table.size - countMax;
    if (excess > 0) {
      for (const victim of this.table.leastRecent({ countMax: excess, keepClientId: session.clientId, stale: () => true })) mutations.push(...this.forget(victim.clientId));
    }
    return mutations;
  }

  /** Forgets `clientId`'s retired session (it has a live one again). */
  forget(clientId: string): Mutation[] {
    if (this.table.get(clientId) === undefined) return [];
    this.table.delete(clientId);
    return [{ type: 'deleteSession', clientId: retiredSessionPrefix + clientId }];
  }

  /** Loads a stored record (its id starts with `retiredSessionPrefix`). */
  load(record: SessionRecord): void {
    const clientId = record.clientId.slice(retiredSessionPrefix.length);
    if (clientId === '' || record.responses.length > 0 || this.table.get(clientId) !== undefined) {
      throw new Error(`retired session record ${JSON.stringify(record.clientId)} is empty, has responses or is repeated`);
    }
    this.table.set({ ...record, clientId });
  }

  /** The stored records, in client id order (a point-in-time view). */
  snapshot(): Iterable<SessionRecord> {
    const frozen = this.table.snapshot();
    return { *[Symbol.iterator]() { for (const r of frozen) yield stored(r); } };
  }

  /** Mixes every retired session into a state hash (nothing when there are none). */
  hashInto(hash: Fnv1a64): void {
    for (const r of this.table.values()) hash.raw(retiredTag).string(r.clientId).uint(r.ackSeq).uint(r.lastSeenMs);
  }
}

function stored(record: SessionRecord): SessionRecord {
  return { ...record, clientId: retiredSessionPrefix + record.clientId };
}
