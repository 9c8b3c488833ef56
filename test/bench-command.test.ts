// `raftkv bench --local` at a tiny scale, every scenario once: the report has each figure the
// issue asks for (ops/s, p50/p90/p99/max, server CPU per operation, resident memory per node,
// leader changes; for soak the rounds and last-vs-first ratios; for bulk keys/s and failed
// requests), and the operations succeeded. Never a timed assertion: the numbers mean nothing here.
import { describe, expect, it } from 'vitest';
import { parsePrometheusText } from '../src/cli/bench/server-stats.js';
import { runCli } from './support/run-cli.js';

interface Row {
  readonly scenario: string;
  readonly ops: number;
  readonly errors: number;
  readonly opsPerS: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly serverCpuMsPerOp: number | null;
  readonly rssBytes: Record<string, number | null>;
  readonly leaderChanges: number | null;
  readonly rounds?: Row[];
  readonly lastVsFirstOpsRatio?: number;
  readonly keys?: number;
  readonly keysPerS?: number;
  readonly failedRequests?: number;
  readonly firstReadS?: number | null;
  readonly keptClientFirstReadS?: number | null;
  readonly rssBeforeBytes?: Record<string, number | null>;
}

describe('raftkv bench', () => {
  it('runs every scenario against --local and reports each figure', async () => {
    const run = await runCli(['bench', '--local', '--scenarios', 'A,B,C,D,E,F,G,bulk,restart,soak', '--scale', '0.001', '--json'], { timeoutMs: 240_000 });
    expect(run.code, run.stderr).toBe(0);
    const all = JSON.parse(run.stdout) as Row[];
    expect(all.map((r) => r.scenario)).toEqual(['A-put-seq', 'B-put-c64', 'C-put-c256', 'D-get-lin-c64', 'E-get-stale-c64', 'F-mixed-c64', 'G-put-pipelined', 'bulk', 'restart', 'soak']);
    // The restart: both clients read again, and memory is known before and after (the nodes' new pids).
    const restart = all.find((r) => r.scenario === 'restart') as Row;
    expect(restart.firstReadS).toBeGreaterThan(0);
    expect(restart.keptClientFirstReadS).toBeGreaterThan(0);
    for (const rss of [restart.rssBytes, restart.rssBeforeBytes ?? {}]) {
      expect(Object.keys(rss).sort()).toEqual(['n1', 'n2', 'n3']);
      for (const v of Object.values(rss)) expect(v).toBeGreaterThan(1024 * 1024);
    }
    // Every other scenario, the soak after the restart included (its figures come from the new pids).
    const rows = all.filter((r) => r !== restart);
    for (const r of rows) {
      expect(r.errors, r.scenario).toBe(0);
      expect(r.ops).toBeGreaterThan(0);
      expect(r.opsPerS).toBeGreaterThan(0);
      expect(r.p50Ms).toBeLessThanOrEqual(r.p90Ms);
      expect(r.p90Ms).toBeLessThanOrEqual(r.p99Ms);
      expect(r.p99Ms).toBeLessThanOrEqual(r.maxMs);
      // --local knows the pids and the /metrics URLs: every server figure is there.
      expect(r.serverCpuMsPerOp, r.scenario).toBeGreaterThanOrEqual(0);
      expect(Object.keys(r.rssBytes).sort()).toEqual(['n1', 'n2', 'n3']);
      for (const v of Object.values(r.rssBytes)) expect(v).toBeGreaterThan(1024 * 1024);
      expect(r.leaderChanges, r.scenario).toBeGreaterThanOrEqual(0);
    }
    const bulk = rows.find((r) => r.scenario === 'bulk') as Row;
    expect(bulk.keys).toBe(1000);
    expect(bulk.failedRequests).toBe(0);
    expect(bulk.keysPerS).toBeGreaterThan(0);
    const soak = rows.find((r) => r.scenario === 'soak') as Row;
    expect(soak.rounds?.map((r) => r.scenario)).toEqual(Array.from({ length: 10 }, (_, i) => `soak-${i + 1}`));
    expect(soak.rounds?.every((r) => r.ops === 30 && r.errors === 0)).toBe(true);
    expect(soak.lastVsFirstOpsRatio).toBeGreaterThan(0);
  });

  it('runs against a --local --tls cluster (TLS to clients, mutual TLS between nodes)', async () => {
    const run = await runCli(['bench', '--local', '--tls', '--scenarios', 'B,D', '--scale', '0.001', '--json'], { timeoutMs: 120_000 });
    expect(run.code, run.stderr).toBe(0);
    const rows = JSON.parse(run.stdout) as Row[];
    expect(rows.map((r) => [r.scenario, r.errors])).toEqual([['B-put-c64', 0], ['D-get-lin-c64', 0]]);
    // --tls without --local has no cluster to start: a usage error, not a plaintext run.
    const outside = await runCli(['bench', '--tls', '--scenarios', 'B', '--scale', '0.001'], { timeoutMs: 30_000 });
    expect(outside.code).not.toBe(0);
    expect(outside.stderr).toMatch(/--tls starts a TLS cluster and needs --local/);
    // So does a restart: only a cluster this process started can be stopped and started again.
    const restart = await runCli(['bench', '--endpoints', '127.0.0.1:1', '--scenarios', 'restart'], { timeoutMs: 30_000 });
    expect(restart.code).not.toBe(0);
    expect(restart.stderr).toMatch(/the restart scenario stops and starts the nodes, so it needs --local/);
  });

  it('reads unlabelled samples from a Prometheus page', () => {
    const page = '# HELP x\nprocess_cpu_seconds_total 12.5\nraftkv_leader_changes_total 3\nraftkv_peer{peer="n2"} 7\n';
    const m = parsePrometheusText(page);
    expect(m.get('process_cpu_seconds_total')).toBe(12.5);
    expect(m.get('raftkv_leader_changes_total')).toBe(3);
    expect(m.has('raftkv_peer')).toBe(false);
  });
});
