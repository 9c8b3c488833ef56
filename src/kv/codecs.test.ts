// Proves the binary codecs (commands, results, key-value and session records) round-trip exactly, stay compact, and reject malformed input with InvalidArgumentError only.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, revision } from '../util/index.js';
import {
  decodeCommand,
  decodeKeyValue,
  decodeSession,
  decodeWriteResult,
  encodeCommand,
  encodeKeyValue,
  encodeSession,
  encodeWriteResult,
} from './index.js';
import type { Compare, KeyValue, KvCommand, SessionRecord, WriteResult } from './index.js';

const utf8 = new TextEncoder();
const b = (s: string): Uint8Array => utf8.encode(s);

// ---- arbitraries ----------------------------------------------------------------------------

const bytes = fc.uint8Array({ maxLength: 12 });
const key = fc.uint8Array({ minLength: 1, maxLength: 12 });
const count = fc.oneof(fc.nat(300), fc.maxSafeNat());
/** An optional boolean flag: absent or true (false encodes as absent, tested separately). */
const on = fc.constant(true as const);

const putOp = fc.record({ type: fc.constant('put' as const), key, value: bytes, prevKv: on }, { requiredKeys: ['type', 'key', 'value'] });
const deleteOp = fc.record(
  { type: fc.constant('delete' as const), key: bytes, rangeEnd: bytes, prefix: on, prevKv: on },
  { requiredKeys: ['type', 'key'] },
);
const rangeOp = fc.record(
  { type: fc.constant('range' as const), key: bytes, rangeEnd: bytes, prefix: on, limit: count, keysOnly: on, countOnly: on },
  { requiredKeys: ['type', 'key'] },
);
const compare: fc.Arbitrary<Compare> = fc.oneof(
  fc.record({ key, target: fc.constant('value' as const), op: fc.constantFrom('=', '!=', '<', '>' as const), value: bytes }),
  fc.record({
    key,
    target: fc.constantFrom('version', 'modRevision', 'createRevision' as const),
    op: fc.constantFrom('=', '!=', '<', '>' as const),
    value: count,
  }),
);
const branch = fc.array(fc.oneof(putOp, deleteOp, rangeOp), { maxLength: 4 });
const txnOp = fc.record({ type: fc.constant('txn' as const), compares: fc.array(compare, { maxLength: 3 }), success: branch, failure: branch });
const command: fc.Arbitrary<KvCommand> = fc.record({
  clientId: fc.oneof(fc.constant(''), fc.string({ unit: 'binary', maxLength: 10 })),
  seq: count,
  ackSeq: count,
  timeMs: count,
  op: fc.oneof(putOp, deleteOp, txnOp),
});

const keyValue: fc.Arbitrary<KeyValue> = fc
  .record({ key, value: bytes, create: fc.integer({ min: 1, max: 2 ** 40 }), later: fc.nat(1000), version: fc.integer({ min: 1, max: 1e9 }) })
  .map(({ key: k, value, create, later, version }) => ({ key: k, value, createRevision: revision(create), modRevision: revision(create + later), version }));
const rev = count.map(revision);
const putResult = fc.record({ type: fc.constant('put' as const), revision: rev, prevKv: fc.option(keyValue, { nil: null }) });
const deleteResult = fc
  .record({ type: fc.constant('delete' as const), revision: rev, prevKvs: fc.array(keyValue, { maxLength: 3 }), extra: fc.nat(5) })
  .map(({ extra, ...r }) => ({ ...r, deleted: r.prevKvs.length + extra }));
const rangeResult = fc
  .record({ type: fc.constant('range' as const), revision: rev, kvs: fc.array(keyValue, { maxLength: 3 }), extra: fc.nat(5), more: fc.boolean() })
  .map(({ extra, ...r }) => ({ ...r, count: r.kvs.length + extra }));
const writeResult: fc.Arbitrary<WriteResult> = fc.oneof(
  putResult,
  deleteResult,
  fc.record({
    type: fc.constant('txn' as const),
    revision: rev,
    succeeded: fc.boolean(),
    results: fc.array(fc.oneof(putResult, deleteResult, rangeResult), { maxLength: 3 }),
  }),
  fc.record({
    type: fc.constant('error' as const),
    code: fc.constantFrom('INVALID_ARGUMENT', 'OVERLOADED', 'FAILED_PRECONDITION' as const),
    message: fc.string({ unit: 'binary', maxLength: 20 }),
  }),
);
const session: fc.Arbitrary<SessionRecord> = fc
  .record({
    clientId: fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }),
    ackSeq: fc.nat(1e6),
    lastSeenMs: count,
    gaps: fc.array(fc.integer({ min: 1, max: 1000 }), { maxLength: 5 }),
    results: fc.array(bytes, { minLength: 5, maxLength: 5 }),
  })
  .map(({ clientId, ackSeq, lastSeenMs, gaps, results }) => {
    let seq = ackSeq;
    const responses = gaps.map((gap, i) => ({ seq: (seq += gap), result: results[i] as Uint8Array }));
    return { clientId, ackSeq, lastSeenMs, responses };
  });

/** Every codec under test, as [name, arbitrary, encode, decode]. */
const codecs = [
  ['command', command, encodeCommand, decodeCommand],
  ['write result', writeResult, encodeWriteResult, decodeWriteResult],
  ['key-value record', keyValue, encodeKeyValue, decodeKeyValue],
  ['session record', session, encodeSession, decodeSession],
] as const;

/** Runs `decode` and reports whether it threw InvalidArgumentError; any other throw fails the test. */
function rejects(decode: (input: Uint8Array) => unknown, input: Uint8Array): boolean {
  try {
    decode(input);
    return false;
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return true;
  }
}

describe.each(codecs)('%s codec', (_name, arbitrary, encode, decode) => {
  it('round-trips every value', () => {
    // Proves decode(encode(x)) equals x, and that re-encoding is byte-identical (a canonical form).
    fc.assert(
      fc.property(arbitrary as fc.Arbitrary<never>, (value) => {
        const encoded = (encode as (v: never) => Uint8Array)(value);
        const decoded = (decode as (b: Uint8Array) => unknown)(encoded);
        expect(decoded).toEqual(value);
        expect((encode as (v: unknown) => Uint8Array)(decoded)).toEqual(encoded);
      }),
    );
  });

  it('rejects every truncation and any trailing byte', () => {
    // Proves a strict prefix or an extended encoding is never silently accepted.
    fc.assert(
      fc.property(arbitrary as fc.Arbitrary<never>, fc.nat(), fc.integer({ min: 0, max: 255 }), (value, cut, extra) => {
        const encoded = (encode as (v: never) => Uint8Array)(value);
        expect(rejects(decode, encoded.subarray(0, cut % encoded.length))).toBe(true);
        const longer = new Uint8Array(encoded.length + 1);
        longer.set(encoded);
        longer[encoded.length] = extra;
        expect(rejects(decode, longer)).toBe(true);
      }),
    );
  });

  it('answers random bytes with a value or InvalidArgumentError, never another error', () => {
    // Proves garbage cannot crash a decoder (rejects() fails the test on any other exception).
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (garbage) => void rejects(decode, garbage)), { numRuns: 2000 });
    fc.assert(
      fc.property(arbitrary as fc.Arbitrary<never>, fc.nat(), fc.integer({ min: 0, max: 255 }), (value, at, byte) => {
        const encoded = (encode as (v: never) => Uint8Array)(value).slice();
        encoded[at % encoded.length] = byte;
        rejects(decode, encoded);
      }),
    );
  });
});

describe('command encoding', () => {
  it('is compact binary for a small put', () => {
    // Proves the hot-path encoding is a few bytes of overhead, not JSON.
    const encoded = encodeCommand({ clientId: 'c1', seq: 1, ackSeq: 0, timeMs: 1000, op: { type: 'put', key: b('key'), value: b('value') } });
    // format 1 + clientId 3 + seq 1 + ackSeq 1 + timeMs 2 + tag 1 + flags 1 + key 4 + value 6 = 20.
    expect(encoded.length).toBe(20);
  });

  it('round-trips varint boundary values exactly', () => {
    // Proves every safe integer width survives (7-bit steps, the 32-bit boundary, 2^53 - 1).
    for (const n of [0, 1, 127, 128, 16383, 16384, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 35 + 7, Number.MAX_SAFE_INTEGER]) {
      const c: KvCommand = { clientId: 'c', seq: n, ackSeq: n, timeMs: n, op: { type: 'put', key: b('k'), value: b('') } };
      expect(decodeCommand(encodeCommand(c))).toEqual(c);
    }
  });

  it('reads an explicit false flag back as absent', () => {
    // Proves false and absent encode the same (they mean the same).
    const decoded = decodeCommand(encodeCommand({ clientId: '', seq: 0, ackSeq: 0, timeMs: 0, op: { type: 'put', key: b('k'), value: b('v'), prevKv: false } }));
    expect(decoded.op).toEqual({ type: 'put', key: b('k'), value: b('v') });
    expect('prevKv' in decoded.op).toBe(false);
  });

  it('refuses to encode what it cannot represent', () => {
    // Proves encodeCommand names the field instead of writing a corrupt entry.
    const base = { clientId: '', seq: 0, ackSeq: 0, timeMs: 0 };
    const put = { type: 'put' as const, key: b('k'), value: b('v') };
    expect(() => encodeCommand({ ...base, seq: -1, op: put })).toThrow(/seq: must be a non-negative safe integer/);
    expect(() => encodeCommand({ ...base, timeMs: 2 ** 53, op: put })).toThrow(InvalidArgumentError);
    expect(() => encodeCommand({ ...base, op: { type: 'range', key: b('k') } as never })).toThrow(/op.type/);
    const nested = { type: 'txn' as const, compares: [], success: [{ type: 'txn', compares: [], success: [], failure: [] } as never], failure: [] };
    expect(() => encodeCommand({ ...base, op: nested })).toThrow(/cannot contain a transaction/);
    const badCompare = { type: 'txn' as const, compares: [{ key: b('k'), target: 'value' as const, op: '=' as const, value: 3 }], success: [], failure: [] };
    expect(() => encodeCommand({ ...base, op: badCompare })).toThrow(/compare.value/);
  });
});

describe('decoding garbage', () => {
  const valid = encodeCommand({ clientId: 'c', seq: 1, ackSeq: 0, timeMs: 5, op: { type: 'put', key: b('k'), value: b('v') } });
  // Layout of `valid`: [format, 1, 'c', seq, ackSeq, timeMs, tag, flags, 1, 'k', 1, 'v'].
  const patched = (at: number, ...bytes: number[]): Uint8Array => {
    const out = Array.from(valid);
    out.splice(at, 1, ...bytes);
    return new Uint8Array(out);
  };
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['empty input', new Uint8Array(0), /command: truncated/],
    ['an unknown format version', patched(0, 2), /unsupported format version 2/],
    ['an unknown op tag', patched(6, 9), /unknown op tag 9/],
    ['a range as the command', patched(6, 3), /a range is not a write command/],
    ['unknown flag bits', patched(7, 0x81), /unknown flag bits 0x80/],
    ['a non-minimal varint', patched(3, 0x81, 0x00), /non-minimal varint/],
    ['a varint over 8 bytes', patched(3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01), /longer than 8 bytes/],
    ['a varint over 2^53', patched(3, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f), /larger than a safe integer/],
    ['invalid UTF-8 in clientId', patched(2, 0xff), /clientId is not valid UTF-8/],
    ['a length past the end', patched(8, 100), /key needs 100 bytes, 3 left/],
  ];
  it.each(cases)('rejects %s with InvalidArgumentError naming the problem', (_what, input, message) => {
    // Proves each kind of malformed command gets a precise, typed error.
    expect(() => decodeCommand(input)).toThrow(InvalidArgumentError);
    expect(() => decodeCommand(input)).toThrow(message);
  });

  it('rejects a nested txn and a huge element count without allocating', () => {
    // Proves structural limits of txns are enforced on decode, and counts are checked against the input size.
    const nested = new Uint8Array([1, 0, 1, 0, 0, 4, 0, 1, 4]);
    expect(() => decodeCommand(nested)).toThrow(/cannot contain a transaction/);
    const huge = new Uint8Array([1, 0, 1, 0, 0, 4, 0xff, 0xff, 0xff, 0xff, 0x0f]);
    expect(() => decodeCommand(huge)).toThrow(/compares is 4294967295, more than the 0 bytes left/);
  });

  it('rejects records that break their invariants', () => {
    // Proves record decoders check what the state machine relies on, not only the byte layout.
    const kv = (over: Partial<KeyValue>): KeyValue => ({ key: b('k'), value: b('v'), createRevision: revision(2), modRevision: revision(3), version: 1, ...over });
    expect(() => decodeKeyValue(encodeKeyValue(kv({ version: 0 })))).toThrow(/version must be at least 1/);
    expect(() => decodeKeyValue(encodeKeyValue(kv({ createRevision: revision(4) })))).toThrow(/createRevision \(4\) <= modRevision \(3\)/);
    expect(() => decodeKeyValue(encodeKeyValue(kv({ key: new Uint8Array(0) })))).toThrow(/key is empty/);
    const s = (over: Partial<SessionRecord>): SessionRecord => ({ clientId: 'c', ackSeq: 5, lastSeenMs: 1, responses: [], ...over });
    expect(() => decodeSession(encodeSession(s({ responses: [{ seq: 5, result: b('') }] })))).toThrow(/seq 5 is not above 5/);
    const unordered = [{ seq: 8, result: b('') }, { seq: 7, result: b('') }];
    expect(() => decodeSession(encodeSession(s({ responses: unordered })))).toThrow(/seq 7 is not above 8/);
    expect(() => decodeSession(encodeSession(s({ clientId: '' })))).toThrow(/clientId is empty/);
    const rangeAtTop = new Uint8Array([1, 3, 0, 0, 0, 0]);
    expect(() => decodeWriteResult(rangeAtTop)).toThrow(/only allowed inside a txn result/);
    const overDeleted = encodeWriteResult({ type: 'delete', revision: revision(3), deleted: 0, prevKvs: [kv({})] });
    expect(() => decodeWriteResult(overDeleted)).toThrow(/1 prevKvs for 0 deleted keys/);
  });
});
