/**
 * Latency and loss on every peer link: netem when the kernel has it, otherwise the userspace
 * proxies' delay (see the network's `methods` for what this run used).
 */
import type { LinkFaults } from '../net/network.js';
import type { ActiveFault, NemesisContext, NemesisFamily } from './nemesis.js';

/** What each kind does. */
export const netKinds: Readonly<Record<string, LinkFaults>> = {
  latency: { delayMs: 100, jitterMs: 50, lossRate: 0 },
  loss: { delayMs: 0, jitterMs: 0, lossRate: 0.1 },
  'latency+loss': { delayMs: 50, jitterMs: 50, lossRate: 0.05 },
};

/** The net family (optionally with other settings, for negative controls). */
export function netFamily(kinds: Readonly<Record<string, LinkFaults>> = netKinds): NemesisFamily {
  return {
    name: 'net',
    kinds: Object.keys(kinds),
    nodeArgs: [],
    async unsupported(): Promise<string | null> {
      return null;
    },
    async start(ctx: NemesisContext, kind: string): Promise<ActiveFault> {
      const faults = kinds[kind];
      if (!faults) throw new Error(`unknown net kind ${kind}`);
      await ctx.net.slow(faults);
      const how = kind.includes('loss') && !kind.includes('latency') ? ctx.net.methods.loss : ctx.net.methods.latency;
      return {
        family: 'net',
        kind,
        nodes: [...ctx.nodeIds],
        detail: `delay ${faults.delayMs}±${faults.jitterMs} ms, loss ${(faults.lossRate * 100).toFixed(0)}% on every peer link (${how})`,
        // Loss or delay on every link can stall a TCP stream past the election timeout, so an
        // election is legitimate here; no node rejoins, so the deposed-leader check does not apply.
        leaderMayChange: true,
        async heal(): Promise<string> {
          await ctx.net.slow(null);
          return 'links restored';
        },
      };
    },
  };
}
