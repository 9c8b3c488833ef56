/**
 * One interface over the two ways jepsen-lite breaks the network between nodes: real Linux
 * network namespaces with packet filtering (`netns-network.ts`, root only) and userspace TCP
 * proxies on every peer link (`proxy-network.ts`, no privileges). Nemeses speak only this
 * interface, so every nemesis runs on either mechanism.
 */
import type { LocalNodeSpec } from '../../cluster/local-cluster.js';

/** Which mechanism a run uses. */
export type NetMechanism = 'netns' | 'proxy';

/** A directed link that is cut: packets from `from` to `to` are lost. */
export interface CutLink {
  readonly from: string;
  readonly to: string;
}

/** Latency and loss on every peer link. */
export interface LinkFaults {
  /** One-way latency, ms. */
  readonly delayMs: number;
  /** Uniform random extra latency, ms. */
  readonly jitterMs: number;
  /** Probability that a packet (or, through a proxy, a chunk) is lost. */
  readonly lossRate: number;
}

/** How a cut is made, for mechanisms that have a choice. */
export type CutStyle = 'drop' | 'blackhole';

/** What the cluster launcher needs from the network: addresses, per-node peer views and wrappers. */
export interface NetPlan {
  readonly specs: readonly LocalNodeSpec[];
  /** Per node: its `--initial-cluster` (set when nodes see peers at different addresses). */
  readonly initialClusterFor?: Readonly<Record<string, string>>;
  /** Per node: a command its process runs under (for example `ip netns exec <ns>`). */
  readonly commandPrefix?: Readonly<Record<string, readonly string[]>>;
}

/** A network that can be partitioned and slowed. Every method is safe to call twice. */
export interface Network {
  readonly mechanism: NetMechanism;
  /**
   * How each kind of fault is made on this machine, for the run summary (for example
   * `partitions: ip route blackhole (iptables not installed)`, `latency: userspace proxy (no sch_netem)`).
   */
  readonly methods: Readonly<Record<'partition' | 'latency' | 'loss', string>>;
  /** Lays out the nodes' addresses (and namespaces, proxies...). Call once, before starting nodes. */
  setup(nodeIds: readonly string[], dataRoot: string): Promise<NetPlan>;
  /** Replaces the set of cut links (an empty list heals every partition). */
  cut(links: readonly CutLink[], style?: CutStyle): Promise<void>;
  /** Sets latency and loss on every peer link (null removes them). */
  slow(faults: LinkFaults | null): Promise<void>;
  /** Removes everything this network created. Best effort; never throws. */
  teardown(): Promise<void>;
  /** The same, synchronously, for `process.on('exit')`. */
  teardownSync(): void;
}

/** The symmetric cuts that split `groups` from each other (nodes in no group are untouched). */
export function cutsBetween(groups: readonly (readonly string[])[]): CutLink[] {
  const links: CutLink[] = [];
  for (let a = 0; a < groups.length; a++) {
    for (let b = 0; b < groups.length; b++) {
      if (a === b) continue;
      for (const from of groups[a] ?? []) for (const to of groups[b] ?? []) if (from !== to) links.push({ from, to });
    }
  }
  return dedupeLinks(links);
}

/** Drops repeated links, keeping the first. */
export function dedupeLinks(links: readonly CutLink[]): CutLink[] {
  const seen = new Set<string>();
  return links.filter((l) => {
    const k = `${l.from}>${l.to}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
