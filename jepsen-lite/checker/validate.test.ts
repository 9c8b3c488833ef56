// Proves malformed histories are refused with a MalformedHistoryError naming the operation and field, and well-formed edge cases are not.
import { describe, expect, it } from 'vitest';
import { isErrorCode } from '../../src/util/index.js';
import { checkLinearizable, MalformedHistoryError, validateHistory } from './index.js';
import type { HistoryOp } from './index.js';

const get: HistoryOp = { id: 1, client: 'c1', key: 'x', kind: 'get', value: null, call: 0, ret: 1, status: 'ok' };
const put: HistoryOp = { id: 2, client: 'c2', key: 'x', kind: 'put', value: 'v', call: 0, ret: 1, status: 'ok' };
const cas: HistoryOp = { id: 3, client: 'c3', key: 'x', kind: 'cas', expected: null, newValue: 'w', casOk: true, call: 0, ret: 1, status: 'ok' };

/** The error `checkLinearizable` throws for `history`. */
function errorOf(history: readonly unknown[]): MalformedHistoryError {
  try {
    checkLinearizable(history as HistoryOp[]);
  } catch (e) {
    expect(e).toBeInstanceOf(MalformedHistoryError);
    return e as MalformedHistoryError;
  }
  throw new Error('expected checkLinearizable to throw');
}

describe('validateHistory', () => {
  it('accepts well-formed operations of every kind and status', () => {
    const history: HistoryOp[] = [
      get,
      put,
      cas,
      { id: 4, client: 'c1', key: 'x', kind: 'get', call: 2, ret: null, status: 'indeterminate' },
      { id: 5, client: 'c2', key: 'x', kind: 'put', value: 'v', call: 2, ret: null, status: 'indeterminate' },
      { id: 6, client: 'c3', key: 'x', kind: 'cas', expected: 'v', newValue: 'w', call: 2, ret: 3, status: 'fail' },
      { id: 7, client: 'c4', key: '', kind: 'put', value: '', call: 5, ret: 5, status: 'ok' },
    ];
    expect(() => validateHistory(history)).not.toThrow();
  });

  it('names the field and the operation, and carries the INVALID_ARGUMENT code', () => {
    const e = errorOf([get, { ...put, ret: -1 }]);
    expect(e.field).toBe('history[1].ret');
    expect(e.opId).toBe(2);
    expect(e.message).toBe('history[1].ret: (-1) must not be before call (0)');
    expect(isErrorCode(e, 'INVALID_ARGUMENT')).toBe(true);
  });

  it.each([
    ['a duplicate id', [get, { ...put, id: 1 }], 'history[1].id', /duplicate id 1/],
    ['a non-integer id', [{ ...get, id: 1.5 }], 'history[0].id', /safe integer/],
    ['an empty client', [{ ...get, client: '' }], 'history[0].client', /non-empty/],
    ['a missing key', [{ ...get, key: undefined }], 'history[0].key', /string/],
    ['an unknown kind', [{ ...get, kind: 'delete' }], 'history[0].kind', /'get', 'put' or 'cas'/],
    ['an unknown status', [{ ...get, status: 'timeout' }], 'history[0].status', /'ok', 'fail' or 'indeterminate'/],
    ['a non-finite call', [{ ...get, call: Number.NaN }], 'history[0].call', /finite/],
    ['a completed op without ret', [{ ...get, ret: null }], 'history[0].ret', /finite number for a completed/],
    ['an indeterminate op with a ret', [{ ...put, status: 'indeterminate' }], 'history[0].ret', /must be null/],
    ['a completed get without a value', [{ ...get, value: undefined }], 'history[0].value', /value read/],
    ['a put of null', [{ ...put, value: null }], 'history[0].value', /value written/],
    ['a put with cas fields', [{ ...put, expected: 'a' }], 'history[0].expected', /does not belong to a put/],
    ['a get with casOk', [{ ...get, casOk: true }], 'history[0].casOk', /does not belong to a get/],
    ['a cas without expected', [{ ...cas, expected: undefined }], 'history[0].expected', /expected value/],
    ['a cas without newValue', [{ ...cas, newValue: undefined }], 'history[0].newValue', /new value/],
    ['a completed cas without casOk', [{ ...cas, casOk: undefined }], 'history[0].casOk', /whether it swapped/],
    ['an indeterminate cas with casOk', [{ ...cas, ret: null, status: 'indeterminate' }], 'history[0].casOk', /must be absent/],
    ['a cas with a value', [{ ...cas, value: 'v' }], 'history[0].value', /does not belong to a cas/],
  ])('refuses %s', (_, history, field, message) => {
    const e = errorOf(history);
    expect(e.field).toBe(field);
    expect(e.message).toMatch(message);
  });

  it('refuses two operations in flight on one client', () => {
    const e = errorOf([
      { ...put, client: 'c1', call: 0, ret: 10 },
      { ...get, id: 9, client: 'c1', call: 5, ret: 6 },
    ]);
    expect(e.field).toBe('client "c1"');
    expect(e.opId).toBe(9);
    expect(e.message).toMatch(/#9 was called at 5, before #2 returned at 10/);
  });

  it('lets a client call again at the very time its previous operation returned', () => {
    expect(() => validateHistory([{ ...put, client: 'c1', call: 0, ret: 5 }, { ...get, client: 'c1', call: 5, ret: 6 }])).not.toThrow();
  });

  it('lets a client go on after an indeterminate operation, which it stopped waiting for', () => {
    const history: HistoryOp[] = [
      { ...put, client: 'c1', call: 0, ret: null, status: 'indeterminate' },
      { ...get, client: 'c1', call: 1, ret: 2 },
    ];
    expect(() => validateHistory(history)).not.toThrow();
  });

  it('refuses something that is not an array', () => {
    expect(() => validateHistory({} as unknown as HistoryOp[])).toThrow(MalformedHistoryError);
  });
});
