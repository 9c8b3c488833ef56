// jepsen-lite catches each negative control: stale linearizable reads, writes acknowledged before commit, and retried writes applied twice.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { CheckOutcome } from '../jepsen-lite/checks/check.js';
import { dumpDom, findChromium } from '../jepsen-lite/report/headless.js';
import { runJepsen, runOptions } from '../jepsen-lite/run.js';
import type { RunResult } from '../jepsen-lite/run.js';

const root = mkdtempSync(join(tmpdir(), 'rkvj-negative-'));
let keep = false;
const reports: string[] = [];

afterAll(() => {
  if (!keep) rmSync(root, { recursive: true, force: true });
  else console.error(`jepsen negative-control runs kept in ${root}`);
});

function check(r: RunResult, name: string): CheckOutcome {
  const c = r.checks.find((x) => x.name === name);
  if (!c) throw new Error(`no ${name} check in:\n${r.summary}`);
  return c;
}

function expectCaught(r: RunResult): void {
  console.log(r.summary);
  // A run that goes wrong in any way keeps its directory (node logs, history, report) for a look.
  if (r.ok || r.results.error !== undefined || r.checks.some((c) => c.name === 'convergence' && !c.ok)) keep = true;
  expect(r.ok, `the negative control went unnoticed:\n${r.summary}`).toBe(false);
  // The violation is in the data, not in the harness: the cluster converged and the run completed.
  expect(r.results.error, r.summary).toBeUndefined();
  expect(check(r, 'convergence').ok, r.summary).toBe(true);
}

describe('jepsen-lite negative controls', () => {
  it('(a) --test-stale-linearizable-reads: reads from a partitioned old leader are stale', async () => {
    const r = await runJepsen(
      runOptions({ nemeses: ['partition'], workload: 'register', timeSec: 20, intervalSec: 4, seed: 11, net: 'proxy', nodeArgs: ['--test-stale-linearizable-reads'], outDir: join(root, 'stale-reads') }),
    );
    expectCaught(r);
    const lin = check(r, 'linearizability');
    expect(lin.ok).toBe(false);
    expect(lin.data).toMatchObject({ verdict: 'not-linearizable' });
    reports.push(r.reportPath);
  }, 150_000);

  it('(b) --test-ack-before-commit: acknowledged writes on an isolated leader are lost', async () => {
    const r = await runJepsen(
      runOptions({ nemeses: ['partition'], workload: 'register', timeSec: 20, intervalSec: 4, seed: 12, nodeArgs: ['--test-ack-before-commit'], outDir: join(root, 'ack-before-commit') }),
    );
    expectCaught(r);
    const lost = check(r, 'lost-writes');
    expect(lost.ok).toBe(false);
    expect((lost.data as { lost: number }).lost, lost.summary).toBeGreaterThan(0);
    expect(check(r, 'linearizability').ok).toBe(false);
  }, 150_000);

  it('(c) --test-skip-duplicate-check: appends retried after a timeout are applied twice', async () => {
    const r = await runJepsen(
      runOptions({
        nemeses: ['net'],
        workload: 'append',
        timeSec: 20,
        intervalSec: 4,
        seed: 13,
        net: 'proxy',
        nodeArgs: ['--test-skip-duplicate-check'],
        // The first attempt times out while the slowed commit is still in flight; the retry (same seq) then applies again.
        timing: { write: { budgetMs: 5000, attemptTimeoutsMs: [250, 3000] }, read: { budgetMs: 2500, attemptTimeoutMs: 1000 } },
        outDir: join(root, 'skip-duplicate-check'),
      }),
    );
    expectCaught(r);
    const elements = check(r, 'elements');
    expect(elements.ok).toBe(false);
    expect((elements.data as { duplicated: number }).duplicated, elements.summary).toBeGreaterThan(0);
  }, 150_000);

  it('the report of a violation renders in headless Chromium without script errors', async () => {
    const chromium = findChromium();
    if (chromium === null) throw new Error('Chromium is not installed: apt-get install -y chromium (the report test needs /usr/bin/chromium)');
    const report = reports[0];
    expect(report, 'the stale-read run wrote a report').toBeDefined();
    const html = readFileSync(report ?? '', 'utf8');
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|url\(\s*['"]?https?:|<img[^>]+src=/); // self-contained, works offline
    const { dom, stderr } = await dumpDom(chromium, report ?? '');
    // Booleans, not toMatch: a failure would otherwise print the whole page.
    expect(/Uncaught/.test(stderr), stderr.slice(0, 2000)).toBe(false);
    expect(/<body[^>]*data-rendered="ok"/.test(dom), 'the report script finished').toBe(true);
    expect(/<body[^>]*data-render-error=/.test(dom), 'no script error').toBe(false);
    expect(dom.includes('Smallest failing sub-histories'), 'the violation is drawn').toBe(true);
  }, 90_000);
});
