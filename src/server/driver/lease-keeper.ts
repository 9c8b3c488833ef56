/**
 * The leader's half of leases (etcd's lessor): the deadline of every lease, on the leader's
 * monotonic clock, renewed by keep-alives without a log entry; when one passes, the leader
 * proposes a `leaseRevoke` through the log (at most `leaseRevokesPerTickMax` per tick), so every
 * replica deletes the lease's keys at the same revision. Followers keep no deadline.
 *
 * A new leader gives every lease its full TTL again from the moment it became leader (etcd's
 * `Promote`): the remaining TTL is extended, never cut short, since the new leader cannot know
 * when the old one last renewed. A lease granted while this node leads gets its TTL from the
 * moment the grant is applied here.
 *
 * Why a lease never expires before TTL after the last keep-alive a client saw answered, measured
 * from when the client sent it: the keep-alive is answered only after a ReadIndex round on this
 * leader (leases/lease-service-core.ts), so the leader was still leader and had applied every
 * entry of earlier terms, including any expiry revoke an earlier leader proposed; then the
 * deadline is set to now + TTL on the leader, at or after the client's send time. A keep-alive
 * that arrives after the deadline passed finds the lease expiring and is refused. Leaders change
 * only after an election timeout without heartbeats, and the next leader restarts every TTL.
 */
import type { LeaseInfo, WriteResult } from '../../kv/index.js';
import { leaseRevokesPendingMax, leaseRevokesPerTickMax } from '../leases/lease-limits.js';

/** What the keeper needs from the driver. */
export interface LeaseKeeperDeps {
  /** Monotonic ms (the driver's `Clock.monotonicMs`). */
  readonly nowMs: () => number;
  /** The live leases of the current state machine. */
  readonly leases: () => readonly LeaseInfo[];
  /** Whether lease `id` exists in the current state machine. */
  readonly hasLease: (id: number) => boolean;
  /** Proposes the revoke of an expired lease; settles once applied (or fails). */
  readonly proposeRevoke: (id: number) => Promise<unknown>;
}

/** How a keep-alive ended on the keeper. */
export type KeepAliveAnswer = { readonly type: 'renewed'; readonly ttlS: number } | { readonly type: 'notLeader' } | { readonly type: 'expired' };

/** The lease deadlines while this node leads. */
export class LeaseKeeper {
  /** Deadline (monotonic ms) and granted TTL of each lease, while leading. */
  private readonly deadlines = new Map<number, { deadlineMs: number; ttlS: number }>();
  /** Leases whose expiry revoke is proposed and not yet applied. */
  private readonly revoking = new Set<number>();
  private leading = false;
  /** Bumped on every change of leadership: answers of an older reign are ignored. */
  private reign = 0;

  constructor(private readonly deps: LeaseKeeperDeps) {}

  /** True while this node leads and keeps deadlines. */
  get isLeading(): boolean {
    return this.leading;
  }

  /** Number of expiry revokes in flight. */
  get revokesPending(): number {
    return this.revoking.size;
  }

  /** This node became leader: every lease gets its full TTL from now. */
  onBecameLeader(): void {
    this.leading = true;
    this.reign += 1;
    this.deadlines.clear();
    this.revoking.clear();
    const now = this.deps.nowMs();
    for (const lease of this.deps.leases()) this.deadlines.set(lease.id, { deadlineMs: now + lease.ttlS * 1000, ttlS: lease.ttlS });
  }

  /** This node stopped leading: deadlines are the next leader's business. */
  onLostLeadership(): void {
    this.leading = false;
    this.reign += 1;
    this.deadlines.clear();
    this.revoking.clear();
  }

  /** An entry was applied here: a grant starts its TTL, a revoke ends the lease's deadline. */
  onApplied(result: WriteResult): void {
    if (!this.leading) return;
    if (result.type === 'leaseGrant') this.deadlines.set(result.id, { deadlineMs: this.deps.nowMs() + result.ttlS * 1000, ttlS: result.ttlS });
    else if (result.type === 'leaseRevoke') {
      this.deadlines.delete(result.id);
      this.revoking.delete(result.id);
    }
  }

  /**
   * Renews lease `id` (known to exist in the applied state) to its full TTL from now. The caller
   * has confirmed leadership (ReadIndex) just before.
   */
  keepAlive(id: number, ttlS: number): KeepAliveAnswer {
    if (!this.leading) return { type: 'notLeader' };
    const now = this.deps.nowMs();
    const held = this.deadlines.get(id);
    if (this.revoking.has(id) || (held !== undefined && held.deadlineMs <= now)) return { type: 'expired' };
    this.deadlines.set(id, { deadlineMs: now + ttlS * 1000, ttlS });
    return { type: 'renewed', ttlS };
  }

  /** The ms left before lease `id` expires (0 once expired), or null if not leading or unknown. */
  remainingMs(id: number): number | null {
    if (!this.leading) return null;
    const held = this.deadlines.get(id);
    if (held === undefined) return null;
    return this.revoking.has(id) ? 0 : Math.max(0, held.deadlineMs - this.deps.nowMs());
  }

  /** Proposes the revoke of up to `leaseRevokesPerTickMax` expired leases, earliest deadline first. */
  tick(): void {
    if (!this.leading) return;
    const now = this.deps.nowMs();
    const budget = Math.min(leaseRevokesPerTickMax, leaseRevokesPendingMax - this.revoking.size);
    if (budget <= 0) return;
    const expired: [number, number][] = [];
    for (const [id, held] of this.deadlines) if (held.deadlineMs <= now && !this.revoking.has(id)) expired.push([id, held.deadlineMs]);
    expired.sort((a, b) => a[1] - b[1] || a[0] - b[0]);
    const reign = this.reign;
    for (const [id] of expired.slice(0, budget)) {
      this.revoking.add(id);
      // A revoke that fails (dropped, overloaded, leadership lost) is proposed again next tick
      // if this node still leads; a lease revoked meanwhile by its client answers NOT_FOUND.
      this.deps.proposeRevoke(id).then(
        () => this.settled(id, reign),
        () => this.settled(id, reign),
      );
    }
  }

  private settled(id: number, reign: number): void {
    if (reign !== this.reign) return;
    this.revoking.delete(id);
    // Applied (or refused because the lease was gone): onApplied removed it; if the lease still
    // exists in the applied state, the next tick proposes again.
    if (!this.deps.hasLease(id)) this.deadlines.delete(id);
  }
}
