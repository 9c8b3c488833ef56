// The jepsen-lite HTML report is self-contained and renders in headless Chromium without script errors (and a broken one is caught); the command line parses as documented.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseArgs } from '../jepsen-lite/args.js';
import { checkAvailability } from '../jepsen-lite/checks/availability.js';
import { checkLinearizability } from '../jepsen-lite/checks/linearizability.js';
import { checkLostWrites } from '../jepsen-lite/checks/lost-writes.js';
import { faultWindows } from '../jepsen-lite/history.js';
import type { HistoryRecord, NemesisRecord, OpRecord } from '../jepsen-lite/history.js';
import { dumpDom, findChromium } from '../jepsen-lite/report/headless.js';
import { renderReport } from '../jepsen-lite/report/html-report.js';
import { countOps, runOptions } from '../jepsen-lite/run.js';
import type { RunResults } from '../jepsen-lite/run.js';

const dir = mkdtempSync(join(tmpdir(), 'rkvj-report-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A small history with one fault window and a lost write (so the violation section is drawn). */
function syntheticRun(): { results: RunResults; records: HistoryRecord[] } {
  const records: HistoryRecord[] = [];
  let id = 1;
  const op = (o: Partial<OpRecord> & Pick<OpRecord, 'f' | 'call' | 'client'>): void => {
    records.push({ type: 'op', id: id++, workload: 'register', ret: o.call + 8, status: 'ok', node: 'n1', ...o } as OpRecord);
  };
  for (let i = 0; i < 40; i++) op({ f: 'put', client: `c${(i % 3) + 1}`, key: `r:${i % 4}`, value: `v${i}`, call: i * 100 });
  op({ f: 'put', client: 'c1', key: 'r:0', value: 'lost', call: 4100, ret: 4110 });
  op({ f: 'put', client: 'c2', key: 'r:1', value: 'maybe </script><b>', call: 4200, ret: null, status: 'indeterminate' });
  op({ f: 'get', client: 'c3', key: 'r:2', call: 4300, status: 'fail', error: 'n2: DEADLINE_EXCEEDED' });
  op({ f: 'get', client: 'final:n1:r:0', key: 'r:0', value: 'v36', call: 6000, final: true });
  const start: NemesisRecord = { type: 'nemesis', id: id++, family: 'partition', kind: 'isolate-leader', action: 'start', at: 2000, nodes: ['n1'], detail: '{n1} | {n2,n3}' };
  records.push(start, { type: 'nemesis', id: id++, family: 'partition', kind: 'isolate-leader', action: 'stop', at: 3000, nodes: ['n1'], detail: 'healed', startId: start.id });
  const ops = records.filter((r): r is OpRecord => r.type === 'op');
  const heals = [{ family: 'partition', kind: 'isolate-leader', healAt: 3000, until: 5000, leaderBefore: { id: 'n2', term: 2 }, leaderAfter: { id: 'n2', term: 2 }, leaderMayChange: false }];
  const checks = [checkLinearizability(ops), checkLostWrites(ops), checkAvailability(ops, faultWindows(records, 5000), heals, { start: 0, end: 5000 })];
  const results: RunResults = {
    ok: checks.every((c) => c.ok),
    options: runOptions({ timeSec: 5, seed: 1 }),
    net: { mechanism: 'proxy', methods: { partition: 'proxy', latency: 'proxy', loss: 'proxy' }, notes: ['synthetic'] },
    startedAt: new Date(0).toISOString(),
    durationMs: 6000,
    workloadSpan: { start: 0, end: 5000 },
    counts: countOps(ops),
    faults: records.filter((r): r is NemesisRecord => r.type === 'nemesis'),
    heals: [],
    checks,
    leftoversRemoved: [],
  };
  return { results, records };
}

describe('the HTML report', () => {
  it('draws a run with a violation in headless Chromium, without script errors', async () => {
    const chromium = findChromium();
    if (chromium === null) throw new Error('Chromium is not installed: apt-get install -y chromium (this test needs /usr/bin/chromium)');
    const run = syntheticRun();
    expect(run.results.ok).toBe(false);
    const html = renderReport(run);
    expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=/);
    expect(html).not.toContain('maybe </script>'); // values cannot end the embedded data early
    const file = join(dir, 'report.html');
    writeFileSync(file, html);
    const { dom, stderr } = await dumpDom(chromium, file);
    // Booleans, not toMatch: a failure would otherwise print the whole page.
    expect(/Uncaught/.test(stderr), stderr.slice(0, 2000)).toBe(false);
    expect(/<body[^>]*data-rendered="ok"/.test(dom), 'the report script finished').toBe(true);
    expect(/<body[^>]*data-render-error=/.test(dom), 'no script error').toBe(false);
    expect(/Rendered \d+ operations and 1 fault windows/.test(dom), 'status line').toBe(true);
    expect(dom.includes('Smallest failing sub-histories'), 'the violation is drawn').toBe(true);
    expect((dom.match(/<svg/g) ?? []).length, 'timeline, latency, throughput and the failing sub-history').toBeGreaterThanOrEqual(4);
  }, 90_000);

  it('is caught when its script breaks (the marker stays missing)', async () => {
    const chromium = findChromium();
    if (chromium === null) throw new Error('Chromium is not installed: apt-get install -y chromium (this test needs /usr/bin/chromium)');
    const broken = renderReport(syntheticRun()).replace("var res = data.results;", 'var res = data.results; res.checks.forEach(null);');
    const file = join(dir, 'broken.html');
    writeFileSync(file, broken);
    const { dom } = await dumpDom(chromium, file);
    expect(/<body[^>]*data-rendered="ok"/.test(dom), 'the marker must be missing').toBe(false);
    expect(/<body[^>]*data-render-error="[^"]+"/.test(dom), 'the error handler recorded the error').toBe(true);
  }, 90_000);
});

describe('npm run jepsen arguments', () => {
  it('parses the documented example', () => {
    const o = parseArgs(['--nemesis', 'partition,kill', '--time', '120', '--nodes', '3', '--workload', 'register']);
    expect(o).toMatchObject({ nemeses: ['partition', 'kill'], timeSec: 120, nodes: 3, workload: 'register', net: 'auto', intervalSec: 10 });
  });

  it('maps negative controls and timing flags, and refuses unknown families', () => {
    const o = parseArgs(['--nemesis', 'net', '--test-fault', 'skip-duplicate-check', '--write-timeouts', '250,3000', '--net', 'proxy', '--nodes', '5']);
    expect(o.nodeArgs).toEqual(['--test-skip-duplicate-check']);
    expect(o.timing.write.attemptTimeoutsMs).toEqual([250, 3000]);
    expect(o.nodes).toBe(5);
    expect(() => parseArgs(['--nemesis', 'earthquake'])).toThrow(/unknown nemesis/);
    expect(() => parseArgs(['--nodes', '7'])).toThrow();
  });
});
