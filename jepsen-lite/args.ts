/** The command line of `npm run jepsen`, parsed into run options (see cli.ts). */
import { Command, InvalidArgumentError, Option } from 'commander';
import type { WorkloadName } from './history.js';
import { familyNames } from './nemesis/nemesis.js';
import type { FamilyName } from './nemesis/nemesis.js';
import { runOptions } from './run.js';
import type { RunOptions } from './run.js';

/** The negative controls, by their short names. */
export const testFaultFlags: Readonly<Record<string, string>> = {
  'stale-reads': '--test-stale-linearizable-reads',
  'ack-before-commit': '--test-ack-before-commit',
  'skip-duplicate-check': '--test-skip-duplicate-check',
};

function integer(name: string, min: number, max: number): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

function clusterSize(v: string): number {
  if (v !== '3' && v !== '5') throw new InvalidArgumentError('--nodes must be 3 or 5');
  return Number(v);
}

function msList(v: string): number[] {
  const list = v.split(',').map((s) => Number(s.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 10 || n > 600_000)) throw new InvalidArgumentError('expected a comma-separated list of milliseconds (10 to 600000)');
  return list;
}

function nemeses(v: string): (FamilyName | 'mixed')[] {
  if (v === 'none' || v === '') return [];
  const names = v.split(',').map((s) => s.trim());
  for (const n of names) {
    if (n !== 'mixed' && !(familyNames as readonly string[]).includes(n)) {
      throw new InvalidArgumentError(`unknown nemesis "${n}" (families: ${familyNames.join(', ')}, mixed, none)`);
    }
  }
  return names as (FamilyName | 'mixed')[];
}

/** Parses argv (without node and script) into run options. */
export function parseArgs(argv: readonly string[]): RunOptions {
  const program = new Command('jepsen')
    .description('jepsen-lite: fault injection against a real raftkv cluster, with a linearizability checker')
    .exitOverride()
    .configureOutput({ writeErr: () => {}, writeOut: (text) => process.stdout.write(text) })
    .option('--nemesis <families>', `comma-separated: ${familyNames.join(', ')}, mixed, or none`, nemeses, ['partition'] as (FamilyName | 'mixed')[])
    .option('--time <seconds>', 'how long the workload runs', integer('--time', 5, 86_400), 60)
    .option('--nodes <n>', 'cluster size (3 or 5)', clusterSize, 3)
    .addOption(new Option('--workload <name>', 'what the clients do').choices(['register', 'append', 'bank']).default('register'))
    .addOption(new Option('--net <mechanism>', 'how faults reach the network').choices(['auto', 'netns', 'proxy']).default('auto'))
    .option('--interval <seconds>', 'a fault starts or stops every this many seconds', integer('--interval', 1, 3600), 10)
    .option('--concurrency <n>', 'concurrent clients', integer('--concurrency', 1, 64), 5)
    .option('--rate <ops>', 'target operations per second, all clients together', integer('--rate', 1, 100_000), 100)
    .option('--seed <n>', 'seed for the workload and the nemesis', integer('--seed', 0, 2 ** 31 - 1))
    .option('--keys <n>', 'keys in use at once', integer('--keys', 1, 10_000), 8)
    .option('--ops-per-key <n>', 'operations a key gets before it is replaced by a fresh one', integer('--ops-per-key', 4, 100_000), 150)
    .addOption(new Option('--test-fault <name>', 'start the nodes with a negative control').choices(Object.keys(testFaultFlags)))
    .option('--node-arg <flag>', 'extra `raftkv serve` flag for every node (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--write-timeouts <ms,...>', 'per-attempt deadlines of a write, escalating after each unknown outcome', msList, [1000, 2000, 3000])
    .option('--write-budget <ms>', 'total time a write may take, retries included', integer('--write-budget', 10, 600_000), 5000)
    .option('--read-timeout <ms>', 'deadline of one read attempt', integer('--read-timeout', 10, 600_000), 1000)
    .option('--read-budget <ms>', 'total time a read may take, retries on other nodes included', integer('--read-budget', 10, 600_000), 2500)
    .option('--out <dir>', 'run directory (default jepsen-lite/runs/<timestamp>-...)')
    .option('--keep-data', 'keep the nodes\' data directories', false);
  program.parse([...argv], { from: 'user' });
  const o = program.opts<{
    nemesis: (FamilyName | 'mixed')[];
    time: number;
    nodes: number;
    workload: WorkloadName;
    net: 'auto' | 'netns' | 'proxy';
    interval: number;
    concurrency: number;
    rate: number;
    seed?: number;
    keys: number;
    opsPerKey: number;
    testFault?: string;
    nodeArg: string[];
    out?: string;
    keepData: boolean;
    writeTimeouts: number[];
    writeBudget: number;
    readTimeout: number;
    readBudget: number;
  }>();
  const fault = o.testFault === undefined ? [] : [testFaultFlags[o.testFault] ?? ''];
  return runOptions({
    nemeses: o.nemesis,
    timeSec: o.time,
    nodes: o.nodes,
    workload: o.workload,
    net: o.net,
    intervalSec: o.interval,
    concurrency: o.concurrency,
    rate: o.rate,
    ...(o.seed === undefined ? {} : { seed: o.seed }),
    keys: o.keys,
    opsPerKey: o.opsPerKey,
    nodeArgs: [...fault, ...o.nodeArg],
    ...(o.out === undefined ? {} : { outDir: o.out }),
    keepData: o.keepData,
    timing: { write: { budgetMs: o.writeBudget, attemptTimeoutsMs: o.writeTimeouts }, read: { budgetMs: o.readBudget, attemptTimeoutMs: o.readTimeout } },
  });
}

