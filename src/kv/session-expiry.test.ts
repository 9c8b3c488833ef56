// Proves defect d of issue 10 is fixed: a retried write whose session expired or was evicted in the
// meantime is answered SESSION_EXPIRED (outcome unknown) instead of being applied a second time, and
// one entry's timeMs (a leader's clock jump) moves the replicated clock by at most clockStepMsMax.
import { describe, expect, it } from 'vitest';
import { logIndex, makeLimits } from '../util/index.js';
import { clockStepMsMax, decodeWriteResult, encodeWriteResult, KvStateMachine } from './index.js';
import type { ApplyOutcome, KvCommand } from './index.js';

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
    expect([...sm.image().sessions].map((s) => s.clientId)).toEqual(['other']);
    const before = { version: sm.get(b('k'))?.version, revision: sm.revision };
    const retry = put(sm, { clientId: 'c', seq: 2, ackSeq: 1, timeMs: 4_001, key: 'k' });
    expect(retry.result).toMatchObject({ type: 'error', code: 'SESSION_EXPIRED', message: expect.stringMatching(/session expired.*seq 2 was not applied now and may have been applied before/) });
    expect(retry.mutations).toEqual([]);
    // Only the clock may move (as for any refused write); no key, revision or session changed.
    expect({ version: sm.get(b('k'))?.version, revision: sm.revision }).toEqual({ version: before.version, revision: before.revision });
    expect(before.version).toBe(2);
    expect([...sm.image().sessions].map((s) => s.clientId)).toEqual(['other']);
    // Nothing was created for c: every later write of that client id gets the same answer.
    expect(put(sm, { clientId: 'c', seq: 3, ackSeq: 2, timeMs: 4_002, key: 'k' }).result).toMatchObject({ code: 'SESSION_EXPIRED' });
  });

  it('is not applied twice when the session was evicted by sessionsMax', () => {
    // Proves eviction is covered the same way as expiry.
    const sm = machine({ sessionTtlMs: 1_000_000, sessionsMax: 2 });
    put(sm, { clientId: 'c', seq: 1, ackSeq: 0, timeMs: 1, key: 'k' });
    put(sm, { clientId: 'c', seq: 2, ackSeq: 1, timeMs: 2, key: 'k' });
    put(sm, { clientId: 'd', seq: 1, ackSeq: 0, timeMs: 3, key: 'd' });
    put(sm, { clientId: 'e', seq: 1, ackSeq: 0, timeMs: 4, key: 'e' });
    expect([...sm.image().sessions].map((s) => s.clientId)).toEqual(['d', 'e']);
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
