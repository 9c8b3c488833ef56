// Proves src/raft and src/kv stay pure and deterministic, and that src/ has no import cycle.
import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import madge from 'madge';
import { describe, expect, it } from 'vitest';
import { codeOnly, forbiddenCode, sourceFiles } from './support/source-purity.js';

const root = join(import.meta.dirname, '..');

const forbiddenImports = [/^node:/, /^(fs|net|http|https|os|crypto|child_process|timers|worker_threads)$/, /^@grpc\//, /^(level|classic-level|abstract-level)$/, /^pino/, /^prom-client$/];

/** Returns one line per violation found in the given source text. */
export function purityViolations(file: string, text: string): string[] {
  const problems: string[] = [];
  for (const match of text.matchAll(/(?:import|export)[^'";]*?from\s*['"]([^'"]+)['"]|import\s*\(\s*['"]([^'"]+)['"]/g)) {
    const spec = match[1] ?? match[2] ?? '';
    if (forbiddenImports.some((re) => re.test(spec))) problems.push(`${file}: imports ${spec}`);
  }
  const code = codeOnly(text);
  for (const [re, name] of forbiddenCode) {
    if (re.test(code)) problems.push(`${file}: uses ${name}`);
  }
  return problems;
}

describe('purity of the deterministic core', () => {
  it('finds no I/O, clock, timer or randomness in src/raft and src/kv', () => {
    const problems = ['src/raft', 'src/kv'].flatMap((dir) =>
      sourceFiles(join(root, dir)).flatMap((f) => purityViolations(relative(root, f), readFileSync(f, 'utf8'))),
    );
    expect(problems).toEqual([]);
  });

  it('catches each kind of violation (the check itself can fail)', () => {
    const bad = [
      "import { readFileSync } from 'node:fs';",
      "import * as grpc from '@grpc/grpc-js';",
      "import { Level } from 'level';",
      "import pino from 'pino';",
      'const t = Date.now();',
      'setTimeout(() => {}, 1);',
      'const x = performance.now();',
      'const r = Math.random();',
    ];
    for (const line of bad) expect(purityViolations('x.ts', line), line).not.toEqual([]);
    expect(purityViolations('x.ts', "// Date.now() in a comment\nconst s = 'Math.random()';")).toEqual([]);
  });
});

describe('module graph', () => {
  it('has no import cycle in src/', async () => {
    const graph = await madge(join(root, 'src'), {
      fileExtensions: ['ts'],
      tsConfig: join(root, 'tsconfig.json'),
      detectiveOptions: { ts: { skipTypeImports: false } },
    });
    expect(Object.keys(graph.obj()).length).toBeGreaterThan(5);
    expect(graph.circular()).toEqual([]);
  });
});
