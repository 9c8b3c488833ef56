/**
 * A proxy agent: runs INSIDE one node's network namespace (started with `ip netns exec`) and holds
 * that node's outgoing peer-link proxies, so that proxied traffic still leaves from the node's own
 * IP and the namespace's packet filter or routes still apply to it. Used by the netns mechanism
 * for latency and loss when the kernel has no sch_netem. Controlled over the Node IPC channel;
 * exits as soon as the harness goes away (the channel closes).
 */
import { LinkProxy } from './link-proxy.js';
import type { LinkState } from './link-proxy.js';

/** A link the agent should proxy. */
export interface AgentLink {
  readonly key: string;
  readonly listenPort: number;
  readonly targetHost: string;
  readonly targetPort: number;
}

/** Messages from the harness. */
export type AgentCommand =
  | { readonly type: 'links'; readonly links: readonly AgentLink[] }
  | { readonly type: 'set'; readonly key: string; readonly state: LinkState }
  | { readonly type: 'close' };

/** Messages to the harness. */
export type AgentReply = { readonly type: 'ready'; readonly ports: Readonly<Record<string, number>> } | { readonly type: 'error'; readonly message: string };

const proxies = new Map<string, LinkProxy>();

async function handle(command: AgentCommand): Promise<void> {
  switch (command.type) {
    case 'links': {
      const ports: Record<string, number> = {};
      for (const link of command.links) {
        const proxy = new LinkProxy({ listenHost: '127.0.0.1', listenPort: link.listenPort, targetHost: link.targetHost, targetPort: link.targetPort });
        ports[link.key] = await proxy.start();
        proxies.set(link.key, proxy);
      }
      send({ type: 'ready', ports });
      return;
    }
    case 'set':
      proxies.get(command.key)?.set(command.state);
      return;
    case 'close':
      await Promise.all([...proxies.values()].map((p) => p.close()));
      process.exit(0);
  }
}

function send(reply: AgentReply): void {
  process.send?.(reply);
}

if (process.send === undefined) {
  console.error('proxy-agent: must be started by jepsen-lite with an IPC channel');
  process.exit(2);
}
process.on('message', (m: AgentCommand) => {
  handle(m).catch((e: unknown) => send({ type: 'error', message: e instanceof Error ? e.message : String(e) }));
});
process.on('disconnect', () => process.exit(0));
