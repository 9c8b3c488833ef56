/**
 * A deterministic in-memory network of `RawNode`s for the Raft core's own tests (and usable by
 * the simulator): each node has a `MemoryStorage` as its disk and follows the Ready contract —
 * persist, then send, then apply, then advance. Messages travel through one FIFO queue and can
 * be dropped per link or by a filter. Not part of the public surface (`index.ts`).
 */
import { assert, logIndex, nodeId, SeededPrng } from '../util/index.js';
import type { LogIndex, NodeId, Prng } from '../util/index.js';
import { decodeConfChange } from './conf-change.js';
import type { RaftConfig } from './config.js';
import { MemoryStorage } from './memory-storage.js';
import type { Message } from './message.js';
import { RawNode } from './raw-node.js';
import type { Ready } from './ready.js';
import type { ConfState, Entry, ReadState } from './types.js';

/** Options of every node in a test network (the limits default to small, test-friendly values). */
export type TestNodeOptions = Partial<Omit<RaftConfig, 'id' | 'storage' | 'prng' | 'applied'>>;

/** One node: its disk, its core, and what its "state machine" applied. */
export class TestNode {
  /** The core; replaced on restart. */
  raw: RawNode;
  /** Every entry applied, in order (entries covered by an installed snapshot are absent). */
  applied: Entry[] = [];
  /** The last applied index. */
  appliedIndex: LogIndex;
  /** Confirmed reads, in order. */
  readStates: ReadState[] = [];
  /** Every Ready processed, for inspection. */
  readies: Ready[] = [];
  /** False while crashed: it neither receives messages nor ticks. */
  up = true;

  constructor(
    /** The node's id. */
    readonly id: NodeId,
    /** The node's disk. */
    readonly storage: MemoryStorage,
    private readonly options: TestNodeOptions,
    private readonly seed: number,
  ) {
    this.appliedIndex = storage.snapshot().metadata.index;
    this.raw = this.boot();
  }

  /** Builds a RawNode on the disk, as after a restart. */
  boot(): RawNode {
    this.raw = new RawNode(this.configuration());
    return this.raw;
  }

  /** The configuration the node boots with (with a fresh PRNG from its seed). */
  configuration(): RaftConfig {
    return {
      id: this.id,
      storage: this.storage,
      prng: new SeededPrng(this.seed),
      electionTicks: 10,
      heartbeatTicks: 1,
      applied: this.appliedIndex,
      inflightAppendsMax: 256,
      appendBytesMax: 1024 * 1024,
      uncommittedBytesMax: 64 * 1024 * 1024,
      applyBytesMax: 4 * 1024 * 1024,
      ...this.options,
    };
  }

  /** Handles one Ready by the contract; returns its messages. */
  handleReady(): Message[] {
    const rd = this.raw.ready();
    this.readies.push(rd);
    this.storage.persistSync({ hardState: rd.hardState, entries: rd.entries, snapshot: rd.snapshot });
    if (rd.snapshot !== null) this.appliedIndex = rd.snapshot.metadata.index;
    for (const entry of rd.committedEntries) this.apply(entry);
    this.readStates.push(...rd.readStates);
    this.raw.advance();
    return [...rd.messages];
  }

  private apply(entry: Entry): void {
    assert(entry.index === this.appliedIndex + 1, () => `${this.id} applies ${entry.index} after ${this.appliedIndex}`);
    // The Ready contract: an entry is applied only once it is in stable storage.
    assert(this.storage.lastIndex() >= entry.index && this.storage.term(entry.index) === entry.term, () => `${this.id} applies ${entry.index} before it is persisted`);
    if (entry.type === 'confChange') {
      const conf = this.raw.applyConfChange(decodeConfChange(entry.data));
      this.storage.setConfStateSync(conf);
    }
    this.applied.push(entry);
    this.appliedIndex = entry.index;
  }

  /** The data of every applied normal non-empty entry, as text. */
  appliedTexts(): string[] {
    return this.applied.filter((e) => e.type === 'normal' && e.data.length > 0).map((e) => new TextDecoder().decode(e.data));
  }
}

/** Random network faults: each delivery round shuffles the queue, then drops, delays or duplicates. */
export interface NetworkChaos {
  readonly prng: Prng;
  /** Probability that a message is lost. */
  readonly dropRate: number;
  /** Probability that a message waits for a later round (which reorders it). */
  readonly delayRate: number;
  /** Probability that a delivered message is delivered again later. */
  readonly duplicateRate: number;
}

function shuffle<T>(items: T[], prng: Prng): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = prng.int(0, i);
    [items[i], items[j]] = [items[j] as T, items[i] as T];
  }
}

/** A network of test nodes with a FIFO message queue. */
export class TestNetwork {
  /** Every node, in creation order. */
  readonly nodes = new Map<NodeId, TestNode>();
  /** Every message handed to the network, in order (delivered or not). */
  readonly sent: Message[] = [];
  /** Return false to drop a message. */
  filter: ((m: Message) => boolean) | null = null;
  /** Random faults applied to every delivery round, or null for a perfect network. */
  chaos: NetworkChaos | null = null;
  private queue: Message[] = [];
  private readonly cutLinks = new Set<string>();

  /** Creates voters `ids` (all in the initial membership) with `options`; `seed` varies the PRNGs. */
  constructor(
    ids: readonly string[],
    private readonly options: TestNodeOptions = {},
    conf: ConfState = { voters: ids.map(nodeId), learners: [] },
    private readonly seed = 0,
  ) {
    for (const id of ids) this.addNode(id, conf);
  }

  /** Adds a node whose disk starts with membership `conf`. */
  addNode(id: string, conf: ConfState, storage = new MemoryStorage({ confState: conf }), options: TestNodeOptions = {}): TestNode {
    const node = new TestNode(nodeId(id), storage, { ...this.options, ...options }, mixSeed(this.seed, this.nodes.size + 1));
    this.nodes.set(node.id, node);
    return node;
  }

  /** The node `id`. */
  node(id: string): TestNode {
    const node = this.nodes.get(nodeId(id));
    assert(node !== undefined, `no node ${id}`);
    return node;
  }

  /** The core of node `id`. */
  raw(id: string): RawNode {
    return this.node(id).raw;
  }

  /** Ticks node `id` `count` times, handling Readys in between (messages stay queued). */
  tick(id: string, count = 1): void {
    const node = this.node(id);
    for (let i = 0; i < count; i++) {
      node.raw.tick();
      this.drainReadies();
    }
  }

  /** Ticks every running node `count` times, delivering everything after each tick. */
  tickAll(count = 1): void {
    for (let i = 0; i < count; i++) {
      for (const node of this.nodes.values()) if (node.up) node.raw.tick();
      this.stabilize();
    }
  }

  /** Handles Readys on every running node until none has one; queues their messages. */
  drainReadies(): boolean {
    let any = false;
    for (const node of this.nodes.values()) {
      while (node.up && node.raw.hasReady()) {
        this.queue.push(...node.handleReady());
        any = true;
      }
    }
    return any;
  }

  /** Delivers the messages queued now (not the ones they cause); returns how many were queued. */
  deliverOnce(): number {
    const batch = this.queue;
    this.queue = [];
    const chaos = this.chaos;
    if (chaos !== null) shuffle(batch, chaos.prng);
    for (const m of batch) {
      if (chaos !== null && chaos.prng.chance(chaos.delayRate)) {
        this.queue.push(m);
        continue;
      }
      this.sent.push(m);
      const to = this.nodes.get(m.to);
      if (to === undefined || !to.up || this.cutLinks.has(`${m.from}->${m.to}`)) continue;
      if (this.filter !== null && !this.filter(m)) continue;
      if (chaos !== null && chaos.prng.chance(chaos.dropRate)) continue;
      to.raw.step(m);
      if (chaos !== null && chaos.prng.chance(chaos.duplicateRate)) this.queue.push(m);
    }
    return batch.length;
  }

  /** Handles Readys and delivers messages until nothing moves. */
  stabilize(roundsMax = 10_000): void {
    for (let round = 0; round < roundsMax; round++) {
      const readies = this.drainReadies();
      if (this.deliverOnce() === 0 && !readies) return;
    }
    assert(false, 'network did not stabilize');
  }

  /** Messages queued and not yet delivered. */
  pending(): readonly Message[] {
    return this.queue;
  }

  /** Cuts both directions between `a` and `b`. */
  cut(a: string, b: string): void {
    this.cutLinks.add(`${a}->${b}`);
    this.cutLinks.add(`${b}->${a}`);
  }

  /** Cuts `id` off from every other node. */
  isolate(id: string): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  /** Restores every link. */
  heal(): void {
    this.cutLinks.clear();
  }

  /** Makes `id` campaign (by ticking it past its election timeout) and runs to quiescence. */
  campaign(id: string): void {
    const node = this.node(id);
    for (let i = 0; i < 100 && node.raw.status().role === 'follower'; i++) node.raw.tick();
    this.stabilize();
  }

  /** Elects `id` and returns its core. */
  elect(id: string): RawNode {
    this.campaign(id);
    const raw = this.raw(id);
    assert(raw.status().role === 'leader', () => `${id} did not become leader: ${JSON.stringify(raw.status().role)}`);
    return raw;
  }

  /** The ids of the nodes that currently believe they lead. */
  leaders(): NodeId[] {
    return [...this.nodes.values()].filter((n) => n.up && n.raw.status().role === 'leader').map((n) => n.id);
  }

  /** Proposes `text` on `id`, then runs to quiescence. */
  propose(id: string, text: string): LogIndex {
    const { index } = this.raw(id).propose(new TextEncoder().encode(text));
    this.stabilize();
    return index;
  }

  /** Crashes `id`: it loses everything not on its disk. */
  crash(id: string): void {
    this.node(id).up = false;
  }

  /** Restarts `id` from its disk. The state machine keeps what it applied (it is durable too). */
  restart(id: string): void {
    const node = this.node(id);
    node.up = true;
    node.boot();
  }
}

/** A well-mixed 32-bit seed from two small integers (nearby raw seeds give correlated first draws). */
export function mixSeed(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x632be5ab, 0xc2b2ae35);
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) | 0;
}

/** Shorthand for tests: a branded log index. */
export const idx = (n: number): LogIndex => logIndex(n);
