// Golden-file interaction tests of the Raft core (after etcd-io/raft's testdata/*.txt): every
// file in src/raft/testdata is one test. Each runs its commands on a fresh InteractionEnv and
// compares every output with the one written under the command.
//
// To rewrite the expected outputs after an intended change of behaviour (then read the diff!):
//   REWRITE=1 npx vitest run src/raft/interaction.test.ts     (or: npm run test:rewrite-golden)
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatDataDriven, parseDataDriven } from './datadriven.js';
import { InteractionRunner } from './interaction-commands.js';

const dir = join(import.meta.dirname, 'testdata');
const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
const rewrite = process.env.REWRITE === '1';

/** Runs one file; returns each case's actual output. */
function run(file: string, text: string): { parsed: ReturnType<typeof parseDataDriven>; actual: string[] } {
  const parsed = parseDataDriven(file, text);
  const runner = new InteractionRunner();
  return { parsed, actual: parsed.cases.map((c) => runner.handle(c)) };
}

describe('Raft core interactions (golden files in src/raft/testdata)', () => {
  it('has the golden files (a missing directory must not pass as "no cases")', () => {
    expect(files.length).toBeGreaterThanOrEqual(8);
  });

  it('refuses unknown commands, misspelt options and unknown nodes (a broken file cannot pass)', () => {
    const runner = new InteractionRunner();
    const one = (text: string): string => {
      const [c] = parseDataDriven('inline.txt', text).cases;
      if (c === undefined) throw new Error('no case');
      return runner.handle(c);
    };
    expect(one('add-nodes 3\n----\n')).toContain('n3: voters=(n1,n2,n3)');
    expect(() => one('campain n1\n----\n')).toThrow('unknown command');
    expect(() => one('add-nodes 1 prevote=false\n----\n')).toThrow('has no option prevote');
    expect(() => one('status n9\n----\n')).toThrow('no node n9');
    // A documented refusal of the core is output, not a failure.
    expect(one('propose n1 x\n----\n')).toMatch(/^error: PROPOSAL_DROPPED: /);
  });

  for (const file of files) {
    it(file, () => {
      const path = join(dir, file);
      const text = readFileSync(path, 'utf8');
      const { parsed, actual } = run(file, text);
      expect(parsed.cases.length, `${file} has no cases`).toBeGreaterThan(0);
      if (rewrite) {
        writeFileSync(path, formatDataDriven(parsed, actual));
        return;
      }
      parsed.cases.forEach((c, i) => {
        expect(actual[i], `${file}:${c.line}: ${c.command} (REWRITE=1 rewrites the file; read the diff before committing)`).toBe(c.expected);
      });
    });
  }
});
