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
import type { ConfChange, ConfState, Message } from '../../src/raft/index.js';
import { nodeId } from '../../src/util/index.js';
import type { NodeId, Prng } from '../../src/util/index.js';
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
  readonly membershipCycles: number;
  /** Highest committed index. */
  readonly committed: number;
  /** Hash of the event trace: equal for two runs of one seed. */
  readonly digest: string;
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
export function runSimulation(options: SimOptions): SimResult {
  return new Simulation(options).run();
}

/** One simulated run. Use `runSimulation`. */
export class Simulation {
  readonly queue = new EventQueue();
  readonly checker: SafetyChecker;
  readonly history = new HistoryRecorder();
  readonly params: SimParams;
  readonly bootstrapConf: ConfState;
  private readonly prng: Prng;
  private readonly network: Network;
  private readonly nodes = new Map<string, SimNode>();
  private readonly ids: NodeId[];
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
  private checkResult: CheckResult | null = null;

  constructor(private readonly options: SimOptions) {
    this.prng = new SimPrng(options.seed);
    this.checker = new SafetyChecker(new Set(options.skipChecks ?? []));
    this.params = drawParams(options, this.prng);
    this.traceSink = options.trace ?? null;
    this.ids = Array.from({ length: this.params.nodeCount }, (_, i) => nodeId(`n${i + 1}`));
    this.bootstrapConf = { voters: this.ids, learners: [] };
    this.network = new Network(this.prng.fork(), drawBaseQuality(this.prng));
    const nodeHost = this.nodeHost();
    for (const id of this.ids) this.nodes.set(id, new SimNode(id, nodeHost));
    this.nemesis = new Nemesis(this.nemesisHost(), this.prng.fork(), drawProfile(this.prng, emphasisFor(this.params)), this.network.quality);
    this.membership = new MembershipController(this.membershipHost(), this.prng.fork(), this.prng.chance(0.6));
    const keys = Array.from({ length: this.params.keyCount }, (_, i) => `k${i}`);
    const clientHost = this.clientHost();
    for (let i = 0; i < this.params.clientCount; i++) {
      const name = `c${i + 1}`;
      this.clients.set(name, new SimClient(name, clientHost, this.prng.fork(), keys));
    }
  }

  /** Runs to the end; throws `SimViolation` on the first broken property. */
  run(): SimResult {
    this.trace(`params: ${describeParams(this.params)}`);
    try {
      this.schedulePhases();
      this.loop();
      this.finalChecks();
    } catch (e) {
      throw this.asViolation(e);
    }
    return this.result();
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
      this.queue.schedule(this.prng.int(0, p.tickUs - 1), `start ${id}`, () => (this.nodes.get(id) as SimNode).start());
    }
    for (const client of this.clients.values()) client.start(this.prng.int(50, 300) * usPerMs);
    this.nemesis.start(this.prng.int(300, 1_000) * usPerMs);
    this.membership.start(this.prng.int(1_000, 5_000) * usPerMs);
    this.scheduleLogMatching();
    this.queue.schedule(p.chaosUs, 'faults stop', () => this.endChaos());
  }

  private endChaos(): void {
    this.chaosOver = true;
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

  private scheduleLogMatching(): void {
    this.queue.schedule(logMatchingEveryUs, 'log matching', () => {
      this.checker.checkLogMatching([...this.nodes.values()].map((n) => ({ node: n.id, log: n.logView() })));
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
    for (const n of this.nodes.values()) {
      if (!n.up || n.applied !== lead.commit || n.commit !== lead.commit || n.lastIndex !== lead.lastIndex) return false;
    }
    return true;
  }

  private loop(): void {
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
    }
  }

  private finalChecks(): void {
    let reference: { id: string; hash: string } | null = null;
    for (const n of this.nodes.values()) {
      const hash = (n.kv as NonNullable<SimNode['kv']>).stateHash();
      this.digestHash.add(`final ${n.id} ${n.applied} ${hash}`);
      if (reference === null) reference = { id: n.id, hash };
      else if (reference.hash !== hash) {
        this.violation('convergence', `${n.id} has state hash ${hash} at applied index ${n.applied}, but ${reference.id} has ${reference.hash}`);
      }
      this.checker.observeStateHash(n.id, n.applied, hash);
    }
    this.checker.checkLogMatching([...this.nodes.values()].map((n) => ({ node: n.id, log: n.logView() })));
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
    this.queue.schedule(0, `ack crash ${node.id}`, () => {
      if (node.incarnation !== inc || !node.up) return;
      this.trace(`nemesis crashes ${node.id} right after it sent ${m.type} to ${m.to}`);
      this.crashNode(node.id, 'crash');
      this.queue.schedule(this.prng.int(100, 3_000), `ack restart ${node.id}`, () => {
        if (node.down === 'crash') node.start();
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
      bootstrapConf: this.bootstrapConf,
      forkPrng: () => this.prng.fork(),
      fsyncDelayUs: () => this.prng.int(this.params.fsyncUsMin, this.params.fsyncUsMax),
      sendRaft: (m: Message) => this.sendRaft(m),
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
      restart: (id) => (this.nodes.get(id) as SimNode).start(),
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
    (this.nodes.get(from) as SimNode).admin(`transfer leadership to ${to}`, (raw) => {
      try {
        raw.transferLeader(nodeId(to));
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
      propose: (via: string, change: ConfChange, done: (index: number | null) => void) => {
        (this.nodes.get(via) as SimNode).admin(`propose ${change.type} ${change.nodeId}`, (raw) => {
          try {
            done(raw.proposeConfChange(change).index);
          } catch (e) {
            if (!isRefusal(e)) throw e;
            done(null);
          }
        });
      },
      transferLeader: (from, to) => this.transferLeader(from, to),
      stopRemoved: (id) => {
        this.trace(`membership: stopping removed ${id}`);
        this.crashNode(id, 'removed');
      },
      startRemoved: (id) => {
        this.trace(`membership: restarting ${id} from its disk`);
        (this.nodes.get(id) as SimNode).start();
      },
      note: (text) => this.trace(text),
    };
  }
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
      return [];
  }
}
