// Proves defect d of issue 10 is fixed: a retried write whose session expired or was evicted in the
// meantime is answered SESSION_EXPIRED (outcome unknown) instead of being applied a second time, and
// one entry's timeMs (a leader's clock jump) moves the replicated clock by at most clockStepMsMax.
import { describe, expect, it } from 'vitest';
import { logIndex, makeLimits } from '../util/index.js';
import { clockStepMsMax, decodeWriteResult, encodeWriteResult, KvStateMachine } from './index.js';
import type { ApplyOutcome, KvCommand } from './index.js';

/** Ids of the live client sessions in the image (not the state machine's reserved records). */
const liveIds = (sm: KvStateMachine): string[] => [...sm.image().sessions].map((s) => s.clientId).filter((id) => !id.startsWith('\u0000'));
const b = (s: string): Uint8Array => new TextEncoder().encode(s);

function machine(options: { sessionTtlMs: number; sessionsMax?: number }): KvStateMachine {
  return new KvStateMachine({ limits: makeLimits({ sessionsMax: options.sessionsMax ?? 100 }), sessionTtlMs: options.sessionTtlMs });
}
/** Applies a put of `key` from `clientId` as the next entry. */
function put(sm: KvStateMachine, fields: Omit<KvCommand, 'op'> & { key: string }): ApplyOutcome {
  const { key, ...session } = fields;
  return sm.apply(logIndex(sm.appliedIndex + 1), { ...session, op: { type: 'put', key: b(key), value: b(`${session.clientId}/${session.seq}`) } });
}

describe('a retry across the loss of its session', () => {
  it('is not applied twice when the session expired while the client retried', () => {
    // Proves the exactly-once hole: c's seq 2 was applied, its answer lost; c's session expired
    // before the retry arrived. Before the fix the retry started a new session and applied again.
    const sm = machine({ sessionTtlMs: 1000 });
    put(sm, { clientId: 'c', seq: 1, ackSeq: 0, timeMs: 1_000, key: 'k' });
    put(sm, { clientId: 'c', seq: 2, ackSeq: 1, timeMs: 1_001, key: 'k' });
    // Other clients keep writing; the clock passes c's TTL and c's session is expired.
    for (let seq = 1; seq <= 3; seq++) put(sm, { clientId: 'other', seq, ackSeq: seq - 1, timeMs: 1_000 + 1_000 * seq, key: 'o' });
    expect(liveIds(sm)).toEqual(['other']);
    const before = { version: sm.get(b('k'))?.version, revision: sm.revision };
    const retry = put(sm, { clientId: 'c', seq: 2, ackSeq: 1, timeMs: 4_001, key: 'k' });
    expect(retry.result).toMatchObject({ type: 'error', code: 'SESSION_EXPIRED', message: expect.stringMatching(/session expired.*seq 2 was not applied now and may have been applied before/) });
    expect(retry.mutations).toEqual([]);
    // Only the clock may move (as for any refused write); no key, revision or session changed.
    expect({ version: sm.get(b('k'))?.version, revision: sm.revision }).toEqual({ version: before.version, revision: before.revision });
    expect(before.version).toBe(2);
    expect(liveIds(sm)).toEqual(['other']);
    // A seq above any applied under the lost session was never applied: it starts a new session,
    // after which the old seq is stale rather than applied.
    expect(put(sm, { clientId: 'c', seq: 3, ackSeq: 2, timeMs: 4_002, key: 'k' }).result.type).toBe('put');
    expect(put(sm, { clientId: 'c', seq: 2, ackSeq: 1, timeMs: 4_003, key: 'k' }).result).toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect(sm.get(b('k'))?.version).toBe(3);
  });

  it('refuses a late retry of a seq applied under the lost session even after a new session started', () => {
    // Proves the new session does not forget the old one's seqs: c had seqs 1 and 2 applied (2's
    // answer lost, ackSeq still 0), its session expired, then its seq 3 started a new session.
    const sm = machine({ sessionTtlMs: 1000 });
    put(sm, { clientId: 'c', seq: 1, ackSeq: 0, timeMs: 1_000, key: 'k' });
    put(sm, { clientId: 'c', seq: 2, ackSeq: 0, timeMs: 1_001, key: 'k' });
    for (let seq = 1; seq <= 3; seq++) put(sm, { clientId: 'other', seq, ackSeq: seq - 1, timeMs: 1_000 + 1_000 * seq, key: 'o' });
    expect(put(sm, { clientId: 'c', seq: 3, ackSeq: 0, timeMs: 4_001, key: 'k' }).result.type).toBe('put');
    expect(put(sm, { clientId: 'c', seq: 2, ackSeq: 0, timeMs: 4_002, key: 'k' }).result).toMatchObject({ type: 'error', code: 'FAILED_PRECONDITION' });
    expect(sm.get(b('k'))?.version).toBe(3);
  });

  it('lets a client that was only idle past its TTL write on with its next seq', () => {
    // Proves the refusal costs nothing to a client whose writes were all answered.
    const sm = machine({ sessionTtlMs: 1000 });
    put(sm, { clientId: 'idle', seq: 1, ackSeq: 0, timeMs: 1_000, key: 'k' });
    for (let seq = 1; seq <= 3; seq++) put(sm, { clientId: 'other', seq, ackSeq: seq - 1, timeMs: 1_000 + 1_000 * seq, key: 'o' });
    expect(liveIds(sm)).toEqual(['other']);
    expect(put(sm, { clientId: 'idle', seq: 2, ackSeq: 1, timeMs: 4_001, key: 'k' }).result.type).toBe('put');
    expect(liveIds(sm)).toEqual(['idle', 'other']);
  });

  it('refuses the first write of a client retried after its session expired (ackSeq 0)', () => {
    // Proves the retired session covers the one case ackSeq alone cannot tell.
    const sm = machine({ sessionTtlMs: 1000 });
    put(sm, { clientId: 'c', seq: 1, ackSeq: 0, timeMs: 1_000, key: 'k' });
    for (let seq = 1; seq <= 3; seq++) put(sm, { clientId: 'other', seq, ackSeq: seq - 1, timeMs: 1_000 + 1_000 * seq, key: 'o' });
    expect(put(sm, { clientId: 'c', seq: 1, ackSeq: 0, timeMs: 4_001, key: 'k' }).result).toMatchObject({ code: 'SESSION_EXPIRED' });
    expect(sm.get(b('k'))?.version).toBe(1);
  });

  it('keeps at most sessionsMax retired sessions, carried in images and the state hash', () => {
    // Proves the memory of lost sessions is bounded and replicated like the sessions themselves.
    const sm = machine({ sessionTtlMs: 1_000_000, sessionsMax: 2 });
    for (const [i, id] of ['a', 'b', 'c', 'd', 'e'].entries()) put(sm, { clientId: id, seq: 1, ackSeq: 0, timeMs: i + 1, key: id });
    // a, b and c were evicted; only the two most recently retired are remembered.
    const stored = [...sm.image().sessions].map((s) => s.clientId);
    expect(stored).toEqual(['\u0000raftkv/retired/b', '\u0000raftkv/retired/c', 'd', 'e']);
    expect([sm.sessionCount(), sm.sessionRecordCount()]).toEqual([2, 4]);
    const restored = new KvStateMachine({ limits: makeLimits({ sessionsMax: 2 }), sessionTtlMs: 1_000_000, image: sm.image() });
    expect(restored.stateHash()).toBe(sm.stateHash());
    // b's retried first write is still refused after the restart.
    expect(put(restored, { clientId: 'b', seq: 1, ackSeq: 0, timeMs: 10, key: 'b' }).result).toMatchObject({ code: 'SESSION_EXPIRED' });
  });

  it('is not applied twice when the session was evicted by sessionsMax', () => {
    // Proves eviction is covered the same way as expiry.
    const sm = machine({ sessionTtlMs: 1_000_000, sessionsMax: 2 });
    put(sm, { clientId: 'c', seq: 1, ackSeq: 0, timeMs: 1, key: 'k' });
    put(sm, { clientId: 'c', seq: 2, ackSeq: 1, timeMs: 2, key: 'k' });
    put(sm, { clientId: 'd', seq: 1, ackSeq: 0, timeMs: 3, key: 'd' });
    put(sm, { clientId: 'e', seq: 1, ackSeq: 0, timeMs: 4, key: 'e' });
    expect(liveIds(sm)).toEqual(['d', 'e']);
    expect(put(sm, { clientId: 'c', seq: 2, ackSeq: 1, timeMs: 5, key: 'k' }).result).toMatchObject({ code: 'SESSION_EXPIRED' });
    expect(sm.get(b('k'))?.version).toBe(2);
  });

  it('still starts a session for a new client (ackSeq 0)', () => {
    // Proves only clients that acknowledge seqs of a lost session are refused.
    const sm = machine({ sessionTtlMs: 1000 });
    expect(put(sm, { clientId: 'new', seq: 1, ackSeq: 0, timeMs: 1, key: 'k' }).result.type).toBe('put');
    expect(put(sm, { clientId: 'new', seq: 2, ackSeq: 1, timeMs: 2, key: 'k' }).result.type).toBe('put');
  });

  it('saves and replays the SESSION_EXPIRED code in results', () => {
    // Proves the new error code has a stable wire code.
    const result = { type: 'error', code: 'SESSION_EXPIRED', message: 'gone' } as const;
    expect(decodeWriteResult(encodeWriteResult(result))).toEqual(result);
  });
});

describe('the replicated clock under a leader clock jump', () => {
  it('moves at most clockStepMsMax per entry, so one jumped write cannot expire every session', () => {
    // Proves a leader whose clock jumped a day ahead does not expire a session whose client is
    // retrying: c's retry is still answered from its session.
    const sm = machine({ sessionTtlMs: 60_000 });
    const first = put(sm, { clientId: 'c', seq: 1, ackSeq: 0, timeMs: 1_000_000, key: 'k' });
    const jumped = put(sm, { clientId: 'other', seq: 1, ackSeq: 0, timeMs: 1_000_000 + 86_400_000, key: 'o' });
    expect(jumped.clockMs).toBe(1_000_000 + clockStepMsMax);
    expect(jumped.mutations.filter((m) => m.type === 'deleteSession')).toEqual([]);
    const retry = put(sm, { clientId: 'c', seq: 1, ackSeq: 0, timeMs: 1_000_100, key: 'k' });
    expect(retry).toMatchObject({ duplicate: true, result: first.result });
  });

  it('follows the leader clock exactly while entries are closer than clockStepMsMax, and never goes back', () => {
    // Proves normal operation is unchanged: the clock is the largest timeMs applied.
    const sm = machine({ sessionTtlMs: 60_000 });
    expect(put(sm, { clientId: '', seq: 0, ackSeq: 0, timeMs: 1_700_000_000_000, key: 'a' }).clockMs).toBe(1_700_000_000_000);
    expect(put(sm, { clientId: '', seq: 0, ackSeq: 0, timeMs: 1_700_000_001_000, key: 'a' }).clockMs).toBe(1_700_000_001_000);
    expect(put(sm, { clientId: '', seq: 0, ackSeq: 0, timeMs: 1_600_000_000_000, key: 'a' }).clockMs).toBe(1_700_000_001_000);
  });
});
