/**
 * Convergence after the final heal: every node reaches the same applied index and the same state
 * hash (the `/status?hash=1` fields), and stays there, within a time limit.
 */
import type { LocalCluster, NodeStatus } from '../../cluster/local-cluster.js';
import type { CheckOutcome } from './check.js';

/** Polls until every node agrees twice in a row, or `timeoutMs` passes. */
export async function checkConvergence(cluster: LocalCluster, timeoutMs = 30_000): Promise<CheckOutcome> {
  const started = Date.now();
  let last: (NodeStatus | null)[] = [];
  let agreedOnce = false;
  while (Date.now() - started < timeoutMs) {
    last = await Promise.all(cluster.specs.map((s) => cluster.status(s.id, 1000, { stateHash: true })));
    const agree = last.every((s) => s !== null && s.applied === last[0]?.applied && typeof s['stateHash'] === 'string' && s['stateHash'] === last[0]?.['stateHash']);
    if (agree && agreedOnce) {
      const s = last[0];
      return {
        name: 'convergence',
        ok: true,
        summary: `all ${last.length} nodes at applied index ${s?.applied} with state hash ${String(s?.['stateHash'])} after ${((Date.now() - started) / 1000).toFixed(1)} s`,
        problems: [],
        data: { nodes: table(cluster, last), ms: Date.now() - started },
      };
    }
    agreedOnce = agree;
    await new Promise((r) => setTimeout(r, agree ? 300 : 200));
  }
  const rows = table(cluster, last);
  return {
    name: 'convergence',
    ok: false,
    summary: `nodes did not converge within ${timeoutMs / 1000} s`,
    problems: rows.map((r) => `${r.id}: ${r.answered ? `applied ${r.applied}, commit ${r.commit}, hash ${r.stateHash}, role ${r.role}, term ${r.term}` : 'no answer'}`),
    data: { nodes: rows },
  };
}

function table(cluster: LocalCluster, statuses: readonly (NodeStatus | null)[]): { id: string; answered: boolean; applied?: number; commit?: number; stateHash?: string; role?: string; term?: number }[] {
  return cluster.specs.map((spec, i) => {
    const s = statuses[i];
    return s ? { id: spec.id, answered: true, applied: s.applied, commit: s.commit, stateHash: String(s['stateHash']), role: s.role, term: s.term } : { id: spec.id, answered: false };
  });
}
