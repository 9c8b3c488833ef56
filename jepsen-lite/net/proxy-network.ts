/**
 * The proxy mechanism: every node listens on loopback, and node i reaches peer j only through
 * its own proxy for the link i→j (each node gets an `--initial-cluster` that names its peers at
 * their proxies). Cutting a link sets its proxy to blackhole (silent loss, like a DROP rule) or
 * drop (connections reset and refused, like a REJECT rule); latency and loss are the proxies'
 * delays. Needs no privileges. Client traffic from the harness goes to the nodes directly.
 */
import { planTestClusterWithPorts } from '../../cluster/local-cluster.js';
import { LinkProxy, passingLink } from './link-proxy.js';
import type { CutLink, CutStyle, LinkFaults, NetPlan, Network } from './network.js';

/** Userspace proxies on every directed peer link. */
export class ProxyNetwork implements Network {
  readonly mechanism = 'proxy' as const;
  readonly methods = {
    partition: 'userspace TCP proxy per directed peer link (blackhole or reset)',
    latency: 'userspace TCP proxy delay',
    loss: 'userspace TCP proxy (loss emulated as retransmission delay)',
  };
  /** Proxy for the link `from>to`. */
  private readonly proxies = new Map<string, LinkProxy>();
  private faults: LinkFaults | null = null;
  private cuts = new Map<string, CutStyle>();

  constructor(private readonly random: () => number = Math.random) {}

  async setup(nodeIds: readonly string[], dataRoot: string): Promise<NetPlan> {
    // One port per directed link, picked with the nodes' ports so that no proxy can take one.
    const plan = await planTestClusterWithPorts(nodeIds.length, dataRoot, nodeIds.length * (nodeIds.length - 1));
    const specs = plan.specs.map((s, i) => ({ ...s, id: nodeIds[i] ?? s.id }));
    const proxyPorts = plan.extraPorts;
    const initialClusterFor: Record<string, string> = {};
    for (const from of specs) {
      const members: string[] = [];
      for (const to of specs) {
        if (to.id === from.id) {
          members.push(`${to.id}=${to.peerAddress}`);
          continue;
        }
        const [host, port] = splitAddress(to.peerAddress);
        const proxy = new LinkProxy({ listenHost: '127.0.0.1', listenPort: takePort(proxyPorts), targetHost: host, targetPort: port, random: this.random });
        this.proxies.set(`${from.id}>${to.id}`, proxy);
        members.push(`${to.id}=127.0.0.1:${await proxy.start()}`);
      }
      initialClusterFor[from.id] = members.join(',');
    }
    return { specs, initialClusterFor };
  }

  async cut(links: readonly CutLink[], style: CutStyle = 'blackhole'): Promise<void> {
    this.cuts = new Map(links.map((l) => [`${l.from}>${l.to}`, style]));
    this.apply();
  }

  async slow(faults: LinkFaults | null): Promise<void> {
    this.faults = faults;
    this.apply();
  }

  /** Counters of every proxy, for the run's results. */
  counters(): Record<string, LinkProxy['counters']> {
    return Object.fromEntries([...this.proxies].map(([k, p]) => [k, { ...p.counters }]));
  }

  private apply(): void {
    for (const [link, proxy] of this.proxies) {
      const style = this.cuts.get(link);
      const mode = style === undefined ? 'pass' : style;
      proxy.set({ ...passingLink, ...(this.faults ?? {}), mode });
    }
  }

  async teardown(): Promise<void> {
    await Promise.all([...this.proxies.values()].map((p) => p.close()));
    this.proxies.clear();
  }

  teardownSync(): void {
    // Proxies live in this process: they end with it.
  }
}

/** Splits `host:port`. */
export function splitAddress(address: string): [string, number] {
  const i = address.lastIndexOf(':');
  return [address.slice(0, i), Number(address.slice(i + 1))];
}

/** The next of the ports planned for the proxies (one per directed link). */
function takePort(ports: number[]): number {
  const port = ports.shift();
  if (port === undefined) throw new Error('proxy-network: more links than planned proxy ports');
  return port;
}
