// Proves the golden-file parser reads cases, arguments, comments and both output forms, that
// rewriting a file with its own outputs gives the same text back, and that malformed files are
// refused with their line.
import { describe, expect, it } from 'vitest';
import { DataDrivenSyntaxError, formatDataDriven, parseDataDriven } from './datadriven.js';

const sample = [
  '# a comment',
  '',
  'add-nodes 3 voters=(n1,n2,n3) learners=() pre-vote=false',
  '----',
  'line one',
  'line two',
  '',
  '# between cases',
  'propose n1 a b',
  'an input line',
  '----',
  'ok',
  '',
  'status',
  '----',
  '----',
  'first',
  '',
  'after a blank line',
  '----',
  '----',
  '',
  '# the end',
  '',
].join('\n');

describe('data-driven test files', () => {
  it('parses commands, arguments, input lines and expected outputs', () => {
    const { cases } = parseDataDriven('sample.txt', sample);
    expect(cases.map((c) => [c.line, c.command])).toEqual([
      [3, 'add-nodes'],
      [9, 'propose'],
      [14, 'status'],
    ]);
    expect(cases[0]?.args).toEqual([
      { key: '3', values: [] },
      { key: 'voters', values: ['n1', 'n2', 'n3'] },
      { key: 'learners', values: [] },
      { key: 'pre-vote', values: ['false'] },
    ]);
    expect(cases[0]?.expected).toBe('line one\nline two');
    expect(cases[1]?.input).toEqual(['an input line']);
    expect(cases[1]?.expected).toBe('ok');
    expect(cases[2]?.expected).toBe('first\n\nafter a blank line');
  });

  it('rewrites a file with its own outputs into the same text', () => {
    const parsed = parseDataDriven('sample.txt', sample);
    expect(formatDataDriven(parsed, parsed.cases.map((c) => c.expected))).toBe(sample);
  });

  it('rewrites new outputs, choosing the two-separator form only when an output has a blank line', () => {
    const parsed = parseDataDriven('sample.txt', sample);
    const text = formatDataDriven(parsed, ['x', 'y\n\nz', 'w']);
    expect(text).toContain('add-nodes 3 voters=(n1,n2,n3) learners=() pre-vote=false\n----\nx\n\n# between cases');
    expect(text).toContain('an input line\n----\n----\ny\n\nz\n----\n----\n');
    expect(text).toContain('status\n----\nw\n\n# the end\n');
    const again = parseDataDriven('sample.txt', text);
    expect(again.cases.map((c) => c.expected)).toEqual(['x', 'y\n\nz', 'w']);
    // An empty output reads back as empty, and rewriting it is stable.
    const empty = formatDataDriven(parsed, ['', '', '']);
    expect(formatDataDriven(parseDataDriven('e.txt', empty), ['', '', ''])).toBe(empty);
  });

  it('refuses a command without a separator, an unclosed group and an unclosed two-separator output', () => {
    expect(() => parseDataDriven('a.txt', 'campaign n1\n')).toThrow(DataDrivenSyntaxError);
    expect(() => parseDataDriven('a.txt', '# c\ncampaign n1\n')).toThrow('a.txt:2:');
    expect(() => parseDataDriven('b.txt', 'add-nodes 3 voters=(n1,n2\n----\nok\n')).toThrow('unclosed');
    expect(() => parseDataDriven('c.txt', 'status\n----\n----\nout\n')).toThrow('never closed');
  });
});
