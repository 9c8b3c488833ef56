/**
 * One jepsen-lite run, start to finish: clean up leftovers of dead runs, lay out the network,
 * start a real cluster, run the workload's clients and the nemesis schedule side by side for the
 * run's time, heal everything, read the final state from every node, wait for convergence, stop
 * every process and remove every namespace, then check the history and write the report.
 *
 * Everything the run creates is recorded in its registry slot (net/run-registry.ts) and removed
 * on every way out: normal end, an exception, Ctrl-C (SIGINT/SIGTERM: the run stops early and
 * still cleans up; a second Ctrl-C cleans up synchronously and exits), and `process.on('exit')`.
 * A harness killed with SIGKILL leaves its slot behind, and the next run removes it first.
 */
import { setMaxListeners } from 'node:events';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LocalCluster, repoRoot } from '../cluster/local-cluster.js';
import { SeededPrng } from '../src/util/index.js';
import type { HealObservation } from './checks/availability.js';
import { checkAvailability, defaultAvailabilityLimits } from './checks/availability.js';
import type { AvailabilityLimits } from './checks/availability.js';
import { checkAppend } from './checks/append-check.js';
import { checkBank } from './checks/bank-check.js';
import type { CheckOutcome } from './checks/check.js';
import { checkConvergence } from './checks/convergence.js';
import { checkLinearizability } from './checks/linearizability.js';
import { checkLostWrites } from './checks/lost-writes.js';
import { JepsenClient } from './client/kv-client.js';
import type { ReadTiming, WriteTiming } from './client/kv-client.js';
import { faultWindows, Recorder } from './history.js';
import type { NemesisRecord, OpRecord, WorkloadName } from './history.js';
import { detectCapabilities } from './net/detect.js';
import type { LinkFaults, NetMechanism, NetPlan, Network } from './net/network.js';
import { NetnsNetwork } from './net/netns-network.js';
import { ProxyNetwork } from './net/proxy-network.js';
import { Slot, sweepLeftovers } from './net/run-registry.js';
import { membershipFamily } from './nemesis/membership.js';
import type { FamilyName, NemesisContext, NemesisFamily } from './nemesis/nemesis.js';
import { netFamily } from './nemesis/net-faults.js';
import { partitionFamily } from './nemesis/partition.js';
import { killFamily, pauseFamily } from './nemesis/process-faults.js';
import { runSchedule, sleep, supportedFamilies } from './nemesis/schedule.js';
import { snapshotFamily } from './nemesis/snapshot.js';
import { writeReport } from './report/html-report.js';
import { summarize } from './report/summary.js';
import { appendWorkload } from './workloads/append.js';
import { bankWorkload } from './workloads/bank.js';
import { registerWorkload } from './workloads/register.js';
import type { Workload, WorkloadContext } from './workloads/workload.js';

/** Everything a run can be told. */
export interface RunOptions {
  readonly nodes: number;
  readonly timeSec: number;
  /** Families to run; `mixed` means every family, taking turns. Empty: no faults. */
  readonly nemeses: readonly (FamilyName | 'mixed')[];
  readonly workload: WorkloadName;
  readonly net: 'auto' | NetMechanism;
  readonly intervalSec: number;
  readonly concurrency: number;
  /** Target operations per second, all clients together. */
  readonly rate: number;
  readonly seed: number;
  readonly keys: number;
  readonly opsPerKey: number;
  /** Extra `raftkv serve` flags for every node (negative controls, tuning). */
  readonly nodeArgs: readonly string[];
  readonly timing: { readonly write: WriteTiming; readonly read: ReadTiming };
  /** Overrides what the `net` family's kinds do (used by negative controls). */
  readonly netKinds?: Readonly<Record<string, LinkFaults>>;
  readonly availability: AvailabilityLimits;
  /** Where the run directory goes (default jepsen-lite/runs/<timestamp>...). */
  readonly outDir?: string;
  /** Keep the nodes' data directories (default: removed, logs kept). */
  readonly keepData: boolean;
  /** Linearizability search bound per key. */
  readonly statesMax?: number;
  /** Progress lines (default: none). */
  readonly log?: (line: string) => void;
  /** Aborts the run early (it still heals, checks and cleans up). */
  readonly signal?: AbortSignal;
}

/** Defaults for everything but what the caller sets. */
export function runOptions(overrides: Partial<RunOptions> = {}): RunOptions {
  return {
    nodes: 3,
    timeSec: 60,
    nemeses: ['partition'],
    workload: 'register',
    net: 'auto',
    intervalSec: 10,
    concurrency: 5,
    rate: 100,
    seed: Date.now() % 1_000_000,
    keys: 8,
    opsPerKey: 150,
    nodeArgs: [],
    timing: { write: { budgetMs: 5000, attemptTimeoutsMs: [1000, 2000, 3000] }, read: { budgetMs: 2500, attemptTimeoutMs: 1000 } },
    availability: defaultAvailabilityLimits,
    keepData: false,
    ...overrides,
  };
}

/** What a run produced. */
export interface RunResult {
  readonly ok: boolean;
  readonly runDir: string;
  readonly reportPath: string;
  readonly summary: string;
  readonly checks: readonly CheckOutcome[];
  readonly results: RunResults;
}

/** results.json. */
export interface RunResults {
  readonly ok: boolean;
  readonly options: Omit<RunOptions, 'log' | 'signal'>;
  readonly net: { readonly mechanism: NetMechanism; readonly methods: Readonly<Record<string, string>>; readonly notes: readonly string[] };
  readonly startedAt: string;
  readonly durationMs: number;
  readonly workloadSpan: { readonly start: number; readonly end: number };
  readonly counts: Readonly<Record<string, { ok: number; fail: number; indeterminate: number }>>;
  readonly faults: readonly NemesisRecord[];
  readonly heals: readonly unknown[];
  readonly checks: readonly CheckOutcome[];
  readonly leftoversRemoved: readonly string[];
  readonly error?: string;
}

function families(options: RunOptions): NemesisFamily[] {
  const all = (): NemesisFamily[] => [partitionFamily(), killFamily(), pauseFamily(), netFamily(options.netKinds), snapshotFamily(), membershipFamily()];
  if (options.nemeses.includes('mixed')) return all();
  return all().filter((f) => options.nemeses.includes(f.name));
}

function workloadFor(options: RunOptions): Workload {
  switch (options.workload) {
    case 'register':
      return registerWorkload(options);
    case 'append':
      return appendWorkload(options);
    case 'bank':
      return bankWorkload();
  }
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
}

/** Runs once. Never leaves a process, namespace or rule behind. */
export async function runJepsen(options: RunOptions): Promise<RunResult> {
  const runDir = options.outDir ?? join(repoRoot, 'jepsen-lite', 'runs', `${timestamp()}-${options.workload}-${options.nemeses.join('+') || 'none'}-${process.pid}`);
  const nodesDir = join(runDir, 'nodes');
  mkdirSync(nodesDir, { recursive: true });
  const logLines: string[] = [];
  const log = (line: string): void => {
    logLines.push(line);
    options.log?.(line);
  };
  const startedAt = new Date();
  const leftoversRemoved = sweepLeftovers();
  for (const l of leftoversRemoved) log(`removed leftover: ${l}`);
  const slot = Slot.claim(runDir);
  const abort = new AbortController();
  // Every client's pacing sleep and the schedule listen on it at once.
  setMaxListeners(1000, abort.signal);
  options.signal?.addEventListener('abort', () => abort.abort(), { once: true });
  const state: RunState = { cluster: null, net: null, clients: [], mechanism: 'proxy', notes: [], heals: [], convergence: null, span: { start: 0, end: 0 } };
  const uninstall = installSignalHandlers(abort, log, () => {
    for (const c of state.clients) c.close();
    killNodesNow(state.cluster);
    state.net?.teardownSync();
    slot.cleanupAndRelease();
  });
  const recorder = new Recorder(join(runDir, 'history.jsonl'));
  let error: string | undefined;
  try {
    await runPhases(options, { runDir, nodesDir, slot, abort, log, recorder }, state);
  } catch (e) {
    error = e instanceof Error ? (e.stack ?? e.message) : String(e);
    log(`run failed: ${error}`);
  } finally {
    abort.abort(); // Client loops and the schedule end now, whatever happened.
    for (const c of state.clients) c.close();
    await state.cluster?.stopAll(5000).catch(() => undefined);
    await state.net?.teardown().catch(() => undefined);
    slot.cleanupAndRelease();
    uninstall();
    await recorder.close();
  }
  if (!options.keepData) for (let i = 1; i <= options.nodes; i++) rmSync(join(nodesDir, `n${i}`), { recursive: true, force: true });
  return finish(options, { runDir, startedAt, leftoversRemoved, logLines, recorder, state, error });
}

/** What a run builds up as it goes (for the checks, the results, and cleanup on every way out). */
interface RunState {
  cluster: LocalCluster | null;
  net: Network | null;
  /** Workload clients, then the nemesis's admin client. */
  clients: JepsenClient[];
  mechanism: NetMechanism;
  notes: string[];
  heals: HealObservation[];
  convergence: CheckOutcome | null;
  span: { start: number; end: number };
}

/** What every phase needs. */
interface RunEnv {
  readonly runDir: string;
  readonly nodesDir: string;
  readonly slot: Slot;
  readonly abort: AbortController;
  readonly log: (line: string) => void;
  readonly recorder: Recorder;
}

/**
 * Ctrl-C (SIGINT) or SIGTERM stops the run early; a second one cleans up synchronously and exits.
 * `process.on('exit')` cleans up synchronously too. Returns a function that removes the handlers.
 */
function installSignalHandlers(abort: AbortController, log: (line: string) => void, cleanupSync: () => void): () => void {
  let interrupts = 0;
  let lastSignalAt = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    // One Ctrl-C can arrive twice (from the terminal's process group and relayed by tsx or npm).
    if (Date.now() - lastSignalAt < 1000) return;
    lastSignalAt = Date.now();
    interrupts++;
    log(`${sig}: stopping the run early (healing, checking and cleaning up); press Ctrl-C again to stop at once`);
    abort.abort();
    if (interrupts > 1) {
      cleanupSync();
      process.exit(130);
    }
  };
  process.on('exit', cleanupSync);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('exit', cleanupSync);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/** SIGKILLs every running node at once (exit handler: no waiting). */
function killNodesNow(cluster: LocalCluster | null): void {
  for (const id of cluster?.running() ?? []) {
    const pid = cluster?.pid(id);
    if (!pid) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone.
    }
  }
}

/** Chooses and lays out the network. */
async function setUpNetwork(options: RunOptions, chosen: readonly NemesisFamily[], env: RunEnv, state: RunState, random: SeededPrng): Promise<{ net: Network; plan: NetPlan }> {
  const caps = options.net === 'proxy' ? null : detectCapabilities();
  const mechanism: NetMechanism = options.net === 'auto' ? (caps?.netns === true ? 'netns' : 'proxy') : options.net;
  state.mechanism = mechanism;
  if (mechanism === 'netns' && caps?.netns !== true) throw new Error(`--net netns is not available here: ${caps?.reasons.join('; ') ?? 'unknown'}`);
  if (options.net === 'auto' && mechanism === 'proxy' && caps) state.notes.push(`network namespaces unavailable (${caps.reasons.join('; ')}): using the proxy mechanism`);
  const needSlow = chosen.some((f) => f.name === 'net');
  const net = mechanism === 'netns' && caps ? new NetnsNetwork({ slot: env.slot, capabilities: caps, needSlow, logDir: env.nodesDir }) : new ProxyNetwork(() => random.float());
  state.net = net;
  if (mechanism === 'netns' && caps && !caps.netem) state.notes.push(`tc netem unavailable (kernel has no sch_netem): latency ${needSlow ? 'via proxy agents in the node namespaces' : 'not needed by this run'}`);
  if (mechanism === 'netns' && caps && caps.filter === null) state.notes.push('no iptables or nft: partitions are blackhole routes');
  const plan = await net.setup(Array.from({ length: options.nodes }, (_, i) => `n${i + 1}`), env.nodesDir);
  env.log(`net: ${mechanism}; partitions: ${net.methods.partition}; latency: ${net.methods.latency}; loss: ${net.methods.loss}`);
  return { net, plan };
}

/** The cluster's processes: each node in its own process group, recorded in the slot as it starts. */
function clusterFor(plan: NetPlan, serveArgs: readonly string[], env: RunEnv): LocalCluster {
  // A node refuses the negative controls (--test-*) unless this variable says they are meant.
  const faults = serveArgs.some((a) => a.startsWith('--test-'));
  return new LocalCluster(plan.specs, {
    extraArgs: serveArgs,
    ...(faults ? { env: { RAFTKV_ENABLE_TEST_FAULTS: '1' } } : {}),
    pidDir: env.nodesDir,
    ...(plan.commandPrefix ? { commandPrefix: plan.commandPrefix } : {}),
    ...(plan.initialClusterFor ? { initialClusterFor: plan.initialClusterFor } : {}),
    onSpawn: (id, pid) => env.slot.addProcess(pid, `node ${id}`),
    detached: true,
  });
}

/** The run proper: network, cluster, workload and schedule, final heal, final reads, convergence. */
async function runPhases(options: RunOptions, env: RunEnv, state: RunState): Promise<void> {
  const { recorder, abort, log } = env;
  const random = new SeededPrng(options.seed);
  const chosen = families(options);
  const { net, plan } = await setUpNetwork(options, chosen, env, state, random);
  const ids = plan.specs.map((s) => s.id);
  const serveArgs = [...chosen.flatMap((f) => [...f.nodeArgs]), ...options.nodeArgs];
  const cluster = clusterFor(plan, serveArgs, env);
  state.cluster = cluster;
  await cluster.startAll();
  const leader = await cluster.waitForLeader(30_000);
  log(`cluster of ${options.nodes} up: leader ${leader.id} (term ${leader.term}); run dir ${env.runDir}`);
  recorder.add<NemesisRecord>({ type: 'nemesis', family: 'cluster', kind: 'start', action: 'info', at: recorder.now(), nodes: ids, detail: `leader ${leader.id}; serve flags: ${serveArgs.join(' ') || '(defaults)'}` });

  const clientNodes = plan.specs.map((s) => ({ id: s.id, address: s.clientAddress }));
  const runTag = `${process.pid}-${Date.now().toString(36)}`;
  const clients = Array.from({ length: options.concurrency }, (_, i) => new JepsenClient(`jl-${runTag}-c${i + 1}`, clientNodes));
  const admin = new JepsenClient(`jl-${runTag}-nemesis`, clientNodes);
  state.clients.push(...clients, admin);
  const workload = workloadFor(options);
  let running = true;
  const intervalMs = (options.concurrency * 1000) / options.rate;
  const paceRandom = random.fork();
  const ctx: WorkloadContext = {
    recorder,
    clients,
    nodeIds: ids,
    random: random.fork(),
    timing: options.timing,
    running: () => running && !abort.signal.aborted,
    pace: async (_client, startedAtMs) => {
      const wait = (intervalMs - (Date.now() - startedAtMs)) * (0.5 + paceRandom.float());
      if (wait > 0) await sleep(wait, abort.signal);
    },
    keys: options.keys,
    opsPerKey: options.opsPerKey,
  };
  await workload.setup(ctx);
  const nemesisCtx: NemesisContext = {
    cluster,
    net,
    random: random.fork(),
    nodeIds: ids,
    clientAddresses: Object.fromEntries(plan.specs.map((s) => [s.id, s.clientAddress])),
    log,
    admin,
    // Through proxies each node sees a peer at its own proxy; in netns every node uses the peer's IP
    // (the agents only relay to it, and a member added at its real address is still partitioned by IP).
    peerViewsDiffer: state.mechanism === 'proxy',
  };
  const runnable = await supportedFamilies(nemesisCtx, chosen, recorder);
  const endAt = recorder.now() + options.timeSec * 1000;
  state.span = { start: recorder.now(), end: endAt };
  const clientRuns = clients.map((_, i) => workload.client(ctx, i));
  const schedule = runSchedule(nemesisCtx, runnable, recorder, { intervalMs: options.intervalSec * 1000, endAt, signal: abort.signal });
  await sleep(endAt - recorder.now(), abort.signal);
  running = false;
  state.span = { start: state.span.start, end: Math.min(endAt, recorder.now()) };
  // A run stopped early (Ctrl-C) ends its last heal's stretch where the workload stopped.
  state.heals = (await schedule).map((h) => ({ ...h, until: Math.min(h.until, state.span.end) }));
  await Promise.all(clientRuns);
  log(`${(recorder.now() / 1000).toFixed(1)} s  workload stopped; healing everything`);

  await healEverything(cluster, net, recorder);
  await cluster.waitForLeader(30_000).catch((e: unknown) => log(`no leader after the final heal: ${String(e)}`));
  await workload.finalReads(ctx);
  state.convergence = await checkConvergence(cluster);
}

/** Checks the history and writes results.json, report.html, summary.txt and run.log. */
function finish(
  options: RunOptions,
  r: { runDir: string; startedAt: Date; leftoversRemoved: string[]; logLines: string[]; recorder: Recorder; state: RunState; error: string | undefined },
): RunResult {
  const { runDir, recorder, state, error } = r;
  const ops = recorder.ops();
  const checks = runChecks(options, ops, recorder, state.heals, state.span, state.convergence, error);
  const ok = checks.every((c) => c.ok) && error === undefined;
  const results: RunResults = {
    ok,
    options: { ...options, log: undefined, signal: undefined } as Omit<RunOptions, 'log' | 'signal'>,
    net: { mechanism: state.mechanism, methods: state.net?.methods ?? {}, notes: state.notes },
    startedAt: r.startedAt.toISOString(),
    durationMs: Date.now() - r.startedAt.getTime(),
    workloadSpan: state.span,
    counts: countOps(ops),
    faults: recorder.nemesis(),
    heals: (checks.find((c) => c.name === 'availability')?.data as { heals?: unknown[] } | undefined)?.heals ?? [],
    checks,
    leftoversRemoved: r.leftoversRemoved,
    ...(error === undefined ? {} : { error }),
  };
  writeFileSync(join(runDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const reportPath = join(runDir, 'report.html');
  writeReport(reportPath, { results, records: recorder.records });
  const summary = summarize(results, reportPath);
  writeFileSync(join(runDir, 'summary.txt'), `${summary}\n`);
  writeFileSync(join(runDir, 'run.log'), `${r.logLines.join('\n')}\n`);
  return { ok, runDir, reportPath, summary, checks, results };
}

/** Heals every fault: network, paused and killed nodes. */
async function healEverything(cluster: LocalCluster, net: Network, recorder: Recorder): Promise<void> {
  await net.cut([]);
  await net.slow(null);
  const restarted: string[] = [];
  for (const s of cluster.specs) {
    if (cluster.pid(s.id) === null) {
      cluster.start(s.id);
      restarted.push(s.id);
    } else cluster.signal(s.id, 'SIGCONT');
  }
  await Promise.all(restarted.map((id) => cluster.waitForHttp(id, 20_000)));
  recorder.add<NemesisRecord>({ type: 'nemesis', family: 'final', kind: 'heal-all', action: 'info', at: recorder.now(), nodes: cluster.specs.map((s) => s.id), detail: `network healed, every node resumed${restarted.length > 0 ? `, restarted ${restarted.join(' ')}` : ''}` });
}

function runChecks(
  options: RunOptions,
  ops: readonly OpRecord[],
  recorder: Recorder,
  heals: readonly HealObservation[],
  span: { start: number; end: number },
  convergence: CheckOutcome | null,
  error: string | undefined,
): CheckOutcome[] {
  const checks: CheckOutcome[] = [];
  if (options.workload === 'register' || options.workload === 'append') {
    checks.push(checkLinearizability(ops, options.statesMax));
    checks.push(checkLostWrites(ops));
  }
  if (options.workload === 'append') checks.push(checkAppend(ops));
  if (options.workload === 'bank') checks.push(checkBank(ops));
  checks.push(convergence ?? { name: 'convergence', ok: false, summary: 'not reached (the run failed before it)', problems: [] });
  checks.push(checkAvailability(ops, faultWindows(recorder.records, span.end), heals, span, options.availability));
  const harnessBugs = ops.filter((o) => o.status === 'fail' && /INVALID_ARGUMENT|UNIMPLEMENTED|DATA_LOSS/.test(o.error ?? ''));
  if (harnessBugs.length > 0) {
    checks.push({ name: 'requests', ok: false, summary: `${harnessBugs.length} requests were refused as malformed`, problems: harnessBugs.slice(0, 5).map((o) => `#${o.id} ${o.f}: ${o.error ?? ''}`) });
  }
  if (error !== undefined) checks.push({ name: 'harness', ok: false, summary: `the run failed: ${error.split('\n')[0] ?? ''}`, problems: error.split('\n').slice(0, 10) });
  return checks;
}

/** ok / fail / indeterminate per operation type (logical operations and their parts). */
export function countOps(ops: readonly OpRecord[]): Record<string, { ok: number; fail: number; indeterminate: number }> {
  const out: Record<string, { ok: number; fail: number; indeterminate: number }> = {};
  for (const op of ops) {
    if (op.final === true) continue;
    const key = op.parent !== undefined ? `${op.f} (in append)` : op.f;
    const c = (out[key] ??= { ok: 0, fail: 0, indeterminate: 0 });
    c[op.status]++;
  }
  return out;
}
