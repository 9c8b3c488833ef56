/**
 * The benchmark scenarios. A-F are named as in the shared side-by-side harness
 * (docs/benchmarks.md) so their figures line up with etcd's; G, bulk and soak are raftkv's own.
 */

/** Closed-loop load: `ops` operations, `concurrency` at once, over `connections` clients. */
export interface LoadScenario {
  readonly kind: 'load';
  readonly name: string;
  readonly op: 'put' | 'get' | 'stale-get' | 'mixed';
  readonly ops: number;
  readonly concurrency: number;
  readonly connections: number;
  /** Through the pipelined stream (client option `pipeline: true`) instead of unary calls. */
  readonly pipeline: boolean;
}

/** `keys` keys loaded as Txns of `txnPuts` puts, `inFlight` Txns at once, to the leader. */
export interface BulkScenario {
  readonly kind: 'bulk';
  readonly name: string;
  readonly keys: number;
  readonly txnPuts: number;
  readonly inFlight: number;
}

/** `rounds` back-to-back runs of `round` on one cluster. */
export interface SoakScenario {
  readonly kind: 'soak';
  readonly name: string;
  readonly rounds: number;
  readonly round: LoadScenario;
}

/** Stop every node of the local cluster and start them again on their data (bench/restart.ts). */
export interface RestartScenario {
  readonly kind: 'restart';
  readonly name: string;
}

export type Scenario = LoadScenario | BulkScenario | SoakScenario | RestartScenario;

const load = (name: string, op: LoadScenario['op'], ops: number, concurrency: number, connections: number, pipeline = false): LoadScenario => ({ kind: 'load', name, op, ops, concurrency, connections, pipeline });

/** B: puts, 64 in flight over 8 connections. */
const scenarioB = load('B-put-c64', 'put', 30_000, 64, 8);

/** Every scenario, in the order they run. */
export const scenarios: readonly Scenario[] = [
  load('A-put-seq', 'put', 2000, 1, 1),
  scenarioB,
  load('C-put-c256', 'put', 40_000, 256, 16),
  load('D-get-lin-c64', 'get', 20_000, 64, 8),
  load('E-get-stale-c64', 'stale-get', 20_000, 64, 8),
  load('F-mixed-c64', 'mixed', 20_000, 64, 8),
  // Pipelined puts: many per message, on two long-lived streams (one per client) to the leader.
  load('G-put-pipelined', 'put', 100_000, 2048, 2, true),
  { kind: 'bulk', name: 'bulk', keys: 1_000_000, txnPuts: 128, inFlight: 16 },
  // After bulk: the restart of a cluster holding 1,000,000 keys (needs --local).
  { kind: 'restart', name: 'restart' },
  { kind: 'soak', name: 'soak', rounds: 10, round: scenarioB },
];

/** The default run: A-F (what compare.sh measures); G, bulk, restart and soak are asked for by name. */
export const defaultScenarioNames: readonly string[] = ['A', 'B', 'C', 'D', 'E', 'F'];

/** The scenarios `wanted` names (full names or leading letters), in run order. */
export function chooseScenarios(wanted: readonly string[]): Scenario[] {
  return scenarios.filter((s) => wanted.some((w) => s.name === w || s.name.startsWith(`${w}-`)));
}

/** `s` with its counts multiplied by `scale` (at least 1 of each; rounds and restarts are not scaled). */
export function scaled(s: Scenario, scale: number): Scenario {
  const n = (x: number): number => Math.max(1, Math.round(x * scale));
  switch (s.kind) {
    case 'load':
      return { ...s, ops: n(s.ops) };
    case 'bulk':
      return { ...s, keys: n(s.keys) };
    case 'soak':
      return { ...s, round: { ...s.round, ops: n(s.round.ops) } };
    case 'restart':
      return s;
  }
}
