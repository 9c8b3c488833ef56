// Unit tests of how the client turns selectors, guards, operations and gRPC failures into wire
// messages and typed errors.
import { Metadata, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CompareResult, CompareTarget, ErrorTrailer } from '../api/index.js';
import { InvalidArgumentError, NotLeaderError, OutcomeUnknownError, OverloadedError, UnavailableError } from '../util/index.js';
import { prefixEnd } from './bytes.js';
import { classifyFailure, cleanDetails } from './errors.js';
import { compare, compareMsg, op, rangeFields, requestOpMsg } from './requests.js';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('rangeFields', () => {
  it('maps key, prefix and start/end selectors to the wire fields', () => {
    expect(rangeFields({ key: 'a' }, 'r')).toEqual({ key: bytes('a') });
    expect(rangeFields({ prefix: 'p/' }, 'r')).toEqual({ key: bytes('p/'), prefix: true });
    expect(rangeFields({}, 'r')).toEqual({ key: new Uint8Array(0), prefix: true });
    expect(rangeFields({ start: 'a', end: 'c' }, 'r')).toEqual({ key: bytes('a'), rangeEnd: bytes('c') });
    expect(rangeFields({ start: 'a' }, 'r')).toEqual({ key: bytes('a'), rangeEnd: new Uint8Array([0]) });
  });

  it('refuses ambiguous or empty selectors with the field named', () => {
    expect(() => rangeFields({ key: 'a', prefix: 'b' }, 'range')).toThrow(/range: give one of key, prefix and start/);
    expect(() => rangeFields({ key: '' }, 'range')).toThrow(InvalidArgumentError);
    expect(() => rangeFields({ end: 'x' }, 'range')).toThrow(/range.end/);
  });
});

describe('prefixEnd', () => {
  it('never changes the caller\'s buffer (Buffer#slice is a view)', () => {
    const key = Buffer.from('ab');
    expect([...prefixEnd(key)]).toEqual([0x61, 0x63]);
    expect(key.toString()).toBe('ab');
    expect(prefixEnd(new Uint8Array([0xff, 0xff])).length).toBe(0);
  });
});

describe('transactions', () => {
  it('encodes guards with the operand in the field matching the target', () => {
    expect(compareMsg(compare.value('k', '==', 'v'), 'c')).toEqual({ key: bytes('k'), target: CompareTarget.VALUE, result: CompareResult.EQUAL, value: bytes('v') });
    expect(compareMsg(compare.absent('k'), 'c')).toEqual({ key: bytes('k'), target: CompareTarget.VERSION, result: CompareResult.EQUAL, version: 0 });
    expect(compareMsg(compare.modRevision('k', '<', 7), 'c')).toMatchObject({ target: CompareTarget.MOD, result: CompareResult.LESS, modRevision: 7 });
    expect(() => compareMsg({ key: 'k', target: 'version', op: '>', value: -1 }, 'txn.if[0]')).toThrow(/txn.if\[0\].value/);
    expect(() => compareMsg({ key: 'k', target: 'nope', op: '>', value: 1 } as never, 'txn.if[0]')).toThrow(/txn.if\[0\].target/);
  });

  it('encodes operations and refuses a delete that names no keys', () => {
    expect(requestOpMsg(op.put('k', 'v'), 'o')).toEqual({ requestPut: { key: bytes('k'), value: bytes('v'), prevKv: false } });
    expect(requestOpMsg(op.delete({ prefix: 'p' }), 'o')).toEqual({ requestDelete: { key: bytes('p'), prefix: true, prevKv: false } });
    expect(requestOpMsg(op.range({ prefix: 'p', limit: 2 }), 'o').requestRange).toMatchObject({ key: bytes('p'), prefix: true, limit: 2 });
    expect(() => requestOpMsg({ type: 'delete' }, 'txn.then[0]')).toThrow(/txn.then\[0\]/);
    expect(() => requestOpMsg({ type: 'frob' } as never, 'txn.then[1]')).toThrow(/txn.then\[1\].type/);
  });
});

function grpcError(code: status, details: string, trailers: Record<string, string> = {}): ServiceError {
  const metadata = new Metadata();
  for (const [k, v] of Object.entries(trailers)) metadata.set(k, v);
  return Object.assign(new Error(details), { code, details, metadata });
}

describe('classifyFailure', () => {
  const write = { write: true, endpoint: 'n1', method: 'Put' };
  const read = { write: false, endpoint: 'n1', method: 'Get' };

  it('maps raftkv trailers back to the typed errors with their details', () => {
    const notLeader = classifyFailure(grpcError(status.FAILED_PRECONDITION, 'x', { [ErrorTrailer.code]: 'NOT_LEADER', [ErrorTrailer.leaderId]: 'n2' }), write);
    expect(notLeader.retry).toBe('redirect');
    expect(notLeader.error).toBeInstanceOf(NotLeaderError);
    expect((notLeader.error as NotLeaderError).leaderId).toBe('n2');
    const bad = classifyFailure(grpcError(status.INVALID_ARGUMENT, 'key: must not be empty', { [ErrorTrailer.code]: 'INVALID_ARGUMENT', [ErrorTrailer.field]: 'key' }), write);
    expect(bad).toMatchObject({ retry: 'final' });
    expect(bad.error.message).toBe('key: must not be empty');
    const busy = classifyFailure(grpcError(status.RESOURCE_EXHAUSTED, 'full', { [ErrorTrailer.code]: 'OVERLOADED', [ErrorTrailer.retryAfterMs]: '50' }), write);
    expect(busy).toMatchObject({ retry: 'retry', retryAfterMs: 50 });
    expect(busy.error).toBeInstanceOf(OverloadedError);
    const lost = classifyFailure(grpcError(status.UNAVAILABLE, 'lost', { [ErrorTrailer.code]: 'OUTCOME_UNKNOWN', [ErrorTrailer.outcome]: 'unknown' }), write);
    expect(lost).toMatchObject({ retry: 'retry-idempotent', mayHaveApplied: true, nodeSilent: false });
    const noQuorum = classifyFailure(grpcError(status.UNAVAILABLE, 'no leader', { [ErrorTrailer.code]: 'UNAVAILABLE', [ErrorTrailer.outcome]: 'not_applied' }), write);
    expect(noQuorum).toMatchObject({ retry: 'retry', mayHaveApplied: false });
  });

  it('treats a call without a node\'s answer as a silent node: unknown outcome for writes', () => {
    const dropped = grpcError(status.UNAVAILABLE, 'read ECONNRESET');
    const w = classifyFailure(dropped, write);
    expect(w).toMatchObject({ retry: 'retry-idempotent', nodeSilent: true, mayHaveApplied: true });
    expect(w.error).toBeInstanceOf(OutcomeUnknownError);
    const r = classifyFailure(dropped, read);
    expect(r).toMatchObject({ retry: 'retry', nodeSilent: true, mayHaveApplied: false });
    expect(r.error).toBeInstanceOf(UnavailableError);
    expect(classifyFailure(grpcError(status.DEADLINE_EXCEEDED, 'Deadline exceeded'), write)).toMatchObject({ retry: 'retry-idempotent', mayHaveApplied: true });
  });

  it('knows a request that found no connection was never sent: not applied, and free to retry', () => {
    const refused = grpcError(status.UNAVAILABLE, 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:1. Resolution note: ');
    const w = classifyFailure(refused, write);
    expect(w).toMatchObject({ retry: 'retry', nodeSilent: true, mayHaveApplied: false, notSent: true });
    expect(w.error).toBeInstanceOf(UnavailableError);
    expect(w.error.message).toBe('Put at n1 failed: connect ECONNREFUSED 127.0.0.1:1');
    expect(cleanDetails('')).toBe('no details');
  });
});
