// Proves the checker's code is pure (no I/O, clock, timers or randomness), so the simulator and the harness get the same verdict for the same history.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Removes comments and string contents so that prose about `Date` does not count. */
function codeOnly(text: string): string {
  return text
    .replace(/\/\*[\s\S]*?\*\//g, '')
    .replace(/(^|[^:])\/\/.*$/gm, '$1')
    .replace(/`(?:\\.|[^`\\])*`/g, '``')
    .replace(/'(?:\\.|[^'\\\n])*'/g, "''");
}

/** One line per impure import or global used in `text`. */
function impurities(text: string): string[] {
  const problems: string[] = [];
  for (const match of text.matchAll(/(?:import|export)[^'";]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]/g)) {
    const spec = match[1] ?? match[2] ?? '';
    const allowed = spec.startsWith('./') || spec === '../../src/util/index.js';
    if (!allowed) problems.push(`imports ${spec}`);
  }
  const code = codeOnly(text);
  for (const name of ['Date', 'setTimeout', 'setInterval', 'setImmediate', 'performance', 'process', 'require', 'crypto']) {
    if (new RegExp(`\\b${name}\\b`).test(code)) problems.push(`uses ${name}`);
  }
  if (/\bMath\s*\.\s*random\b/.test(code)) problems.push('uses Math.random');
  return problems;
}

describe('checker purity', () => {
  it('imports only its own modules and src/util, and uses no clock, timer or randomness', () => {
    const dir = import.meta.dirname;
    const sources = readdirSync(dir).filter((name) => name.endsWith('.ts') && !name.endsWith('.test.ts'));
    expect(sources).toContain('search.ts');
    const problems = sources.flatMap((name) => impurities(readFileSync(join(dir, name), 'utf8')).map((p) => `${name}: ${p}`));
    expect(problems).toEqual([]);
  });

  it('catches each kind of violation (the check itself can fail)', () => {
    for (const line of ["import { readFileSync } from 'node:fs';", "import x from 'pure-rand';", 'const t = Date.now();', 'const r = Math.random();', 'performance.now();']) {
      expect(impurities(line), line).not.toEqual([]);
    }
    expect(impurities("import { a } from './a.js';\n// Date.now() in a comment\nconst s = 'Math.random()';")).toEqual([]);
  });
});
