/**
 * `raftkv bench`: closed-loop load through the client library, for performance figures
 * (never timed assertions in tests). Each scenario runs a fixed number of operations with a fixed
 * number in flight over a number of client connections, and prints throughput and latency
 * percentiles. `--local` starts a three-node cluster of its own on free loopback ports in a
 * temporary directory and stops it afterwards (`npm run bench`).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { LocalCluster, planTestCluster } from '../../cluster/local-cluster.js';
import { connect, defaultEndpoints } from '../client/index.js';
import type { RaftkvClient } from '../client/index.js';
import { InvalidArgumentError } from '../util/index.js';
import { printJson, printTable } from './output.js';
import { progressBar } from './progress.js';

/** One scenario: what to do, how many, how many at once, over how many connections. */
interface Scenario {
  readonly name: string;
  readonly op: 'put' | 'get' | 'stale-get' | 'mixed';
  readonly ops: number;
  readonly concurrency: number;
  readonly connections: number;
}

/** The default scenarios, named A-F as in the shared benchmark harness (docs/benchmarks.md) so figures line up with etcd's. */
const scenarios: readonly Scenario[] = [
  { name: 'A-put-seq', op: 'put', ops: 2000, concurrency: 1, connections: 1 },
  { name: 'B-put-c64', op: 'put', ops: 20000, concurrency: 64, connections: 8 },
  { name: 'C-put-c256', op: 'put', ops: 30000, concurrency: 256, connections: 16 },
  { name: 'D-get-lin-c64', op: 'get', ops: 20000, concurrency: 64, connections: 8 },
  { name: 'E-get-stale-c64', op: 'stale-get', ops: 20000, concurrency: 64, connections: 8 },
  { name: 'F-mixed-c64', op: 'mixed', ops: 20000, concurrency: 64, connections: 8 },
];

/** One scenario's figures. */
interface Figures {
  readonly scenario: string;
  readonly ops: number;
  readonly errors: number;
  readonly seconds: number;
  readonly opsPerS: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Registers `bench` on the program. */
export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('measure throughput and latency with closed-loop load (scenarios A-F)')
    .addOption(new Option('--endpoints <list>', 'cluster to load: host:port or http://host:port, comma-separated').env('RAFTKV_ENDPOINTS').default(defaultEndpoints.join(',')))
    .option('--local', 'start a three-node cluster of its own on free loopback ports, and stop it afterwards')
    .option('--scenarios <names>', 'comma-separated scenario names or letters (default: all)')
    .option('--scale <factor>', 'multiply every scenario\'s operation count', '1')
    .option('--keys <n>', 'distinct keys', '10000')
    .option('--value-bytes <n>', 'value size', '256')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).env('RAFTKV_OUTPUT').default('table'))
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const scale = Number(o['scale']);
      const keys = Number(o['keys']);
      const valueBytes = Number(o['valueBytes']);
      if (!(scale > 0) || !(keys > 0) || !(valueBytes >= 0)) throw new InvalidArgumentError('bench', '--scale, --keys and --value-bytes must be positive numbers');
      const wanted = typeof o['scenarios'] === 'string' ? o['scenarios'].split(',').map((s) => s.trim()) : null;
      const chosen = scenarios.filter((s) => wanted === null || wanted.some((w) => s.name === w || s.name.startsWith(`${w}-`)));
      if (chosen.length === 0) throw new InvalidArgumentError('scenarios', `none of ${String(o['scenarios'])} is a scenario (${scenarios.map((s) => s.name).join(', ')})`);
      let local: LocalCluster | null = null;
      let dir = '';
      let endpoints = String(o['endpoints']);
      try {
        if (o['local']) {
          dir = mkdtempSync(join(tmpdir(), 'raftkv-bench-'));
          local = new LocalCluster(await planTestCluster(3, dir));
          await local.startAll();
          await local.waitForLeader();
          endpoints = local.endpoints;
        }
        const results: Figures[] = [];
        for (const s of chosen) {
          const sized = { ...s, ops: Math.max(1, Math.round(s.ops * scale)) };
          const bar = progressBar(o['output'] === 'json' ? 'json' : 'table', s.name.padEnd(15), 'ops');
          bar?.start(sized.ops, 0);
          let figures: Figures;
          try {
            figures = await runScenario(sized, endpoints, keys, valueBytes, (done) => bar?.update(done));
          } finally {
            bar?.stop();
          }
          results.push(figures);
          if (o['output'] !== 'json') process.stderr.write(`${s.name}: ${figures.opsPerS} ops/s, p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms\n`);
        }
        if (o['output'] === 'json') printJson(results);
        else {
          printTable(
            ['scenario', 'ops', 'errors', 'ops/s', 'p50 ms', 'p99 ms', 'max ms'],
            results.map((r) => [r.scenario, String(r.ops), String(r.errors), String(r.opsPerS), String(r.p50Ms), String(r.p99Ms), String(r.maxMs)]),
          );
        }
      } finally {
        await local?.stopAll();
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
    });
}

/** Runs one scenario: `concurrency` workers share `ops` operations over `connections` clients. */
async function runScenario(s: Scenario, endpoints: string, keys: number, valueBytes: number, onProgress: (done: number) => void): Promise<Figures> {
  const clients: RaftkvClient[] = [];
  for (let i = 0; i < s.connections; i++) clients.push(await connect({ endpoints, retryBudget: false }));
  const value = new Uint8Array(valueBytes).fill(0x61);
  // Reads need something to read.
  if (s.op !== 'put') await Promise.all(Array.from({ length: Math.min(keys, 256) }, (_, i) => clients[0]?.put(`bench/${i}`, value)));
  const latencies = new Float64Array(s.ops);
  let next = 0;
  let done = 0;
  let errors = 0;
  // The bar redraws on a timer of its own; feeding it every 1% is plenty.
  const step = Math.max(1, Math.floor(s.ops / 100));
  const started = performance.now();
  const worker = async (w: number): Promise<void> => {
    const kv = clients[w % clients.length] as RaftkvClient;
    for (let i = next++; i < s.ops; i = next++) {
      const key = `bench/${(i * 7919) % (s.op === 'put' ? keys : Math.min(keys, 256))}`;
      const t = performance.now();
      try {
        if (s.op === 'put' || (s.op === 'mixed' && i % 10 === 0)) await kv.put(key, value);
        else await kv.get(key, { consistency: s.op === 'stale-get' ? 'stale' : 'linearizable' });
      } catch {
        errors += 1;
      }
      latencies[i] = performance.now() - t;
      done += 1;
      if (done % step === 0 || done === s.ops) onProgress(done);
    }
  };
  await Promise.all(Array.from({ length: s.concurrency }, (_, w) => worker(w)));
  const seconds = (performance.now() - started) / 1000;
  for (const c of clients) c.close();
  const sorted = Array.from(latencies).sort((a, b) => a - b);
  const at = (q: number): number => Number((sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0).toFixed(2));
  return { scenario: s.name, ops: s.ops, errors, seconds: Number(seconds.toFixed(2)), opsPerS: Math.round(s.ops / seconds), p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1) };
}
