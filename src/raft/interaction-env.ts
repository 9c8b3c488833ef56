/**
 * The world of the golden-file interaction tests (after etcd-io/raft's `rafttest.InteractionEnv`):
 * test nodes (`TestNode`: a `RawNode` on a `MemoryStorage`, following the Ready contract), one
 * queue of messages in flight, and cut links. Nothing happens unless a command asks for it: ticks
 * do not handle Readys, handling a Ready queues its messages without delivering them, and
 * delivering steps messages without handling the Readys they cause. So a test file shows every
 * step, printed with the `describe*` printers. The commands are in `interaction-commands.ts`.
 *
 * The core's log lines are deliberately not part of the output: the golden files pin the
 * protocol (Readys and messages), not the wording of diagnostics.
 */
import { assert, logIndex, nodeId } from '../util/index.js';
import type { LogIndex, NodeId } from '../util/index.js';
import { decodeConfChange } from './conf-change.js';
import { describeEntry, describeMessage, describeReady } from './describe.js';
import { MemoryStorage } from './memory-storage.js';
import type { Message } from './message.js';
import type { Ready } from './ready.js';
import { mixSeed, TestNode } from './test-network.js';
import type { TestNodeOptions } from './test-network.js';
import type { ConfChange, ConfState, Entry, Snapshot } from './types.js';

/** Most rounds (Readys everywhere, then deliveries everywhere) one `stabilize` may take. */
export const stabilizeRoundsMax = 1_000;
/** Most ticks `campaign` gives a node to start an election. */
export const campaignTicksMax = 100;

const text = (data: Uint8Array): string => new TextDecoder().decode(data);
const confText = (c: ConfState): string => `voters=(${c.voters.join(',')}) learners=(${c.learners.join(',')})`;
const changeText = (c: ConfChange): string => `${c.type} ${c.nodeId}`;

/** An entry with what it carries: the text of a command, or the membership change. */
export function describeEntryData(e: Entry): string {
  if (e.type === 'confChange') return `${describeEntry(e)} ${changeText(decodeConfChange(e.data))}`;
  return e.data.length === 0 ? describeEntry(e) : `${describeEntry(e)} ${JSON.stringify(text(e.data))}`;
}

function describeSnapshotData(s: Snapshot): string {
  return `snapshot ${s.metadata.index}/${s.metadata.term} ${confText(s.metadata.conf)} data=${JSON.stringify(text(s.data))}`;
}

/** The state machine of a test node: the commands it applied, in order (a snapshot restores them). */
class Commands {
  items: string[] = [];

  restore(snapshot: Snapshot): void {
    const data = text(snapshot.data);
    this.items = data === '' ? [] : data.split(',');
  }

  apply(entries: readonly Entry[]): void {
    for (const e of entries) if (e.type === 'normal' && e.data.length > 0) this.items.push(text(e.data));
  }

  encode(): Uint8Array {
    return new TextEncoder().encode(this.items.join(','));
  }
}

/** The nodes, the messages in flight and the network's cut links of one test file. */
export class InteractionEnv {
  private readonly nodes = new Map<NodeId, TestNode>();
  private readonly machines = new Map<NodeId, Commands>();
  /** Messages sent and not yet delivered or dropped, in the order they were sent. */
  private queue: Message[] = [];
  private readonly cutLinks = new Set<string>();

  /**
   * Adds `count` nodes `n<k>` whose disks start with membership `conf` (their own ids if null).
   * A node's PRNG seed depends only on its position, so election timeouts (and so the output of
   * `campaign`) are the same on every run.
   */
  addNodes(count: number, conf: ConfState | null, options: TestNodeOptions): string[] {
    const ids = Array.from({ length: count }, (_, i) => nodeId(`n${this.nodes.size + 1 + i}`));
    const membership = conf ?? { voters: ids, learners: [] };
    return ids.map((id) => {
      const node = new TestNode(id, new MemoryStorage({ confState: membership }), options, mixSeed(0, this.nodes.size + 1));
      this.nodes.set(id, node);
      this.machines.set(id, new Commands());
      return `${id}: ${confText(membership)}`;
    });
  }

  /** The node `id`; throws on an unknown id (a mistake in the test file). */
  node(id: string): TestNode {
    const node = this.nodes.get(nodeId(id));
    assert(node !== undefined, `no node ${id}`);
    return node;
  }

  /** Every node id, in creation order. */
  ids(): NodeId[] {
    return [...this.nodes.keys()];
  }

  /** Ticks `id` `count` times. Readys wait for `process-ready`. */
  tick(id: string, count: number): void {
    const node = this.node(id);
    for (let i = 0; i < count; i++) node.raw.tick();
  }

  /** Ticks `id` until it leaves the follower role (at most `campaignTicksMax` ticks). */
  campaign(id: string): string {
    const raw = this.node(id).raw;
    for (let ticks = 1; ticks <= campaignTicksMax; ticks++) {
      raw.tick();
      const { role, term } = raw.status();
      if (role !== 'follower') return `${id} became ${role} at term ${term} after ${ticks} ticks`;
    }
    return `${id} did not campaign within ${campaignTicksMax} ticks`;
  }

  /** Handles one Ready on each of `ids` that has one: persist, queue the messages, apply, advance. */
  processReady(ids: readonly string[]): string[] {
    const out: string[] = [];
    for (const id of ids) {
      const node = this.node(id);
      if (!node.raw.hasReady()) {
        out.push(`> ${id} has no Ready`);
        continue;
      }
      out.push(...this.handleReady(node));
    }
    return out;
  }

  private handleReady(node: TestNode): string[] {
    const messages = node.handleReady();
    const rd = node.readies[node.readies.length - 1] as Ready;
    const machine = this.machines.get(node.id) as Commands;
    if (rd.snapshot !== null) machine.restore(rd.snapshot);
    machine.apply(rd.committedEntries);
    this.queue.push(...messages);
    const out = [`> ${node.id} handling Ready`, `  ${describeReady({ ...rd, messages: [] })}`];
    for (const m of messages) out.push(`  ${describeMessage(m)}`);
    if (rd.committedEntries.some((e) => e.type === 'confChange')) out.push(`  ${node.id} applied a membership change: ${confText(node.raw.status().conf)}`);
    return out;
  }

  /**
   * Delivers (or, with `drop`, discards) the messages queued now for `ids`, in the order they were
   * sent; messages they cause wait for the next `process-ready`.
   */
  deliver(ids: readonly string[], drop: boolean): string[] {
    const targets = new Set(ids);
    const now = this.queue.filter((m) => targets.has(m.to));
    this.queue = this.queue.filter((m) => !targets.has(m.to));
    const out: string[] = [];
    for (const id of ids) {
      const mine = now.filter((m) => m.to === id);
      if (mine.length === 0) continue;
      out.push(`> ${id} receiving messages`);
      for (const m of mine) {
        const to = this.nodes.get(m.to);
        let lost: string | null = null;
        if (drop) lost = 'dropped';
        else if (to === undefined) lost = 'no such node';
        else if (this.cutLinks.has(`${m.from}->${m.to}`)) lost = 'link cut';
        if (lost !== null || to === undefined) {
          out.push(`  ${describeMessage(m)} (${lost ?? 'no such node'})`);
          continue;
        }
        out.push(`  ${describeMessage(m)}`);
        to.raw.step(m);
      }
    }
    return out;
  }

  /** Handles Readys and delivers messages everywhere until nothing moves. */
  stabilize(): string[] {
    const out: string[] = [];
    const ids = this.ids();
    for (let round = 0; round < stabilizeRoundsMax; round++) {
      let moved = false;
      for (const id of ids) {
        const node = this.node(id);
        if (node.raw.hasReady()) {
          out.push(...this.handleReady(node));
          moved = true;
        }
      }
      if (this.queue.length > 0) {
        out.push(...this.deliver(ids, false));
        moved = true;
      }
      if (!moved) return out;
    }
    throw new Error(`no quiescence after ${stabilizeRoundsMax} rounds`);
  }

  /** Cuts both directions between `a` and `b`. */
  cut(a: string, b: string): void {
    this.cutLinks.add(`${a}->${b}`);
    this.cutLinks.add(`${b}->${a}`);
  }

  /** Cuts `id` off from every other node there is now. */
  isolate(id: string): void {
    this.node(id);
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
  }

  /** Restores every link. */
  heal(): void {
    this.cutLinks.clear();
  }

  /** One line of `RawNode.status()`, then the leader's view of every member's progress. */
  status(id: string): string[] {
    const node = this.node(id);
    const s = node.raw.status();
    const machine = this.machines.get(node.id) as Commands;
    const out = [
      `${id}: ${s.role} term=${s.term} vote=${s.vote ?? '-'} leader=${s.leader ?? '-'} commit=${s.commit} applied=${s.applied} log=[${s.firstIndex},${s.lastIndex}] ${confText(s.conf)} state=[${machine.items.join(',')}]`,
    ];
    for (const [member, pr] of s.progress ?? []) out.push(`  ${member}: ${pr.state} match=${pr.match} next=${pr.next}`);
    return out;
  }

  /** The node's disk: its snapshot (if any) and its stable entries. */
  raftLog(id: string): string[] {
    const storage = this.node(id).storage;
    const snapshot = storage.snapshot();
    const out = snapshot.metadata.index > 0 ? [describeSnapshotData(snapshot)] : [];
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    if (last >= first) out.push(...storage.entries({ lo: first, hi: logIndex(last + 1), bytesMax: Number.MAX_SAFE_INTEGER }).map(describeEntryData));
    if (out.length === 0) out.push('empty log');
    return out;
  }

  /**
   * Takes a snapshot of `id`'s state machine at its applied index (as the driver does) and
   * discards the log up to `index`, which must not exceed the applied index.
   */
  compact(id: string, index: LogIndex): string[] {
    const node = this.node(id);
    const applied = node.appliedIndex;
    assert(index <= applied, () => `compact ${id} ${index}: beyond the applied index ${applied}`);
    if (applied > node.storage.snapshot().metadata.index) {
      node.storage.createSnapshotSync(applied, node.raw.status().conf, (this.machines.get(node.id) as Commands).encode());
    }
    node.storage.compactSync(index);
    return this.raftLog(id);
  }
}
