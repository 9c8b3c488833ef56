/**
 * Membership changes: remove a follower from the cluster (Cluster.MemberRemove on the leader),
 * stop it and wipe its data directory; at heal, start it again empty with `--join` and add it
 * back (Cluster.MemberAdd, which returns once the leader has caught it up and promoted it to a
 * voter), so it rejoins as a new member and catches up by snapshot or log.
 *
 * Behind a capability check: the build must have MemberAdd and MemberRemove in the Cluster
 * service (proto/kv.proto and src/api). Without them the family reports "membership: not
 * supported by this build" and is skipped; nothing is faked. It also needs every node to see a
 * peer at the same address (netns): a member's peer address is cluster-wide, which the proxy
 * mechanism's per-node peer views cannot express.
 */
import { rmSync } from 'node:fs';
import { apiRoot, clusterService } from '../../src/api/index.js';
import type { ActiveFault, NemesisContext, NemesisFamily } from './nemesis.js';
import { currentLeader, pick } from './nemesis.js';

/** Null if this build and network can change membership; otherwise why not. */
export async function membershipUnsupported(ctx: NemesisContext): Promise<string | null> {
  let methods: string[] = [];
  try {
    methods = Object.keys(apiRoot.lookupService('raftkv.v1.Cluster').methods);
  } catch {
    return 'membership: not supported by this build (no raftkv.v1.Cluster service)';
  }
  const missing = ['MemberAdd', 'MemberRemove'].filter((m) => !methods.includes(m) || !Object.hasOwn(clusterService, m));
  if (missing.length > 0) return `membership: not supported by this build (the Cluster service has no ${missing.join('/')})`;
  if (ctx.peerViewsDiffer) return 'membership: not supported with --net proxy (a member\'s peer address is cluster-wide; use --net netns)';
  return null;
}

/** Calls a Cluster method on the leader, following NOT_LEADER hints. */
async function onLeader(ctx: NemesisContext, method: string, request: object, timeoutMs: number): Promise<string | null> {
  const end = Date.now() + timeoutMs;
  let node = (await currentLeader(ctx)) ?? ctx.nodeIds[0] ?? '';
  let error = 'no attempt';
  for (let attempt = 0; attempt < 5 && Date.now() < end; attempt++) {
    const r = await ctx.admin.admin(node, method, request, Math.max(1000, end - Date.now()));
    if (r.ok) return null;
    error = r.error;
    node = r.leaderHint ?? (await currentLeader(ctx)) ?? node;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return error;
}

/** The membership family. */
export function membershipFamily(): NemesisFamily {
  return {
    name: 'membership',
    kinds: ['remove-readd'],
    nodeArgs: [],
    unsupported: membershipUnsupported,
    async start(ctx: NemesisContext, kind: string): Promise<ActiveFault> {
      const leader = await currentLeader(ctx);
      const node = pick(ctx.random, ctx.nodeIds.filter((id) => id !== leader));
      const removed = await onLeader(ctx, 'MemberRemove', { id: node, force: false }, 20_000);
      if (removed !== null) throw new Error(`MemberRemove ${node} failed: ${removed}`);
      await ctx.cluster.stop(node);
      return {
        family: 'membership',
        kind,
        nodes: [node],
        detail: `removed ${node} (MemberRemove), stopped it`,
        leaderMayChange: false,
        async heal(): Promise<string> {
          const spec = ctx.cluster.spec(node);
          rmSync(spec.dataDir, { recursive: true, force: true });
          ctx.cluster.start(node, ['--join']);
          await ctx.cluster.waitForHttp(node, 20_000);
          const added = await onLeader(ctx, 'MemberAdd', { id: node, peerAddress: spec.peerAddress, clientAddress: spec.clientAddress, isLearner: false }, 30_000);
          if (added !== null) return `re-add FAILED: ${added}`;
          return `re-added ${node} with an empty data dir (MemberAdd; started with --join)`;
        },
        async verify(): Promise<string> {
          const r = await ctx.admin.admin<{ members?: { id: string; isLearner?: boolean }[] }>((await currentLeader(ctx)) ?? node, 'MemberList', {}, 2000);
          if (!r.ok) return `member list failed: ${r.error}`;
          const m = (r.value.members ?? []).find((x) => x.id === node);
          return m === undefined ? `${node} is NOT a member after the re-add` : `${node} is a ${m.isLearner === true ? 'learner (not yet promoted)' : 'voter'} again`;
        },
      };
    },
  };
}
