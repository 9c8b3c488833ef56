// Shared by the purity tests: which code counts as touching the world, and how to find it.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every non-test `.ts` file under `dir`. */
export function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(path));
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

/** Removes comments and string contents so that prose about `Date` does not count. */
export function codeOnly(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:])\/\/.*$/gm, '$1')
    .replace(/`(?:\\.|[^`\\])*`/g, '``')
    .replace(/'(?:\\.|[^'\\\n])*'/g, (s) => (s.length > 2 ? "'s'" : s));
}

/** Code that reads a clock, sets a timer, or draws randomness. */
export const forbiddenCode: Array<[RegExp, string]> = [
  [/\bDate\b/, 'Date'],
  [/\bsetTimeout\b/, 'setTimeout'],
  [/\bsetInterval\b/, 'setInterval'],
  [/\bsetImmediate\b/, 'setImmediate'],
  [/\bperformance\s*\.\s*now\b/, 'performance.now'],
  [/\bMath\s*\.\s*random\b/, 'Math.random'],
  [/\bprocess\s*\./, 'process'],
  [/\brequire\s*\(/, 'require'],
];

