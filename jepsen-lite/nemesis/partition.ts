/**
 * Partitions: isolate one node, isolate the leader, split into a majority and a minority, or a
 * bridge (two halves that cannot reach each other, and one node that reaches both). Cuts are
 * silent drops (blackhole) by default; every third partition resets connections instead (drop),
 * which the proxy mechanism does by resetting and refusing and the route fallback by `prohibit`.
 */
import { cutsBetween } from '../net/network.js';
import type { CutStyle } from '../net/network.js';
import type { ActiveFault, NemesisContext, NemesisFamily } from './nemesis.js';
import { currentLeader, pick, shuffled } from './nemesis.js';

/** Splits of the node set for a kind (groups that cannot reach each other). */
async function groupsFor(ctx: NemesisContext, kind: string): Promise<{ groups: string[][]; targets: string[] }> {
  const ids = [...ctx.nodeIds];
  switch (kind) {
    case 'isolate-one': {
      const one = pick(ctx.random, ids);
      return { groups: [[one], ids.filter((x) => x !== one)], targets: [one] };
    }
    case 'isolate-leader': {
      const leader = (await currentLeader(ctx)) ?? pick(ctx.random, ids);
      return { groups: [[leader], ids.filter((x) => x !== leader)], targets: [leader] };
    }
    case 'majority-minority': {
      const order = shuffled(ctx.random, ids);
      const minority = order.slice(0, Math.floor((ids.length - 1) / 2));
      return { groups: [minority, order.slice(minority.length)], targets: minority };
    }
    case 'bridge': {
      const order = shuffled(ctx.random, ids);
      const half = Math.floor((ids.length - 1) / 2);
      const bridge = order[half] ?? '';
      return { groups: [order.slice(0, half), order.slice(half + 1)], targets: [bridge] };
    }
    default:
      throw new Error(`unknown partition kind ${kind}`);
  }
}

/** The partition family. */
export function partitionFamily(): NemesisFamily {
  let count = 0;
  return {
    name: 'partition',
    kinds: ['isolate-leader', 'isolate-one', 'majority-minority', 'bridge'],
    nodeArgs: [],
    async unsupported(): Promise<string | null> {
      return null;
    },
    async start(ctx: NemesisContext, kind: string): Promise<ActiveFault> {
      const { groups, targets } = await groupsFor(ctx, kind);
      const style: CutStyle = ++count % 3 === 0 ? 'drop' : 'blackhole';
      await ctx.net.cut(cutsBetween(groups), style);
      const shown = groups.map((g) => `{${g.join(',')}}`).join(' | ');
      return {
        family: 'partition',
        kind,
        nodes: targets,
        detail: `${shown} (${style}${kind === 'bridge' ? `, ${targets[0]} bridges` : ''})`,
        leaderMayChange: false,
        async heal(): Promise<string> {
          await ctx.net.cut([]);
          return 'network healed';
        },
      };
    },
  };
}
