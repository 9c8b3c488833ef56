// Proves exactly-once writes (Raft thesis §6.3): saved answers for retries, ackSeq pruning, stale sequence numbers, bounded responses, session expiry and eviction.
import { describe, expect, it } from 'vitest';
import { logIndex, makeLimits } from '../util/index.js';
import type { Limits } from '../util/index.js';
import { KvStateMachine, decodeWriteResult, sessionResponsesMax, sessionsExpiredPerApplyMax } from './index.js';
import type { ApplyOutcome, KvCommand, SessionRecord, WriteOp } from './index.js';

const utf8 = new TextEncoder();
/** Ids of the live client sessions in the image (not the state machine's reserved records). */
const liveIds = (sm: KvStateMachine): string[] => [...sm.image().sessions].map((s) => s.clientId).filter((id) => !id.startsWith('\u0000'));
const b = (s: string): Uint8Array => utf8.encode(s);

function machine(overrides: Partial<Limits> = {}, sessionTtlMs = 1000): KvStateMachine {
  return new KvStateMachine({ limits: makeLimits(overrides), sessionTtlMs });
}
/** Applies a command from `clientId` as the next entry. */
function send(sm: KvStateMachine, fields: { clientId: string; seq: number; ackSeq?: number; timeMs?: number; op?: WriteOp }): ApplyOutcome {
  const command: KvCommand = {
    clientId: fields.clientId,
    seq: fields.seq,
    ackSeq: fields.ackSeq ?? 0,
    timeMs: fields.timeMs ?? 0,
    op: fields.op ?? { type: 'put', key: b('counter'), value: b(`seq ${fields.seq}`) },
  };
  return sm.apply(logIndex(sm.appliedIndex + 1), command);
}
function sessionOf(sm: KvStateMachine, clientId: string): SessionRecord | undefined {
  return [...sm.image().sessions].find((s) => s.clientId === clientId);
}
const savedSeqs = (sm: KvStateMachine, clientId: string): number[] => sessionOf(sm, clientId)?.responses.map((r) => r.seq) ?? [];

describe('exactly-once', () => {
  it('applies a retried command once and answers it with the saved result', () => {
    // Proves the same clientId+seq changes state once and gets its first answer back.
    const sm = machine();
    const first = send(sm, { clientId: 'c', seq: 1, op: { type: 'put', key: b('k'), value: b('v'), prevKv: true } });
    send(sm, { clientId: 'd', seq: 1 });
    const hash = sm.stateHash();
    const retry = send(sm, { clientId: 'c', seq: 1, op: { type: 'put', key: b('k'), value: b('v'), prevKv: true } });
    expect(retry.duplicate).toBe(true);
    expect(retry.result).toEqual(first.result);
    expect([retry.mutations, retry.appliedIndex, retry.revision]).toEqual([[], 3, 2]);
    expect(sm.get(b('k'))?.version).toBe(1);
    expect(sm.stateHash()).toBe(hash);
  });

  it('persists the session with every new answer', () => {
    // Proves the session change is in the mutations, with the encoded answer the retry will get.
    const sm = machine();
    const outcome = send(sm, { clientId: 'c', seq: 1, timeMs: 42 });
    const put = outcome.mutations.find((m) => m.type === 'putSession');
    expect(put?.type === 'putSession' && put.session).toMatchObject({ clientId: 'c', ackSeq: 0, lastSeenMs: 42 });
    expect(put?.type === 'putSession' && decodeWriteResult(put.session.responses[0]!.result)).toEqual(outcome.result);
  });

  it('drops saved answers the client acknowledged, and refuses their seqs as stale', () => {
    // Proves ackSeq pruning and the FAILED_PRECONDITION for a seq at or below ackSeq.
    const sm = machine();
    for (const seq of [1, 2, 3]) send(sm, { clientId: 'c', seq });
    expect(savedSeqs(sm, 'c')).toEqual([1, 2, 3]);
    send(sm, { clientId: 'c', seq: 4, ackSeq: 2 });
    expect(sessionOf(sm, 'c')).toMatchObject({ ackSeq: 2 });
    expect(savedSeqs(sm, 'c')).toEqual([3, 4]);
    const revision = sm.revision;
    const stale = send(sm, { clientId: 'c', seq: 2 });
    expect(stale.result).toMatchObject({ type: 'error', code: 'FAILED_PRECONDITION', message: expect.stringMatching(/^stale sequence number: seq 2 .* acknowledged seq 2/) });
    expect([stale.duplicate, stale.mutations, sm.revision]).toEqual([false, [], revision]);
    expect(send(sm, { clientId: 'c', seq: 3 }).duplicate).toBe(true);
    send(sm, { clientId: 'c', seq: 5, ackSeq: 1 });
    expect(sessionOf(sm, 'c')?.ackSeq).toBe(2);
  });

  it('does not save refused writes, so a retry is evaluated afresh', () => {
    // Proves a refused write (which changed nothing) can succeed when retried with the same seq.
    const sm = machine({ dataBytesMax: 16 });
    send(sm, { clientId: 'other', seq: 1, op: { type: 'put', key: b('fill'), value: b('0123456789') } });
    const big = { type: 'put' as const, key: b('big'), value: b('0123456789') };
    expect(send(sm, { clientId: 'c', seq: 1, op: big }).result).toMatchObject({ type: 'error', code: 'OVERLOADED' });
    expect(savedSeqs(sm, 'c')).toEqual([]);
    send(sm, { clientId: 'other', seq: 2, ackSeq: 1, op: { type: 'delete', key: b('fill') } });
    const retry = send(sm, { clientId: 'c', seq: 1, op: big });
    expect([retry.result.type, retry.duplicate]).toEqual(['put', false]);
  });

  it('keeps at most sessionResponsesMax answers, then refuses forgotten seqs instead of reapplying them', () => {
    // Proves the response bound, and that dropping an answer raises ackSeq so the write cannot apply twice.
    const sm = machine();
    const total = sessionResponsesMax + 6;
    for (let seq = 1; seq <= total; seq++) send(sm, { clientId: 'c', seq });
    const session = sessionOf(sm, 'c');
    expect([session?.responses.length, session?.ackSeq, session?.responses[0]?.seq]).toEqual([sessionResponsesMax, 6, 7]);
    const version = sm.get(b('counter'))?.version;
    expect(send(sm, { clientId: 'c', seq: 3 }).result).toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect(send(sm, { clientId: 'c', seq: 7 }).duplicate).toBe(true);
    expect(sm.get(b('counter'))?.version).toBe(version);
  });

  it('saves a small "applied, answer not kept" result instead of a huge answer', () => {
    // Proves large answers do not bloat sessions, yet a retry still cannot apply the write twice.
    const sm = machine();
    const value = new Uint8Array(40 * 1024);
    send(sm, { clientId: 'c', seq: 1, op: { type: 'put', key: b('a'), value } });
    send(sm, { clientId: 'c', seq: 2, op: { type: 'put', key: b('b'), value } });
    const op: WriteOp = { type: 'txn', compares: [], success: [{ type: 'put', key: b('c'), value: b('') }, { type: 'range', key: b(''), prefix: true }], failure: [] };
    const first = send(sm, { clientId: 'c', seq: 3, op });
    expect(first.result).toMatchObject({ type: 'txn', succeeded: true });
    const saved = sessionOf(sm, 'c')?.responses.find((r) => r.seq === 3);
    expect(saved?.result.length).toBeLessThan(1024);
    const retry = send(sm, { clientId: 'c', seq: 3, op });
    expect(retry.duplicate).toBe(true);
    expect(retry.result).toMatchObject({ type: 'error', code: 'FAILED_PRECONDITION', message: expect.stringMatching(/^seq 3 was applied at revision 3, but its \d+-byte answer is over savedResultBytesMax/) });
    expect(sm.revision).toBe(3);
  });

  it('keeps no session for an empty clientId', () => {
    // Proves internal writes without a session are applied every time.
    const sm = machine();
    send(sm, { clientId: '', seq: 0 });
    send(sm, { clientId: '', seq: 0 });
    expect([sm.sessionCount(), sm.get(b('counter'))?.version]).toEqual([0, 2]);
  });
});

describe('session lifetime', () => {
  it('expires a session once the clock passes lastSeenMs + sessionTtlMs', () => {
    // Proves lazy expiry driven by command times, with deleteSession mutations.
    const sm = machine({}, 1000);
    send(sm, { clientId: 'a', seq: 1, timeMs: 0 });
    send(sm, { clientId: 'b', seq: 1, timeMs: 1000 });
    expect(sm.sessionCount()).toBe(2);
    const outcome = send(sm, { clientId: 'b', seq: 2, timeMs: 1001 });
    expect(outcome.mutations.filter((m) => m.type === 'deleteSession')).toEqual([{ type: 'deleteSession', clientId: 'a' }]);
    expect(sm.sessionCount()).toBe(1);
    expect(send(sm, { clientId: 'a', seq: 1, timeMs: 1002 }).duplicate).toBe(false);
  });

  it('keeps the clock monotonic when a command carries an older time', () => {
    // Proves a new leader with a slower clock cannot move time backwards.
    const sm = machine();
    expect(send(sm, { clientId: 'a', seq: 1, timeMs: 500 }).clockMs).toBe(500);
    expect(send(sm, { clientId: 'a', seq: 2, ackSeq: 1, timeMs: 100 }).clockMs).toBe(500);
    expect(sessionOf(sm, 'a')?.lastSeenMs).toBe(500);
  });

  it('does not expire the session of the command being applied', () => {
    // Proves a client returning after the TTL is served by its own (refreshed) session.
    const sm = machine({}, 1000);
    send(sm, { clientId: 'a', seq: 1, timeMs: 0 });
    const back = send(sm, { clientId: 'a', seq: 2, ackSeq: 1, timeMs: 5000 });
    expect(back.mutations.some((m) => m.type === 'deleteSession')).toBe(false);
    expect(sessionOf(sm, 'a')).toMatchObject({ ackSeq: 1, lastSeenMs: 5000 });
  });

  it('expires at most sessionsExpiredPerApplyMax sessions per apply, oldest first', () => {
    // Proves expiry work per entry is bounded and deterministic.
    const sm = machine({}, 1000);
    const count = sessionsExpiredPerApplyMax + 4;
    for (let i = 0; i < count; i++) send(sm, { clientId: `c${String(i).padStart(2, '0')}`, seq: 1, timeMs: i });
    const first = send(sm, { clientId: 'late', seq: 1, timeMs: 10_000 });
    const expired = first.mutations.flatMap((m) => (m.type === 'deleteSession' ? [m.clientId] : []));
    expect(expired).toEqual(Array.from({ length: sessionsExpiredPerApplyMax }, (_, i) => `c${String(i).padStart(2, '0')}`));
    send(sm, { clientId: 'late', seq: 2, ackSeq: 1, timeMs: 10_001 });
    expect(sm.sessionCount()).toBe(1);
  });

  it('evicts the least recently seen sessions beyond sessionsMax, ties broken by clientId', () => {
    // Proves the session table is bounded and eviction is the same on every replica.
    const sm = machine({ sessionsMax: 3 }, 1_000_000);
    send(sm, { clientId: 'b', seq: 1, timeMs: 10 });
    send(sm, { clientId: 'a', seq: 1, timeMs: 10 });
    send(sm, { clientId: 'c', seq: 1, timeMs: 20 });
    const outcome = send(sm, { clientId: 'd', seq: 1, timeMs: 30 });
    expect(outcome.mutations.filter((m) => m.type === 'deleteSession')).toEqual([{ type: 'deleteSession', clientId: 'a' }]);
    send(sm, { clientId: 'b', seq: 2, ackSeq: 1, timeMs: 40 });
    send(sm, { clientId: 'e', seq: 1, timeMs: 50 });
    expect(liveIds(sm)).toEqual(['b', 'd', 'e']);
  });

  it('refuses a client that acknowledges seqs of a session it no longer has (SESSION_EXPIRED)', () => {
    // Proves an unknown client id with ackSeq > 0 is not taken for a new session: nothing is applied
    // and no session is created (see session-expiry.test.ts for the retry that would apply twice).
    const sm = machine();
    const outcome = send(sm, { clientId: 'c', seq: 8, ackSeq: 5 });
    expect(outcome.result).toMatchObject({ type: 'error', code: 'SESSION_EXPIRED' });
    expect([outcome.mutations, sm.revision, sessionOf(sm, 'c')]).toEqual([[], 0, undefined]);
  });
});
