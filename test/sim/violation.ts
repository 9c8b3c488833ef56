/**
 * What the simulator throws when it finds a bug: the kind of property broken, a message, the seed,
 * and the one command that replays the run.
 */

/** Every property the simulator checks. */
export const violationKinds = [
  'electionSafety',
  'doubleVote',
  'logMatching',
  'leaderCompleteness',
  'stateMachineSafety',
  'durableStateRegressed',
  'applyOrder',
  'staleReadIndex',
  'stateDivergence',
  'linearizability',
  'liveness',
  'convergence',
  'exception',
] as const;

/** Every property the simulator checks (documented one by one). */
export type ViolationKind =
  /** Two leaders in one term (Raft paper §5.2, Election Safety). */
  | 'electionSafety'
  /** A node granted its vote to two candidates in one term (Figure 2: votedFor). */
  | 'doubleVote'
  /** Two logs agree on an (index, term) but differ before it (Log Matching). */
  | 'logMatching'
  /** A new leader lacks an entry some node already treated as committed (Leader Completeness). */
  | 'leaderCompleteness'
  /** Two nodes applied different entries at one index (State Machine Safety). */
  | 'stateMachineSafety'
  /** A node's commit index, term or vote went backwards, in memory or on disk. */
  | 'durableStateRegressed'
  /** A node applied past its commit index, out of order, or something not in its log. */
  | 'applyOrder'
  /** A ReadIndex answered with an index below an entry already committed when the read began. */
  | 'staleReadIndex'
  /** State hashes differ for the same applied index (snapshot round trip or divergence). */
  | 'stateDivergence'
  /** The client history is not linearizable. */
  | 'linearizability'
  /** After the faults stopped, no leader or no committed write within the bound. */
  | 'liveness'
  /** After healing, live members did not reach the same applied index and state. */
  | 'convergence'
  /** Code under test threw an unexpected exception (an assertion inside the core, for example). */
  | 'exception';

/** The variant flags a run was started with, enough to rebuild the replay command. */
export interface ReplayFlags {
  readonly seed: number;
  readonly nodes?: number | undefined;
  readonly fault?: string | undefined;
  readonly driverFault?: string | undefined;
  readonly chaosMs?: number | undefined;
  readonly skipChecks?: readonly string[] | undefined;
}

/** The command that replays one seed with its variant flags. */
export function replayCommand(flags: ReplayFlags): string {
  const parts = ['npm run sim --', `--seed ${flags.seed}`];
  if (flags.nodes !== undefined) parts.push(`--nodes ${flags.nodes}`);
  if (flags.fault !== undefined) parts.push(`--fault ${flags.fault}`);
  if (flags.driverFault !== undefined) parts.push(`--driver-fault ${flags.driverFault}`);
  if (flags.chaosMs !== undefined) parts.push(`--chaos-ms ${flags.chaosMs}`);
  if (flags.skipChecks !== undefined && flags.skipChecks.length > 0) parts.push(`--skip-checks ${flags.skipChecks.join(',')}`);
  return parts.join(' ');
}

/** A broken property found by the simulator. */
export class SimViolation extends Error {
  override readonly name = 'SimViolation';

  constructor(
    /** Which property broke. */
    readonly kind: ViolationKind,
    /** What exactly was seen. */
    readonly detail: string,
    /** The seed of the run. */
    readonly seed: number,
    /** The command that replays the run. */
    readonly replay: string,
    /** Virtual time of the violation, in milliseconds. */
    readonly atMs: number,
  ) {
    super(`[${kind}] seed ${seed} at ${atMs.toFixed(3)} ms: ${detail}\n  replay: ${replay}`);
  }
}

/** The internal form: thrown by checkers that do not know the seed; the simulator wraps it. */
export class InvariantBroken extends Error {
  override readonly name = 'InvariantBroken';
  constructor(
    readonly kind: ViolationKind,
    readonly detail: string,
  ) {
    super(`[${kind}] ${detail}`);
  }
}

/** Throws `InvariantBroken`. */
export function broken(kind: ViolationKind, detail: string): never {
  throw new InvariantBroken(kind, detail);
}
