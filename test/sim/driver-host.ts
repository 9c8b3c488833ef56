/**
 * A thin host for the PRODUCTION driver (src/server/raft-driver.ts) in virtual time: each node
 * is a RaftDriver on LevelStorage on a simulated LevelDB (sim-level.ts), with in-memory snapshot
 * staging, a virtual clock and scheduler (manual-world.ts), and an in-memory network whose
 * links the test can cut and whose messages it can hold. The host only does what a process and a
 * machine do: start, crash, lose power, restart, deliver messages. Everything else is the
 * production code.
 */
import { KvStateMachine } from '../../src/kv/index.js';
import type { KvStateImage } from '../../src/kv/index.js';
import type { Message, SnapshotMessage } from '../../src/raft/index.js';
import { NodeMetrics } from '../../src/server/metrics.js';
import { resolveNodeOptions } from '../../src/server/options.js';
import type { NodeOptions, RawOptions } from '../../src/server/options.js';
import { RaftDriver } from '../../src/server/raft-driver.js';
import type { AppliedChange, DriverFaults } from '../../src/server/raft-driver.js';
import { finishInterruptedInstall } from '../../src/server/snapshot-staging.js';
import { LevelStorage } from '../../src/storage/index.js';
import type { Transport } from '../../src/transport/index.js';
import { logIndex, noopLogger, nodeId, SeededPrng } from '../../src/util/index.js';
import type { NodeId, Prng } from '../../src/util/index.js';
import type { DriverWorld } from '../../src/server/driver/world.js';
import { ManualWorld } from './manual-world.js';
import type { SettlingWorld } from './manual-world.js';
import { MemoryStaging } from './memory-staging.js';
import { SimDisk } from './sim-level.js';

/** Decides a message's fate on the way: deliver it, drop it, or hold it for the test. */
export type LinkFilter = (m: Message) => 'deliver' | 'drop' | 'hold';

/**
 * What a hosted node needs from the simulator front end around it: the world's settle, a PRNG,
 * a transport per process incarnation and a driver world per start. `DriverCluster` (the
 * node-layer front end, driver-sim.ts and the driver tests) and `Simulation` (the core front end,
 * simulation.ts, on its event queue) both provide one.
 */
export interface NodeEnvironment {
  readonly world: SettlingWorld;
  readonly prng: Prng;
  transportFor(node: HostedNode, generation: number): Transport;
  /** The world a new driver of `node` runs in (`seed` drawn for its core's PRNG). */
  driverWorld(node: HostedNode, seed: number): DriverWorld;
  /** Sees each new driver before it starts (the core front end observes its core and storage). */
  onDriverCreated?(node: HostedNode, driver: RaftDriver, storage: LevelStorage): void;
  /** Sees every batch of changes a node applies (the driver's `onApplied`). */
  onApplied?(node: NodeId, changes: readonly AppliedChange[]): void;
  /**
   * True: a disk fault raises the NOSPACE alarm and the driver rebuilds its Raft instance from
   * reopened storage in process (as node.ts runs it). Otherwise a disk fault is fatal and the
   * front end's supervisor restarts the node: the core front end keeps that path, because its
   * checks instrument the core and storage objects of each start (`onDriverCreated`), which an
   * in-process rebuild replaces.
   */
  readonly inProcessRecovery?: boolean;
}

/** One simulated node: its disk and staging survive crashes; its driver does not. */
export class HostedNode {
  driver: RaftDriver | null = null;
  storage: LevelStorage | null = null;
  /** The running driver's metrics (replaced at every start). */
  metrics = new NodeMetrics({ processMetrics: false });
  /** The event-loop delay this node's load probe reports (admission control), in ms. */
  eventLoopDelayMs = 0;
  readonly disk: SimDisk;
  readonly staging = new MemoryStaging();
  /** The skew of this node's wall clock (ms added to the world's time; jumps change it). */
  skewMs = 0;
  starts = 0;
  /** Bumped at every start and crash: what an older process incarnation sends is dropped. */
  generation = 0;
  /** Starts that finished an interrupted snapshot install from the staged copy. */
  installsFinished = 0;
  fatal: unknown = null;
  /** NOSPACE alarms this node raised (a disk fault) and cleared (storage reopened in process). */
  diskAlarmsRaised = 0;
  diskAlarmsCleared = 0;
  /** NOSPACE alarms still held when the process crashed (a restart ends them). */
  diskAlarmsEndedByCrash = 0;
  /** The negative control this node's driver runs with, if any. */
  faults: DriverFaults | undefined;

  constructor(
    readonly id: NodeId,
    readonly options: NodeOptions,
    private readonly env: NodeEnvironment,
    prng: Prng,
  ) {
    this.disk = new SimDisk(prng.fork());
  }

  /** The running driver (asserts the node is up). */
  get d(): RaftDriver {
    if (this.driver === null) throw new Error(`${this.id} is down`);
    return this.driver;
  }

  /** Opens the disk and starts the production driver on it, as node.ts does. */
  async start(): Promise<void> {
    const { options } = this;
    const initialConf = { voters: options.join ? [] : options.initialCluster.map((m) => m.id), learners: [] };
    // Start-up runs outside virtual time (the host awaits it between events): its fsyncs complete at once.
    const fsyncWait = this.disk.fsyncWait;
    this.disk.fsyncWait = null;
    const storage = await LevelStorage.open({ path: `sim/${this.id}`, nodeId: this.id, initialConf, db: this.disk.open(), ...(options.join ? {} : { clusterId: 'c-sim' }) });
    // As node.ts: a crash during a snapshot install is finished from the staged copy.
    if (await finishInterruptedInstall(storage, `sim/${this.id}`, noopLogger, (target) => this.staging.openForRecovery(target))) this.installsFinished++;
    await this.staging.removeUpTo(logIndex(Number.MAX_SAFE_INTEGER));
    const image = await storage.loadKvImage();
    this.generation++;
    const generation = this.generation;
    const transport = this.env.transportFor(this, generation);
    const virtualWorld = this.env.driverWorld(this, this.env.prng.int(0, 0x7fffffff));
    const world = { ...virtualWorld, load: { eventLoopDelayMs: () => this.eventLoopDelayMs, close: () => {} } };
    this.metrics = new NodeMetrics({ processMetrics: false });
    // Only this incarnation's alarm counts: a dead process's loop failing on its closed disk does not.
    const onFatal = (e: unknown): void => {
      if (this.generation === generation) this.fatal ??= e;
    };
    const onApplied = (changes: readonly AppliedChange[]): void => this.env.onApplied?.(this.id, changes);
    const driver = new RaftDriver(
      {
        options,
        storage,
        staging: this.staging,
        transport,
        world,
        metrics: this.metrics,
        logger: noopLogger,
        onFatal,
        onApplied,
        // A full or failing disk raises the NOSPACE alarm and recovers in process, as node.ts
        // does, where the front end asks for it (see `NodeEnvironment.inProcessRecovery`).
        ...(this.env.inProcessRecovery === true
          ? {
              reopenStorage: () => this.reopenStorage(),
              onDiskAlarm: (reason: string | null) => {
                if (this.generation !== generation) return;
                if (reason !== null) this.diskAlarmsRaised++;
                else this.diskAlarmsCleared++;
              },
            }
          : {}),
        ...(this.faults ? { driverFaults: this.faults } : {}),
      },
      image,
    );
    this.disk.fsyncWait = fsyncWait;
    this.storage = storage;
    this.driver = driver;
    this.starts++;
    this.env.onDriverCreated?.(this, driver, storage);
    driver.start();
    await this.env.world.settle();
  }

  /** The driver's `reopenStorage`: close the failed handle, open the disk again, load the image. */
  private async reopenStorage(): Promise<{ storage: LevelStorage; image: KvStateImage }> {
    const generation = this.generation;
    await this.storage?.close();
    this.storage = null;
    const storage = await LevelStorage.open({ path: `sim/${this.id}`, nodeId: this.id, db: this.disk.open() });
    if (generation !== this.generation) {
      // The process crashed meanwhile: this handle belongs to no one.
      await storage.close();
      throw new Error('the process crashed while reopening its storage');
    }
    // The live handle at once, as node.ts does: if finishing an install or loading the image hits
    // a disk fault now, the next probe closes THIS handle before it opens the disk again (it once
    // stayed open, and the next probe found the disk locked: a fatal alarm in seeds 383 and 5337).
    this.storage = storage;
    if (await finishInterruptedInstall(storage, `sim/${this.id}`, noopLogger, (target) => this.staging.openForRecovery(target))) this.installsFinished++;
    return { storage, image: await storage.loadKvImage() };
  }

  /** The process dies: memory is gone, everything written to the disk stays. */
  async crash(): Promise<void> {
    const driver = this.driver;
    if (driver?.diskAlarm !== null && driver?.diskAlarm !== undefined) this.diskAlarmsEndedByCrash++;
    this.driver = null;
    this.storage = null;
    this.generation++;
    this.disk.crash();
    if (driver === null) return;
    // The process is gone: nothing it still does reaches the disk (closed) or the network (its
    // transport drops everything). stop() fails its waiting requests at once; its loop may still
    // wait for a simulated fsync, whose completion fails on the closed handle, so it is not awaited.
    void driver.stop().catch(() => {});
    await this.env.world.settle();
  }

  /** The machine loses power: like a crash, and the disk loses what is not durable. */
  async powerLoss(): Promise<number> {
    await this.crash();
    return this.disk.powerLoss();
  }

  /** The node's state machine as stored (reopening the disk after the node is down). */
  async storedImage(): Promise<KvStateMachine> {
    const storage = await LevelStorage.open({ path: `sim/${this.id}`, nodeId: this.id, db: this.disk.open() });
    try {
      return new KvStateMachine({ limits: this.options.limits, sessionTtlMs: this.options.sessionTtlMs, image: await storage.loadKvImage() });
    } finally {
      await storage.close();
    }
  }
}

/** A cluster of production drivers on one virtual world and one in-memory network. */
export class DriverCluster implements NodeEnvironment {
  readonly world = new ManualWorld();
  readonly inProcessRecovery = true;
  readonly prng: Prng;
  readonly nodes = new Map<NodeId, HostedNode>();
  /** Messages the link filter held, in order, for the test to deliver or drop. */
  readonly held: Message[] = [];
  filter: LinkFilter = () => 'deliver';
  /** Sees every message a live node sends (after the filter let it through). */
  onSend: (m: Message) => void = () => {};
  /** Sees every batch of changes a node applies (the driver's `onApplied`). */
  onApplied: (node: NodeId, changes: readonly AppliedChange[]) => void = () => {};
  /** Network behaviour: each message is delayed 0..latencyMsMax ms (so reordered) and duplicated with probability duplicateChance. */
  latencyMsMax = 0;
  duplicateChance = 0;

  private readonly initialCluster: string;
  private readonly raw: RawOptions;
  private readonly perNode: Readonly<Record<string, RawOptions>>;

  constructor(ids: readonly string[], options: { readonly seed?: number; readonly raw?: RawOptions; readonly perNode?: Readonly<Record<string, RawOptions>> } = {}) {
    this.prng = new SeededPrng(options.seed ?? 1);
    this.initialCluster = ids.map((id, i) => `${id}=127.0.0.1:${7101 + i}`).join(',');
    this.raw = options.raw ?? {};
    this.perNode = options.perNode ?? {};
    for (const id of ids) this.addNode(id, false);
  }

  /** Adds a node (`join`: started with --join, no membership, waiting to be added). */
  addNode(id: string, join: boolean): HostedNode {
    const i = this.nodes.size;
    const nodeOptions = resolveNodeOptions(this.perNode[id] ?? {}, this.raw, {
      id,
      initialCluster: join ? `${this.initialCluster},${id}=127.0.0.1:${7101 + i}` : this.initialCluster,
      join,
      listenPeer: `127.0.0.1:${7101 + i}`,
      listenClient: `127.0.0.1:${7001 + i}`,
      dataDir: `sim/${id}`,
      tickIntervalMs: 10,
      electionTicks: 10,
      heartbeatTicks: 1,
    });
    const node = new HostedNode(nodeId(id), nodeOptions, this, this.prng);
    this.nodes.set(nodeId(id), node);
    return node;
  }

  node(id: string): HostedNode {
    const n = this.nodes.get(nodeId(id));
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  async startAll(): Promise<void> {
    for (const n of this.nodes.values()) await n.start();
  }

  /** The current leader among running nodes, after running up to `msMax` of virtual time. */
  async leader(msMax = 5_000): Promise<HostedNode> {
    for (let waited = 0; waited <= msMax; waited += 10) {
      for (const n of this.nodes.values()) if (n.driver?.role === 'leader') return n;
      await this.world.advance(10);
    }
    throw new Error(`no leader within ${msMax} ms`);
  }

  /** Runs virtual time until `done()` holds (checked every 10 ms), at most `msMax`. */
  async until(done: () => boolean, msMax = 5_000): Promise<void> {
    for (let waited = 0; !done(); waited += 10) {
      if (waited > msMax) throw new Error(`condition not reached within ${msMax} ms`);
      await this.world.advance(10);
    }
  }

  /** Delivers one message now (a held one, say). */
  deliver(m: Message): void {
    this.nodes.get(m.to)?.driver?.step(m);
  }

  driverWorld(node: HostedNode, seed: number): DriverWorld {
    return this.world.worldFor(seed, { nowMs: () => this.world.nowMs + node.skewMs, monotonicMs: () => this.world.nowMs });
  }

  /** The in-memory transport of `node`: messages go through the link filter, one event each. */
  transportFor(node: HostedNode, generation: number): Transport {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the transport object's methods need the cluster
    const cluster = this;
    return {
      start: async () => {},
      stop: async () => {},
      setPeers: () => {},
      send(messages: readonly Message[]): void {
        if (node.generation !== generation) return;
        for (const m of messages) {
          const fate = cluster.filter(m);
          if (fate === 'drop') continue;
          if (fate === 'hold') {
            cluster.held.push(m);
            continue;
          }
          cluster.onSend(m);
          const copies = cluster.duplicateChance > 0 && cluster.prng.chance(cluster.duplicateChance) ? 2 : 1;
          for (let c = 0; c < copies; c++) {
            if (cluster.latencyMsMax === 0) cluster.world.scheduler.immediate(() => cluster.deliver(m));
            else cluster.world.scheduler.after(cluster.prng.int(0, cluster.latencyMsMax), () => cluster.deliver(m));
          }
        }
      },
      async sendSnapshot(to: NodeId, message: SnapshotMessage, data: AsyncIterable<Uint8Array>): Promise<boolean> {
        const target = cluster.nodes.get(to)?.driver;
        if (node.generation !== generation || target === undefined || target === null || cluster.filter(message) !== 'deliver') {
          for await (const _ of data) void _; // the sender's reader is drained and closed either way
          return false;
        }
        try {
          await target.receiveSnapshot(message, data);
          return true;
        } catch {
          return false;
        }
      },
    };
  }
}
