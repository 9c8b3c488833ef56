// Proves describeOp gives stable, unambiguous one-line text for every kind and status (golden lines).
import { describe, expect, it } from 'vitest';
import { describeOp } from './index.js';
import type { HistoryOp } from './index.js';

describe('describeOp', () => {
  it.each<[string, HistoryOp]>([
    ['#1 c1 get "x" ok -> "3" @[12,15]', { id: 1, client: 'c1', key: 'x', kind: 'get', value: '3', call: 12, ret: 15, status: 'ok' }],
    ['#2 c1 get "x" ok -> absent @[0,1]', { id: 2, client: 'c1', key: 'x', kind: 'get', value: null, call: 0, ret: 1, status: 'ok' }],
    ['#3 c2 get "x" indeterminate @[0,?]', { id: 3, client: 'c2', key: 'x', kind: 'get', call: 0, ret: null, status: 'indeterminate' }],
    ['#4 c2 put "k y" = "a \\"q\\"" ok @[10,14]', { id: 4, client: 'c2', key: 'k y', kind: 'put', value: 'a "q"', call: 10, ret: 14, status: 'ok' }],
    ['#5 c4 put "x" = "5" indeterminate @[14,?]', { id: 5, client: 'c4', key: 'x', kind: 'put', value: '5', call: 14, ret: null, status: 'indeterminate' }],
    ['#6 c3 cas "x" "3" -> "4" ok not-swapped @[13,16]', { id: 6, client: 'c3', key: 'x', kind: 'cas', expected: '3', newValue: '4', casOk: false, call: 13, ret: 16, status: 'ok' }],
    ['#7 c3 cas "x" absent -> "1" ok swapped @[1,2]', { id: 7, client: 'c3', key: 'x', kind: 'cas', expected: null, newValue: '1', casOk: true, call: 1, ret: 2, status: 'ok' }],
    ['#8 c3 cas "x" "1" -> "2" fail @[3,4]', { id: 8, client: 'c3', key: 'x', kind: 'cas', expected: '1', newValue: '2', call: 3, ret: 4, status: 'fail' }],
  ])('%s', (text, op) => {
    expect(describeOp(op)).toBe(text);
  });
});
