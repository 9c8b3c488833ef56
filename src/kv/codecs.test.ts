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
import type { Compare, KeyValue, KvCommand, SessionRecord, TxnBranchOp, TxnBranchResult, TxnOp, WriteResult } from './index.js';
import { txnNestingDepthMax } from './index.js';

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
const op4 = fc.constantFrom('=', '!=', '<', '>' as const);
/** Compares of the first format: one key, targets value, version and revisions. */
const firstFormatCompare: fc.Arbitrary<Compare> = fc.oneof(
  fc.record({ key, target: fc.constant('value' as const), op: op4, value: bytes }),
  fc.record({ key, target: fc.constantFrom('version', 'modRevision', 'createRevision' as const), op: op4, value: count }),
);
/** Every compare: also target lease, and a range end on any target. */
const compare: fc.Arbitrary<Compare> = fc.oneof(
  firstFormatCompare,
  fc.record({ key, target: fc.constant('lease' as const), op: op4, value: count }),
  fc.record({ key, target: fc.constant('value' as const), op: op4, value: bytes, rangeEnd: bytes }),
  fc.record({ key, target: fc.constantFrom('version', 'modRevision', 'createRevision', 'lease' as const), op: op4, value: count, rangeEnd: bytes }),
);
/** Txns nested a few levels deep (branch ops include txns). */
const { txnOp } = fc.letrec<{ txnOp: TxnOp; branchOp: TxnBranchOp }>((tie) => ({
  branchOp: fc.oneof({ depthSize: 'small', withCrossShrink: true }, putOp, deleteOp, rangeOp, tie('txnOp') as fc.Arbitrary<TxnOp>),
  txnOp: fc.record({
    type: fc.constant('txn' as const),
    compares: fc.array(compare, { maxLength: 3 }),
    success: fc.array(tie('branchOp') as fc.Arbitrary<TxnBranchOp>, { maxLength: 3 }),
    failure: fc.array(tie('branchOp') as fc.Arbitrary<TxnBranchOp>, { maxLength: 3 }),
  }),
}));
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
const { txnResult } = fc.letrec<{ txnResult: WriteResult; branchResult: TxnBranchResult }>((tie) => ({
  branchResult: fc.oneof({ depthSize: 'small', withCrossShrink: true }, putResult, deleteResult, rangeResult, tie('txnResult') as fc.Arbitrary<TxnBranchResult>),
  txnResult: fc.record({
    type: fc.constant('txn' as const),
    revision: rev,
    succeeded: fc.boolean(),
    results: fc.array(tie('branchResult') as fc.Arbitrary<TxnBranchResult>, { maxLength: 3 }),
  }),
}));
const writeResult: fc.Arbitrary<WriteResult> = fc.oneof(
  putResult,
  deleteResult,
  txnResult,
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
    expect(() => encodeCommand({ ...base, op: nestedTxn(txnNestingDepthMax + 1) })).toThrow(/txns nest more than txnNestingDepthMax \(16\) deep/);
    expect(decodeCommand(encodeCommand({ ...base, op: nestedTxn(txnNestingDepthMax) })).op).toEqual(nestedTxn(txnNestingDepthMax));
    const badCompare = { type: 'txn' as const, compares: [{ key: b('k'), target: 'value' as const, op: '=' as const, value: 3 }], success: [], failure: [] };
    expect(() => encodeCommand({ ...base, op: badCompare })).toThrow(/compare.value/);
  });
});

/** A txn holding `depth` levels of txns, each the only success op of the one above. */
function nestedTxn(depth: number): TxnOp {
  let op: TxnOp = { type: 'txn', compares: [], success: [], failure: [] };
  for (let i = 0; i < depth; i++) op = { type: 'txn', compares: [], success: [op], failure: [] };
  return op;
}

describe('the first format', () => {
  // Entries, snapshots and backups written before lease compares, range compares and nested txns
  // existed must decode exactly as before. These bytes were written by the codec of that format
  // (commit 41cd37f); the codec must still read them to the same commands and write them back
  // byte for byte.
  const hex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, 'hex'));
  const vectors: Array<[string, string, KvCommand]> = [
    ['a put with prevKv and a lease', '01026331070687ad4b0103016b01762a', { clientId: 'c1', seq: 7, ackSeq: 6, timeMs: 1234567, op: { type: 'put', key: b('k'), value: b('v'), prevKv: true, lease: 42 } }],
    ['a range delete', '010000000002050161017a', { clientId: '', seq: 0, ackSeq: 0, timeMs: 0, op: { type: 'delete', key: b('a'), rangeEnd: b('z'), prevKv: true } }],
    [
      'a txn with every first-format compare target and a range',
      '0101630201630404016b00000178016b010103016d0202ac02016e030300020100016b01790319016100050102020170',
      {
        clientId: 'c',
        seq: 2,
        ackSeq: 1,
        timeMs: 99,
        op: {
          type: 'txn',
          compares: [
            { key: b('k'), target: 'value', op: '=', value: b('x') },
            { key: b('k'), target: 'version', op: '!=', value: 3 },
            { key: b('m'), target: 'modRevision', op: '<', value: 300 },
            { key: b('n'), target: 'createRevision', op: '>', value: 0 },
          ],
          success: [{ type: 'put', key: b('k'), value: b('y') }, { type: 'range', key: b('a'), rangeEnd: new Uint8Array(0), limit: 5, keysOnly: true }],
          failure: [{ type: 'delete', key: b('p'), prefix: true }],
        },
      },
    ],
    ['a lease grant', '01016303026405003c', { clientId: 'c', seq: 3, ackSeq: 2, timeMs: 100, op: { type: 'leaseGrant', id: 0, ttlS: 60 } }],
  ];
  it.each(vectors)('still decodes %s, and encodes it to the same bytes', (_what, bytesHex, expected) => {
    expect(decodeCommand(hex(bytesHex))).toEqual(expected);
    expect(Buffer.from(encodeCommand(expected)).toString('hex')).toBe(bytesHex);
  });

  it('still decodes a saved txn result', () => {
    const kv: KeyValue = { key: b('k'), value: b('v'), createRevision: revision(2), modRevision: revision(3), version: 1 };
    const saved = '0104050102010501016b01760203010305010001016b0176020301';
    const expected: WriteResult = { type: 'txn', revision: revision(5), succeeded: true, results: [{ type: 'put', revision: revision(5), prevKv: kv }, { type: 'range', revision: revision(5), kvs: [kv], count: 1, more: false }] };
    expect(decodeWriteResult(hex(saved))).toEqual(expected);
    expect(Buffer.from(encodeWriteResult(expected)).toString('hex')).toBe(saved);
  });

  it('encodes every first-format txn as it did: no range-end bit, no target above 3', () => {
    // Proves the additions use only byte values the first format never wrote (fast-check over first-format compares).
    fc.assert(
      fc.property(firstFormatCompare, (c) => {
        const encoded = encodeCommand({ clientId: '', seq: 0, ackSeq: 0, timeMs: 0, op: { type: 'txn', compares: [c], success: [], failure: [] } });
        // [format, clientId, seq, ackSeq, timeMs, tag, n, keyLength, ...key, target]
        expect(encoded[8 + c.key.length]).toBe(['value', 'version', 'modRevision', 'createRevision'].indexOf(c.target));
      }),
    );
  });

  it('round-trips range and lease compares with the new wire codes', () => {
    const c: Compare = { key: b('a'), target: 'lease', op: '=', value: 7, rangeEnd: b('b') };
    const encoded = encodeCommand({ clientId: '', seq: 0, ackSeq: 0, timeMs: 0, op: { type: 'txn', compares: [c], success: [], failure: [] } });
    expect(encoded[9]).toBe(0x84);
    expect(decodeCommand(encoded).op).toEqual({ type: 'txn', compares: [c], success: [], failure: [] });
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

  it('rejects txns nested too deep and a huge element count without allocating', () => {
    // Proves structural limits of txns are enforced on decode, and counts are checked against the input size.
    // [format, clientId "", seq, ackSeq, timeMs], then 17 × [txn tag, 0 compares, 1 success op], then an empty txn.
    const header = [1, 0, 1, 0, 0];
    const level = [4, 0, 1];
    const deep = new Uint8Array([...header, ...Array.from({ length: txnNestingDepthMax + 1 }, () => level).flat(), 4, 0, 0, 0]);
    expect(() => decodeCommand(deep)).toThrow(/txns nest more than txnNestingDepthMax \(16\) deep/);
    const deepest = new Uint8Array([...header, ...Array.from({ length: txnNestingDepthMax }, () => level).flat(), 4, 0, 0, 0, ...Array.from({ length: txnNestingDepthMax }, () => 0)]);
    expect(decodeCommand(deepest).op).toEqual(nestedTxn(txnNestingDepthMax));
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
