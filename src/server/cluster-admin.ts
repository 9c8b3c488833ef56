/**
 * Membership changes and leadership transfer (the Cluster service's MemberAdd, MemberPromote,
 * MemberRemove, MemberUpdate and LeaderTransfer), with their guard rails:
 *
 * - One change at a time: the core refuses a change while the previous one is not applied
 *   (conf-change.ts), and this node also runs its own admin changes one after the other.
 * - New members join as learners (Raft thesis §4.2.1: a new server catches up before it counts
 *   towards a quorum). `member add` without `--learner` records in the change itself that the
 *   learner is to be promoted; whichever node leads promotes it once it has caught up.
 * - Caught up means: the leader replicates to it (not probing, not sending a snapshot), heard
 *   from it recently, and it trails the commit index by at most `promoteLagEntriesMax` entries.
 * - A removal (or a forced promotion) that would leave the voters without a healthy majority is
 *   refused unless forced. A voter is healthy if it is the leader, or the leader heard from it
 *   within two election timeouts and replicates to it.
 * - Removing the leader first hands leadership to the most caught-up healthy voter; the call is
 *   then answered NOT_LEADER naming the new leader, which the caller retries (the CLI does).
 */
import { checkConfChange } from '../raft/index.js';
import type { ConfChange, ConfState, ProgressStatus } from '../raft/index.js';
import { FailedPreconditionError, InvalidArgumentError, isErrorCode, nodeId as toNodeId, UnavailableError } from '../util/index.js';
import type { Logger, NodeId } from '../util/index.js';
import { errorOfResult } from './driver/results.js';
import { encodeChangeContext } from './member-addresses.js';
import type { NodeOptions } from './options.js';
import type { RaftDriver } from './raft-driver.js';

/** A learner trailing the commit index by more than this many entries is not caught up. */
export const promoteLagEntriesMax = 1000;
/** How often the leader looks for learners to promote. */
const autoPromoteIntervalMs = 250;
/**
 * How long a change waits for the previous one (or a new leader's first entry) to be applied
 * before it is refused as "another change is in progress". Applying takes milliseconds; this
 * only rides out the moment right after a change or an election.
 */
const pendingChangeWaitMs = 3_000;

/** What `ClusterAdmin` needs. */
export interface ClusterAdminDeps {
  readonly driver: RaftDriver;
  readonly options: NodeOptions;
  readonly logger: Logger;
}

/** A member to add. */
export interface MemberToAdd {
  readonly id: string;
  readonly peerAddress: string;
  readonly clientAddress: string;
  /** Keep it a learner (no automatic promotion). */
  readonly learner: boolean;
}

/** Membership changes and leadership transfer on this node (they run on the leader only). */
export class ClusterAdmin {
  /** The end of this node's queue of admin changes. */
  private queue: Promise<unknown> = Promise.resolve();
  private timer: NodeJS.Timeout | null = null;
  private promoting = false;

  constructor(private readonly deps: ClusterAdminDeps) {}

  /** Starts promoting caught-up learners (on the leader). */
  start(): void {
    this.timer = setInterval(() => this.autoPromote(), autoPromoteIntervalMs);
    this.timer.unref();
  }

  /** Stops the promotion timer. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Adds a learner (to be promoted once caught up unless `learner`). Resolves once applied. */
  add(member: MemberToAdd): Promise<ConfState> {
    const id = checkId(member.id, 'id');
    const peerAddress = checkAddress(member.peerAddress, 'peer_address', true);
    const clientAddress = checkAddress(member.clientAddress, 'client_address', false);
    this.requireLeader();
    const conf = this.deps.driver.confState;
    if (conf.voters.includes(id) || conf.learners.includes(id)) {
      throw new FailedPreconditionError(`${id} is already a member (a ${conf.voters.includes(id) ? 'voter' : 'learner'}); to re-add it, remove it first and wipe its data dir`);
    }
    const context = encodeChangeContext({ peerAddress, clientAddress, promote: !member.learner });
    return this.exclusive(() => this.propose({ type: 'addLearner', nodeId: id, context }, Date.now() + pendingChangeWaitMs));
  }

  /**
   * Promotes learner `id` to a voter, first waiting (until `deadlineMs`) for it to catch up.
   * `force` skips the wait and the checks.
   */
  promote(id: string, options: { force: boolean; deadlineMs: number }): Promise<ConfState> {
    const node = checkId(id, 'id');
    this.requireLeader();
    return this.exclusive(async () => {
      const conf = this.deps.driver.confState;
      if (conf.voters.includes(node)) throw new FailedPreconditionError(`${node} is already a voter`);
      if (!conf.learners.includes(node)) throw new FailedPreconditionError(`${node} is not a member (add it first: raftkv member add)`);
      if (!options.force) {
        let problem = this.catchUpProblem(node);
        while (problem !== null && Date.now() < options.deadlineMs - 250) {
          await sleep(100);
          this.requireLeader();
          problem = this.catchUpProblem(node);
        }
        if (problem !== null) throw new FailedPreconditionError(`${node} has not caught up with the leader (${problem}); try again later, or use --force`);
      }
      return this.propose(this.change('addVoter', node), options.deadlineMs);
    });
  }

  /**
   * Removes member `id`. On the leader removing itself: hands leadership over, then throws
   * NOT_LEADER naming the new leader. `force` skips the quorum check.
   */
  async remove(id: string, options: { force: boolean; deadlineMs: number }): Promise<ConfState> {
    const node = checkId(id, 'id');
    this.requireLeader();
    const { driver } = this.deps;
    const conf = driver.confState;
    if (!conf.voters.includes(node) && !conf.learners.includes(node)) throw new FailedPreconditionError(`${node} is not a member`);
    if (node === this.deps.options.id) {
      if (conf.voters.length === 1) throw new FailedPreconditionError(`${node} is the last voter and cannot be removed`);
      const to = await this.bestVoterSettled([node], options.deadlineMs);
      if (to === null) throw new UnavailableError(`cannot remove the leader ${node}: no other healthy voter to hand leadership to`);
      await this.transfer(to, options.deadlineMs);
      throw driver.notLeader();
    }
    return this.exclusive(async () => {
      const voters = driver.confState.voters;
      if (voters.includes(node) && !options.force) {
        const remaining = voters.filter((v) => v !== node);
        const problem = await this.settled(() => this.quorumProblem(remaining), options.deadlineMs);
        if (problem !== null) throw new FailedPreconditionError(`removing ${node} would leave the cluster without a healthy quorum: ${problem}; use --force to remove it anyway`);
      }
      return this.propose(this.change('removeNode', node), options.deadlineMs);
    });
  }

  /**
   * Changes member `id`'s peer address (and its client address, unless ''): a `memberUpdate`
   * command through the log, so every node's address book, and the snapshots they take, agree;
   * peers reconnect to the new address as they apply it (driver/address-book.ts). The member
   * itself keeps its flags: restart it listening on the new address. Resolves once applied here.
   */
  update(id: string, addresses: { readonly peerAddress: string; readonly clientAddress: string }): Promise<void> {
    const node = checkId(id, 'id');
    const peerAddress = checkAddress(addresses.peerAddress, 'peer_address', true);
    const clientAddress = checkAddress(addresses.clientAddress, 'client_address', false);
    this.requireLeader();
    const conf = this.deps.driver.confState;
    if (!conf.voters.includes(node) && !conf.learners.includes(node)) throw new FailedPreconditionError(`${node} is not a member`);
    return this.exclusive(async () => {
      const result = await this.deps.driver.proposeClusterCommand({ type: 'memberUpdate', update: { member: node, peerAddress, clientAddress } }, 'member update');
      if (result.type === 'error') throw errorOfResult(result);
      this.deps.logger.info({ member: node, peerAddress, clientAddress }, 'membership: member addresses updated');
    });
  }

  /**
   * Hands leadership to `to` (default: the most caught-up healthy voter) and waits until this node
   * knows the new leader. Returns the previous and the new leader.
   */
  async transfer(to: string | null, deadlineMs: number): Promise<{ from: NodeId; to: NodeId }> {
    this.requireLeader();
    const { driver, options } = this.deps;
    const self = options.id;
    let target: NodeId;
    if (to === null || to === '') {
      const best = await this.bestVoterSettled([], deadlineMs);
      if (best === null) throw new UnavailableError('no other healthy voter to hand leadership to');
      target = best;
    } else {
      target = checkId(to, 'to');
      if (target === self) return { from: self, to: self };
      if (!driver.confState.voters.includes(target)) throw new FailedPreconditionError(`${target} is not a voter: leadership can only go to a voter`);
    }
    driver.transferLeader(target);
    const waitEnd = Math.min(deadlineMs - 100, Date.now() + 4 * options.electionTicks * options.tickIntervalMs + 1000);
    while (Date.now() < waitEnd && (driver.role === 'leader' || driver.leader === null)) await sleep(20);
    if (driver.role === 'leader') throw new UnavailableError(`leadership did not move to ${target} in time (is it caught up and reachable?)`);
    if (driver.leader === null) throw new UnavailableError(`leadership left ${self} but no new leader is known yet; retry`);
    this.deps.logger.info({ from: self, to: driver.leader }, 'leadership transferred');
    return { from: self, to: driver.leader };
  }

  /**
   * Runs `check` until it finds no problem, for up to two election timeouts (and `deadlineMs`):
   * right after an election, or a hiccup on a loaded machine, a healthy follower can look
   * unhealthy for a moment (the new leader has not heard from it yet, or is still probing its
   * log). Returns the last problem, or null.
   */
  private async settled(check: () => string | null, deadlineMs: number): Promise<string | null> {
    const { options } = this.deps;
    const until = Math.min(deadlineMs - 250, Date.now() + 2 * options.electionTicks * options.tickIntervalMs + 500);
    let problem = check();
    while (problem !== null && Date.now() < until) {
      await sleep(50);
      this.requireLeader();
      problem = check();
    }
    return problem;
  }

  /** Why learner `id` is not caught up, or null if it is. Leader only. */
  catchUpProblem(id: NodeId): string | null {
    const status = this.deps.driver.status();
    const pr = status.progress?.get(id);
    if (pr === undefined) return 'the leader has no progress for it';
    if (!this.heardRecently(id)) return 'the leader has not heard from it recently (is it running, started with --join?)';
    if (pr.state !== 'replicate') return `the leader is ${pr.state === 'snapshot' ? 'sending it a snapshot' : 'probing its log'}`;
    const lag = status.commit - pr.match;
    if (lag > promoteLagEntriesMax) return `it is ${lag} entries behind the commit index`;
    return null;
  }

  /** Why `voters` would have no healthy majority, or null if they would. Leader only. */
  quorumProblem(voters: readonly NodeId[]): string | null {
    const progress = this.deps.driver.status().progress;
    const healthy = voters.filter((v) => this.isHealthy(v, progress));
    if (healthy.length * 2 > voters.length) return null;
    const sick = voters.filter((v) => !healthy.includes(v));
    return `${healthy.length} of the ${voters.length} remaining voters are healthy (not healthy: ${sick.join(', ') || 'none'})`;
  }

  /** Promotes one caught-up learner that is marked for promotion, if any (leader only). */
  private autoPromote(): void {
    const { driver, logger } = this.deps;
    if (this.promoting || driver.role !== 'leader') return;
    const conf = driver.confState;
    for (const id of driver.promoteWhenCaughtUp) {
      if (!conf.learners.includes(id) || this.catchUpProblem(id) !== null) continue;
      this.promoting = true;
      this.exclusive(async () => {
        if (!driver.confState.learners.includes(id) || driver.role !== 'leader' || this.catchUpProblem(id) !== null) return;
        await this.propose(this.change('addVoter', id), Date.now() + pendingChangeWaitMs);
        logger.info({ member: id }, 'membership: promoted a caught-up learner to voter');
      })
        .catch((e: unknown) => logger.warn({ member: id, err: e instanceof Error ? e.message : String(e) }, 'membership: automatic promotion failed; will retry'))
        .finally(() => {
          this.promoting = false;
        });
      return;
    }
  }

  /**
   * Proposes `change` and resolves once it is applied. An invalid change is refused at once. While
   * the previous change (or the leader's first entry of its term) is not applied, it waits, up to
   * `pendingChangeWaitMs` and `deadlineMs`, then refuses: one change at a time.
   */
  private async propose(change: ConfChange, deadlineMs: number): Promise<ConfState> {
    const { driver } = this.deps;
    const until = Math.min(deadlineMs - 100, Date.now() + pendingChangeWaitMs);
    for (;;) {
      const problem = checkConfChange(driver.confState, change);
      if (problem !== null) throw new FailedPreconditionError(`invalid membership change: ${problem}`);
      try {
        return await driver.changeMembership(change);
      } catch (e) {
        // The change is valid (checked above), so the core refused it because one is pending.
        if (!isErrorCode(e, 'FAILED_PRECONDITION')) throw e;
        if (Date.now() >= until) throw new FailedPreconditionError(`another membership change is still in progress (${(e as Error).message}); retry once it is done`);
        await sleep(50);
        this.requireLeader();
      }
    }
  }

  private change(type: ConfChange['type'], id: NodeId): ConfChange {
    const { driver } = this.deps;
    if (type === 'removeNode') return { type, nodeId: id, context: new Uint8Array(0) };
    const context = encodeChangeContext({ peerAddress: driver.peerAddresses.get(id) ?? '', clientAddress: driver.clientAddresses.get(id) ?? '' });
    return { type, nodeId: id, context };
  }

  /** `bestVoter`, given a moment to settle (see `settled`). */
  private async bestVoterSettled(exclude: readonly NodeId[], deadlineMs: number): Promise<NodeId | null> {
    let best: NodeId | null = null;
    await this.settled(() => {
      best = this.bestVoter(exclude);
      return best === null ? 'no healthy voter' : null;
    }, deadlineMs);
    return best;
  }

  /** The healthy voter with the highest match, not in `exclude` and not this node; null if none. */
  private bestVoter(exclude: readonly NodeId[]): NodeId | null {
    const { driver, options } = this.deps;
    const progress = driver.status().progress;
    let best: { id: NodeId; match: number } | null = null;
    for (const id of driver.confState.voters) {
      if (id === options.id || exclude.includes(id) || !this.isHealthy(id, progress)) continue;
      const match = progress?.get(id)?.match ?? 0;
      if (best === null || match > best.match) best = { id, match };
    }
    return best?.id ?? null;
  }

  private isHealthy(id: NodeId, progress: ReadonlyMap<NodeId, ProgressStatus> | null): boolean {
    if (id === this.deps.options.id) return true;
    return this.heardRecently(id) && progress?.get(id)?.state === 'replicate';
  }

  private heardRecently(id: NodeId): boolean {
    const { options } = this.deps;
    return this.deps.driver.sinceHeardMs(id) <= 2 * options.electionTicks * options.tickIntervalMs;
  }

  private requireLeader(): void {
    if (this.deps.driver.role !== 'leader') throw this.deps.driver.notLeader();
  }

  /** Runs admin changes of this node one after another. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }
}

function checkId(id: string, field: string): NodeId {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(id)) throw new InvalidArgumentError(field, `"${id}" is not a node id (1-64 characters of letters, digits, _ . -)`);
  return toNodeId(id);
}

function checkAddress(address: string, field: string, required: boolean): string {
  if (address === '' && !required) return '';
  if (!/^\S+:\d{1,5}$/.test(address)) throw new InvalidArgumentError(field, `"${address}" is not host:port`);
  return address;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
