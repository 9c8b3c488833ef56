/** The one-screen summary printed at the end of a run (and saved as summary.txt). */
import type { RunResults } from '../run.js';

/** Plain text, at most about 40 lines. */
export function summarize(results: RunResults, reportPath: string): string {
  const o = results.options;
  const lines: string[] = [];
  lines.push(
    `jepsen-lite: ${o.workload} workload, nemesis ${o.nemeses.join(',') || 'none'}, ${o.nodes} nodes, ${o.timeSec} s, ${o.concurrency} clients, seed ${o.seed}${o.nodeArgs.length > 0 ? `, node flags ${o.nodeArgs.join(' ')}` : ''}`,
  );
  lines.push(`network: ${results.net.mechanism} (partitions: ${results.net.methods['partition'] ?? '?'}; latency: ${results.net.methods['latency'] ?? '?'}; loss: ${results.net.methods['loss'] ?? '?'})`);
  for (const n of results.net.notes) lines.push(`  note: ${n}`);
  const totals = { ok: 0, fail: 0, indeterminate: 0 };
  const parts: string[] = [];
  for (const [f, c] of Object.entries(results.counts)) {
    if (!f.includes('(in append)')) {
      totals.ok += c.ok;
      totals.fail += c.fail;
      totals.indeterminate += c.indeterminate;
    }
    parts.push(`${f} ${c.ok}/${c.fail}/${c.indeterminate}`);
  }
  lines.push(`operations: ${totals.ok + totals.fail + totals.indeterminate} (ok ${totals.ok}, fail ${totals.fail}, indeterminate ${totals.indeterminate})`);
  lines.push(`  by type, ok/fail/indeterminate: ${parts.join('; ')}`);
  const starts = results.faults.filter((f) => f.action === 'start');
  const stops = new Map(results.faults.filter((f) => f.action === 'stop').map((f) => [f.startId, f]));
  lines.push(`faults: ${starts.length} windows`);
  for (const s of starts.slice(0, 10)) {
    const stop = stops.get(s.id);
    lines.push(`  ${(s.at / 1000).toFixed(1)}-${stop ? (stop.at / 1000).toFixed(1) : 'end'} s  ${s.family}/${s.kind}: ${s.detail}`);
  }
  if (starts.length > 10) lines.push(`  ... and ${starts.length - 10} more`);
  for (const f of results.faults.filter((r) => r.action === 'skip' || (r.action === 'info' && r.family !== 'cluster' && r.family !== 'final'))) lines.push(`  ${f.action === 'skip' ? 'SKIPPED' : 'note'}: ${f.detail}`);
  lines.push('checks:');
  for (const c of results.checks) {
    lines.push(`  ${c.ok ? 'PASS' : 'FAIL'} ${c.name.padEnd(15)} ${c.summary}`);
    if (!c.ok) for (const p of c.problems.slice(0, 4)) lines.push(`       ${p.length > 160 ? `${p.slice(0, 157)}...` : p}`);
  }
  lines.push(`result: ${results.ok ? 'PASS: every check passed' : 'FAIL: see the checks above'}`);
  lines.push(`report: ${reportPath}`);
  return lines.join('\n');
}
