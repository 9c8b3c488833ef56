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
import type { DriverFaults } from '../../src/server/raft-driver.js';
import { finishInterruptedInstall } from '../../src/server/snapshot-staging.js';
import { LevelStorage } from '../../src/storage/index.js';
import type { Transport } from '../../src/transport/index.js';
import { logIndex, noopLogger, nodeId, SeededPrng } from '../../src/util/index.js';
import type { NodeId, Prng } from '../../src/util/index.js';
import { ManualWorld } from './manual-world.js';
import { MemoryStaging } from './memory-staging.js';
import { SimDisk } from './sim-level.js';

/** Decides a message's fate on the way: deliver it, drop it, or hold it for the test. */
export type LinkFilter = (m: Message) => 'deliver' | 'drop' | 'hold';

/** One simulated node: its disk and staging survive crashes; its driver does not. */
export class HostedNode {
  driver: RaftDriver | null = null;
  storage: LevelStorage | null = null;
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
    private readonly cluster: DriverCluster,
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
    const transport = this.cluster.transportFor(this, this.generation);
    const world = this.cluster.world.worldFor(this.cluster.prng.int(0, 0x7fffffff), { nowMs: () => this.cluster.world.nowMs + this.skewMs, monotonicMs: () => this.cluster.world.nowMs });
    const driver = new RaftDriver(
      {
        options,
        storage,
        staging: this.staging,
        transport,
        world,
        metrics: new NodeMetrics(),
        logger: noopLogger,
        onFatal: (e) => (this.fatal ??= e),
        // A full or failing disk raises the NOSPACE alarm and recovers in process, as node.ts does.
        reopenStorage: () => this.reopenStorage(),
        onDiskAlarm: (reason) => {
          if (reason !== null) this.diskAlarmsRaised++;
          else this.diskAlarmsCleared++;
        },
        ...(this.faults ? { driverFaults: this.faults } : {}),
      },
      image,
    );
    this.disk.fsyncWait = fsyncWait;
    this.storage = storage;
    this.driver = driver;
    this.starts++;
    driver.start();
    await this.cluster.world.settle();
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
    if (await finishInterruptedInstall(storage, `sim/${this.id}`, noopLogger, (target) => this.staging.openForRecovery(target))) this.installsFinished++;
    this.storage = storage;
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
    await this.cluster.world.settle();
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
export class DriverCluster {
  readonly world = new ManualWorld();
  readonly prng: Prng;
  readonly nodes = new Map<NodeId, HostedNode>();
  /** Messages the link filter held, in order, for the test to deliver or drop. */
  readonly held: Message[] = [];
  filter: LinkFilter = () => 'deliver';
  /** Sees every message a live node sends (after the filter let it through). */
  onSend: (m: Message) => void = () => {};
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
