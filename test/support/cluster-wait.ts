/** Waits that tests of a `LocalCluster` share. */
import type { LocalCluster } from '../../cluster/local-cluster.js';

/**
 * Waits (bounded) until every node of `ids` reports the same leader: etcd clients pick any
 * endpoint, and a follower passes leader-only calls on only once it knows the leader
 * (`waitForLeader` needs only a majority to).
 */
export async function waitForAllToKnowLeader(cluster: LocalCluster, ids: readonly string[] = ['n1', 'n2', 'n3'], timeoutMs = 20_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const leaders = await Promise.all(ids.map(async (id) => (await cluster.status(id, 500))?.leader ?? null));
    const first = leaders[0] ?? null;
    if (first !== null && leaders.every((l) => l === first)) return first;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`not every node of ${ids.join(', ')} knew the leader within ${timeoutMs} ms`);
}
