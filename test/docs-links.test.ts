// The docs stand alone: every relative link in the repository's Markdown files points at a file
// (and, for `#anchor`s into Markdown, a heading) that exists in the repository, and no doc
// points outside it except where docs/benchmarks.md explains the shared benchmark harness, an
// external tool.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../cluster/local-cluster.js';

const skipped = new Set(['node_modules', 'dist', '.git', 'runs', 'data', 'coverage', 'scratch']);

function markdownFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (skipped.has(name)) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return markdownFiles(path);
    return name.endsWith('.md') ? [path] : [];
  });
}

/** The text outside fenced code blocks and inline code (links there are examples, not links). */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, '').replace(/`[^`\n]*`/g, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(file: string): Set<string> {
  const text = readFileSync(file, 'utf8').replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...text.matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)].map((m) => slug(m[1] ?? '')));
}

const files = markdownFiles(repoRoot);

describe('documentation links', () => {
  it('finds the Markdown files', () => {
    expect(files.map((f) => relative(repoRoot, f))).toEqual(expect.arrayContaining(['README.md', join('docs', 'design.md'), join('docs', 'client.md')]));
  });

  it('resolves every relative link and anchor inside the repository', () => {
    const broken: string[] = [];
    for (const file of files) {
      for (const m of prose(readFileSync(file, 'utf8')).matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = m[1] ?? '';
        if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
        const [path = '', anchor] = target.split('#');
        const resolved = path === '' ? file : resolve(dirname(file), path);
        const where = `${relative(repoRoot, file)}: ${target}`;
        if (!resolved.startsWith(`${repoRoot}/`) && resolved !== repoRoot) broken.push(`${where} (outside the repository)`);
        else if (!existsSync(resolved)) broken.push(`${where} (no such file)`);
        else if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(resolved).has(anchor)) broken.push(`${where} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('mentions ../shared only where docs/benchmarks.md explains the external benchmark harness', () => {
    const outside = files.filter((f) => readFileSync(f, 'utf8').includes('../shared') && relative(repoRoot, f) !== join('docs', 'benchmarks.md'));
    expect(outside.map((f) => relative(repoRoot, f))).toEqual([]);
    const bench = readFileSync(join(repoRoot, 'docs', 'benchmarks.md'), 'utf8');
    const section = bench.slice(bench.indexOf('### Comparing with etcd: the shared benchmark harness'));
    const end = section.indexOf('\n## ');
    const harness = end === -1 ? section : section.slice(0, end);
    expect(bench.split('../shared').length).toBe(harness.split('../shared').length);
    expect(files.filter((f) => /\bDESIGN\.md\b/.test(readFileSync(f, 'utf8'))).map((f) => relative(repoRoot, f))).toEqual([]);
  });
});
