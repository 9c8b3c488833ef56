/**
 * A parser and rewriter for data-driven test files in the format of cockroachdb/datadriven, the
 * format etcd-io/raft's `testdata/*.txt` interaction tests use:
 *
 *     # A comment (and blank lines) between cases are kept as they are.
 *     command arg key=value key=(a,b)
 *     optional further input lines
 *     ----
 *     expected output, up to the first blank line
 *
 * Output that itself holds blank lines is written between two separators instead:
 *
 *     command
 *     ----
 *     ----
 *     output
 *
 *     with a blank line
 *     ----
 *     ----
 *
 * Why our own: no maintained npm package reads this format (the npm packages named after
 * data-driven testing are for BDD tables or forms), and the format is small. Pure (no file I/O):
 * the test reads and writes the files.
 */

/** One argument: `key`, `key=value` or `key=(v1,v2)`. A bare word is a key with no values. */
export interface CaseArg {
  readonly key: string;
  readonly values: readonly string[];
}

/** One test case of a file. */
export interface TestCase {
  /** The 1-based line of the command, for failure messages (`file:line`). */
  readonly line: number;
  /** The command's first word. */
  readonly command: string;
  /** The rest of the command line. */
  readonly args: readonly CaseArg[];
  /** Further input lines between the command line and the separator. */
  readonly input: readonly string[];
  /** The expected output as written in the file (no trailing newline). */
  readonly expected: string;
}

/** A parsed file: its cases, and the text around them to rewrite it faithfully. */
export interface DataDrivenFile {
  readonly cases: readonly TestCase[];
  /** `prefixes[i]` holds the lines (comments, blank lines) before case i's command line. */
  readonly prefixes: readonly (readonly string[])[];
  /** The raw command and input lines of each case. */
  readonly heads: readonly string[];
  /** The lines after the last case. */
  readonly trailer: readonly string[];
}

/** A file that does not follow the format: says where. */
export class DataDrivenSyntaxError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    problem: string,
  ) {
    super(`${file}:${line}: ${problem}`);
    this.name = 'DataDrivenSyntaxError';
  }
}

const separator = '----';

/** Splits a command line into words; `(...)` groups may hold commas but not spaces. */
function parseArgs(file: string, line: number, words: readonly string[]): CaseArg[] {
  return words.map((word) => {
    const eq = word.indexOf('=');
    if (eq < 0) return { key: word, values: [] };
    const key = word.slice(0, eq);
    const value = word.slice(eq + 1);
    if (key === '') throw new DataDrivenSyntaxError(file, line, `argument ${JSON.stringify(word)} has no key`);
    if (!value.startsWith('(')) return { key, values: [value] };
    if (!value.endsWith(')')) throw new DataDrivenSyntaxError(file, line, `argument ${JSON.stringify(word)}: unclosed "("`);
    const inner = value.slice(1, -1);
    return { key, values: inner === '' ? [] : inner.split(',') };
  });
}

const isCommentOrBlank = (text: string): boolean => text.trim() === '' || text.trimStart().startsWith('#');

/** Parses `text` (the content of `file`, named in errors). */
export function parseDataDriven(file: string, text: string): DataDrivenFile {
  // A final newline ends the last line; it does not start an empty one.
  const lines = (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
  const cases: TestCase[] = [];
  const prefixes: string[][] = [];
  const heads: string[] = [];
  let prefix: string[] = [];
  let i = 0;
  while (i < lines.length) {
    const current = lines[i] as string;
    if (isCommentOrBlank(current)) {
      prefix.push(current);
      i++;
      continue;
    }
    const start = i;
    const headLines: string[] = [];
    while (i < lines.length && lines[i] !== separator) {
      headLines.push(lines[i] as string);
      i++;
    }
    if (i >= lines.length) throw new DataDrivenSyntaxError(file, start + 1, `command ${JSON.stringify(current)} has no "${separator}" line`);
    i++; // the separator
    const output: string[] = [];
    if (lines[i] === separator) {
      // The two-separator form: everything up to the closing pair, blank lines included.
      i++;
      while (i < lines.length && !(lines[i] === separator && lines[i + 1] === separator)) {
        output.push(lines[i] as string);
        i++;
      }
      if (i >= lines.length) throw new DataDrivenSyntaxError(file, start + 1, `output opened with "${separator}" twice is never closed`);
      i += 2;
      if (i < lines.length && (lines[i] as string).trim() !== '') throw new DataDrivenSyntaxError(file, i + 1, 'expected a blank line after the closing separators');
    } else {
      while (i < lines.length && (lines[i] as string) !== '') {
        output.push(lines[i] as string);
        i++;
      }
    }
    const [first, ...input] = headLines;
    const words = (first as string).trim().split(/\s+/);
    cases.push({
      line: start + 1,
      command: words[0] as string,
      args: parseArgs(file, start + 1, words.slice(1)),
      input,
      expected: output.join('\n'),
    });
    prefixes.push(prefix);
    heads.push(headLines.join('\n'));
    prefix = [];
  }
  return { cases, prefixes, heads, trailer: prefix };
}

/** The text of one case's output section, in the form that reads back as `output`. */
function formatOutput(output: string): string {
  const body = output.replace(/\n+$/, '');
  // An empty output is the separator alone (the blank line after it ends the case).
  if (body === '') return separator;
  return body.split('\n').some((l) => l.trim() === '') ? `${separator}\n${separator}\n${body}\n${separator}\n${separator}` : `${separator}\n${body}`;
}

/**
 * The file with every case's expected output replaced by `outputs[i]`; comments, blank lines and
 * command lines stay as they were. `format(parse(text), expected outputs)` gives `text` back for
 * a well-formed file.
 */
export function formatDataDriven(parsed: DataDrivenFile, outputs: readonly string[]): string {
  const lines = (ls: readonly string[]): string => ls.map((l) => `${l}\n`).join('');
  const parts = parsed.cases.map((_, i) => `${lines(parsed.prefixes[i] ?? [])}${parsed.heads[i]}\n${formatOutput(outputs[i] ?? '')}\n`);
  return parts.join('') + lines(parsed.trailer);
}

/** Looks up an argument. */
export function findArg(c: TestCase, key: string): CaseArg | undefined {
  return c.args.find((a) => a.key === key);
}
