// Proves each reduction of prepareKey does what it claims on a hand-made history (exactness is cross-checked in property.test.ts).
import { describe, expect, it } from 'vitest';
import { HistoryBuilder } from './history-builder.js';
import { isChecked, prepareKey } from './prepare.js';
import type { KeyProblem } from './prepare.js';

/** The problem's operations as `#id effect ret` lines, definite then indeterminate by class. */
function summary(problem: KeyProblem): string[] {
  const name = (v: number): string => (v === problem.junk ? 'junk' : JSON.stringify(problem.values[v]));
  const text = (op: KeyProblem['definite'][number]): string => {
    const e = op.effect;
    const args = 'expected' in e ? `${name(e.expected)}${'value' in e ? `->${name(e.value)}` : ''}` : name(e.value);
    return `#${op.source.id} ${e.type} ${args} ret=${op.ret}`;
  };
  return [...problem.definite.map(text), ...problem.classes.map((c) => `class ${c.ops.map(text).join(' | ')}`)];
}

describe('prepareKey', () => {
  it('drops failed operations and incomplete gets', () => {
    const h = new HistoryBuilder();
    h.putFailed('c1', 'x', 'a', [0, 1]);
    h.ops.push({ id: 9, client: 'c2', key: 'x', kind: 'get', call: 0, ret: null, status: 'indeterminate' });
    expect(h.ops.filter(isChecked)).toEqual([]);
  });

  it('drops a cas that expected a value nobody writes, and an indeterminate cas from a value to itself', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', 'a', [0, 1]);
    h.cas('c2', 'x', { expected: 'zzz', newValue: 'b', swapped: false }, [2, 3]);
    h.casUnknown('c3', 'x', { expected: 'a', newValue: 'a' }, 2);
    h.get('c1', 'x', 'a', [4, 5]);
    expect(summary(prepareKey('x', h.ops))).toEqual(['#1 write "a" ret=1', '#4 read "a" ret=5']);
  });

  it('drops an indeterminate write nothing observes', () => {
    const h = new HistoryBuilder();
    h.putUnknown('c1', 'x', 'unseen', 0);
    h.put('c2', 'x', 'a', [0, 1]);
    h.get('c2', 'x', 'a', [2, 3]);
    expect(summary(prepareKey('x', h.ops))).toEqual(['#2 write "a" ret=1', '#3 read "a" ret=3']);
  });

  it('keeps an indeterminate write a not-swapped cas could need, as junk', () => {
    const h = new HistoryBuilder();
    h.put('c2', 'x', 'a', [0, 1]);
    h.putUnknown('c1', 'x', 'unseen', 0);
    h.cas('c2', 'x', { expected: 'a', newValue: 'b', swapped: false }, [2, 3]);
    expect(summary(prepareKey('x', h.ops))).toEqual(['#1 write "a" ret=1', '#3 cas-not-swapped "a" ret=3', 'class #2 write junk ret=Infinity']);
  });

  it('pins the only write of a value that a completed read observed, returning by the first such read', () => {
    const h = new HistoryBuilder();
    h.putUnknown('c1', 'x', 'a', 0);
    h.casUnknown('c2', 'x', { expected: 'a', newValue: 'b' }, 1);
    h.get('c3', 'x', 'b', [5, 9]);
    h.get('c4', 'x', 'b', [6, 7]);
    expect(summary(prepareKey('x', h.ops))).toEqual([
      // The cas is pinned first (b was read by #4 at 7); then it swapped from a, which pins #1 too.
      '#1 write "a" ret=7',
      '#2 cas-swapped "a"->"b" ret=7',
      '#3 read "b" ret=9',
      '#4 read "b" ret=7',
    ]);
  });

  it('does not pin a write whose value has another writer', () => {
    const h = new HistoryBuilder();
    h.putUnknown('c1', 'x', 'a', 0);
    h.putUnknown('c2', 'x', 'a', 1);
    h.get('c3', 'x', 'a', [5, 9]);
    expect(summary(prepareKey('x', h.ops))).toEqual(['#3 read "a" ret=9', 'class #1 write "a" ret=Infinity | #2 write "a" ret=Infinity']);
  });

  it('merges values nobody reads or compares into junk, and groups indeterminate ops by effect', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', 'a', [0, 1]);
    h.putUnknown('c2', 'x', 'u1', 2);
    h.putUnknown('c3', 'x', 'u2', 3);
    h.put('c4', 'x', 'u3', [2, 3]);
    h.cas('c1', 'x', { expected: 'a', newValue: 'b', swapped: false }, [4, 5]);
    const problem = prepareKey('x', h.ops);
    expect(summary(problem)).toEqual([
      '#1 write "a" ret=1',
      '#4 write junk ret=3',
      '#5 cas-not-swapped "a" ret=5',
      'class #2 write junk ret=Infinity | #3 write junk ret=Infinity',
    ]);
  });

  it('keeps a value an indeterminate cas could turn into something observable', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', 'mid', [0, 1]);
    h.casUnknown('c2', 'x', { expected: 'mid', newValue: 'seen' }, 2);
    h.casUnknown('c3', 'x', { expected: 'seen', newValue: 'seen' }, 2);
    h.get('c1', 'x', 'seen', [3, 4]);
    h.get('c4', 'x', 'seen', [3, 4]);
    h.put('c1', 'x', 'seen', [5, 6]);
    expect(summary(prepareKey('x', h.ops))).toEqual([
      '#1 write "mid" ret=1',
      '#4 read "seen" ret=4',
      '#5 read "seen" ret=4',
      '#6 write "seen" ret=6',
      'class #2 cas-unknown "mid"->"seen" ret=Infinity',
    ]);
  });

  it('flags a completed read of a value no operation writes', () => {
    const h = new HistoryBuilder();
    h.put('c1', 'x', 'a', [0, 1]);
    const ghost = h.get('c2', 'x', 'ghost', [2, 3]);
    expect(prepareKey('x', h.ops).impossible).toEqual({ op: ghost, value: 'ghost' });
    expect(prepareKey('x', h.ops.slice(0, 1)).impossible).toBeNull();
  });
});
