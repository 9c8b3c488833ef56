/**
 * The simulator's command line (`npm run sim -- ...`).
 *
 *   npm run sim -- --seeds 10000            run seeds 0..9999
 *   npm run sim -- --seeds 500 --start 7000 run seeds 7000..7499
 *   npm run sim -- --seed 42 --verbose      replay one seed with its event trace
 *   npm run sim -- --seeds 300 --nodes 5    force the cluster size
 *   npm run sim -- --seeds 300 --fault voteWithoutPersist   a negative control: must find violations
 *   npm run sim -- --seeds 300 --fault voteWithoutPersist --skip-checks doubleVote
 *                                           which end-to-end property catches it without the direct check
 *   npm run sim -- --seeds 100 --driver-fault sendBeforePersist   the driver breaks the Ready contract
 *   npm run sim -- --seeds 100 --layer node --node-fault unsyncedApplyBatches
 *                                           the production driver's negative control (driver-sim.ts)
 *
 * Every seed runs twice: once through the core simulator (simulation.ts: RawNode, the KV state
 * machine, the simulator's Ready loop, a large network and nemesis fault space) and once through
 * the node-layer simulator (driver-sim.ts: the production RaftDriver on LevelStorage on simulated
 * LevelDB disks, with power losses, WAL rotations, fsync errors, full disks, clock jumps, restarts
 * mid-install and joins). `--layer core` or `--layer node` runs one of them.
 *
 * Prints seeds run, simulated time, messages, client operations checked, violations found and wall
 * time. Exit status: without --fault/--driver-fault, 1 if any violation was found; with one, 1 if
 * none was (the negative control was not caught).
 */
import { performance } from 'node:perf_hooks';
import { driverFaultNames, faultNames, isFaultName } from './params.js';
import type { DriverFaultName, FaultName } from './params.js';
import { addDriverSimStats, emptyDriverSimStats, nodeFaultNames, runDriverSim } from './driver-sim.js';
import type { DriverSimOptions } from './driver-sim.js';
import { runSimulation } from './simulation.js';
import type { SimResult } from './simulation.js';
import { SimViolation, violationKinds } from './violation.js';
import type { ViolationKind } from './violation.js';

interface CliArgs {
  seeds: number;
  start: number;
  nodes: 3 | 5 | undefined;
  fault: FaultName | undefined;
  driverFault: DriverFaultName | undefined;
  verbose: boolean;
  chaosMs: number | undefined;
  skipChecks: ViolationKind[] | undefined;
  layer: 'both' | 'core' | 'node';
  nodeFault: NonNullable<DriverSimOptions['fault']> | undefined;
}


const usage = `usage: npm run sim -- [--seed N | --seeds COUNT [--start S]] [--nodes 3|5] [--fault ${faultNames.join('|')}] [--driver-fault ${driverFaultNames.join('|')}] [--chaos-ms MS] [--skip-checks KIND,...] [--layer both|core|node] [--node-fault ${nodeFaultNames.join('|')}] [--verbose]`;

function fail(message: string): never {
  process.stderr.write(`${message}\n${usage}\n`);
  process.exit(2);
}

function parseIntArg(flag: string, value: string | undefined): number {
  if (value === undefined || !/^-?\d+$/.test(value)) fail(`${flag} needs an integer`);
  return Number(value);
}

function parseArgs(argv: readonly string[]): CliArgs {
  const args: CliArgs = { seeds: 100, start: 0, nodes: undefined, fault: undefined, driverFault: undefined, verbose: false, chaosMs: undefined, skipChecks: undefined, layer: 'both', nodeFault: undefined };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i] as string;
    switch (flag) {
      case '--seed':
        args.start = parseIntArg(flag, argv[++i]);
        args.seeds = 1;
        break;
      case '--seeds':
        args.seeds = parseIntArg(flag, argv[++i]);
        break;
      case '--start':
        args.start = parseIntArg(flag, argv[++i]);
        break;
      case '--nodes': {
        const n = parseIntArg(flag, argv[++i]);
        if (n !== 3 && n !== 5) fail('--nodes must be 3 or 5');
        args.nodes = n;
        break;
      }
      case '--fault': {
        const f = argv[++i] ?? '';
        if (!isFaultName(f)) fail(`unknown fault ${JSON.stringify(f)}`);
        args.fault = f;
        break;
      }
      case '--driver-fault': {
        const f = argv[++i] ?? '';
        if (!(driverFaultNames as readonly string[]).includes(f)) fail(`unknown driver fault ${JSON.stringify(f)}`);
        args.driverFault = f as DriverFaultName;
        break;
      }
      case '--chaos-ms':
        args.chaosMs = parseIntArg(flag, argv[++i]);
        break;
      case '--skip-checks': {
        const kinds = (argv[++i] ?? '').split(',');
        for (const k of kinds) if (!(violationKinds as readonly string[]).includes(k)) fail(`unknown check ${JSON.stringify(k)}; one of ${violationKinds.join(', ')}`);
        args.skipChecks = kinds as ViolationKind[];
        break;
      }
      case '--layer': {
        const l = argv[++i] ?? '';
        if (l !== 'both' && l !== 'core' && l !== 'node') fail('--layer must be both, core or node');
        args.layer = l;
        break;
      }
      case '--node-fault': {
        const f = argv[++i] ?? '';
        if (!(nodeFaultNames as readonly string[]).includes(f)) fail(`unknown node fault ${JSON.stringify(f)}`);
        args.nodeFault = f as (typeof nodeFaultNames)[number];
        break;
      }
      case '--verbose':
        args.verbose = true;
        break;
      case '--help':
      case '-h':
        process.stdout.write(`${usage}\n`);
        process.exit(0);
        break;
      default:
        fail(`unknown argument ${JSON.stringify(flag)}`);
    }
  }
  if (args.seeds < 1) fail('--seeds must be at least 1');
  return args;
}

/** Runs the core simulator over the seeds; true if it passed (or its negative control was caught). */
function runCore(args: CliArgs): boolean {
  const started = performance.now();
  const totals = { runs: 0, simulatedMs: 0, events: 0, sent: 0, delivered: 0, ops: 0, ok: 0, fail: 0, indeterminate: 0, checked: 0, unknownVerdicts: 0, snapshots: 0, crashes: 0, cycles: 0 };
  const violations: SimViolation[] = [];
  const byKind = new Map<string, number[]>();
  let lastProgress = started;
  for (let seed = args.start; seed < args.start + args.seeds; seed++) {
    let result: SimResult | null = null;
    try {
      result = runSimulation({
        seed,
        nodes: args.nodes,
        fault: args.fault,
        driverFault: args.driverFault,
        chaosMs: args.chaosMs,
        skipChecks: args.skipChecks,
        trace: args.verbose ? (line) => process.stdout.write(`${line}\n`) : undefined,
      });
    } catch (e) {
      if (!(e instanceof SimViolation)) throw e;
      violations.push(e);
      totals.simulatedMs += e.atMs;
      const seeds = byKind.get(e.kind) ?? [];
      seeds.push(seed);
      byKind.set(e.kind, seeds);
      if (violations.length <= 5 || args.seeds === 1) process.stdout.write(`VIOLATION ${e.message}\n`);
    }
    totals.runs++;
    if (result !== null) {
      totals.simulatedMs += result.simulatedMs;
      totals.events += result.events;
      totals.sent += result.messagesSent;
      totals.delivered += result.messagesDelivered;
      totals.ops += result.ops.total;
      totals.ok += result.ops.ok;
      totals.fail += result.ops.fail;
      totals.indeterminate += result.ops.indeterminate;
      totals.checked += result.opsChecked;
      totals.snapshots += result.snapshotsTaken + result.snapshotsInstalled;
      totals.crashes += result.crashes;
      totals.cycles += result.membershipCycles;
      if (result.checkerVerdict === 'unknown') totals.unknownVerdicts++;
      if (args.seeds === 1) process.stdout.write(`seed ${seed}: ${JSON.stringify(result)}\n`);
    }
    const now = performance.now();
    if (args.seeds > 1 && now - lastProgress > 10_000) {
      lastProgress = now;
      process.stderr.write(`  ... ${totals.runs}/${args.seeds} seeds, ${violations.length} violations, ${((now - started) / 1000).toFixed(0)} s\n`);
    }
  }
  const wallS = (performance.now() - started) / 1000;
  const lines = [
    `seeds run:          ${totals.runs} (${args.start}..${args.start + args.seeds - 1})${args.nodes === undefined ? '' : `, ${args.nodes} nodes`}${args.fault === undefined ? '' : `, fault ${args.fault}`}${args.driverFault === undefined ? '' : `, driver fault ${args.driverFault}`}`,
    `simulated time:     ${(totals.simulatedMs / 1000).toFixed(1)} s (${totals.events} events)`,
    `messages:           ${totals.sent} sent, ${totals.delivered} delivered`,
    `client operations:  ${totals.ops} (${totals.ok} ok, ${totals.fail} fail, ${totals.indeterminate} indeterminate), ${totals.checked} checked for linearizability${totals.unknownVerdicts > 0 ? `, ${totals.unknownVerdicts} runs with an unknown verdict` : ''}`,
    `faults:             ${totals.crashes} crashes, ${totals.snapshots} snapshots taken or installed, ${totals.cycles} membership remove/re-add cycles`,
    `violations found:   ${violations.length}${[...byKind].map(([kind, seeds]) => `\n  ${kind}: ${seeds.length} (seeds ${seeds.slice(0, 10).join(', ')}${seeds.length > 10 ? ', ...' : ''})`).join('')}`,
    `wall time:          ${wallS.toFixed(1)} s`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const first = violations[0];
  if (first !== undefined) process.stdout.write(`replay the first one: ${first.replay}${args.seeds === 1 ? '' : ' --verbose'}\n`);
  const control = args.fault ?? args.driverFault;
  const ok = control === undefined ? violations.length === 0 : violations.length > 0;
  if (control !== undefined) process.stdout.write(ok ? `negative control ${control}: CAUGHT\n` : `negative control ${control}: NOT caught\n`);
  return ok;
}

/** Runs the node-layer simulator (production driver) over the seeds; true if it passed. */
async function runNode(args: CliArgs): Promise<boolean> {
  const started = performance.now();
  const totals = emptyDriverSimStats();
  const failed: { seed: number; violation: string }[] = [];
  for (let seed = args.start; seed < args.start + args.seeds; seed++) {
    const result = await runDriverSim(seed, {
      ...(args.nodeFault === undefined ? {} : { fault: args.nodeFault }),
      ...(args.chaosMs === undefined ? {} : { chaosMs: args.chaosMs }),
      ...(args.verbose ? { trace: (line: string) => process.stdout.write(`${line}\n`) } : {}),
    });
    addDriverSimStats(totals, result.stats);
    for (const v of result.violations) {
      failed.push({ seed, violation: v });
      if (failed.length <= 5 || args.seeds === 1) process.stdout.write(`VIOLATION (node layer, seed ${seed}) ${v}\n`);
    }
    if (args.seeds === 1) process.stdout.write(`seed ${seed} (node layer): digest ${result.digest} ${JSON.stringify(result.stats)}\n`);
  }
  const t = totals;
  const wallS = (performance.now() - started) / 1000;
  const lines = [
    `node layer (production driver on simulated LevelDB), seeds ${args.start}..${args.start + args.seeds - 1}${args.nodeFault === undefined ? '' : `, node fault ${args.nodeFault}`}:`,
    `simulated time:     ${(t.simulatedMs / 1000).toFixed(1)} s`,
    `client operations:  ${t.writesAcked} writes acknowledged, ${t.linearizableReads} linearizable reads, ${t.staleReadsServed} bounded STALE reads served, ${t.staleReadsRefused} refused`,
    `power losses:       ${t.powerLosses} (${t.nodesPowerLost} node power cuts, ${t.crashAfterAck} right after a vote or acknowledgement), ${t.unsyncedWritesLost} unsynced writes lost, ${t.rotations} WAL rotations`,
    `other faults:       ${t.crashes} crashes, ${t.fsyncErrors} fsync errors, ${t.diskFullErrors} full disks, ${t.diskAlarmsRaised} NOSPACE alarms (${t.diskAlarmsCleared} cleared), ${t.fatalRestarts} restarts after a fatal alarm, ${t.partitions} partitions, ${t.clockJumps} clock jumps`,
    `snapshots:          ${t.snapshotsStaged} staged, ${t.restartsMidInstall} restarts mid-install; ${t.joins} joins (--join)`,
    `violations found:   ${failed.length}${failed.length === 0 ? '' : ` (seeds ${[...new Set(failed.map((f) => f.seed))].slice(0, 10).join(', ')})`}`,
    `wall time:          ${wallS.toFixed(1)} s (${(wallS / args.seeds).toFixed(3)} s per seed)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const first = failed[0];
  if (first !== undefined) process.stdout.write(`replay the first one: npm run sim -- --seed ${first.seed} --layer node${args.nodeFault === undefined ? '' : ` --node-fault ${args.nodeFault}`} --verbose\n`);
  const ok = args.nodeFault === undefined ? failed.length === 0 : failed.length > 0;
  if (args.nodeFault !== undefined) process.stdout.write(ok ? `negative control ${args.nodeFault}: CAUGHT\n` : `negative control ${args.nodeFault}: NOT caught\n`);
  return ok;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const coreOk = args.layer === 'node' || args.nodeFault !== undefined ? true : runCore(args);
  const nodeOk = args.layer === 'core' || args.fault !== undefined || args.driverFault !== undefined ? true : await runNode(args);
  process.exitCode = coreOk && nodeOk ? 0 : 1;
}

await main();
