/**
 * Snapshot catch-up: nodes run with a low snapshot threshold (a snapshot every 50 applied
 * entries, keeping only 10 behind it), and a follower is isolated while the workload writes, so
 * the leader compacts its log past the follower's last entry and must send a snapshot when the
 * partition heals. A few seconds after the heal the nemesis reads the follower's
 * `raftkv_snapshots_installed_total` and records whether a snapshot was installed.
 */
import { cutsBetween } from '../net/network.js';
import type { ActiveFault, NemesisContext, NemesisFamily } from './nemesis.js';
import { currentLeader, pick } from './nemesis.js';

/** The thresholds the family starts nodes with. */
export const snapshotNodeArgs = ['--snapshot-entries', '50', '--snapshot-catchup-entries', '10'] as const;

/** A counter from a node's `/metrics`, or null if unreadable. */
export async function metricValue(httpAddress: string, name: string): Promise<number | null> {
  try {
    const res = await fetch(`http://${httpAddress}/metrics`, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return null;
    const line = (await res.text()).split('\n').find((l) => l.startsWith(`${name} `) || l.startsWith(`${name}{`));
    return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
  } catch {
    return null;
  }
}

/** The snapshot family. */
export function snapshotFamily(): NemesisFamily {
  return {
    name: 'snapshot',
    kinds: ['isolate-follower'],
    nodeArgs: [...snapshotNodeArgs],
    async unsupported(): Promise<string | null> {
      return null;
    },
    async start(ctx: NemesisContext, kind: string): Promise<ActiveFault> {
      const leader = await currentLeader(ctx);
      const follower = pick(ctx.random, ctx.nodeIds.filter((id) => id !== leader));
      const http = ctx.cluster.spec(follower).httpAddress;
      const before = await metricValue(http, 'raftkv_snapshots_installed_total');
      const lagFrom = (await ctx.cluster.status(follower))?.['lastIndex'];
      await ctx.net.cut(cutsBetween([[follower], ctx.nodeIds.filter((id) => id !== follower)]));
      let leaderFirstIndex: unknown = null;
      let leaderCommit = 0;
      let healedAt = 0;
      return {
        family: 'snapshot',
        kind,
        nodes: [follower],
        detail: `isolated follower ${follower} (last index ${String(lagFrom)}) while the leader compacts`,
        leaderMayChange: false,
        async heal(): Promise<string> {
          const l = await currentLeader(ctx, 1000);
          const s = l === null ? null : await ctx.cluster.status(l);
          leaderFirstIndex = s?.['firstIndex'] ?? null;
          leaderCommit = s?.commit ?? 0;
          await ctx.net.cut([]);
          healedAt = Date.now();
          return `healed; leader's first log index ${String(leaderFirstIndex)}, follower's last ${String(lagFrom)}`;
        },
        async verify(): Promise<string> {
          // Wait (up to 15 s) until the follower has applied what the leader had committed at the heal.
          let caughtUpMs: number | null = null;
          while (Date.now() - healedAt < 15_000) {
            const s = await ctx.cluster.status(follower, 500);
            if (s !== null && s.applied >= leaderCommit) {
              caughtUpMs = Date.now() - healedAt;
              break;
            }
            await new Promise((r) => setTimeout(r, 200));
          }
          const after = await metricValue(http, 'raftkv_snapshots_installed_total');
          const installed = before !== null && after !== null && after > before;
          const compactedPast = typeof leaderFirstIndex === 'number' && typeof lagFrom === 'number' && leaderFirstIndex > lagFrom + 1;
          const catchUp = caughtUpMs === null ? `had NOT caught up with index ${leaderCommit} after 15 s` : `caught up in ${(caughtUpMs / 1000).toFixed(1)} s`;
          return installed
            ? `snapshot installed on ${follower} (raftkv_snapshots_installed_total ${before} -> ${after}); ${catchUp}`
            : `NO snapshot installed on ${follower} (${before} -> ${after}; ${compactedPast ? 'the leader had compacted past it, so it caught up from entries already in flight before the cut' : 'the leader had not compacted past it'}); ${catchUp}`;
        },
      };
    },
  };
}
