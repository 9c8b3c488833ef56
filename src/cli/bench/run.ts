/**
 * Runs benchmark scenarios against a cluster and measures them: client-side throughput and
 * latency, and server-side CPU, memory and leader changes (server-stats.ts) over the same span.
 */
import { connect, op } from '../../client/index.js';
import { InvalidArgumentError } from '../../util/index.js';
import type { RaftkvClient } from '../../client/index.js';
import { delta, sampleNodes } from './server-stats.js';
import type { StatsDelta } from './server-stats.js';
import { runRestart } from './restart.js';
import type { RestartFigures } from './restart.js';
import { round } from './context.js';
import type { Figures, RunContext } from './context.js';
import type { BulkScenario, LoadScenario, Scenario, SoakScenario } from './scenarios.js';

/**
 * Deadline of one benchmark operation, retries included: long, because a benchmark counts an
 * operation that fails as an error, and a loaded machine may take seconds to elect a new leader.
 */
const benchOpTimeoutMs = 30_000;

export type { Figures, RunContext } from './context.js';

/** A soak's figures: the whole, each round, and the last round against the first. */
export interface SoakFigures extends Figures {
  readonly rounds: readonly Figures[];
  readonly lastVsFirstOpsRatio: number;
  readonly lastVsFirstCpuRatio: number | null;
}

/** A bulk load's figures: keys per second and Txns that failed after the client's retries. */
export interface BulkFigures extends Figures {
  readonly keys: number;
  readonly keysPerS: number;
  readonly failedRequests: number;
}

export type AnyFigures = Figures | SoakFigures | BulkFigures | RestartFigures;

/** Runs one scenario. */
export async function runScenario(s: Scenario, ctx: RunContext): Promise<AnyFigures> {
  switch (s.kind) {
    case 'load':
      return measured(s.name, ctx, () => runLoad(s, ctx));
    case 'bulk':
      return runBulk(s, ctx);
    case 'soak':
      return runSoak(s, ctx);
    case 'restart':
      if (ctx.cluster === null) throw new InvalidArgumentError('scenarios', 'the restart scenario stops and starts the nodes, so it needs --local');
      return runRestart(s.name, ctx, ctx.cluster);
  }
}

/** Client-side outcome of a load. */
interface LoadOutcome {
  readonly ops: number;
  readonly errors: number;
  readonly latenciesMs: Float64Array;
}

/** Runs `work`, sampling the nodes before and after, and builds the figures. */
async function measured(name: string, ctx: RunContext, work: () => Promise<LoadOutcome>): Promise<Figures> {
  const before = await sampleNodes(ctx.stats);
  const started = performance.now();
  const outcome = await work();
  const seconds = (performance.now() - started) / 1000;
  const stats = delta(before, await sampleNodes(ctx.stats));
  return figuresOf(name, outcome, seconds, stats);
}

function figuresOf(name: string, o: LoadOutcome, seconds: number, stats: StatsDelta): Figures {
  const sorted = Array.from(o.latenciesMs).sort((a, b) => a - b);
  const at = (q: number): number => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0, 3);
  return {
    scenario: name,
    ops: o.ops,
    errors: o.errors,
    seconds: round(seconds, 3),
    opsPerS: Math.round(o.ops / seconds),
    p50Ms: at(0.5),
    p90Ms: at(0.9),
    p99Ms: at(0.99),
    maxMs: at(1),
    serverCpuMsPerOp: stats.cpuSeconds === null ? null : round((stats.cpuSeconds * 1000) / o.ops, 4),
    rssBytes: stats.rssBytes,
    leaderChanges: stats.leaderChanges,
  };
}

async function clientsFor(ctx: RunContext, count: number, pipeline: boolean): Promise<RaftkvClient[]> {
  const clients: RaftkvClient[] = [];
  for (let i = 0; i < count; i++) clients.push(await connect({ endpoints: ctx.endpoints, ...(ctx.tls === null ? {} : { tls: ctx.tls }), retryBudget: false, pipeline, timeoutMs: benchOpTimeoutMs }));
  return clients;
}

/** Closed-loop load: `concurrency` workers share `ops` operations over `connections` clients. */
async function runLoad(s: LoadScenario, ctx: RunContext): Promise<LoadOutcome> {
  const clients = await clientsFor(ctx, s.connections, s.pipeline);
  try {
    const value = new Uint8Array(ctx.valueBytes).fill(0x61);
    const readKeys = Math.min(ctx.keys, 256);
    // Reads need something to read.
    if (s.op !== 'put') await Promise.all(Array.from({ length: readKeys }, (_, i) => clients[0]?.put(`bench/${i}`, value)));
    const latencies = new Float64Array(s.ops);
    let next = 0;
    let done = 0;
    let errors = 0;
    // The bar redraws on a timer of its own; feeding it every 1% is plenty.
    const step = Math.max(1, Math.floor(s.ops / 100));
    const worker = async (w: number): Promise<void> => {
      const kv = clients[w % clients.length] as RaftkvClient;
      for (let i = next++; i < s.ops; i = next++) {
        const key = `bench/${(i * 7919) % (s.op === 'put' ? ctx.keys : readKeys)}`;
        const t = performance.now();
        try {
          if (s.op === 'put' || (s.op === 'mixed' && i % 10 === 0)) await kv.put(key, value);
          else await kv.get(key, { consistency: s.op === 'stale-get' ? 'stale' : 'linearizable' });
        } catch {
          errors += 1;
        }
        latencies[i] = performance.now() - t;
        done += 1;
        if (done % step === 0 || done === s.ops) ctx.onProgress(done, s.ops);
      }
    };
    await Promise.all(Array.from({ length: s.concurrency }, (_, w) => worker(w)));
    return { ops: s.ops, errors, latenciesMs: latencies };
  } finally {
    for (const c of clients) c.close();
  }
}

/** Ten (or `rounds`) back-to-back rounds of one load on one cluster. */
async function runSoak(s: SoakScenario, ctx: RunContext): Promise<SoakFigures> {
  const rounds: Figures[] = [];
  const before = await sampleNodes(ctx.stats);
  const started = performance.now();
  for (let r = 0; r < s.rounds; r++) {
    rounds.push(await measured(`${s.name}-${r + 1}`, { ...ctx, onProgress: (done, total) => ctx.onProgress(r * total + done, s.rounds * total) }, () => runLoad(s.round, ctx)));
  }
  const seconds = (performance.now() - started) / 1000;
  const stats = delta(before, await sampleNodes(ctx.stats));
  const ops = rounds.reduce((n, r) => n + r.ops, 0);
  const latencies = new Float64Array(0);
  const whole = figuresOf(s.name, { ops, errors: rounds.reduce((n, r) => n + r.errors, 0), latenciesMs: latencies }, seconds, stats);
  const first = rounds[0] as Figures;
  const last = rounds[rounds.length - 1] as Figures;
  return {
    ...whole,
    // Percentiles of the whole are the worst round's (latencies are per round).
    p50Ms: Math.max(...rounds.map((r) => r.p50Ms)),
    p90Ms: Math.max(...rounds.map((r) => r.p90Ms)),
    p99Ms: Math.max(...rounds.map((r) => r.p99Ms)),
    maxMs: Math.max(...rounds.map((r) => r.maxMs)),
    rounds,
    lastVsFirstOpsRatio: round(last.opsPerS / first.opsPerS, 3),
    lastVsFirstCpuRatio: first.serverCpuMsPerOp !== null && last.serverCpuMsPerOp !== null && first.serverCpuMsPerOp > 0 ? round(last.serverCpuMsPerOp / first.serverCpuMsPerOp, 3) : null,
  };
}

/** `keys` distinct keys as Txns of `txnPuts` puts, `inFlight` at once; each Txn retried by the client as usual. */
async function runBulk(s: BulkScenario, ctx: RunContext): Promise<BulkFigures> {
  const [kv] = await clientsFor(ctx, 1, false);
  const client = kv as RaftkvClient;
  let failed = 0;
  let keysLoaded = 0;
  const txns = Math.ceil(s.keys / s.txnPuts);
  const figures = await measured(s.name, ctx, async () => {
    const value = new Uint8Array(ctx.valueBytes).fill(0x62);
    const latencies = new Float64Array(txns);
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let t = next++; t < txns; t = next++) {
        const from = t * s.txnPuts;
        const count = Math.min(s.txnPuts, s.keys - from);
        const started = performance.now();
        try {
          const puts = Array.from({ length: count }, (_, i) => op.put(`bulk/${String(from + i).padStart(8, '0')}`, value));
          await client.txn().then(puts).commit();
          keysLoaded += count;
        } catch {
          failed += 1;
        }
        latencies[t] = performance.now() - started;
        ctx.onProgress(Math.min(s.keys, (t + 1) * s.txnPuts), s.keys);
      }
    };
    await Promise.all(Array.from({ length: s.inFlight }, () => worker()));
    return { ops: txns, errors: failed, latenciesMs: latencies };
  });
  client.close();
  return { ...figures, keys: keysLoaded, keysPerS: Math.round(keysLoaded / figures.seconds), failedRequests: failed };
}
