/**
 * Nemesis families. A family knows how to start one fault of a given kind and returns how to heal
 * it; the scheduler (schedule.ts) decides when. Families act only through the cluster launcher
 * (processes, by pid) and the `Network` interface, so each runs on either network mechanism.
 */
import type { LocalCluster, NodeStatus } from '../../cluster/local-cluster.js';
import type { Prng } from '../../src/util/index.js';
import type { LeaderSample } from '../checks/availability.js';
import type { JepsenClient } from '../client/kv-client.js';
import type { Network } from '../net/network.js';

/** The families, as named on the command line. */
export const familyNames = ['partition', 'kill', 'pause', 'net', 'membership', 'snapshot'] as const;
export type FamilyName = (typeof familyNames)[number];

/** What a family acts on. */
export interface NemesisContext {
  readonly cluster: LocalCluster;
  readonly net: Network;
  readonly random: Prng;
  readonly nodeIds: readonly string[];
  /** The addresses clients use, by node id. */
  readonly clientAddresses: Readonly<Record<string, string>>;
  /** A line for the run log. */
  readonly log: (line: string) => void;
  /** A client of its own, for the Cluster service (membership changes). */
  readonly admin: JepsenClient;
  /** True when nodes reach some peers through per-node addresses (proxies), not each peer's own address. */
  readonly peerViewsDiffer: boolean;
}

/** A fault in progress. */
export interface ActiveFault {
  readonly family: FamilyName;
  readonly kind: string;
  /** The nodes it targets. */
  readonly nodes: readonly string[];
  readonly detail: string;
  /**
   * True when Raft may legitimately elect a new leader because of the fault itself, not because a
   * node came back: kill-all, or loss and latency on every link (a TCP stream stalled by
   * retransmission backoff can outlast the election timeout). The deposed-leader check after the
   * heal applies only to faults where nodes are cut off and rejoin.
   */
  readonly leaderMayChange: boolean;
  /** Ends the fault; returns a line for the history. */
  heal(): Promise<string>;
  /** Optional check made a few seconds after the heal (for example: did a snapshot install?). */
  verify?(): Promise<string>;
}

/** A family of faults. */
export interface NemesisFamily {
  readonly name: FamilyName;
  /** Kinds, started in turn. */
  readonly kinds: readonly string[];
  /** Extra `raftkv serve` flags every node needs for this family (snapshot thresholds...). */
  readonly nodeArgs: readonly string[];
  /** Null if the family can run against this build and network; otherwise why not. */
  unsupported(ctx: NemesisContext): Promise<string | null>;
  /** Starts a fault of `kind`. */
  start(ctx: NemesisContext, kind: string): Promise<ActiveFault>;
}

/** The `/status` of every running node that answers quickly. */
export async function statuses(ctx: NemesisContext, timeoutMs = 500): Promise<NodeStatus[]> {
  const all = await Promise.all(ctx.cluster.running().map((id) => ctx.cluster.status(id, timeoutMs)));
  return all.filter((s): s is NodeStatus => s !== null);
}

/** The leader a majority of ALL nodes agrees on (same id and term), or null. */
export async function majorityLeader(ctx: NemesisContext): Promise<LeaderSample | null> {
  const all = await statuses(ctx);
  for (const s of all) {
    if (s.role !== 'leader') continue;
    const agree = all.filter((x) => x.leader === s.id && x.term === s.term).length;
    if (agree * 2 > ctx.nodeIds.length) return { id: s.id, term: s.term };
  }
  return null;
}

/** The current leader, waiting up to `timeoutMs` for one; null if none. */
export async function currentLeader(ctx: NemesisContext, timeoutMs = 3000): Promise<string | null> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const l = await majorityLeader(ctx);
    if (l) return l.id;
    if (Date.now() > end) return null;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A random element. */
export function pick<T>(random: Prng, items: readonly T[]): T {
  const item = items[random.int(0, items.length - 1)];
  if (item === undefined) throw new Error('pick from an empty list');
  return item;
}

/** A shuffled copy. */
export function shuffled<T>(random: Prng, items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = random.int(0, i);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
