/**
 * The simulator's command line (`npm run sim -- ...`).
 *
 *   npm run sim -- --seeds 10000            run seeds 0..9999 (both front ends, 2 worker threads)
 *   npm run sim -- --seeds 500 --start 7000 run seeds 7000..7499
 *   npm run sim -- --seed 42 --verbose      replay one seed with its event trace
 *   npm run sim -- --seeds 300 --nodes 5    force the cluster size
 *   npm run sim -- --seeds 300 --fault voteWithoutPersist   a negative control: must find violations
 *   npm run sim -- --seeds 300 --fault voteWithoutPersist --skip-checks doubleVote
 *                                           which end-to-end property catches it without the direct check
 *   npm run sim -- --seeds 100 --driver-fault unsyncedApplyBatches   the production driver's controls
 *   npm run sim -- --seeds 100 --layer node --node-fault unsyncedApplyBatches
 *
 * Both front ends run the PRODUCTION driver through one host (driver-host.ts). Every seed runs
 * through the core front end (simulation.ts: Raft's safety properties after every event, a large
 * network and nemesis fault space with power losses, disk faults and clock jumps, membership
 * changes, linearizability) and through the node-layer front end (driver-sim.ts: joins with
 * --join, bounded STALE reads, lost acknowledged writes); `--layer core|node` runs one of them.
 * `--jobs N` runs seeds on N worker threads (each seed is deterministic on its own).
 *
 * Prints what ran and what faults happened, violations, simulated and wall time, and seeds per
 * second. Exit status: without a fault flag, 1 if any violation was found; with one, 1 if none
 * was (the negative control was not caught).
 */
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { Command, InvalidArgumentError, Option } from 'commander';
import { addDriverSimStats, emptyDriverSimStats, nodeFaultNames } from './driver-sim.js';
import type { NodeFaultName } from './driver-sim.js';
import { driverFaultNames, faultNames } from './params.js';
import type { DriverFaultName, FaultName, SimOptions } from './params.js';
import { runSeedJob } from './run-seed.js';
import type { SeedJob, SeedOutcome, ViolationData } from './run-seed.js';
import { violationKinds } from './violation.js';
import type { ViolationKind } from './violation.js';

interface CliArgs {
  readonly seeds: number;
  readonly start: number;
  readonly nodes: 3 | 5 | undefined;
  readonly fault: FaultName | undefined;
  readonly driverFault: DriverFaultName | undefined;
  readonly verbose: boolean;
  readonly chaosMs: number | undefined;
  readonly skipChecks: ViolationKind[] | undefined;
  readonly layer: 'both' | 'core' | 'node';
  readonly nodeFault: NodeFaultName | undefined;
  readonly jobs: number;
  /** Start no new seed after this many seconds of wall time (the summary covers what ran). */
  readonly budgetS: number | undefined;
}

function integer(min: number): (value: string) => number {
  return (value) => {
    if (!/^-?\d+$/.test(value) || Number(value) < min) throw new InvalidArgumentError(`needs an integer of at least ${min}`);
    return Number(value);
  };
}

function parseArgs(argv: readonly string[]): CliArgs {
  const program = new Command('npm run sim --')
    .description('Deterministic cluster simulation of the production driver, one seed per run.')
    .addOption(new Option('--seed <n>', 'run (and replay) one seed').argParser(integer(0)))
    .addOption(new Option('--seeds <count>', 'how many seeds to run').argParser(integer(1)).default(100))
    .addOption(new Option('--start <s>', 'the first seed').argParser(integer(0)).default(0))
    .addOption(new Option('--nodes <n>', 'force the cluster size (core front end)').choices(['3', '5']))
    .addOption(new Option('--fault <name>', 'a negative control in the Raft core (RaftConfig.testFaults)').choices(faultNames))
    .addOption(new Option('--driver-fault <name>', 'a negative control in the production driver (core front end)').choices(driverFaultNames))
    .addOption(new Option('--node-fault <name>', 'a negative control run by the node-layer front end').choices(nodeFaultNames))
    .addOption(new Option('--chaos-ms <ms>', 'length of the fault phase').argParser(integer(1)))
    .addOption(new Option('--skip-checks <kinds>', `checks to leave out (experiments): ${violationKinds.join(',')}`))
    .addOption(new Option('--layer <layer>', 'which front end runs each seed').choices(['both', 'core', 'node']).default('both'))
    .addOption(new Option('--jobs <n>', 'worker threads (1: in this thread)').argParser(integer(1)).default(Math.min(2, availableParallelism())))
    .addOption(new Option('--budget-s <s>', 'start no new seed after this many seconds (the summary covers the seeds that ran)').argParser(integer(1)))
    .option('--verbose', 'print the event trace (runs in this thread)', false)
    .parse([...argv], { from: 'user' });
  const o = program.opts<{ seed?: number; seeds: number; start: number; nodes?: string; fault?: FaultName; driverFault?: DriverFaultName; nodeFault?: NodeFaultName; chaosMs?: number; skipChecks?: string; layer: CliArgs['layer']; jobs: number; budgetS?: number; verbose: boolean }>();
  const skipChecks = o.skipChecks?.split(',');
  for (const k of skipChecks ?? []) if (!(violationKinds as readonly string[]).includes(k)) program.error(`unknown check ${JSON.stringify(k)}; one of ${violationKinds.join(', ')}`);
  const one = o.seed !== undefined;
  return {
    seeds: one ? 1 : o.seeds,
    start: o.seed ?? o.start,
    nodes: o.nodes === undefined ? undefined : o.nodes === '3' ? 3 : 5,
    fault: o.fault,
    driverFault: o.driverFault,
    nodeFault: o.nodeFault,
    chaosMs: o.chaosMs,
    skipChecks: skipChecks as ViolationKind[] | undefined,
    layer: o.layer,
    verbose: o.verbose,
    jobs: one || o.verbose ? 1 : o.jobs,
    budgetS: o.budgetS,
  };
}

/** The jobs of a run: each seed through the front ends the flags select. */
function jobsOf(args: CliArgs): SeedJob[] {
  const core = args.layer !== 'node' && args.nodeFault === undefined;
  const node = args.layer !== 'core' && args.fault === undefined && args.driverFault === undefined;
  const jobs: SeedJob[] = [];
  for (let seed = args.start; seed < args.start + args.seeds; seed++) {
    if (core) {
      const options: Omit<SimOptions, 'trace'> = { seed, nodes: args.nodes, fault: args.fault, driverFault: args.driverFault, chaosMs: args.chaosMs, skipChecks: args.skipChecks };
      jobs.push({ layer: 'core', options, verbose: args.verbose });
    }
    if (node) jobs.push({ layer: 'node', seed, options: { ...(args.nodeFault === undefined ? {} : { fault: args.nodeFault }), ...(args.chaosMs === undefined ? {} : { chaosMs: args.chaosMs }) }, verbose: args.verbose });
  }
  return jobs;
}

/**
 * A worker thread's first code: it registers tsx's TypeScript loader (loader flags given to
 * this process do not reach worker threads on Node 20), then loads sim-worker.ts.
 */
const workerBootstrap = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./sim-worker.ts', import.meta.url).href)}); })`;

/** The most jobs one worker thread runs before a fresh one replaces it. */
const jobsPerWorkerMax = 400;

/**
 * Runs the jobs, on `threads` worker threads or in this one, calling `done` with each outcome;
 * `more()` false stops it from starting further jobs.
 */
async function runJobs(jobs: readonly SeedJob[], threads: number, more: () => boolean, done: (o: SeedOutcome) => void): Promise<void> {
  if (threads <= 1) {
    for (const job of jobs) {
      if (!more()) return;
      done(await runSeedJob(job, (line) => process.stdout.write(`${line}\n`)));
    }
    return;
  }
  let next = 0;
  // A worker thread runs at most `jobsPerWorkerMax` jobs, then a fresh one takes over: whatever
  // a seed might leave behind in a long-lived heap stays bounded (a leak once cut the rate of a
  // 10,000-seed run by 100 times). Seeds are deterministic, so this changes no result.
  const runWorker = async (): Promise<void> => {
    while (next < jobs.length && more()) await runWorkerBatch();
  };
  const runWorkerBatch = (): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const worker = new Worker(workerBootstrap, { eval: true });
      let ran = 0;
      const feed = (): void => {
        const job = ran < jobsPerWorkerMax && more() ? jobs[next++] : undefined;
        if (job === undefined) {
          void worker.terminate().then(() => resolve());
          return;
        }
        ran++;
        worker.postMessage(job);
      };
      worker.on('message', (m: { ok: true; outcome: SeedOutcome } | { ok: false; error: string }) => {
        if (!m.ok) {
          void worker.terminate();
          reject(new Error(m.error));
          return;
        }
        done(m.outcome);
        feed();
      });
      worker.on('error', reject);
      feed();
    });
  await Promise.all(Array.from({ length: Math.min(threads, jobs.length) }, runWorker));
}

/** Sums of the core front end's results. */
function emptyCoreTotals() {
  return {
    runs: 0,
    simulatedMs: 0,
    events: 0,
    sent: 0,
    delivered: 0,
    ops: 0,
    ok: 0,
    fail: 0,
    indeterminate: 0,
    checked: 0,
    unknownVerdicts: 0,
    elections: 0,
    snapshots: 0,
    crashes: 0,
    cycles: 0,
    joins: 0,
    powerLosses: 0,
    crashAfterAck: 0,
    unsyncedWritesLost: 0,
    rotations: 0,
    fsyncErrors: 0,
    diskFullErrors: 0,
    fatalRestarts: 0,
    clockJumps: 0,
    crashesMidInstall: 0,
    restartsMidInstall: 0,
    snapshotsStaged: 0,
  };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const jobs = jobsOf(args);
  const started = performance.now();
  const core = emptyCoreTotals();
  const node = emptyDriverSimStats();
  let nodeRuns = 0;
  const violations: { layer: 'core' | 'node'; seed: number; v: ViolationData }[] = [];
  let finished = 0;
  let lastProgress = started;
  const budgetEndMs = args.budgetS === undefined ? Number.POSITIVE_INFINITY : started + args.budgetS * 1000;
  const seedsDone = new Set<number>();
  await runJobs(jobs, args.jobs, () => performance.now() < budgetEndMs, (o) => {
    seedsDone.add(o.seed);
    finished++;
    if (o.layer === 'core') {
      core.runs++;
      if (o.violation !== null) {
        violations.push({ layer: 'core', seed: o.seed, v: o.violation });
        core.simulatedMs += o.violation.atMs;
        if (violations.length <= 5 || args.seeds === 1) process.stdout.write(`VIOLATION ${o.violation.message}\n`);
      }
      const r = o.result;
      if (r !== null) {
        const counts = {
          simulatedMs: r.simulatedMs,
          events: r.events,
          sent: r.messagesSent,
          delivered: r.messagesDelivered,
          ops: r.ops.total,
          ok: r.ops.ok,
          fail: r.ops.fail,
          indeterminate: r.ops.indeterminate,
          checked: r.opsChecked,
          elections: r.leaderTerms,
          snapshots: r.snapshotsTaken + r.snapshotsInstalled,
          crashes: r.crashes,
          cycles: r.membershipCycles,
          joins: r.joins,
          ...r.storage,
        };
        for (const k of Object.keys(counts) as (keyof typeof counts)[]) core[k] += counts[k];
        if (r.checkerVerdict === 'unknown') core.unknownVerdicts++;
        if (args.seeds === 1) process.stdout.write(`seed ${o.seed} (core): ${JSON.stringify(r)}\n`);
      }
    } else {
      nodeRuns++;
      addDriverSimStats(node, o.result.stats);
      for (const message of o.result.violations) {
        violations.push({ layer: 'node', seed: o.seed, v: { kind: message.split(':')[0] ?? 'violation', message, replay: `npm run sim -- --seed ${o.seed} --layer node${args.nodeFault === undefined ? '' : ` --node-fault ${args.nodeFault}`}`, atMs: 0 } });
        if (violations.length <= 5 || args.seeds === 1) process.stdout.write(`VIOLATION (node layer, seed ${o.seed}) ${message}\n`);
      }
      if (args.seeds === 1) process.stdout.write(`seed ${o.seed} (node layer): digest ${o.result.digest} ${JSON.stringify(o.result.stats)}\n`);
    }
    const now = performance.now();
    if (jobs.length > 1 && now - lastProgress > 10_000) {
      lastProgress = now;
      process.stderr.write(`  ... ${finished}/${jobs.length} runs, ${violations.length} violations, ${((now - started) / 1000).toFixed(0)} s\n`);
    }
  });
  const wallS = (performance.now() - started) / 1000;
  const seedsRun = seedsDone.size;
  const seedsPerS = seedsRun / wallS;
  const n = node;
  const lines = [
    `seeds run:          ${seedsRun}${seedsRun < args.seeds ? ` of ${args.seeds} (the --budget-s ran out)` : ''} (from ${args.start}): ${core.runs} core runs, ${nodeRuns} node-layer runs, ${args.jobs} thread(s)${args.nodes === undefined ? '' : `, ${args.nodes} nodes`}${args.fault === undefined ? '' : `, fault ${args.fault}`}${args.driverFault === undefined ? '' : `, driver fault ${args.driverFault}`}${args.nodeFault === undefined ? '' : `, node fault ${args.nodeFault}`}`,
    `simulated time:     ${((core.simulatedMs + n.simulatedMs) / 1000).toFixed(1)} s (core ${(core.simulatedMs / 1000).toFixed(1)} s, ${core.events} events; node layer ${(n.simulatedMs / 1000).toFixed(1)} s)`,
    `messages (core):    ${core.sent} sent, ${core.delivered} delivered`,
    `client operations:  core ${core.ops} (${core.ok} ok, ${core.fail} fail, ${core.indeterminate} indeterminate), ${core.checked} checked for linearizability${core.unknownVerdicts > 0 ? `, ${core.unknownVerdicts} runs with an unknown verdict` : ''}; node layer ${n.writesAcked} writes acknowledged, ${n.linearizableReads} linearizable reads, ${n.staleReadsServed} bounded STALE reads served (${n.staleReadsRefused} refused)`,
    `elections:          ${core.elections} terms with a leader (core)`,
    `crashes:            ${core.crashes + n.crashes} (core ${core.crashes}, node layer ${n.crashes}), ${core.fatalRestarts + n.fatalRestarts} restarts after a fatal alarm`,
    `power losses:       ${core.powerLosses + n.nodesPowerLost} node power cuts (core ${core.powerLosses}, node layer ${n.nodesPowerLost}), ${core.crashAfterAck + n.crashAfterAck} right after a vote or acknowledgement`,
    `unsynced writes lost: ${core.unsyncedWritesLost + n.unsyncedWritesLost} (core ${core.unsyncedWritesLost}, node layer ${n.unsyncedWritesLost})`,
    `log rotations:      ${core.rotations + n.rotations} WAL rotations (core ${core.rotations}, node layer ${n.rotations})`,
    `disk faults:        ${core.fsyncErrors + n.fsyncErrors} fsync errors, ${core.diskFullErrors + n.diskFullErrors} full disks; node layer ${n.diskAlarmsRaised} NOSPACE alarms (${n.diskAlarmsCleared} cleared in process, ${n.diskAlarmsEndedByCrash} ended by a crash)`,
    `clock jumps:        ${core.clockJumps + n.clockJumps} (core ${core.clockJumps}, node layer ${n.clockJumps})`,
    `snapshots:          ${core.snapshots} taken or installed (core), ${core.snapshotsStaged + n.snapshotsStaged} streamed and staged; ${core.crashesMidInstall} crashes mid-install, ${core.restartsMidInstall + n.restartsMidInstall} restarts mid-install`,
    `membership:         ${core.cycles} remove/re-add cycles (core), ${core.joins + n.joins} joins with --join (core ${core.joins}, node layer ${n.joins})`,
    `violations found:   ${violations.length}${summarizeViolations(violations)}`,
    `wall time:          ${wallS.toFixed(1)} s, ${seedsPerS.toFixed(2)} seeds/s (--seeds 10000 would take about ${(10_000 / seedsPerS / 60).toFixed(0)} min at this rate)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  const first = violations.sort((a, b) => a.seed - b.seed)[0];
  if (first !== undefined) process.stdout.write(`replay the first one: ${first.v.replay}${args.seeds === 1 ? '' : ' --verbose'}\n`);
  const control = args.fault ?? args.driverFault ?? args.nodeFault;
  const ok = control === undefined ? violations.length === 0 : violations.length > 0;
  if (control !== undefined) process.stdout.write(ok ? `negative control ${control}: CAUGHT\n` : `negative control ${control}: NOT caught\n`);
  process.exitCode = ok ? 0 : 1;
}

function summarizeViolations(violations: readonly { layer: string; seed: number; v: ViolationData }[]): string {
  const byKind = new Map<string, number[]>();
  for (const { layer, seed, v } of violations) {
    const key = `${layer} ${v.kind}`;
    byKind.set(key, [...(byKind.get(key) ?? []), seed]);
  }
  return [...byKind].map(([kind, seeds]) => `\n  ${kind}: ${seeds.length} (seeds ${seeds.slice(0, 10).join(', ')}${seeds.length > 10 ? ', ...' : ''})`).join('');
}

await main();
