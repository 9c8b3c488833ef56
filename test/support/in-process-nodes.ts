/**
 * Real raftkv nodes (the production RaftkvNode: driver, LevelDB storage, gRPC on loopback) run in
 * the test's own process, for tests that must reach into a node (propose a raw entry, read its
 * metrics, change its flags across a restart) while clients talk to it over the network.
 * Every node a test starts is stopped by `stopAll`, and its temporary directory removed.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../../cluster/local-cluster.js';
import { RaftkvNode, resolveNodeOptions } from '../../src/server/index.js';
import type { RawOptions } from '../../src/server/options.js';
import { noopLogger } from '../../src/util/index.js';
import type { Logger } from '../../src/util/index.js';

/** Where one node listens and keeps its data. */
export interface NodePlan {
  readonly id: string;
  readonly clientAddress: string;
  readonly peerAddress: string;
  readonly httpAddress: string;
  readonly dataDir: string;
}

/** A set of in-process nodes forming one cluster. */
export class InProcessCluster {
  readonly nodes = new Map<string, RaftkvNode>();
  /** Errors a node could not continue after (each node's onFatal). */
  readonly fatal: { id: string; error: unknown }[] = [];

  private constructor(
    readonly plans: readonly NodePlan[],
    private readonly dir: string,
  ) {}

  /** Plans `count` nodes on free loopback ports under a new temporary directory. */
  static async plan(count: number, name: string): Promise<InProcessCluster> {
    const dir = mkdtempSync(join(tmpdir(), `raftkv-${name}-`));
    const ports = await freePorts(count * 3);
    const plans = Array.from({ length: count }, (_, i) => ({
      id: `n${i + 1}`,
      clientAddress: `127.0.0.1:${ports[i * 3]}`,
      peerAddress: `127.0.0.1:${ports[i * 3 + 1]}`,
      httpAddress: `127.0.0.1:${ports[i * 3 + 2]}`,
      dataDir: join(dir, `n${i + 1}`),
    }));
    return new InProcessCluster(plans, dir);
  }

  plan(id: string): NodePlan {
    const p = this.plans.find((x) => x.id === id);
    if (p === undefined) throw new Error(`no node ${id}`);
    return p;
  }

  /** Starts node `id` with extra flags (as `raftkv serve` would take them), logging to `logger` (default: nowhere). */
  async start(id: string, flags: RawOptions = {}, logger: Logger = noopLogger): Promise<RaftkvNode> {
    const p = this.plan(id);
    const options = resolveNodeOptions(
      {
        id,
        dataDir: p.dataDir,
        listenClient: p.clientAddress,
        listenPeer: p.peerAddress,
        listenHttp: p.httpAddress,
        initialCluster: this.plans.map((x) => `${x.id}=${x.peerAddress}`).join(','),
        tickIntervalMs: 20,
        ...flags,
      },
    );
    const node = await RaftkvNode.start(options, logger, (error) => this.fatal.push({ id, error }));
    this.nodes.set(id, node);
    return node;
  }

  /** Stops node `id` (a clean shutdown). */
  async stop(id: string): Promise<void> {
    const node = this.nodes.get(id);
    this.nodes.delete(id);
    await node?.stop();
  }

  /** The current leader, once every running node agrees on one (polls, bounded by `timeoutMs`). */
  async leader(timeoutMs = 20_000): Promise<RaftkvNode> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const leaders = [...this.nodes.values()].filter((n) => n.driver.role === 'leader');
      const agreed = leaders.length === 1 && [...this.nodes.values()].every((n) => n.driver.leader === leaders[0]?.options.id);
      if (agreed && leaders[0] !== undefined) return leaders[0];
      if (Date.now() > end) throw new Error(`no agreed leader within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Waits until `check` holds (polls, bounded by `timeoutMs`). */
  async until(what: string, check: () => boolean, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Stops every node and removes the directory. */
  async stopAll(): Promise<void> {
    for (const id of [...this.nodes.keys()]) await this.stop(id);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
