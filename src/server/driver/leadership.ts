/**
 * What this node knows of the leadership (the core's soft state: its role and the leader), and
 * what a change of it does to the driver's other parts: a new leader takes over lease deadlines
 * and records the cluster limits if the log never set them; a lost leadership fails pending
 * writes as outcome unknown; a new leader fails unconfirmed reads.
 */
import type { Role, SoftState } from '../../raft/index.js';
import { logIndex, OutcomeUnknownError, UnavailableError } from '../../util/index.js';
import type { NodeId } from '../../util/index.js';
import { proposeBootstrapLimits } from '../apply-notes.js';
import type { RaftDriverDeps } from './driver-deps.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { ProposalTracker } from './proposal-tracker.js';
import type { RaftInstance } from './raft-instance.js';
import type { ReadTracker } from './read-tracker.js';

/** What leadership changes touch. */
export interface LeadershipHost {
  readonly deps: Pick<RaftDriverDeps, 'metrics' | 'options' | 'logger'>;
  readonly proposals: ProposalTracker;
  readonly reads: ReadTracker;
  readonly leases: LeaseKeeper;
  /** The current Raft instance (rebuilt after a disk fault). */
  instance(): RaftInstance;
  nowMs(): number;
}

/** The node's role and the leader it knows. */
export class Leadership {
  private soft: SoftState = { leader: null, role: 'follower' };

  constructor(private readonly host: LeadershipHost) {}

  /** The leader this node knows, or null. */
  get leader(): NodeId | null {
    return this.soft.leader;
  }

  get role(): Role {
    return this.soft.role;
  }

  get leading(): boolean {
    return this.soft.role === 'leader';
  }

  /** The core reported a new soft state (or the driver stepped down after a disk fault). */
  change(s: SoftState): void {
    const { host } = this;
    const { deps } = host;
    const inst = host.instance();
    const before = this.soft;
    this.soft = s;
    if (s.leader !== before.leader && s.leader !== null) deps.metrics.leaderChanges.inc();
    if (before.role !== 'leader' && s.role === 'leader') {
      // The core appended its term's first (empty) entry on becoming leader: the last one now.
      inst.freshness.onBecameLeader(logIndex(inst.raw.status().lastIndex));
      host.leases.onBecameLeader();
      // A new leader records its flags as the cluster limits if the log never set them.
      proposeBootstrapLimits(inst.applied.kv, deps.options, deps.logger, (data) => inst.raw.propose(data));
    }
    if (before.role === 'leader' && s.role !== 'leader') {
      inst.freshness.onLostLeadership(deps.options.id, inst.applied.conf.voters, host.nowMs(), inst.applied.kv.appliedIndex);
      inst.contact.lostLeadership();
      host.leases.onLostLeadership();
      host.proposals.failAll(new OutcomeUnknownError('leadership was lost while the write was in flight; it may or may not apply'));
    }
    if (s.leader !== before.leader) host.reads.failAll(new UnavailableError('the leader changed before the read was confirmed; retry'));
    deps.logger.info({ role: s.role, leader: s.leader, term: inst.raw.term }, 'raft: role or leader changed');
  }
}
