/**
 * What the benchmark scenarios share: the context a scenario runs in, the figures every
 * scenario reports, and how they are rounded (run.ts runs them, restart.ts is the restart scenario).
 */
import type { ClientTlsOptions } from '../../client/index.js';
import type { StatsSources } from './server-stats.js';

/** What the scenario needs of the cluster: only one this process started can be restarted. */
export interface RestartableCluster {
  readonly specs: readonly { readonly id: string }[];
  stopAll(): Promise<void>;
  start(id: string): unknown;
  waitForHttp(id: string, timeoutMs: number): Promise<void>;
  /** Where the nodes' figures come from now (their pids change with the restart). */
  stats(): StatsSources;
}

/** What every scenario needs. */
export interface RunContext {
  readonly endpoints: string;
  /** TLS to the nodes (null: plaintext). */
  readonly tls: ClientTlsOptions | null;
  readonly keys: number;
  readonly valueBytes: number;
  readonly stats: StatsSources;
  /** The cluster, when this process started it (`--local`): only then can it be restarted. */
  readonly cluster: RestartableCluster | null;
  /** Called with operations done so far (for a progress bar). */
  readonly onProgress: (done: number, total: number) => void;
}

/** Figures every scenario reports. */
export interface Figures {
  readonly scenario: string;
  readonly ops: number;
  readonly errors: number;
  readonly seconds: number;
  readonly opsPerS: number;
  readonly p50Ms: number;
  readonly p90Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  /** Server CPU (all nodes) per operation, in ms; null when no source gives CPU. */
  readonly serverCpuMsPerOp: number | null;
  /** Resident memory of each node at the end, in bytes. */
  readonly rssBytes: Readonly<Record<string, number | null>>;
  /** Leader changes during the scenario; null when no node's /metrics could be read. */
  readonly leaderChanges: number | null;
}

/** `x` rounded to `digits` decimals, as the figures report it. */
export function round(x: number, digits: number): number {
  return Number(x.toFixed(digits));
}
