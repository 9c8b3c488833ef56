/**
 * The restart scenario (`raftkv bench --local --scenarios bulk,restart`): stop every node of the
 * local cluster cleanly, start them all again on the same data, and measure how long it takes
 * until the cluster serves a linearizable read, and the nodes' memory afterwards. Two clients
 * poll from the moment the nodes start: a new client per attempt (the cluster's own readiness)
 * and one client kept open through the restart (what a long-lived application sees, circuit
 * breakers included).
 */
import { createClient } from '../../client/index.js';
import type { RaftkvClient } from '../../client/index.js';
import { sampleNodes } from './server-stats.js';
import { round } from './context.js';
import type { Figures, RestartableCluster, RunContext } from './context.js';

/** Longest wait for the first read after the start, in s: past it the scenario reports null. */
const restartReadWaitS = 180;
/** Deadline of one polling read, in ms. */
const pollReadTimeoutMs = 1000;
/** Pause between polling reads, in ms. */
const pollIntervalMs = 50;

/** A restart's figures. `seconds` is the time to the first read by a new client. */
export interface RestartFigures extends Figures {
  /** Seconds from starting the nodes to the first linearizable read by a new client; null if none within `restartReadWaitS`. */
  readonly firstReadS: number | null;
  /** The same by a client kept open through the restart. */
  readonly keptClientFirstReadS: number | null;
  /** Resident memory of each node before the stop, in bytes. */
  readonly rssBeforeBytes: Readonly<Record<string, number | null>>;
}

/** Stops and starts every node of `cluster`, timing the first linearizable read. */
export async function runRestart(name: string, ctx: RunContext, cluster: RestartableCluster): Promise<RestartFigures> {
  const before = await sampleNodes(ctx.stats);
  const clientOptions = { endpoints: ctx.endpoints, ...(ctx.tls === null ? {} : { tls: ctx.tls }), retryBudget: false as const, timeoutMs: pollReadTimeoutMs };
  const kept = createClient(clientOptions);
  let attempts = 0;
  let failures = 0;
  try {
    await kept.get('bench/restart');
    await cluster.stopAll();
    const started = performance.now();
    for (const s of cluster.specs) cluster.start(s.id);
    const firstRead = async (client: () => RaftkvClient, closeEach: boolean): Promise<number | null> => {
      while (performance.now() - started < restartReadWaitS * 1000) {
        const c = client();
        attempts += 1;
        try {
          await c.get('bench/restart');
          return round((performance.now() - started) / 1000, 2);
        } catch {
          failures += 1;
          await new Promise((ok) => setTimeout(ok, pollIntervalMs));
        } finally {
          if (closeEach) c.close();
        }
      }
      return null;
    };
    const [fresh, keptS] = await Promise.all([firstRead(() => createClient(clientOptions), true), firstRead(() => kept, false)]);
    await Promise.all(cluster.specs.map((s) => cluster.waitForHttp(s.id, restartReadWaitS * 1000)));
    ctx.onProgress(1, 1);
    const after = await sampleNodes(cluster.stats());
    const rss = (samples: typeof after): Record<string, number | null> => Object.fromEntries(samples.map((x) => [x.node, x.rssBytes]));
    const seconds = fresh ?? restartReadWaitS;
    return {
      scenario: name,
      ops: attempts,
      errors: failures,
      seconds,
      opsPerS: 0,
      p50Ms: 0,
      p90Ms: 0,
      p99Ms: 0,
      maxMs: 0,
      serverCpuMsPerOp: null,
      rssBytes: rss(after),
      leaderChanges: null,
      firstReadS: fresh,
      keptClientFirstReadS: keptS,
      rssBeforeBytes: rss(before),
    };
  } finally {
    kept.close();
  }
}
