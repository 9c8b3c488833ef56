// Proves the driver takes time, timers and randomness only through its injected world (world.ts):
// no file of the driver but system-world.ts touches Date, timers, node:crypto or Math.random.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { codeOnly, forbiddenCode, sourceFiles } from '../../../test/support/source-purity.js';

const here = import.meta.dirname;

function violations(file: string, text: string): string[] {
  const problems = forbiddenCode.filter(([re]) => re.test(codeOnly(text))).map(([, name]) => `${file}: uses ${name}`);
  if (/from\s*['"](node:)?crypto['"]/.test(text)) problems.push(`${file}: imports node:crypto`);
  return problems;
}

describe('the driver world seam', () => {
  it('finds no clock, timer or randomness in the driver outside system-world.ts', () => {
    const files = [join(here, '..', 'raft-driver.ts'), ...sourceFiles(here).filter((f) => !f.endsWith('system-world.ts'))];
    expect(files.length).toBeGreaterThan(5);
    expect(files.flatMap((f) => violations(f, readFileSync(f, 'utf8')))).toEqual([]);
  });

  it('catches each kind of violation (the check itself can fail)', () => {
    for (const line of ['const t = Date.now();', 'setImmediate(f);', "import { randomInt } from 'node:crypto';", 'setTimeout(f, 1);']) {
      expect(violations('x.ts', line), line).not.toEqual([]);
    }
    expect(violations('x.ts', "// Date.now() in a comment\nconst s = 'setTimeout';")).toEqual([]);
    expect(violations('system-world.ts', readFileSync(join(here, 'system-world.ts'), 'utf8'))).not.toEqual([]);
  });
});
