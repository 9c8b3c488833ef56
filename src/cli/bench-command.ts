/**
 * `raftkv bench`: closed-loop load through the client library, for performance figures (never
 * timed assertions in tests). Each scenario (bench/scenarios.ts) reports throughput, latency
 * percentiles, server CPU per operation, resident memory per node and leader changes
 * (bench/run.ts, bench/server-stats.ts); `restart` (bench/restart.ts), the time from starting
 * the stopped nodes to the first linearizable read. `--local` starts a three-node cluster of its own on free
 * loopback ports in a temporary directory and stops it afterwards (`npm run bench`); it knows the
 * nodes' pids and /metrics URLs. Against another cluster, `--pids` (same machine) or `--metrics`
 * (any machine) say where the server figures come from. `--local --tls` runs the cluster with
 * TLS on the client ports and mutual TLS between nodes (development certificates in its
 * temporary directory), to measure what TLS costs; against another cluster, `--cacert` (and
 * `--cert`/`--key`) or https:// endpoints turn TLS on.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Option } from 'commander';
import type { Command } from 'commander';
import { LocalCluster, planTestCluster } from '../../cluster/local-cluster.js';
import { defaultEndpoints } from '../client/index.js';
import type { ClientTlsOptions } from '../client/index.js';
import { InvalidArgumentError } from '../util/index.js';
import { runScenario } from './bench/run.js';
import type { RestartableCluster } from './bench/context.js';
import type { AnyFigures, Figures } from './bench/run.js';
import { chooseScenarios, defaultScenarioNames, scaled, scenarios } from './bench/scenarios.js';
import type { StatsSources } from './bench/server-stats.js';
import { tlsOfFlags } from './client-flags.js';
import { printJson, printTable } from './output.js';
import { progressBar } from './progress.js';

/** Registers `bench` on the program. */
export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('measure throughput, latency, server CPU and memory and leader changes (scenarios A-F by default; G, bulk, restart, soak by name; restart needs --local)')
    .addOption(new Option('--endpoints <list>', 'cluster to load: host:port or http://host:port, comma-separated').env('RAFTKV_ENDPOINTS').default(defaultEndpoints.join(',')))
    .option('--local', 'start a three-node cluster of its own on free loopback ports, and stop it afterwards')
    .option('--tls', 'with --local: TLS on the client ports and mutual TLS between the nodes (development certificates)')
    .addOption(new Option('--cacert <file>', "TLS: PEM CA bundle the nodes' certificates chain to (turns TLS on)").env('RAFTKV_CACERT'))
    .addOption(new Option('--cert <file>', 'TLS: PEM client certificate, for clusters that require one').env('RAFTKV_CERT'))
    .addOption(new Option('--key <file>', 'TLS: PEM private key of --cert').env('RAFTKV_KEY'))
    .option('--scenarios <names>', `comma-separated scenario names or letters: ${scenarios.map((s) => s.name).join(', ')} (default: ${defaultScenarioNames.join(',')})`)
    .option('--scale <factor>', "multiply every scenario's operation (or key) count", '1')
    .option('--keys <n>', 'distinct keys', '10000')
    .option('--value-bytes <n>', 'value size', '256')
    .option('--pids <list>', 'the nodes\' pids on this machine, for CPU and memory: name=pid or pid, comma-separated')
    .option('--metrics <urls>', "the nodes' /metrics URLs, for CPU, memory and leader changes: name=url or url, comma-separated")
    .option('--json', 'print JSON (the same as --output json)')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).env('RAFTKV_OUTPUT').default('table'))
    .action(async (o: Record<string, string | boolean | undefined>) => {
      const scale = Number(o['scale']);
      const keys = Number(o['keys']);
      const valueBytes = Number(o['valueBytes']);
      if (!(scale > 0) || !(keys > 0) || !(valueBytes >= 0)) throw new InvalidArgumentError('bench', '--scale, --keys and --value-bytes must be positive numbers');
      const json = o['json'] === true || o['output'] === 'json';
      const wanted = typeof o['scenarios'] === 'string' ? o['scenarios'].split(',').map((s) => s.trim()) : defaultScenarioNames;
      const chosen = chooseScenarios(wanted);
      if (chosen.length === 0) throw new InvalidArgumentError('scenarios', `none of ${wanted.join(',')} is a scenario (${scenarios.map((s) => s.name).join(', ')})`);
      let local: LocalCluster | null = null;
      let dir = '';
      let endpoints = String(o['endpoints']);
      if (o['tls'] === true && o['local'] !== true) throw new InvalidArgumentError('tls', '--tls starts a TLS cluster and needs --local; for another cluster give --cacert (and --cert/--key)');
      const flag = (name: string): string | undefined => (typeof o[name] === 'string' ? o[name] : undefined);
      let tls: ClientTlsOptions | null = tlsOfFlags(endpoints, { cacert: flag('cacert'), cert: flag('cert'), key: flag('key') });
      let stats: StatsSources = { pids: namedList(o['pids'], 'pids', (v) => positiveInteger(v, '--pids')), metricsUrls: namedList(o['metrics'], 'metrics', (v) => v) };
      try {
        if (o['local']) {
          dir = mkdtempSync(join(tmpdir(), 'raftkv-bench-'));
          const specs = await planTestCluster(3, dir);
          const certsDir = join(dir, 'certs');
          if (o['tls'] === true) {
            const { createDevCerts } = await import('../tls/index.js');
            createDevCerts(certsDir, specs.map((s) => s.id), { hosts: ['127.0.0.1'] });
            tls = { ca: readFileSync(join(certsDir, 'ca.pem')) };
          }
          const cluster = new LocalCluster(specs, o['tls'] === true ? { tls: { certsDir } } : {});
          local = cluster;
          await cluster.startAll();
          await cluster.waitForLeader();
          endpoints = cluster.endpoints;
        }
        const restartable = local === null ? null : restartableOf(local);
        const results: AnyFigures[] = [];
        for (const s of chosen.map((c) => scaled(c, scale))) {
          // A restart gives the nodes new pids: read them again before every scenario.
          if (restartable !== null) stats = restartable.stats();
          const bar = progressBar(json ? 'json' : 'table', s.name.padEnd(15), s.kind === 'bulk' ? 'keys' : 'ops');
          let started = false;
          let figures: AnyFigures;
          try {
            figures = await runScenario(s, {
              endpoints,
              tls,
              keys,
              valueBytes,
              stats,
              cluster: restartable,
              onProgress: (done, total) => {
                if (!started) bar?.start(total, 0);
                started = true;
                bar?.update(done);
              },
            });
          } finally {
            bar?.stop();
          }
          results.push(figures);
          if (!json) process.stderr.write('firstReadS' in figures ? `${s.name}: first read after ${figures.seconds} s\n` : `${s.name}: ${figures.opsPerS} ops/s, p50 ${figures.p50Ms} ms, p99 ${figures.p99Ms} ms\n`);
        }
        if (json) printJson(results);
        else printReport(results);
      } finally {
        await local?.stopAll();
        if (dir) rmSync(dir, { recursive: true, force: true });
      }
    });
}

function printReport(results: readonly AnyFigures[]): void {
  const na = (x: number | null): string => (x === null ? '-' : String(x));
  const rssMb = (f: Figures): string => rssMbOf(f.rssBytes);
  printTable(
    ['scenario', 'ops', 'errors', 'ops/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'cpu/op ms', 'rss MB/node', 'leader changes'],
    results.filter((r) => !('firstReadS' in r)).map((r) => [r.scenario, String(r.ops), String(r.errors), String(r.opsPerS), String(r.p50Ms), String(r.p90Ms), String(r.p99Ms), String(r.maxMs), na(r.serverCpuMsPerOp), rssMb(r), na(r.leaderChanges)]),
  );
  for (const r of results) {
    if ('rounds' in r) {
      process.stdout.write(`\n${r.scenario}: last/first round ops/s ${r.lastVsFirstOpsRatio}, cpu/op ${na(r.lastVsFirstCpuRatio)}\n`);
      printTable(
        ['round', 'ops/s', 'p99 ms', 'cpu/op ms', 'leader changes'],
        r.rounds.map((x) => [x.scenario, String(x.opsPerS), String(x.p99Ms), na(x.serverCpuMsPerOp), na(x.leaderChanges)]),
      );
    }
    if ('firstReadS' in r) {
      const s = (x: number | null): string => (x === null ? 'none within the wait' : `${x} s`);
      process.stdout.write(`\n${r.scenario}: first linearizable read ${s(r.firstReadS)} after the start (a new client), ${s(r.keptClientFirstReadS)} (a client kept through the restart); resident memory per node ${rssMbOf(r.rssBeforeBytes)} MB before, ${rssMb(r)} MB after\n`);
    }
    if ('keysPerS' in r) process.stdout.write(`\n${r.scenario}: ${r.keys} keys, ${r.keysPerS} keys/s, ${r.failedRequests} failed requests, resident memory per node ${rssMb(r)} MB\n`);
  }
}

/** Resident memory per node in MB, `a/b/c`. */
function rssMbOf(rssBytes: Readonly<Record<string, number | null>>): string {
  const values = Object.values(rssBytes).filter((v): v is number => v !== null);
  return values.length === 0 ? '-' : values.map((v) => Math.round(v / (1024 * 1024))).join('/');
}

/** The local cluster as the restart scenario and the figures see it: pids read afresh at each call. */
function restartableOf(cluster: LocalCluster): RestartableCluster {
  return {
    specs: cluster.specs,
    stopAll: () => cluster.stopAll(),
    start: (id) => cluster.start(id),
    waitForHttp: (id, timeoutMs) => cluster.waitForHttp(id, timeoutMs),
    stats: () => ({
      pids: new Map(cluster.specs.flatMap((s) => (cluster.pid(s.id) === null ? [] : [[s.id, cluster.pid(s.id) as number] as const]))),
      metricsUrls: new Map(cluster.specs.map((s) => [s.id, `http://${s.httpAddress}/metrics`] as const)),
    }),
  };
}

/** `a=1,b=2` or `1,2` (named n1, n2, ... in order) as a map. */
function namedList<T>(value: string | boolean | undefined, flag: string, parse: (v: string) => T): Map<string, T> {
  const out = new Map<string, T>();
  if (typeof value !== 'string' || value.trim() === '') return out;
  value.split(',').forEach((item, i) => {
    const eq = item.indexOf('=');
    // A URL holds '=' only after '?'; a name never holds ':' or '/'.
    const named = eq > 0 && !/[:/]/.test(item.slice(0, eq));
    const name = named ? item.slice(0, eq).trim() : `n${i + 1}`;
    const v = (named ? item.slice(eq + 1) : item).trim();
    if (v === '') throw new InvalidArgumentError(flag, `has an empty entry: ${JSON.stringify(item)}`);
    out.set(name, parse(v));
  });
  return out;
}

function positiveInteger(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(flag, `${JSON.stringify(v)} is not a pid`);
  return n;
}
