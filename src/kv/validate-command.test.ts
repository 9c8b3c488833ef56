// Proves validateCommand accepts good commands and refuses bad ones with an InvalidArgumentError naming the field and the limit.
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError, makeLimits } from '../util/index.js';
import { clientIdBytesMax, validateCommand, validateRangeOp } from './index.js';
import type { KvCommand, WriteOp } from './index.js';

const limits = makeLimits({ keyBytesMax: 8, valueBytesMax: 16, txnOpsMax: 4, requestBytesMax: 40, appendBytesMax: 1024, applyBytesMax: 1024 });
const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const command = (op: WriteOp, fields: Partial<KvCommand> = {}): KvCommand => ({ clientId: 'c', seq: 1, ackSeq: 0, timeMs: 0, op, ...fields });
const put: WriteOp = { type: 'put', key: b('k'), value: b('v') };
const txn = (over: object): WriteOp => ({ type: 'txn', compares: [], success: [], failure: [], ...over }) as WriteOp;
/** A txn holding `depth` levels of txns, each the only success op of the one above. */
const nested = (depth: number): WriteOp => (depth === 0 ? txn({}) : txn({ success: [nested(depth - 1)] }));

/** The error validateCommand throws, asserting that it throws an InvalidArgumentError. */
function refusal(c: KvCommand): InvalidArgumentError {
  try {
    validateCommand(c, limits);
  } catch (e) {
    expect(e).toBeInstanceOf(InvalidArgumentError);
    return e as InvalidArgumentError;
  }
  throw new Error(`accepted ${JSON.stringify(c)}`);
}

describe('validateCommand', () => {
  it('accepts well-formed commands, including empty-key spans and internal writes', () => {
    // Proves valid input passes (so the refusals below are about the defect, not the shape).
    const ok: KvCommand[] = [
      command(put),
      command({ type: 'put', key: b('12345678'), value: new Uint8Array(16) }),
      command({ type: 'delete', key: b(''), prefix: true }),
      command({ type: 'delete', key: b(''), rangeEnd: new Uint8Array(0) }),
      command(put, { clientId: '', seq: 0 }),
      command(put, { clientId: 'x'.repeat(clientIdBytesMax), seq: 9, ackSeq: 8 }),
      command(txn({ compares: [{ key: b('k'), target: 'version', op: '=', value: 0 }], success: [put, { type: 'range', key: b('a'), limit: 0 }], failure: [put] })),
      command(txn({ compares: [{ key: b('a'), target: 'lease', op: '=', value: 0, rangeEnd: new Uint8Array(0) }], success: [txn({ success: [put] })] })),
    ];
    // The deepest nesting allowed, with txnOpsMax raised to fit it.
    expect(() => validateCommand(command(nested(16)), { ...limits, txnOpsMax: 16 })).not.toThrow();
    expect(() => validateCommand(command(nested(17)), { ...limits, txnOpsMax: 100 })).toThrow(/op\.success\[0\](\.success\[0\]){16}: txns nest more than txnNestingDepthMax \(16\) deep/);
    for (const c of ok) expect(() => validateCommand(c, limits)).not.toThrow();
  });

  const bad: Array<[string, KvCommand, string, RegExp]> = [
    ['an empty key', command({ type: 'put', key: b(''), value: b('') }), 'op.key', /must not be empty/],
    ['a key over keyBytesMax', command({ type: 'put', key: b('123456789'), value: b('') }), 'op.key', /is 9 bytes, more than keyBytesMax \(8\)/],
    ['a value over valueBytesMax', command({ type: 'put', key: b('k'), value: new Uint8Array(17) }), 'op.value', /is 17 bytes, more than valueBytesMax \(16\)/],
    ['a range end over keyBytesMax', command({ type: 'delete', key: b('a'), rangeEnd: new Uint8Array(9) }), 'op.rangeEnd', /more than keyBytesMax \(8\)/],
    ['an empty key without a span', command({ type: 'delete', key: b('') }), 'op.key', /must not be empty/],
    ['too many txn ops', command(txn({ compares: [{ key: b('k'), target: 'version', op: '=', value: 1 }], success: [put, put], failure: [put, put] })), 'op', /txn has 5 compares and operations, more than txnOpsMax \(4\)/],
    ['a bad compare target', command(txn({ compares: [{ key: b('k'), target: 'owner', op: '=', value: 1 }] })), 'op.compares[0].target', /must be value, version, modRevision, createRevision or lease, got "owner"/],
    ['a compare range end over keyBytesMax', command(txn({ compares: [{ key: b('k'), target: 'version', op: '=', value: 1, rangeEnd: new Uint8Array(9) }] })), 'op.compares[0].rangeEnd', /more than keyBytesMax \(8\)/],
    ['a bytes operand on a lease compare', command(txn({ compares: [{ key: b('k'), target: 'lease', op: '=', value: b('1') }] })), 'op.compares[0].value', /must be a number when target is lease/],
    ['a bad compare operator', command(txn({ compares: [{ key: b('k'), target: 'version', op: '>=', value: 1 }] })), 'op.compares[0].op', /must be =, !=, < or >, got ">="/],
    ['a number compared with a value', command(txn({ compares: [{ key: b('k'), target: 'value', op: '=', value: 1 }] })), 'op.compares[0].value', /must be bytes when target is value/],
    ['bytes compared with a version', command(txn({ compares: [{ key: b('k'), target: 'version', op: '=', value: b('1') }] })), 'op.compares[0].value', /must be a number when target is version/],
    ['a negative limit', command(txn({ failure: [put, { type: 'range', key: b('a'), limit: -1 }] })), 'op.failure[1].limit', /non-negative safe integer, got -1/],
    ['a bad op in a nested txn', command(txn({ success: [txn({ failure: [{ type: 'leaseGrant', id: 0, ttlS: 5 }] })] })), 'op.success[0].failure[0].type', /must be put, delete, range or txn, got "leaseGrant"/],
    ['too many ops across nested txns', command(txn({ success: [txn({ success: [put, put] }), put], failure: [put] })), 'op', /txn and its nested txns have at least 5 compares and operations, more than txnOpsMax \(4\)/],
    ['a range as the command', command({ type: 'range', key: b('a') } as never), 'op.type', /must be put, delete, txn, leaseGrant or leaseRevoke, got "range"/],
    ['keys and values over requestBytesMax', command(txn({ success: [{ type: 'put', key: b('k'), value: new Uint8Array(16) }, { type: 'put', key: b('k'), value: new Uint8Array(16) }, { type: 'put', key: b('k'), value: new Uint8Array(16) }] })), 'op', /carries 51 bytes of keys and values, more than requestBytesMax \(40\)/],
    ['a seq below 1 with a client id', command(put, { seq: 0 }), 'seq', /must be at least 1 with a clientId/],
    ['an ackSeq not below seq', command(put, { seq: 3, ackSeq: 3 }), 'ackSeq', /must be below seq \(3\), got 3/],
    ['a fractional timeMs', command(put, { timeMs: 1.5 }), 'timeMs', /non-negative safe integer/],
    ['a client id over clientIdBytesMax', command(put, { clientId: 'é'.repeat(129) }), 'clientId', /is 258 bytes, more than clientIdBytesMax \(256\)/],
    ['a lone surrogate in the client id', command(put, { clientId: 'a\uD800' }), 'clientId', /well-formed Unicode/],
    ['a key that is not bytes', command({ type: 'put', key: 'k' as never, value: b('') }), 'op.key', /must be a Uint8Array/],
  ];
  it.each(bad)('refuses %s', (_what, c, field, message) => {
    // Proves each defect is reported on the right field with the limit it broke.
    const error = refusal(c);
    expect(error.field).toBe(field);
    expect(error.message.startsWith(`${field}: `)).toBe(true);
    expect(error.message).toMatch(message);
  });
});

describe('validateRangeOp', () => {
  it('checks a read-only query like the ranges inside a txn', () => {
    // Proves the read path names the field under "range".
    expect(() => validateRangeOp({ type: 'range', key: b('a'), limit: 5 }, limits)).not.toThrow();
    expect(() => validateRangeOp({ type: 'range', key: b('a'), limit: 2.5 }, limits)).toThrow(/^range.limit: must be a non-negative safe integer, got 2.5$/);
    expect(() => validateRangeOp({ type: 'put' } as never, limits)).toThrow(/^range.type: must be "range"/);
  });
});
