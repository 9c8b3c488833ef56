/**
 * The netns mechanism: each node runs in its own Linux network namespace (`rkvj-<slot>-<id>`)
 * with its own IP (10.77.<slot>.<10+i>) on a veth pair plugged into a bridge in the root
 * namespace (10.77.<slot>.1), and binds exactly that IP. The harness reaches every node over the
 * bridge. Partitions are packet-filter DROP rules inside the node namespaces (iptables, else nft),
 * or, when neither tool is installed, blackhole routes (`ip route add blackhole`), which drop a
 * node's packets to the cut peer just as silently (only a brand-new connect() fails at once).
 * Latency and loss use `tc netem` when the kernel has it; otherwise a proxy agent inside each
 * node's namespace delays that node's outgoing peer links (and a packet filter drops packets at
 * random for loss, when there is one). Root only.
 */
import { execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LocalNodeSpec } from '../../cluster/local-cluster.js';
import { repoRoot } from '../../cluster/local-cluster.js';
import type { NetCapabilities } from './detect.js';
import type { CutLink, CutStyle, LinkFaults, NetPlan, Network } from './network.js';
import type { AgentCommand, AgentReply } from './proxy-agent.js';
import type { Slot } from './run-registry.js';
import { removeNamespace, run } from './run-registry.js';

/** Ports every node binds on its own IP. */
export const netnsPorts = { client: 7001, peer: 7002, http: 7003, agentBase: 17100 } as const;

/** Options of the netns network. */
export interface NetnsNetworkOptions {
  readonly slot: Slot;
  readonly capabilities: NetCapabilities;
  /** True if the run will slow links (latency or loss nemesis): starts proxy agents when there is no netem. */
  readonly needSlow: boolean;
  /** Where agent logs go. */
  readonly logDir: string;
}

interface NodeNet {
  readonly id: string;
  readonly ns: string;
  readonly veth: string;
  readonly ip: string;
  agent: ChildProcess | null;
}

/** Runs a command and throws with its stderr on failure (for setup steps that must work). */
function must(command: string, args: readonly string[], input?: string): string {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], timeout: 15_000, ...(input === undefined ? {} : { input }) });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${(err.stderr ?? '').trim() || err.message}`);
  }
}

/** Namespaces, a bridge and filter rules. */
export class NetnsNetwork implements Network {
  readonly mechanism = 'netns' as const;
  readonly methods: Record<'partition' | 'latency' | 'loss', string>;
  private readonly nodes = new Map<string, NodeNet>();
  private readonly subnet: string;
  private readonly bridge: string;
  private readonly useAgents: boolean;
  private cuts: CutLink[] = [];
  private cutStyle: CutStyle = 'blackhole';
  private faults: LinkFaults | null = null;
  /** Per node: blackhole routes now installed (route fallback only). */
  private readonly routes = new Map<string, Map<string, string>>();

  constructor(private readonly options: NetnsNetworkOptions) {
    const caps = options.capabilities;
    const k = options.slot.record.slot;
    this.subnet = `10.77.${k}`;
    this.bridge = `rkvj-${k}-br`;
    this.useAgents = options.needSlow && !caps.netem;
    this.methods = {
      partition: caps.filter === 'iptables' ? 'iptables DROP rules in the node namespaces' : caps.filter === 'nft' ? 'nft drop rules in the node namespaces' : 'blackhole routes in the node namespaces (no iptables or nft installed)',
      latency: caps.netem ? 'tc netem on each namespace interface' : 'userspace proxy agent in each node namespace (kernel has no sch_netem)',
      loss: caps.netem
        ? 'tc netem loss'
        : caps.filter !== null
          ? `${caps.filter} random drop (kernel has no sch_netem)`
          : 'userspace proxy agent, loss emulated as retransmission delay (no sch_netem, no packet filter)',
    };
  }

  async setup(nodeIds: readonly string[], dataRoot: string): Promise<NetPlan> {
    const { slot } = this.options;
    must('ip', ['link', 'add', this.bridge, 'type', 'bridge']);
    slot.addLink(this.bridge);
    must('ip', ['addr', 'add', `${this.subnet}.1/24`, 'dev', this.bridge]);
    must('ip', ['link', 'set', this.bridge, 'up']);
    const specs: LocalNodeSpec[] = [];
    nodeIds.forEach((id, i) => {
      const ns = `rkvj-${slot.record.slot}-${id}`;
      const veth = ns;
      const ip = `${this.subnet}.${11 + i}`;
      must('ip', ['netns', 'add', ns]);
      slot.addNamespace(ns);
      must('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
      slot.addLink(veth);
      must('ip', ['link', 'set', `${veth}p`, 'netns', ns]);
      must('ip', ['-n', ns, 'link', 'set', `${veth}p`, 'name', 'eth0']);
      must('ip', ['-n', ns, 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      must('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      must('ip', ['link', 'set', veth, 'master', this.bridge]);
      must('ip', ['link', 'set', veth, 'up']);
      this.nodes.set(id, { id, ns, veth, ip, agent: null });
      specs.push({
        id,
        clientAddress: `${ip}:${netnsPorts.client}`,
        peerAddress: `${ip}:${netnsPorts.peer}`,
        httpAddress: `${ip}:${netnsPorts.http}`,
        dataDir: join(dataRoot, id),
      });
    });
    const commandPrefix = Object.fromEntries([...this.nodes.values()].map((n) => [n.id, ['ip', 'netns', 'exec', n.ns]]));
    if (!this.useAgents) return { specs, commandPrefix };
    const initialClusterFor: Record<string, string> = {};
    const agents: Promise<void>[] = [];
    for (const node of this.nodes.values()) {
      const links = nodeIds
        .map((to, j) => ({ to, j }))
        .filter(({ to }) => to !== node.id)
        .map(({ to, j }) => ({ key: `${node.id}>${to}`, listenPort: netnsPorts.agentBase + j, targetHost: this.nodes.get(to)?.ip ?? '', targetPort: netnsPorts.peer }));
      agents.push(this.startAgent(node, links));
      initialClusterFor[node.id] = nodeIds
        .map((to, j) => (to === node.id ? `${to}=${node.ip}:${netnsPorts.peer}` : `${to}=127.0.0.1:${netnsPorts.agentBase + j}`))
        .join(',');
    }
    await Promise.all(agents);
    return { specs, commandPrefix, initialClusterFor };
  }

  private async startAgent(node: NodeNet, links: Extract<AgentCommand, { type: 'links' }>['links']): Promise<void> {
    const here = fileURLToPath(import.meta.url);
    const ts = here.endsWith('.ts');
    const agentPath = join(dirname(here), ts ? 'proxy-agent.ts' : 'proxy-agent.js');
    const child = spawn('ip', ['netns', 'exec', node.ns, process.execPath, ...(ts ? ['--import', 'tsx'] : []), agentPath], {
      cwd: repoRoot,
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      // Its own process group: a Ctrl-C meant for the harness must not cut the peer links mid-run.
      detached: true,
    });
    child.stderr?.pipe(createWriteStream(join(this.options.logDir, `agent-${node.id}.log`)));
    node.agent = child;
    if (child.pid !== undefined) this.options.slot.addProcess(child.pid, `proxy agent ${node.id}`);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`proxy agent in ${node.ns} did not start within 20 s`)), 20_000);
      child.once('exit', (code) => reject(new Error(`proxy agent in ${node.ns} exited with ${code}; see agent-${node.id}.log`)));
      child.on('message', (m: AgentReply) => {
        clearTimeout(timer);
        if (m.type === 'ready') resolve();
        else reject(new Error(`proxy agent in ${node.ns}: ${m.message}`));
      });
      child.send({ type: 'links', links } satisfies AgentCommand);
    });
  }

  async cut(links: readonly CutLink[], style: CutStyle = 'blackhole'): Promise<void> {
    this.cuts = [...links];
    this.cutStyle = style;
    this.applyFilters();
  }

  async slow(faults: LinkFaults | null): Promise<void> {
    this.faults = faults;
    const caps = this.options.capabilities;
    if (caps.netem) {
      for (const node of this.nodes.values()) {
        if (faults === null) run('ip', ['netns', 'exec', node.ns, 'tc', 'qdisc', 'del', 'dev', 'eth0', 'root']);
        else {
          const args = ['delay', `${faults.delayMs}ms`, `${faults.jitterMs}ms`, 'loss', `${(faults.lossRate * 100).toFixed(2)}%`];
          must('ip', ['netns', 'exec', node.ns, 'tc', 'qdisc', 'replace', 'dev', 'eth0', 'root', 'netem', ...args]);
        }
      }
      return;
    }
    if (!this.useAgents && faults !== null && faults.delayMs + faults.jitterMs > 0) {
      throw new Error('latency needs tc netem or proxy agents; this network was set up without them (needSlow false)');
    }
    // Loss through the packet filter when there is one (real packet loss); else the agents emulate it.
    const filterLoss = caps.filter !== null;
    for (const node of this.nodes.values()) {
      for (const to of this.nodes.keys()) {
        if (to === node.id || !node.agent) continue;
        const state = { mode: 'pass' as const, delayMs: faults?.delayMs ?? 0, jitterMs: faults?.jitterMs ?? 0, lossRate: filterLoss ? 0 : (faults?.lossRate ?? 0) };
        node.agent.send({ type: 'set', key: `${node.id}>${to}`, state } satisfies AgentCommand);
      }
    }
    if (filterLoss) this.applyFilters();
  }

  /** Rebuilds every namespace's filter (or routes) from the current cuts and loss. */
  private applyFilters(): void {
    const filter = this.options.capabilities.filter;
    const lossRate = this.options.capabilities.netem ? 0 : (this.faults?.lossRate ?? 0);
    for (const node of this.nodes.values()) {
      const dropOut = this.cuts.filter((c) => c.from === node.id).map((c) => this.nodes.get(c.to)?.ip ?? '');
      const dropIn = this.cuts.filter((c) => c.to === node.id).map((c) => this.nodes.get(c.from)?.ip ?? '');
      const peers = [...this.nodes.values()].filter((n) => n.id !== node.id).map((n) => n.ip);
      if (filter === 'iptables') this.applyIptables(node, dropIn, dropOut, peers, lossRate);
      else if (filter === 'nft') this.applyNft(node, dropIn, dropOut, peers, lossRate);
      else this.applyRoutes(node, dropOut);
    }
  }

  private applyIptables(node: NodeNet, dropIn: string[], dropOut: string[], peers: string[], lossRate: number): void {
    const ipt = (...args: string[]): string => must('ip', ['netns', 'exec', node.ns, 'iptables', '-w', ...args]);
    ipt('-F', 'INPUT');
    ipt('-F', 'OUTPUT');
    for (const ip of dropIn) ipt('-A', 'INPUT', '-s', ip, '-j', 'DROP');
    for (const ip of dropOut) ipt('-A', 'OUTPUT', '-d', ip, '-j', 'DROP');
    if (lossRate > 0) for (const ip of peers) ipt('-A', 'INPUT', '-s', ip, '-m', 'statistic', '--mode', 'random', '--probability', lossRate.toFixed(4), '-j', 'DROP');
  }

  private applyNft(node: NodeNet, dropIn: string[], dropOut: string[], peers: string[], lossRate: number): void {
    const set = (ips: string[]): string => `{ ${ips.join(', ')} }`;
    const lines = ['table ip rkvj {', '  chain input {', '    type filter hook input priority 0; policy accept;'];
    if (dropIn.length > 0) lines.push(`    ip saddr ${set(dropIn)} drop`);
    if (lossRate > 0 && peers.length > 0) lines.push(`    ip saddr ${set(peers)} numgen random mod 10000 < ${Math.round(lossRate * 10000)} drop`);
    lines.push('  }', '  chain output {', '    type filter hook output priority 0; policy accept;');
    if (dropOut.length > 0) lines.push(`    ip daddr ${set(dropOut)} drop`);
    lines.push('  }', '}');
    run('ip', ['netns', 'exec', node.ns, 'nft', 'delete', 'table', 'ip', 'rkvj']);
    must('ip', ['netns', 'exec', node.ns, 'nft', '-f', '-'], `${lines.join('\n')}\n`);
  }

  private applyRoutes(node: NodeNet, dropOut: string[]): void {
    const type = this.cutStyle === 'drop' ? 'prohibit' : 'blackhole';
    const now = this.routes.get(node.id) ?? new Map<string, string>();
    for (const [ip, t] of now) {
      if (!dropOut.includes(ip) || t !== type) {
        run('ip', ['-n', node.ns, 'route', 'del', `${ip}/32`]);
        now.delete(ip);
      }
    }
    for (const ip of dropOut) {
      if (now.has(ip)) continue;
      must('ip', ['-n', node.ns, 'route', 'add', type, `${ip}/32`]);
      now.set(ip, type);
    }
    this.routes.set(node.id, now);
  }

  async teardown(): Promise<void> {
    for (const node of this.nodes.values()) {
      if (node.agent && node.agent.exitCode === null) {
        const exited = new Promise<void>((resolve) => node.agent?.once('exit', () => resolve()));
        node.agent.kill('SIGKILL');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      }
    }
    this.teardownSync();
  }

  teardownSync(): void {
    for (const node of this.nodes.values()) {
      if (node.agent?.pid !== undefined && node.agent.exitCode === null) {
        try {
          node.agent.kill('SIGKILL');
        } catch {
          // Gone.
        }
      }
      removeNamespace(node.ns);
    }
    this.nodes.clear();
    run('ip', ['link', 'del', this.bridge]);
  }
}
