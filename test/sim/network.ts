/**
 * The simulated network between Raft nodes. Every message draws its fate from the seeded PRNG:
 * dropped, delivered once after a random latency, or duplicated (two copies with independent
 * latencies). Independent latencies reorder messages; occasional slow deliveries reorder them a
 * lot. Partitions are a list of groups: two nodes can talk iff some group holds both, which covers
 * isolation, majority/minority splits and bridges (two halves that share one node).
 */
import { assert } from '../../src/util/index.js';
import type { Prng } from '../../src/util/index.js';

/** How well the network behaves at the moment. Latencies in microseconds. */
export interface NetworkQuality {
  /** Probability that a message is lost. */
  readonly dropRate: number;
  /** Probability that a delivered message arrives twice. */
  readonly duplicateRate: number;
  /** Ordinary one-way latency range. */
  readonly latencyUsMin: number;
  readonly latencyUsMax: number;
  /** Probability that a message takes the slow path (up to `slowLatencyUsMax`). */
  readonly slowRate: number;
  readonly slowLatencyUsMax: number;
}

/** A well-behaved LAN: no loss, a little jitter. Used after the faults stop. */
export const calmNetwork: NetworkQuality = Object.freeze({
  dropRate: 0,
  duplicateRate: 0,
  latencyUsMin: 500,
  latencyUsMax: 3_000,
  slowRate: 0,
  slowLatencyUsMax: 3_000,
});

/** A partition: groups of node ids; null means fully connected. */
export type Partition = readonly (readonly string[])[] | null;

/** The message-level network model. */
export class Network {
  private groups: Partition = null;
  /** For each node, the indexes of the groups that hold it (recomputed on every partition change). */
  private membership = new Map<string, number[]>();
  private currentQuality: NetworkQuality;

  constructor(
    private readonly prng: Prng,
    quality: NetworkQuality,
  ) {
    this.currentQuality = quality;
  }

  /** The current quality. */
  get quality(): NetworkQuality {
    return this.currentQuality;
  }

  /** Changes loss, duplication and latency. */
  setQuality(q: NetworkQuality): void {
    assert(q.dropRate >= 0 && q.dropRate <= 1 && q.duplicateRate >= 0 && q.duplicateRate <= 1, 'network rates must be probabilities');
    assert(q.latencyUsMin >= 0 && q.latencyUsMin <= q.latencyUsMax && q.latencyUsMax <= q.slowLatencyUsMax, 'latency bounds out of order');
    this.currentQuality = q;
  }

  /** The current partition (null: everyone can talk). */
  get partition(): Partition {
    return this.groups;
  }

  /** Installs a partition, or heals with null. */
  setPartition(groups: Partition): void {
    this.groups = groups;
    this.membership = new Map();
    if (groups === null) return;
    groups.forEach((group, i) => {
      for (const id of group) {
        const list = this.membership.get(id) ?? [];
        list.push(i);
        this.membership.set(id, list);
      }
    });
  }

  /** True if `a` can send to `b` under the current partition. */
  connected(a: string, b: string): boolean {
    if (this.groups === null || a === b) return true;
    const ga = this.membership.get(a);
    const gb = this.membership.get(b);
    if (ga === undefined || gb === undefined) return false;
    return ga.some((g) => gb.includes(g));
  }

  /**
   * Decides the fate of one message from `from` to `to`: the delays (microseconds) of the copies
   * to deliver. Empty means dropped (lost, or cut by the partition).
   */
  plan(from: string, to: string): number[] {
    if (!this.connected(from, to)) return [];
    const q = this.currentQuality;
    if (q.dropRate > 0 && this.prng.chance(q.dropRate)) return [];
    const copies = q.duplicateRate > 0 && this.prng.chance(q.duplicateRate) ? 2 : 1;
    const delays: number[] = [];
    for (let i = 0; i < copies; i++) delays.push(this.latency());
    return delays;
  }

  private latency(): number {
    const q = this.currentQuality;
    if (q.slowRate > 0 && this.prng.chance(q.slowRate)) return this.prng.int(q.latencyUsMax, q.slowLatencyUsMax);
    return this.prng.int(q.latencyUsMin, q.latencyUsMax);
  }
}

/** Partition shapes the nemesis uses. */
export const partitions = {
  /** `node` alone; everyone else together. */
  isolate(all: readonly string[], node: string): Partition {
    return [[node], all.filter((n) => n !== node)];
  },
  /** A random split into a minority and a majority. `minoritySize` >= 1 and < all.length / 2. */
  split(all: readonly string[], prng: Prng, minoritySize: number): Partition {
    assert(minoritySize >= 1 && minoritySize * 2 < all.length, `bad minority size ${minoritySize} for ${all.length} nodes`);
    const shuffled = shuffle(all, prng);
    return [shuffled.slice(0, minoritySize), shuffled.slice(minoritySize)];
  },
  /**
   * Two halves that share one node (the bridge): with 5 nodes, {a,b,c} and {c,d,e}. Only the bridge
   * hears both sides, the classic way to get two candidates that each win a majority's attention.
   */
  bridge(all: readonly string[], prng: Prng): Partition {
    const shuffled = shuffle(all, prng);
    const bridgeNode = shuffled[0] as string;
    const rest = shuffled.slice(1);
    const half = Math.floor(rest.length / 2);
    return [[bridgeNode, ...rest.slice(0, half)], [bridgeNode, ...rest.slice(half)]];
  },
  /** Every node on its own island except a random connected pair (chaotic churn). */
  random(all: readonly string[], prng: Prng): Partition {
    const groups: string[][] = [];
    for (const id of shuffle(all, prng)) {
      const g = groups.length === 0 || prng.chance(0.4) ? undefined : groups[prng.int(0, groups.length - 1)];
      if (g === undefined) groups.push([id]);
      else g.push(id);
    }
    return groups;
  },
};

/** A seeded Fisher-Yates shuffle (returns a new array). */
export function shuffle<T>(items: readonly T[], prng: Prng): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = prng.int(0, i);
    const t = out[i] as T;
    out[i] = out[j] as T;
    out[j] = t;
  }
  return out;
}

/** Describes a partition deterministically, e.g. "n1,n2|n3". */
export function describePartition(p: Partition): string {
  return p === null ? 'healed' : p.map((g) => g.join(',')).join('|');
}
