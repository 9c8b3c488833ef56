// Smoke runs of every jepsen-lite nemesis family against a real 3-node cluster: each family's faults happen, and every check passes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { NemesisRecord } from '../jepsen-lite/history.js';
import { runJepsen, runOptions } from '../jepsen-lite/run.js';
import type { RunOptions, RunResult } from '../jepsen-lite/run.js';

const root = mkdtempSync(join(tmpdir(), 'rkvj-smoke-'));
let failed = false;

afterAll(() => {
  // Keep the runs of a failed test for inspection; remove them otherwise.
  if (!failed) rmSync(root, { recursive: true, force: true });
  else console.error(`jepsen smoke runs kept in ${root}`);
});

async function smoke(name: string, overrides: Partial<RunOptions>): Promise<RunResult> {
  const result = await runJepsen(runOptions({ timeSec: 30, intervalSec: 3, seed: 7, outDir: join(root, name), ...overrides }));
  if (!result.ok) failed = true;
  console.log(result.summary);
  return result;
}

function kindsStarted(result: RunResult): string[] {
  return result.results.faults.filter((f: NemesisRecord) => f.action === 'start').map((f) => `${f.family}/${f.kind}`);
}

function expectPass(result: RunResult): void {
  expect(result.ok, result.summary).toBe(true);
  const ops = Object.values(result.results.counts).reduce((n, c) => n + c.ok, 0);
  expect(ops, 'successful operations').toBeGreaterThan(100);
}

describe('jepsen-lite smoke runs (one per nemesis family)', () => {
  it('partition: isolate the leader, one node, majority/minority, a bridge', async () => {
    const r = await smoke('partition', { nemeses: ['partition'], workload: 'register' });
    expectPass(r);
    expect(kindsStarted(r)).toEqual(['partition/isolate-leader', 'partition/isolate-one', 'partition/majority-minority', 'partition/bridge']);
  }, 150_000);

  it('kill -9 and restart: the leader, one node, every node (bank workload, proxy network)', async () => {
    const r = await smoke('kill', { nemeses: ['kill'], workload: 'bank', net: 'proxy' });
    expectPass(r);
    expect(kindsStarted(r).slice(0, 3)).toEqual(['kill/kill-leader', 'kill/kill-one', 'kill/kill-all']);
    expect(r.results.faults.filter((f) => f.action === 'stop' && f.family === 'kill').every((f) => f.detail.startsWith('restarted'))).toBe(true);
  }, 150_000);

  it('pause with SIGSTOP and SIGCONT: the leader, one node (append workload)', async () => {
    const r = await smoke('pause', { nemeses: ['pause'], workload: 'append' });
    expectPass(r);
    expect(kindsStarted(r).slice(0, 2)).toEqual(['pause/pause-leader', 'pause/pause-one']);
  }, 150_000);

  it('network latency and loss on every peer link', async () => {
    const r = await smoke('net', { nemeses: ['net'], workload: 'register' });
    expectPass(r);
    expect(kindsStarted(r).slice(0, 3)).toEqual(['net/latency', 'net/loss', 'net/latency+loss']);
  }, 150_000);

  it('snapshot catch-up: a follower cut off past the leader\'s compaction installs a snapshot', async () => {
    const r = await smoke('snapshot', { nemeses: ['snapshot'], workload: 'register', net: 'proxy', intervalSec: 6, concurrency: 8, rate: 300 });
    expectPass(r);
    const notes = r.results.faults.filter((f) => f.family === 'snapshot' && f.action === 'info').map((f) => f.detail);
    expect(notes.length).toBeGreaterThan(0);
    expect(notes.some((n) => n.startsWith('snapshot installed')), notes.join('\n')).toBe(true);
  }, 150_000);

  it('mixed schedule over every family, membership (remove and re-add a node) included where the build supports it', async () => {
    const r = await smoke('mixed', { nemeses: ['mixed'], workload: 'append', timeSec: 45 });
    expectPass(r);
    const families = new Set(kindsStarted(r).map((k) => k.split('/')[0]));
    const membership = r.results.faults.filter((f) => f.family === 'membership');
    expect(membership.length).toBeGreaterThan(0);
    const skipped = membership.find((f) => f.action === 'skip');
    if (skipped) {
      // A build without membership changes (or a proxy network) must say so and skip it, not fake it.
      expect(skipped.detail).toMatch(/^membership: not supported/);
      expect([...families].sort()).toEqual(['kill', 'net', 'partition', 'pause', 'snapshot']);
    } else {
      expect([...families].sort()).toEqual(['kill', 'membership', 'net', 'partition', 'pause', 'snapshot']);
      const stop = membership.find((f) => f.action === 'stop');
      expect(stop?.detail, 'the node was re-added').toMatch(/^re-added/);
    }
  }, 150_000);
});
