/**
 * The named limits of lease expiry and keep-alive (the replicated ones, leasesMax, leaseKeysMax and
 * the TTL range, are cluster limits: kv/cluster-limits.ts).
 */

/**
 * Most expiry revokes the leader proposes per tick. Leases that expire together beyond it are
 * revoked over the next ticks, so a mass expiry cannot flood the log; it bounds how late a key may
 * outlive its lease (README, "Leases").
 */
export const leaseRevokesPerTickMax = 64;

/** Most expiry revokes in flight (proposed, not yet applied) at once; beyond it expiry waits. */
export const leaseRevokesPendingMax = 1024;

/** Most keys a TimeToLive answer lists; beyond it the answer says how many were left out. */
export const leaseTimeToLiveKeysMax = 10_000;

/** Most concurrent keep-alive streams one node serves; beyond it new streams are refused (RESOURCE_EXHAUSTED). */
export const leaseKeepAliveStreamsMax = 10_000;
