/**
 * The leader's write path into the core: admission (bounded pending writes, see `limits.ts`),
 * the command a client write becomes, the proposal, and the wait for its entry to be applied
 * (proposal-tracker.ts). Cluster commands and membership changes go the same way without client
 * admission: they are rare and come from operators.
 */
import { encodeClusterCommand, encodeCommand, validateCommand } from '../../kv/index.js';
import type { ClusterCommand, KvCommand, KvStateMachine, WriteOp, WriteResult } from '../../kv/index.js';
import type { ConfChange, RawNode } from '../../raft/index.js';
import { isErrorCode, OverloadedError, term as toTerm, UnavailableError } from '../../util/index.js';
import type { LogIndex, NotLeaderError } from '../../util/index.js';
import type { NodeMetrics } from '../metrics.js';
import type { NodeOptions } from '../options.js';
import type { ProposalTracker } from './proposal-tracker.js';
import { fabricatedSuccess } from './results.js';
import type { WriteSession } from './types.js';
import type { Clock } from './world.js';

/** What the proposer needs from the driver around it. */
export interface ProposerDeps {
  readonly options: NodeOptions;
  readonly metrics: NodeMetrics;
  readonly clock: Clock;
  readonly raw: RawNode;
  readonly proposals: ProposalTracker;
  /** The current state machine (admission checks against the replicated cluster limits). */
  readonly kv: () => KvStateMachine;
  /** Throws unless this node serves requests (not stopped) and leads. */
  readonly requireLeader: () => void;
  /** Schedules a turn of the Ready loop. */
  readonly kick: () => void;
}

/** Proposes writes, cluster commands and membership changes on the leader. */
export class Proposer {
  constructor(private readonly deps: ProposerDeps) {}

  /** See `RaftDriver.write`. */
  write(op: WriteOp, session: WriteSession): Promise<WriteResult> {
    const { options, metrics, proposals, raw } = this.deps;
    this.deps.requireLeader();
    const { limits, testFaults } = options;
    if (proposals.size >= limits.proposalsPendingMax) {
      metrics.shed.inc({ queue: 'proposals' });
      throw new OverloadedError(`too many writes pending (proposalsPendingMax ${limits.proposalsPendingMax})`, 50);
    }
    const command: KvCommand = { ...session, timeMs: this.deps.clock.nowMs(), op };
    validateCommand(command, limits); // this node's flags: admission only
    const kv = this.deps.kv();
    kv.admit(command); // the cluster limits apply will use
    const at = this.propose(() => raw.propose(encodeCommand(command)), 'write');
    const result = proposals.track(at.index, toTerm(at.term));
    metrics.proposalsPending.set(proposals.size);
    this.deps.kick();
    if (testFaults.ackBeforeCommit) {
      // Negative control: acknowledge before commit. A fabricated success; never set outside tests.
      result.catch(() => {});
      return Promise.resolve(fabricatedSuccess(op, kv.revision));
    }
    return result;
  }

  /** See `RaftDriver.proposeClusterCommand`. */
  proposeClusterCommand(command: ClusterCommand, what: string): Promise<WriteResult> {
    this.deps.requireLeader();
    const data = encodeClusterCommand(command);
    const at = this.propose(() => this.deps.raw.propose(data), what);
    const result = this.deps.proposals.track(at.index, toTerm(at.term));
    this.deps.kick();
    return result;
  }

  /** See `RaftDriver.changeMembership`: resolves once the change is applied. */
  async changeMembership(change: ConfChange, notLeader: () => NotLeaderError): Promise<void> {
    this.deps.requireLeader();
    let at: { index: LogIndex; term: number };
    try {
      at = this.deps.raw.proposeConfChange(change);
    } catch (e) {
      if (isErrorCode(e, 'PROPOSAL_DROPPED')) throw notLeader();
      throw e;
    }
    this.deps.kick();
    await this.deps.proposals.track(at.index, toTerm(at.term));
  }

  /** Runs a proposal; the core dropping it is UNAVAILABLE, nothing applied. */
  private propose(fn: () => { index: LogIndex; term: number }, what: string): { index: LogIndex; term: number } {
    try {
      return fn();
    } catch (e) {
      if (isErrorCode(e, 'PROPOSAL_DROPPED')) throw new UnavailableError(`${what} not accepted: ${(e as Error).message}`);
      throw e;
    }
  }
}
