/**
 * The transport-independent part of serving a KV read: waiting until local state may be read at
 * the consistency asked for. kv-service.ts calls it for gRPC requests, and the simulator calls it
 * on the production driver, so both run the same read path.
 *
 * - LINEARIZABLE: a ReadIndex round (RaftDriver.linearizableRead), then local state.
 * - STALE: local state at once. With a bound the node cannot PROVE it is within
 *   (RaftDriver.stalenessMs, driver/freshness.ts: an idle follower, one that just restarted or
 *   healed), one ReadIndex round first: a released read proves freshness as of when it was
 *   issued, so the read is then answered with that (small) staleness, or fails as a linearizable
 *   read would (no leader, deadline). The staleness is reported with the read; a node that cannot
 *   bound it (no bound asked) reports the largest safe integer.
 */
import { UnavailableError } from '../util/index.js';

/** How fresh a read must be. `maxStalenessMs` 0 means unbounded. */
export type ReadConsistency = { readonly kind: 'linearizable' } | { readonly kind: 'stale'; readonly maxStalenessMs: number };

/** What a read needs from the driver. */
export interface ReadGateDriver {
  linearizableRead(timeoutMs: number): Promise<void>;
  stalenessMs(): number;
}

/**
 * Resolves once local state may be read at `consistency`, with the staleness to report (0 for a
 * linearizable read). A bounded STALE read the node cannot prove takes a ReadIndex round first;
 * throws `UnavailableError` if even then it cannot (the bound is shorter than the round took).
 */
export async function awaitReadable(driver: ReadGateDriver, consistency: ReadConsistency, timeoutMs: number): Promise<number> {
  if (consistency.kind === 'linearizable') {
    await driver.linearizableRead(timeoutMs);
    return 0;
  }
  const bound = consistency.maxStalenessMs;
  let staleness = driver.stalenessMs();
  if (bound > 0 && staleness > bound) {
    await driver.linearizableRead(timeoutMs);
    staleness = driver.stalenessMs();
    if (staleness > bound) {
      throw new UnavailableError(`this node cannot prove it is within ${bound} ms of the leader, even after a ReadIndex round (${Number.isFinite(staleness) ? `proven staleness ${staleness} ms` : 'no bound proven'})`);
    }
  }
  return Number.isFinite(staleness) ? staleness : Number.MAX_SAFE_INTEGER;
}
