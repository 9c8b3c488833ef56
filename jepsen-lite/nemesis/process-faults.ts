/**
 * Process faults: kill -9 and restart (one node, the leader, or every node at once), and pause
 * with SIGSTOP / resume with SIGCONT (one node, or the leader). Processes are addressed by the
 * pid the cluster launcher recorded, never by name.
 */
import type { ActiveFault, NemesisContext, NemesisFamily } from './nemesis.js';
import { currentLeader, pick } from './nemesis.js';

async function target(ctx: NemesisContext, kind: string): Promise<string[]> {
  if (kind.endsWith('-all')) return [...ctx.nodeIds];
  if (kind.endsWith('-leader')) return [(await currentLeader(ctx)) ?? pick(ctx.random, ctx.nodeIds)];
  return [pick(ctx.random, ctx.nodeIds)];
}

/** kill -9, restart at heal. */
export function killFamily(): NemesisFamily {
  return {
    name: 'kill',
    kinds: ['kill-leader', 'kill-one', 'kill-all'],
    nodeArgs: [],
    async unsupported(): Promise<string | null> {
      return null;
    },
    async start(ctx: NemesisContext, kind: string): Promise<ActiveFault> {
      const nodes = await target(ctx, kind);
      const pids = nodes.map((id) => `${id}:${ctx.cluster.pid(id) ?? '-'}`);
      await Promise.all(nodes.map((id) => ctx.cluster.kill(id, 'SIGKILL')));
      return {
        family: 'kill',
        kind,
        nodes,
        detail: `SIGKILL ${pids.join(' ')}`,
        leaderMayChange: kind === 'kill-all',
        async heal(): Promise<string> {
          for (const id of nodes) if (ctx.cluster.pid(id) === null) ctx.cluster.start(id);
          const started = await Promise.allSettled(nodes.map((id) => ctx.cluster.waitForHttp(id, 20_000)));
          const failed = started.flatMap((r, i) => (r.status === 'rejected' ? [`${nodes[i]}: ${String(r.reason)}`] : []));
          if (failed.length > 0) return `restart FAILED: ${failed.join('; ')}`;
          return `restarted ${nodes.map((id) => `${id}:${ctx.cluster.pid(id) ?? '-'}`).join(' ')}`;
        },
      };
    },
  };
}

/** SIGSTOP, SIGCONT at heal. */
export function pauseFamily(): NemesisFamily {
  return {
    name: 'pause',
    kinds: ['pause-leader', 'pause-one'],
    nodeArgs: [],
    async unsupported(): Promise<string | null> {
      return null;
    },
    async start(ctx: NemesisContext, kind: string): Promise<ActiveFault> {
      const nodes = await target(ctx, kind);
      for (const id of nodes) ctx.cluster.signal(id, 'SIGSTOP');
      return {
        family: 'pause',
        kind,
        nodes,
        detail: `SIGSTOP ${nodes.map((id) => `${id}:${ctx.cluster.pid(id) ?? '-'}`).join(' ')}`,
        leaderMayChange: false,
        async heal(): Promise<string> {
          for (const id of nodes) ctx.cluster.signal(id, 'SIGCONT');
          return `SIGCONT ${nodes.join(' ')}`;
        },
      };
    },
  };
}
