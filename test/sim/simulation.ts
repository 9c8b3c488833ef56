/**
 * The deterministic cluster simulator. One seed fixes everything: the cluster size and Raft
 * settings, the network's losses and latencies, the nemesis schedule, membership changes and the
 * clients' operations, all drawn from one seeded PRNG (SimPrng over util's SeededPrng) and run on a virtual clock through an event
 * queue ordered by (time, sequence). The same seed gives the same run, event for event; `digest`
 * proves it.
 *
 * A run has two phases. During the fault phase the nemesis partitions, crashes, pauses and
 * transfers leadership, the network drops, delays, reorders and duplicates, and a voter is removed
 * and added back. Then everything is healed and crashed nodes restart: a leader must be elected
 * and a write commit within `livenessBoundUs`, and every node must converge to the same applied
 * index and state hash. Raft's safety properties are checked after every event (invariants.ts);
 * the client history is checked for linearizability at the end.
 */
import { checkLinearizable } from '../../jepsen-lite/checker/index.js';
import type { CheckResult, HistoryOp } from '../../jepsen-lite/checker/index.js';
import type { ConfChange, ConfState, Message, SnapshotMessage } from '../../src/raft/index.js';
import type { DriverWorld } from '../../src/server/driver/world.js';
import { resolveNodeOptions } from '../../src/server/options.js';
import type { NodeOptions } from '../../src/server/options.js';
import type { DriverFaults, RaftDriver } from '../../src/server/raft-driver.js';
import type { LevelStorage } from '../../src/storage/index.js';
import type { Transport } from '../../src/transport/index.js';
import { nodeId } from '../../src/util/index.js';
import type { NodeId, Prng } from '../../src/util/index.js';
import { HostedNode } from './driver-host.js';
import type { NodeEnvironment } from './driver-host.js';
import { TraceDigest } from './digest.js';
import { SimPrng } from './prng.js';
import { EventQueue, usPerMs } from './event-queue.js';
import { HistoryRecorder } from './history.js';
import type { OpAnswer } from './history.js';
import { SafetyChecker } from './invariants.js';
import { MembershipController } from './membership.js';
import { Nemesis, drawBaseQuality, drawProfile } from './nemesis.js';
import type { NemesisAction } from './nemesis.js';
import { Network } from './network.js';
import { describeParams, drawParams } from './params.js';
import { QueueWorld } from './queue-world.js';
import type { SimOptions, SimParams } from './params.js';
import type { ClientRequest, ClientResponse } from './protocol.js';
import { SimClient } from './sim-client.js';
import { SimNode, describeConf, isRefusal } from './sim-node.js';
import { InvariantBroken, SimViolation, replayCommand } from './violation.js';
import type { ViolationKind } from './violation.js';

/** What one run did. */
export interface SimResult {
  readonly seed: number;
  readonly nodeCount: number;
  readonly fault: string | null;
  /** Virtual time the run lasted, in milliseconds. */
  readonly simulatedMs: number;
  readonly events: number;
  readonly messagesSent: number;
  readonly messagesDelivered: number;
  /** Client operations by final status. */
  readonly ops: { readonly total: number; readonly ok: number; readonly fail: number; readonly indeterminate: number };
  /** Operations the linearizability checker took part in. */
  readonly opsChecked: number;
  readonly checkerVerdict: CheckResult['verdict'];
  /** Distinct terms that had a leader. */
  readonly leaderTerms: number;
  readonly snapshotsTaken: number;
  readonly snapshotsInstalled: number;
  readonly crashes: number;
  /** Storage and clock faults (the node layer's fault model, sim-level.ts). */
  readonly storage: StorageFaultStats;
  readonly membershipCycles: number;
  /** Nodes started with --join and added to the cluster. */
  readonly joins: number;
  /** Highest committed index. */
  readonly committed: number;
  /** Hash of the event trace: equal for two runs of one seed. */
  readonly digest: string;
}

/** Storage, power and clock faults of one run. */
export interface StorageFaultStats {
  /** Power cuts (each node counted), and those right after a vote or acknowledgement. */
  powerLosses: number;
  crashAfterAck: number;
  /** Unsynced writes a power loss lost, and WAL rotations (sim-level.ts). */
  unsyncedWritesLost: number;
  rotations: number;
  fsyncErrors: number;
  diskFullErrors: number;
  /** Restarts after the driver raised its fatal alarm (a supervisor restarts it). */
  fatalRestarts: number;
  clockJumps: number;
  /** Crashes in the middle of a snapshot install, and restarts that finished one from its staged copy. */
  crashesMidInstall: number;
  restartsMidInstall: number;
  snapshotsStaged: number;
}

/** How often the full log-matching comparison runs. */
const logMatchingEveryUs = 100 * usPerMs;
/**
 * Storm guard: every `stormWindowEvents` events, virtual time must have moved by at least
 * `stormWindowMinUs` (ordinary runs need tens of seconds of virtual time for that many events), so
 * a livelock such as an endless append/reject ping-pong is reported instead of hanging the run.
 */
const stormWindowEvents = 50_000;
const stormWindowMinUs = 1_000 * usPerMs;
/** How often the final phase checks for convergence. */
const convergenceCheckEveryUs = 20 * usPerMs;

/** Runs one seed. Throws `SimViolation` if any property breaks. */
export function runSimulation(options: SimOptions): Promise<SimResult> {
  return new Simulation(options).run();
}

/** One simulated run. Use `runSimulation`. */
export class Simulation implements NodeEnvironment {
  readonly queue = new EventQueue();
  /** The production driver's world on the queue (queue-world.ts). */
  readonly world = new QueueWorld(this.queue);
  readonly checker: SafetyChecker;
  readonly history = new HistoryRecorder();
  readonly params: SimParams;
  readonly bootstrapConf: ConfState;
  readonly prng: Prng;
  private readonly network: Network;
  private readonly nodes = new Map<string, SimNode>();
  private readonly ids: NodeId[];
  private readonly joiner: NodeId | null;
  private joins = 0;
  private readonly clients = new Map<string, SimClient>();
  private readonly nemesis: Nemesis;
  private readonly membership: MembershipController;
  private readonly digestHash = new TraceDigest();
  private readonly traceSink: ((line: string) => void) | null;
  private crashAfterVote = 0;
  private finished = false;
  private chaosOver = false;
  private probeAnswer: OpAnswer | null = null;
  private stats = { events: 0, messagesSent: 0, messagesDelivered: 0, crashes: 0 };
  private readonly faults: StorageFaultStats = { powerLosses: 0, crashAfterAck: 0, unsyncedWritesLost: 0, rotations: 0, fsyncErrors: 0, diskFullErrors: 0, fatalRestarts: 0, clockJumps: 0, crashesMidInstall: 0, restartsMidInstall: 0, snapshotsStaged: 0 };
  private checkResult: CheckResult | null = null;
  /** Host work in flight (starts, crashes), awaited after every event, and the first failure. */
  private readonly pending = new Set<Promise<void>>();
  private hostError: unknown = null;
  /** Nodes that crash during their next snapshot install. */
  private readonly crashOnInstall = new Set<string>();

  constructor(private readonly options: SimOptions) {
    this.prng = new SimPrng(options.seed);
    this.checker = new SafetyChecker(new Set(options.skipChecks ?? []));
    this.params = drawParams(options, this.prng);
    this.traceSink = options.trace ?? null;
    this.ids = Array.from({ length: this.params.nodeCount }, (_, i) => nodeId(`n${i + 1}`));
    this.bootstrapConf = { voters: [...this.ids], learners: [] };
    // A node outside the initial membership, started with --join when the membership controller adds it.
    this.joiner = this.params.joiner ? nodeId(`n${this.params.nodeCount + 1}`) : null;
    if (this.joiner !== null) this.ids.push(this.joiner);
    this.network = new Network(this.prng.fork(), drawBaseQuality(this.prng));
    const nodeHost = this.nodeHost();
    // One node runs with different local flags (snapshot cadence, tick interval): allowed to differ.
    const odd = this.ids[this.prng.int(0, this.ids.length - 1)] as string;
    const oddFlags = { snapshotEntries: this.prng.int(10, 60), tickIntervalMs: this.prng.int(8, 12) };
    for (const id of this.ids) {
      const hosted = new HostedNode(id as NodeId, this.nodeOptions(id, id === odd ? oddFlags : {}), this, this.prng);
      hosted.disk.rotationChance = this.prng.float() * 0.2;
      hosted.faults = driverFaultsFor(this.params);
      const node = new SimNode(hosted, nodeHost, id === this.joiner ? { voters: [], learners: [] } : this.bootstrapConf);
      // The joiner is not running until it joins: down as if removed, so the nemesis leaves it be.
      if (id === this.joiner) node.down = 'removed';
      this.nodes.set(id, node);
      this.watchInstalls(node);
    }
    this.nemesis = new Nemesis(this.nemesisHost(), this.prng.fork(), drawProfile(this.prng, emphasisFor(this.params)), this.network.quality);
    this.membership = new MembershipController(this.membershipHost(), this.prng.fork(), this.prng.chance(0.6), this.joiner);
    const keys = Array.from({ length: this.params.keyCount }, (_, i) => `k${i}`);
    const clientHost = this.clientHost();
    for (let i = 0; i < this.params.clientCount; i++) {
      const name = `c${i + 1}`;
      this.clients.set(name, new SimClient(name, clientHost, this.prng.fork(), keys));
    }
  }

  /** Runs to the end; throws `SimViolation` on the first broken property. */
  async run(): Promise<SimResult> {
    this.trace(`params: ${describeParams(this.params)}`);
    try {
      this.schedulePhases();
      await this.loop();
      this.finalChecks();
    } catch (e) {
      throw this.asViolation(e);
    } finally {
      await this.shutdown();
    }
    return this.result();
  }

  // ---- the node environment (driver-host.ts) -------------------------------------------------

  /** The production options of node `id`: the run's Raft settings as its flags. */
  private nodeOptions(id: string, local: Readonly<Record<string, number>>): NodeOptions {
    const p = this.params;
    const options = resolveNodeOptions(local, {
      id,
      join: id === this.joiner,
      // The initial members bootstrap without the joiner; the joiner lists everyone, itself too.
      initialCluster: this.ids
        .filter((n) => id === this.joiner || n !== this.joiner)
        .map((n) => `${n}=127.0.0.1:${7101 + this.ids.indexOf(n)}`)
        .join(','),
      listenPeer: `127.0.0.1:${7101 + this.ids.indexOf(id as NodeId)}`,
      listenClient: `127.0.0.1:${7001 + this.ids.indexOf(id as NodeId)}`,
      dataDir: `sim/${id}`,
      tickIntervalMs: p.tickUs / usPerMs,
      electionTicks: p.electionTicks,
      heartbeatTicks: p.heartbeatTicks,
      snapshotEntries: p.snapshotEveryEntries,
      snapshotCatchupEntries: Math.max(1, p.snapshotTailEntries),
    });
    // The core's flow control as drawn (one-entry appends, a window of one, one-entry apply
    // batches): below what the flags accept, to push the core's corner cases.
    return { ...options, limits: { ...options.limits, appendBytesMax: p.appendBytesMax, inflightAppendsMax: p.inflightAppendsMax, applyBytesMax: p.applyBytesMax } };
  }

  driverWorld(node: HostedNode, seed: number): DriverWorld {
    const sim = this.nodes.get(node.id) as SimNode;
    const world = this.world;
    return world.worldFor(node.id, seed, { nowMs: () => Math.floor(world.nowMs) + node.skewMs, monotonicMs: () => world.nowMs }, sim);
  }

  onDriverCreated(node: HostedNode, driver: RaftDriver, storage: LevelStorage): void {
    (this.nodes.get(node.id) as SimNode).instrument(driver, storage);
  }

  transportFor(node: HostedNode, generation: number): Transport {
    const live = (): boolean => node.generation === generation;
    const drain = async (data: AsyncIterable<Uint8Array>): Promise<false> => {
      for await (const _ of data) void _; // the sender's reader is drained and closed either way
      return false;
    };
    return {
      start: async () => {},
      stop: async () => {},
      setPeers: () => {},
      send: (messages: readonly Message[]) => {
        if (!live()) return;
        try {
          for (const m of messages) this.sendRaft(m);
        } catch (e) {
          // A broken property (a double vote) is the simulation's to report, not the driver's.
          this.hostError ??= e;
        }
      },
      sendSnapshot: async (to: NodeId, message: SnapshotMessage, data: AsyncIterable<Uint8Array>): Promise<boolean> => {
        if (!live()) return drain(data);
        this.stats.messagesSent++;
        const delay = this.network.plan(message.from, to)[0];
        if (delay === undefined) return drain(data);
        await new Promise<void>((resolve) => this.queue.schedule(delay, `snapshot ${message.from}>${to} ${message.snapshot.metadata.index}`, resolve));
        const target = this.nodes.get(to);
        const driver = target?.driver ?? null;
        if (!live() || !this.network.connected(message.from, to) || target === undefined || driver === null || target.paused) return drain(data);
        this.stats.messagesDelivered++;
        this.trace(`${to} <- streamed snapshot ${message.snapshot.metadata.index} from ${message.from}`);
        try {
          await driver.receiveSnapshot(message, data);
          return true;
        } catch {
          return false;
        }
      },
    };
  }

  /** A node the nemesis marked crashes a few writes into its next snapshot install. */
  private watchInstalls(node: SimNode): void {
    const hosted = node.hosted;
    hosted.staging.onOpen = () => {
      if (!this.crashOnInstall.delete(node.id) || this.chaosOver) return;
      this.trace(`${node.id} will crash during its snapshot install`);
      hosted.disk.injectFault('crash');
      hosted.disk.onCrash = () => {
        this.faults.crashesMidInstall++;
        this.crashNode(node.id, 'crash');
        this.queue.schedule(this.prng.int(10, 200) * usPerMs, `restart ${node.id} after an install crash`, () => {
          if (node.down === 'crash') this.startNode(node.id);
        });
      };
    };
  }

  /** Starts a node, counting a start that finished an interrupted snapshot install. */
  private startNode(id: string): void {
    const node = this.nodes.get(id) as SimNode;
    const before = node.hosted.installsFinished;
    node.start();
    this.afterSettle.push(() => {
      if (node.hosted.installsFinished > before) {
        this.faults.restartsMidInstall++;
        this.trace(`${id} finished an interrupted snapshot install from its staged copy`);
      }
    });
  }

  /** Runs host work in the background; the loop awaits it after the event and reports a failure. */
  private background(label: string, work: Promise<unknown>): void {
    const p: Promise<void> = work.then(
      () => {},
      (e: unknown) => {
        this.hostError ??= e instanceof Error ? new Error(`${label}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 6).join('\n')}`) : new Error(`${label}: ${String(e)}`);
      },
    );
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  /** Lets every driver finish what the last event started: immediates, promise jobs, host work. */
  private async settle(): Promise<void> {
    await this.world.settle();
    while (this.pending.size > 0) {
      await Promise.all([...this.pending]);
      await this.world.settle();
    }
    const after = this.afterSettle;
    this.afterSettle = [];
    for (const fn of after) fn();
    if (this.hostError !== null) throw this.hostError;
  }

  private afterSettle: (() => void)[] = [];

  /** Stops every driver at the end of a run (their timers die with the queue). */
  private async shutdown(): Promise<void> {
    for (const n of this.nodes.values()) {
      const d = n.hosted.disk;
      this.faults.unsyncedWritesLost += d.stats.unsyncedWritesLost;
      this.faults.rotations += d.stats.rotations;
      this.faults.fsyncErrors += d.stats.fsyncErrors;
      this.faults.diskFullErrors += d.stats.diskFullErrors;
      this.faults.snapshotsStaged += n.hosted.staging.staged;
      if (n.hosted.driver !== null) await n.hosted.crash();
    }
  }

  /** A driver that raised its fatal alarm (a disk fault) is restarted by its supervisor. */
  private supervise(): void {
    for (const n of this.nodes.values()) {
      if (n.hosted.fatal === null || !n.up) continue;
      // Only an injected disk fault may stop a driver; any other alarm (an assertion) is a bug.
      if (!isSimulatedDiskFault(n.hosted.fatal)) {
        this.hostError ??= n.hosted.fatal;
        return;
      }
      this.faults.fatalRestarts++;
      this.trace(`${n.id} raised its fatal alarm (${String(n.hosted.fatal)}); its supervisor restarts it`);
      n.hosted.fatal = null;
      this.crashNode(n.id, 'crash');
      this.queue.schedule(this.prng.int(10, 200) * usPerMs, `supervisor restarts ${n.id}`, () => {
        if (n.down === 'crash') this.startNode(n.id);
      });
    }
  }

  /** The replay command for this run. */
  get replay(): string {
    const o = this.options;
    return replayCommand({ seed: o.seed, nodes: o.nodes, fault: o.fault, driverFault: o.driverFault, chaosMs: o.chaosMs, skipChecks: o.skipChecks });
  }

  private asViolation(e: unknown): SimViolation {
    if (e instanceof SimViolation) return e;
    const atMs = this.queue.now() / usPerMs;
    if (e instanceof InvariantBroken) return new SimViolation(e.kind, e.detail, this.options.seed, this.replay, atMs);
    const detail = e instanceof Error ? `${e.name}: ${e.message}\n${(e.stack ?? '').split('\n').slice(1, 8).join('\n')}` : String(e);
    return new SimViolation('exception', detail, this.options.seed, this.replay, atMs);
  }

  private violation(kind: ViolationKind, detail: string): never {
    throw new InvariantBroken(kind, detail);
  }

  // ---- phases ------------------------------------------------------------------------------

  private schedulePhases(): void {
    const p = this.params;
    for (const id of this.ids) {
      if (id !== this.joiner) this.queue.schedule(this.prng.int(0, p.tickUs - 1), `start ${id}`, () => this.startNode(id));
    }
    for (const client of this.clients.values()) client.start(this.prng.int(50, 300) * usPerMs);
    this.nemesis.start(this.prng.int(300, 1_000) * usPerMs);
    this.membership.start(this.prng.int(1_000, 5_000) * usPerMs, this.prng.int(500, Math.max(600, p.chaosUs / usPerMs - 2_000)) * usPerMs);
    this.scheduleLogMatching();
    this.queue.schedule(p.chaosUs, 'faults stop', () => this.endChaos());
  }

  private endChaos(): void {
    this.chaosOver = true;
    this.crashOnInstall.clear();
    this.nemesis.stop();
    this.membership.stop();
    this.crashAfterVote = 0;
    for (const client of this.clients.values()) client.stop();
    const probe = new SimClient('probe', this.clientHost(), this.prng.fork(), ['probe'], {
      script: [{ kind: 'put', key: 'probe', value: 'after-heal' }],
      opDeadlineUs: this.params.livenessBoundUs,
      onFinish: (_request, answer) => {
        this.probeAnswer = answer;
        if (answer.status !== 'ok') {
          this.violation('liveness', `after the faults stopped, no write committed within ${this.params.livenessBoundUs / usPerMs} ms (${this.describeCluster()})`);
        }
      },
    });
    this.clients.set('probe', probe);
    probe.start(0);
    this.scheduleConvergenceCheck();
  }

  /** Log Matching over the stored logs of every running node. */
  private checkLogMatching(): void {
    const logs = [];
    for (const n of this.nodes.values()) {
      const log = n.logView();
      if (log !== null) logs.push({ node: n.id, log });
    }
    this.checker.checkLogMatching(logs);
  }

  private scheduleLogMatching(): void {
    this.queue.schedule(logMatchingEveryUs, 'log matching', () => {
      this.checkLogMatching();
      if (!this.finished) this.scheduleLogMatching();
    });
  }

  private scheduleConvergenceCheck(): void {
    this.queue.schedule(convergenceCheckEveryUs, 'convergence check', () => {
      if (this.converged()) {
        this.finished = true;
        return;
      }
      if (this.queue.now() > this.params.chaosUs + this.params.convergenceBoundUs) {
        this.violation('convergence', `the cluster did not converge within ${this.params.convergenceBoundUs / usPerMs} ms after the faults stopped (${this.describeCluster()})`);
      }
      this.scheduleConvergenceCheck();
    });
  }

  /** True once the probe succeeded, clients are done, every node is a running voter and all applied the whole log. */
  private converged(): boolean {
    if (this.probeAnswer?.status !== 'ok') return false;
    for (const c of this.clients.values()) if (!c.idle) return false;
    if (!this.membership.settled()) return false;
    const leader = this.leader();
    if (leader === null) return false;
    const lead = this.nodes.get(leader) as SimNode;
    if (lead.commit !== lead.lastIndex) return false;
    for (const n of this.nodes.values()) if (n.hosted.fatal !== null) return false;
    for (const n of this.nodes.values()) {
      if (!n.up || n.applied !== lead.commit || n.commit !== lead.commit || n.lastIndex !== lead.lastIndex) return false;
    }
    return true;
  }

  private async loop(): Promise<void> {
    const hardEndUs = this.params.chaosUs + this.params.convergenceBoundUs + 1_000 * usPerMs;
    let windowStartUs = 0;
    const windowLabels = new Map<string, number>();
    while (!this.finished) {
      const ev = this.queue.pop();
      if (ev === undefined) this.violation('liveness', 'the event queue ran dry');
      if (ev.timeUs > hardEndUs) this.violation('convergence', `the run passed its end without converging (${this.describeCluster()})`);
      this.stats.events++;
      if (this.stats.events % stormWindowEvents > stormWindowEvents - 1_000) {
        // Sample the last events of each window, to name the storm if there is one.
        windowLabels.set(ev.label, (windowLabels.get(ev.label) ?? 0) + 1);
      } else if (this.stats.events % stormWindowEvents === 0) {
        if (ev.timeUs - windowStartUs < stormWindowMinUs) {
          const top = [...windowLabels].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([label, n]) => `${n}x "${label}"`);
          this.violation('liveness', `event storm: ${stormWindowEvents} events in ${((ev.timeUs - windowStartUs) / usPerMs).toFixed(1)} ms of virtual time; the last 1000 were mostly ${top.join(', ')} (${this.describeCluster()})`);
        }
        windowStartUs = ev.timeUs;
        windowLabels.clear();
      }
      this.digestHash.add(`${ev.timeUs} ${ev.label}`);
      ev.run();
      await this.settle();
      for (const n of this.nodes.values()) n.afterEvent();
      this.supervise();
    }
  }

  private finalChecks(): void {
    let reference: { id: string; hash: string } | null = null;
    for (const n of this.nodes.values()) {
      const hash = (n.driver as RaftDriver).kv.stateHash();
      this.digestHash.add(`final ${n.id} ${n.applied} ${hash}`);
      if (reference === null) reference = { id: n.id, hash };
      else if (reference.hash !== hash) {
        this.violation('convergence', `${n.id} has state hash ${hash} at applied index ${n.applied}, but ${reference.id} has ${reference.hash}`);
      }
      this.checker.observeStateHash(n.id, n.applied, hash);
    }
    this.checkLogMatching();
    const history = this.history.history();
    const result = checkLinearizable(history);
    this.checkResult = result;
    if (result.verdict === 'not-linearizable') {
      const minimized = checkLinearizable(history, { minimize: true });
      const f = minimized.failures.find((x) => x.verdict === 'not-linearizable') ?? minimized.failures[0];
      this.violation('linearizability', `key ${f?.key ?? '?'}: ${f?.explanation ?? ''}\n${describeFailure(f?.minimal ?? [], f?.ops ?? [])}`);
    }
  }

  private result(): SimResult {
    const counts = this.history.counts();
    const nodes = [...this.nodes.values()];
    return {
      seed: this.options.seed,
      nodeCount: this.params.nodeCount,
      fault: this.params.fault,
      simulatedMs: this.queue.now() / usPerMs,
      events: this.stats.events,
      messagesSent: this.stats.messagesSent,
      messagesDelivered: this.stats.messagesDelivered,
      ops: { total: counts.ok + counts.fail + counts.indeterminate, ...counts },
      opsChecked: this.checkResult?.opsChecked ?? 0,
      checkerVerdict: this.checkResult?.verdict ?? 'unknown',
      leaderTerms: this.checker.leaderTermCount,
      snapshotsTaken: nodes.reduce((s, n) => s + n.snapshotsTaken, 0),
      snapshotsInstalled: nodes.reduce((s, n) => s + n.snapshotsInstalled, 0),
      crashes: this.stats.crashes,
      storage: { ...this.faults },
      joins: this.joins,
      membershipCycles: this.membership.cyclesDone,
      committed: this.checker.maxCommitted,
      digest: this.digestHash.hex(),
    };
  }

  // ---- cluster helpers ---------------------------------------------------------------------

  /** The up node that believes it leads the highest term. */
  leader(): string | null {
    let best: SimNode | null = null;
    for (const n of this.nodes.values()) {
      if (n.up && n.role === 'leader' && (best === null || n.term > best.term)) best = n;
    }
    return best?.id ?? null;
  }

  private describeCluster(): string {
    const parts = [...this.nodes.values()].map(
      (n) => `${n.id}: ${n.up ? n.role : `down (${String(n.down)})`} term ${n.term} commit ${n.commit} applied ${n.applied} last ${n.lastIndex} ${describeConf(n.conf)}`,
    );
    const busy = [...this.clients.values()].filter((c) => !c.idle).map((c) => c.name);
    return `${parts.join('; ')}; probe ${this.probeAnswer?.status ?? 'pending'}; clients busy [${busy.join(',')}]`;
  }

  private trace(line: string): void {
    this.traceSink?.(`[${(this.queue.now() / usPerMs).toFixed(3)}] ${line}`);
  }

  private crashNode(id: string, reason: 'crash' | 'removed'): void {
    const node = this.nodes.get(id) as SimNode;
    if (node.up) this.stats.crashes++;
    node.crash(reason);
  }

  private powerLossNode(id: string): void {
    const node = this.nodes.get(id) as SimNode;
    if (!node.up) return;
    this.faults.powerLosses++;
    node.powerLoss((lost) => this.digestHash.add(`power loss ${id} ${lost}`));
  }

  /**
   * During a crash-after-ack window: a node that just sent a granted vote (with the window's
   * probability) or a successful append acknowledgement (a tenth of it) is crashed before anything
   * else happens, and restarted almost at once. Whatever it acknowledged must already be durable.
   */
  private maybeCrashAfterSend(m: Message): void {
    if (this.crashAfterVote <= 0) return;
    const vote = m.type === 'voteResponse' && !m.reject;
    const ack = m.type === 'appendResponse' && !m.reject;
    if (!vote && !ack) return;
    if (!this.prng.chance(vote ? this.crashAfterVote : this.crashAfterVote / 10)) return;
    const node = this.nodes.get(m.from) as SimNode;
    const inc = node.incarnation;
    // The power goes before anything later reaches the disk: what it promised must be durable.
    this.queue.schedule(0, `ack power loss ${node.id}`, () => {
      if (node.incarnation !== inc || !node.up) return;
      this.trace(`nemesis cuts the power of ${node.id} right after it sent ${m.type} to ${m.to}`);
      this.faults.crashAfterAck++;
      this.powerLossNode(node.id);
      this.queue.schedule(this.prng.int(100, 3_000), `ack restart ${node.id}`, () => {
        if (node.down === 'crash') this.startNode(node.id);
      });
    });
  }

  // ---- hosts -------------------------------------------------------------------------------

  private nodeHost(): ConstructorParameters<typeof SimNode>[1] {
    const trace = this.traceSink === null ? null : (line: string) => this.trace(line);
    return {
      queue: this.queue,
      checker: this.checker,
      params: this.params,
      fsyncDelayUs: () => this.prng.int(this.params.fsyncUsMin, this.params.fsyncUsMax),
      background: (label: string, work: Promise<unknown>) => this.background(label, work),
      check: (fn: () => void) => {
        try {
          fn();
        } catch (e) {
          this.hostError ??= e;
        }
      },
      reply: (client: string, response: ClientResponse) => {
        this.queue.schedule(this.prng.int(200, 2_000), `cresp ${client} ${response.reqId} ${response.type}`, () => this.clients.get(client)?.receive(response));
      },
      observed: (e) => this.nemesis.observe(e),
      digest: (text: string) => this.digestHash.add(text),
      trace,
    };
  }

  private sendRaft(m: Message): void {
    this.stats.messagesSent++;
    if (m.type === 'voteResponse' && !m.reject) this.checker.observeVoteGranted(m.from, m.term, m.to);
    this.maybeCrashAfterSend(m);
    const delays = this.network.plan(m.from, m.to);
    for (const delay of delays) {
      this.queue.schedule(delay, `msg ${m.from}>${m.to} ${m.type} t${m.term}`, () => {
        if (!this.network.connected(m.from, m.to)) return;
        const node = this.nodes.get(m.to);
        if (node === undefined || !node.up) return;
        this.stats.messagesDelivered++;
        node.receive(m);
      });
    }
  }

  private clientHost(): ConstructorParameters<typeof SimClient>[1] {
    return {
      queue: this.queue,
      params: this.params,
      history: this.history,
      nodeIds: () => this.ids,
      send: (node: string, request: ClientRequest) => {
        this.queue.schedule(this.prng.int(200, 2_000), `creq ${request.client}>${node} ${request.reqId}`, () => this.nodes.get(node)?.receiveClient(request));
      },
      trace: this.traceSink === null ? null : (line: string) => this.trace(line),
    };
  }

  private nemesisHost(): ConstructorParameters<typeof Nemesis>[0] {
    return {
      queue: this.queue,
      nodeIds: () => this.ids,
      leader: () => this.leader(),
      voters: () => {
        const leader = this.leader();
        return leader === null ? this.ids : (this.nodes.get(leader) as SimNode).conf.voters;
      },
      isUp: (id) => (this.nodes.get(id) as SimNode).up,
      isCrashed: (id) => (this.nodes.get(id) as SimNode).down === 'crash',
      crash: (id) => this.crashNode(id, 'crash'),
      powerLoss: (id) => this.powerLossNode(id),
      restart: (id) => this.startNode(id),
      diskFault: (id, fault) => (this.nodes.get(id) as SimNode).hosted.disk.injectFault(fault),
      clockJump: (id, jumpMs) => {
        this.faults.clockJumps++;
        (this.nodes.get(id) as SimNode).hosted.skewMs += jumpMs;
      },
      crashDuringInstall: (id) => this.crashOnInstall.add(id),
      pause: (id, us) => (this.nodes.get(id) as SimNode).pause(us),
      unpauseAll: () => {
        for (const n of this.nodes.values()) n.unpause();
      },
      setPartition: (p) => this.network.setPartition(p),
      setQuality: (q) => this.network.setQuality(q),
      transferLeader: (from, to) => this.transferLeader(from, to),
      setCrashAfterVote: (p) => {
        this.crashAfterVote = this.chaosOver ? 0 : p;
      },
      note: (text) => this.trace(text),
    };
  }

  private transferLeader(from: string, to: string): void {
    (this.nodes.get(from) as SimNode).admin(`transfer leadership to ${to}`, (driver) => {
      try {
        driver.transferLeader(nodeId(to));
      } catch (e) {
        if (!isRefusal(e)) throw e;
      }
    });
  }

  private membershipHost(): ConstructorParameters<typeof MembershipController>[0] {
    return {
      queue: this.queue,
      nodeIds: () => this.ids,
      node: (id) => {
        const n = this.nodes.get(id) as SimNode;
        return n.memberView();
      },
      leader: () => this.leader(),
      propose: (via: string, change: ConfChange, done: (index: number | null) => void) => (this.nodes.get(via) as SimNode).proposeMembership(change, done),
      transferLeader: (from, to) => this.transferLeader(from, to),
      stopRemoved: (id) => {
        this.trace(`membership: stopping removed ${id}`);
        this.crashNode(id, 'removed');
      },
      startRemoved: (id) => {
        if (id === this.joiner && (this.nodes.get(id) as SimNode).hosted.starts === 0) {
          this.joins++;
          this.trace(`membership: ${id} starts with --join`);
        } else this.trace(`membership: restarting ${id} from its disk`);
        this.startNode(id);
      },
      note: (text) => this.trace(text),
    };
  }
}

/** True if `e` (or an error it wraps) is one of sim-level.ts's injected disk faults. */
function isSimulatedDiskFault(e: unknown): boolean {
  for (let cause = e, depth = 0; cause instanceof Error && depth < 5; cause = cause.cause, depth++) {
    if (cause.message.includes('(simulated)')) return true;
  }
  return false;
}

/** The negative control every node's driver runs with, if any. */
function driverFaultsFor(p: SimParams): DriverFaults | undefined {
  if (p.fault === null && p.driverFault === null) return undefined;
  return { ...(p.driverFault === null ? {} : { [p.driverFault]: true }), ...(p.fault === null ? {} : { raft: { [p.fault]: true } }) };
}

/**
 * The minimal failing operations and, for a reader, the other operations on that key that wrote
 * a value they read or overlapped them in the last half second.
 */
function describeFailure(minimal: readonly HistoryOp[], ops: readonly HistoryOp[]): string {
  const show = (op: HistoryOp): string => `#${op.id} ${op.client} ${op.kind} ${JSON.stringify(op.kind === 'cas' ? { expected: op.expected, newValue: op.newValue, casOk: op.casOk } : op.value)} ${op.status} [${(op.call / usPerMs).toFixed(3)} ms, ${op.ret === null ? '?' : (op.ret / usPerMs).toFixed(3)} ms]`;
  const ids = new Set(minimal.map((o) => o.id));
  const read = new Set(minimal.map((o) => o.value ?? o.expected).filter((v): v is string => typeof v === 'string'));
  const fromUs = Math.min(...minimal.map((o) => o.call)) - 500 * usPerMs;
  const toUs = Math.max(...minimal.map((o) => o.ret ?? o.call));
  const context = ops.filter((o) => !ids.has(o.id) && ((o.kind === 'put' && read.has(o.value ?? '')) || (o.kind === 'cas' && read.has(o.newValue ?? '')) || ((o.ret ?? Infinity) >= fromUs && o.call <= toUs)));
  return [`  minimal: ${minimal.map(show).join('; ')}`, ...context.slice(-15).map((o) => `  context: ${show(o)}`)].join('\n');
}

/** Nemesis actions a negative control leans on, to expose its bug sooner. */
function emphasisFor(p: SimParams): NemesisAction[] {
  switch (p.fault) {
    case 'voteWithoutPersist':
      return ['crashAfterVote', 'crashLeader'];
    case 'readIndexWithoutHeartbeat':
      return ['isolateLeader', 'pauseLeader'];
    case 'commitPreviousTermByCounting':
      return ['figure8'];
    case null:
      break;
  }
  switch (p.driverFault) {
    case 'sendBeforePersist':
      return ['crashAfterVote', 'powerLoss'];
    case 'unsyncedApplyBatches':
      return ['powerLoss'];
    case null:
      return [];
  }
}
