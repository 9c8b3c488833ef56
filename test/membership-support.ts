/**
 * Helpers for the real-process tests of snapshots, membership and backups: running the built CLI,
 * finding the leader among a changing set of members, steady exactly-once writers that follow
 * leader hints, a bounded pipelined loader, convergence checks and metric reads.
 */
import { execFile } from 'node:child_process';
import type { LocalCluster, NodeStatus } from '../cluster/local-cluster.js';
import { sleep } from '../cluster/local-cluster.js';
import { bytes, RawClients } from './support/raw-client.js';

/** What a CLI run printed and how it exited. */
export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `raftkv <args>` (the built CLI) and resolves with its exit code and output. */
export function raftkv(bin: string, args: readonly string[], timeoutMs = 90_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 99;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
  });
}

/** Polls `check` every 100 ms until it returns a value (not null) or `timeoutMs` passes. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | null>): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== null) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** The statuses of the nodes in `ids` that answer (with the full state hash if `stateHash`). */
export async function statuses(cluster: LocalCluster, ids: readonly string[], stateHash = false): Promise<NodeStatus[]> {
  return (await Promise.all(ids.map((id) => cluster.status(id, 1000, { stateHash })))).filter((s): s is NodeStatus => s !== null);
}

/** Waits until one of `ids` leads and a majority of its voters (among `ids`) agree; returns it. */
export async function leaderAmong(cluster: LocalCluster, ids: readonly string[], timeoutMs = 20_000): Promise<NodeStatus> {
  return waitFor(`a leader among ${ids.join(',')}`, timeoutMs, async () => {
    const all = await statuses(cluster, ids);
    const leader = all.find((s) => s.role === 'leader');
    if (!leader) return null;
    const voters = (leader['voters'] as string[] | undefined) ?? [];
    const agree = all.filter((s) => s.leader === leader.id && s.term === leader.term && voters.includes(s.id)).length;
    return agree * 2 > voters.length ? leader : null;
  });
}

/**
 * Waits until every node in `ids` has applied the same index with the same state hash (after
 * writes stopped), and returns their statuses.
 */
export async function converged(cluster: LocalCluster, ids: readonly string[], timeoutMs = 30_000): Promise<NodeStatus[]> {
  return waitFor(`${ids.join(',')} to converge`, timeoutMs, async () => {
    const all = await statuses(cluster, ids, true);
    if (all.length !== ids.length) return null;
    const [first] = all;
    if (!first) return null;
    return all.every((s) => s.applied === first.applied && typeof s['stateHash'] === 'string' && s['stateHash'] === first['stateHash']) ? all : null;
  });
}

/** A node's metric value (the first sample of `name`), or 0 if absent. */
export async function metric(cluster: LocalCluster, id: string, name: string): Promise<number> {
  const text = await (await fetch(`http://${cluster.spec(id).httpAddress}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** A pool of raw clients by address. */
export class Clients extends RawClients {
  constructor() {
    super((address) => address);
  }
}

/**
 * Steady writers: `count` loops, each writing its own keys one at a time with a client id and
 * sequence numbers (exactly-once: a retry after an unknown outcome is answered, not re-applied),
 * following leader hints. `acked` holds every write acknowledged OK.
 */
export class SteadyWriters {
  readonly acked = new Map<string, string>();
  private stopped = false;
  private readonly loops: Promise<void>[] = [];

  constructor(
    private readonly clients: Clients,
    /** The client addresses to try (may change as members come and go). */
    private readonly addresses: () => readonly string[],
    private readonly tag: string,
    count: number,
  ) {
    for (let w = 0; w < count; w++) this.loops.push(this.loop(w));
  }

  private async loop(w: number): Promise<void> {
    let target = this.addresses()[0] ?? '';
    for (let i = 0; !this.stopped; i++) {
      const key = `${this.tag}-${w}-${i}`;
      const value = `v${i}`;
      const request = { key: bytes(key), value: bytes(value), clientId: `${this.tag}-${w}`, seq: i + 1, ackSeq: i };
      for (let attempt = 0; !this.stopped || attempt === 0; attempt++) {
        const err = await this.clients.get(target).failure('Put', request, 2000);
        if (err === null) {
          this.acked.set(key, value);
          break;
        }
        const hint = err.trailers['raftkv-leader-address'];
        const addresses = this.addresses();
        target = hint && addresses.includes(hint) ? hint : (addresses[(addresses.indexOf(target) + 1) % addresses.length] ?? target);
        await sleep(50);
        if (attempt > 400) break;
      }
      await sleep(5);
    }
  }

  /** Stops writing and waits for the loops to end. */
  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.loops);
  }
}

/**
 * Writes `count` keys `<prefix><i>` with a bounded number of writes in flight (`concurrency`), to
 * the leader at `address` (following hints). Resolves with the acknowledged keys and values.
 */
export async function loadKeys(clients: Clients, address: string, prefix: string, count: number, concurrency: number, valueBytes = 32): Promise<Map<string, string>> {
  const acked = new Map<string, string>();
  let next = 0;
  let target = address;
  const worker = async (w: number): Promise<void> => {
    for (let seq = 1; ; seq++) {
      const i = next++;
      if (i >= count) return;
      const key = `${prefix}${String(i).padStart(7, '0')}`;
      const value = `${key}:`.padEnd(valueBytes, 'x');
      const request = { key: bytes(key), value: bytes(value), clientId: `${prefix}loader-${w}`, seq, ackSeq: seq - 1 };
      for (let attempt = 0; attempt < 100; attempt++) {
        const err = await clients.get(target).failure('Put', request, 5000);
        if (err === null) {
          acked.set(key, value);
          break;
        }
        const hint = err.trailers['raftkv-leader-address'];
        if (hint) target = hint;
        await sleep(50);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
  return acked;
}
