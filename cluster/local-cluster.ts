/**
 * Starts, stops, kills and restarts real raftkv node processes on loopback. Used by
 * `raftkv cluster up`, the end-to-end tests and jepsen-lite. Every process it starts is tracked by
 * pid and stopped by `stopAll()`; pids are also written to `<dataRoot>/<id>.pid`.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { closeSync, createWriteStream, fstatSync, mkdirSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Where one node listens and keeps its data. */
export interface LocalNodeSpec {
  readonly id: string;
  readonly clientAddress: string;
  readonly peerAddress: string;
  readonly httpAddress: string;
  readonly dataDir: string;
}

/** What `/status` on a node's HTTP port reports. */
export interface NodeStatus {
  readonly id: string;
  readonly role: string;
  readonly leader: string | null;
  readonly term: number;
  readonly commit: number;
  readonly applied: number;
  readonly [more: string]: unknown;
}

/** Options for planning a cluster's addresses. */
export interface PlanOptions {
  readonly nodes: number;
  readonly host?: string;
  readonly clientPortBase?: number;
  readonly peerPortBase?: number;
  readonly httpPortBase?: number;
  readonly dataRoot?: string;
}

/** The repository root, found from this file's location (works from src and from dist). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), import.meta.url.includes('/dist/') ? '../..' : '..');

/** Node ids `n1..nN` with ports base+1..base+N (7001-7003, 7101-7103, 7201-7203 by default). */
export function planCluster(options: PlanOptions): LocalNodeSpec[] {
  const host = options.host ?? '127.0.0.1';
  const dataRoot = options.dataRoot ?? join(repoRoot, 'data');
  return Array.from({ length: options.nodes }, (_, i) => ({
    id: `n${i + 1}`,
    clientAddress: `${host}:${(options.clientPortBase ?? 7000) + i + 1}`,
    peerAddress: `${host}:${(options.peerPortBase ?? 7100) + i + 1}`,
    httpAddress: `${host}:${(options.httpPortBase ?? 7200) + i + 1}`,
    dataDir: join(dataRoot, `n${i + 1}`),
  }));
}

/** Finds `count` distinct free TCP ports on 127.0.0.1 (for tests that run side by side). */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<ReturnType<typeof createServer>>((ok, fail) => {
      const s = createServer();
      s.once('error', fail);
      s.listen(0, '127.0.0.1', () => ok(s));
    })),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((ok) => s.close(ok))));
  return ports;
}

/** Plans a cluster on free loopback ports under `dataRoot` (for tests). */
export async function planTestCluster(nodes: number, dataRoot: string): Promise<LocalNodeSpec[]> {
  return (await planTestClusterWithPorts(nodes, dataRoot, 0)).specs;
}

/**
 * Plans a cluster as `planTestCluster` does, plus `extraPortCount` more free ports for the
 * caller's own listeners (proxies). All are picked in one `freePorts` call, so none of the extra
 * ports is a node's: listening on port 0 after the plan could be handed a node's port, which the
 * kernel has just seen freed.
 */
export async function planTestClusterWithPorts(nodes: number, dataRoot: string, extraPortCount: number): Promise<{ specs: LocalNodeSpec[]; extraPorts: number[] }> {
  const ports = await freePorts(nodes * 3 + extraPortCount);
  const specs = Array.from({ length: nodes }, (_, i) => ({
    id: `n${i + 1}`,
    clientAddress: `127.0.0.1:${ports[i * 3]}`,
    peerAddress: `127.0.0.1:${ports[i * 3 + 1]}`,
    httpAddress: `127.0.0.1:${ports[i * 3 + 2]}`,
    dataDir: join(dataRoot, `n${i + 1}`),
  }));
  return { specs, extraPorts: ports.slice(nodes * 3) };
}

/** Options for running the processes. */
export interface LocalClusterOptions {
  /** Extra `raftkv serve` flags for every node (for example `--election-ticks 10`). */
  readonly extraArgs?: readonly string[];
  /** Extra flags per node id. */
  readonly nodeArgs?: Readonly<Record<string, readonly string[]>>;
  /** Where `<id>.pid` files go (default: the parent of the first node's data dir). */
  readonly pidDir?: string;
  /** Send node output to `<dataDir>.log` (default) or inherit the parent's stdout/stderr. */
  readonly output?: 'file' | 'inherit';
  /** Extra environment variables. */
  readonly env?: Readonly<Record<string, string>>;
  /**
   * Per node id: a command that wraps the node's command line, for example
   * `['ip', 'netns', 'exec', 'ns1']` to run the node in a network namespace. The wrapper must exec
   * the node in place (as `ip netns exec` does), so the pid stays the node's.
   */
  readonly commandPrefix?: Readonly<Record<string, readonly string[]>>;
  /**
   * Per node id: the `--initial-cluster` value that node gets instead of `initialCluster`, so that
   * each node can see its peers at different addresses (for example through per-link proxies).
   */
  readonly initialClusterFor?: Readonly<Record<string, string>>;
  /** Called with each node process's pid right after it is spawned (for leftover tracking). */
  readonly onSpawn?: (id: string, pid: number) => void;
  /** Called when a node process exits, whatever the reason (after its log is flushed). */
  readonly onExit?: (id: string, code: number | null, signal: NodeJS.Signals | null) => void;
  /**
   * Start each node in its own process group (and session), so a Ctrl-C in the terminal reaches
   * only the parent, which then stops the nodes itself (jepsen-lite heals and checks first).
   */
  readonly detached?: boolean;
  /**
   * TLS with the certificates in `certsDir` (as `raftkv certs dev` writes them: ca.pem,
   * <id>.pem, <id>-key.pem): TLS on the client port, mutual TLS on the peer port, and with
   * `clientCertAuth` client certificates required too.
   */
  readonly tls?: LocalClusterTls;
}

/** TLS settings of a local cluster. */
export interface LocalClusterTls {
  readonly certsDir: string;
  readonly clientCertAuth?: boolean;
}

/** The `raftkv serve` TLS flags of node `id` with the certificates in `tls.certsDir`. */
export function tlsServeArgs(id: string, tls: LocalClusterTls): string[] {
  const file = (name: string): string => join(tls.certsDir, name);
  return [
    '--cert-file', file(`${id}.pem`),
    '--key-file', file(`${id}-key.pem`),
    ...(tls.clientCertAuth === true ? ['--trusted-ca-file', file('ca.pem'), '--client-cert-auth'] : []),
    '--peer-cert-file', file(`${id}.pem`),
    '--peer-key-file', file(`${id}-key.pem`),
    '--peer-trusted-ca-file', file('ca.pem'),
  ];
}

/** A set of raftkv node processes. */
export class LocalCluster {
  private readonly processes = new Map<string, ChildProcess>();
  private readonly pidDir: string;
  /** The command that starts a node: the built CLI. */
  readonly bin = join(repoRoot, 'bin', 'raftkv.js');

  constructor(
    readonly specs: readonly LocalNodeSpec[],
    private readonly options: LocalClusterOptions = {},
  ) {
    this.pidDir = options.pidDir ?? dirname(specs[0]?.dataDir ?? join(repoRoot, 'data'));
  }

  /** The `--initial-cluster` value for these nodes. */
  get initialCluster(): string {
    return this.specs.map((s) => `${s.id}=${s.peerAddress}`).join(',');
  }

  /** Client addresses, comma-separated (the client's `endpoints`). */
  get endpoints(): string {
    return this.specs.map((s) => s.clientAddress).join(',');
  }

  /** The spec of node `id`. */
  spec(id: string): LocalNodeSpec {
    const s = this.specs.find((x) => x.id === id);
    if (!s) throw new Error(`no node ${id} in this cluster`);
    return s;
  }

  /** The pid of a running node, or null. */
  pid(id: string): number | null {
    const p = this.processes.get(id);
    return p && p.exitCode === null && p.signalCode === null ? (p.pid ?? null) : null;
  }

  /** Ids of nodes whose process is running. */
  running(): string[] {
    return this.specs.map((s) => s.id).filter((id) => this.pid(id) !== null);
  }

  /** The arguments `raftkv serve` gets for node `id` (plus `extra`, for one start). */
  args(id: string, extra: readonly string[] = []): string[] {
    const s = this.spec(id);
    return [
      'serve',
      '--id', s.id,
      '--data-dir', s.dataDir,
      '--listen-client', s.clientAddress,
      '--listen-peer', s.peerAddress,
      '--listen-http', s.httpAddress,
      '--initial-cluster', this.options.initialClusterFor?.[id] ?? this.initialCluster,
      ...(this.options.tls === undefined ? [] : tlsServeArgs(id, this.options.tls)),
      ...(this.options.extraArgs ?? []),
      ...(this.options.nodeArgs?.[id] ?? []),
      ...extra,
    ];
  }

  /** Starts every node that is not running. */
  async startAll(): Promise<void> {
    for (const s of this.specs) if (this.pid(s.id) === null) this.start(s.id);
    await Promise.all(this.specs.map((s) => this.waitForHttp(s.id, 20_000)));
  }

  /** Starts node `id` (does not wait for it), with `extraArgs` for this start only (for example `--join`). */
  start(id: string, extraArgs: readonly string[] = []): ChildProcess {
    if (this.pid(id) !== null) throw new Error(`node ${id} is already running`);
    const s = this.spec(id);
    mkdirSync(dirname(s.dataDir), { recursive: true });
    mkdirSync(this.pidDir, { recursive: true });
    const inherit = this.options.output === 'inherit';
    const [command, ...prefixArgs] = [...(this.options.commandPrefix?.[id] ?? []), process.execPath];
    const child = spawn(command ?? process.execPath, [...prefixArgs, this.bin, ...this.args(id, extraArgs)], {
      stdio: inherit ? ['ignore', 'inherit', 'inherit'] : ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...this.options.env },
      detached: this.options.detached === true,
    });
    if (!inherit) {
      const log = createWriteStream(`${s.dataDir}.log`, { flags: 'a' });
      child.stdout?.pipe(log, { end: false });
      child.stderr?.pipe(log, { end: false });
      child.once('exit', (code, signal) => setTimeout(() => log.end(() => this.options.onExit?.(id, code, signal)), 50));
    } else {
      child.once('exit', (code, signal) => this.options.onExit?.(id, code, signal));
    }
    this.processes.set(id, child);
    if (child.pid !== undefined) {
      writeFileSync(join(this.pidDir, `${id}.pid`), `${child.pid}\n`);
      this.options.onSpawn?.(id, child.pid);
    }
    return child;
  }

  /** Sends `signal` to node `id` (SIGKILL by default) and waits for it to exit. */
  async kill(id: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.processes.get(id);
    if (!p || this.pid(id) === null) return;
    const exited = new Promise<void>((ok) => p.once('exit', () => ok()));
    p.kill(signal);
    await exited;
    rmSync(join(this.pidDir, `${id}.pid`), { force: true });
  }

  /** Pauses (SIGSTOP) or resumes (SIGCONT) node `id`. */
  signal(id: string, signal: 'SIGSTOP' | 'SIGCONT'): void {
    const pid = this.pid(id);
    if (pid !== null) process.kill(pid, signal);
  }

  /** Stops node `id` cleanly with SIGTERM, falling back to SIGKILL after `graceMs`. */
  async stop(id: string, graceMs = 10_000): Promise<void> {
    const p = this.processes.get(id);
    if (!p || this.pid(id) === null) return;
    const exited = new Promise<void>((ok) => p.once('exit', () => ok()));
    p.kill('SIGCONT');
    p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
    rmSync(join(this.pidDir, `${id}.pid`), { force: true });
  }

  /** Stops every node (SIGTERM, then SIGKILL after `graceMs`). */
  async stopAll(graceMs = 10_000): Promise<void> {
    await Promise.all(this.specs.map((s) => this.stop(s.id, graceMs)));
  }

  /** Kills every node at once with SIGKILL (for test teardown). */
  async killAll(): Promise<void> {
    await Promise.all(this.specs.map((s) => this.kill(s.id)));
  }

  /** The last `lines` lines of node `id`'s log file, read from its last 64 KiB (empty if it has none). */
  logTail(id: string, lines: number): string[] {
    const tailBytesMax = 64 * 1024;
    let fd: number | null = null;
    try {
      fd = openSync(`${this.spec(id).dataDir}.log`, 'r');
      const size = fstatSync(fd).size;
      const buffer = Buffer.alloc(Math.min(size, tailBytesMax));
      readSync(fd, buffer, 0, buffer.length, size - buffer.length);
      const text = buffer.toString('utf8').trimEnd();
      return text === '' ? [] : text.split('\n').slice(-lines);
    } catch {
      return [];
    } finally {
      if (fd !== null) closeSync(fd);
    }
  }

  /**
   * Reads `/status` from node `id`; null if it does not answer within `timeoutMs`. With
   * `stateHash`, the status carries the full state hash (`/status?hash=1`, which walks every key).
   */
  async status(id: string, timeoutMs = 1000, options: { readonly stateHash?: boolean } = {}): Promise<NodeStatus | null> {
    try {
      const res = await fetch(`http://${this.spec(id).httpAddress}/status${options.stateHash === true ? '?hash=1' : ''}`, { signal: AbortSignal.timeout(timeoutMs) });
      return res.ok ? ((await res.json()) as NodeStatus) : null;
    } catch {
      return null;
    }
  }

  /** Waits until node `id` answers on its HTTP port. */
  async waitForHttp(id: string, timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      if (this.pid(id) === null) throw new Error(`node ${id} exited during start-up; see ${this.spec(id).dataDir}.log`);
      if ((await this.status(id, 500)) !== null) return;
      await sleep(50);
    }
    throw new Error(`node ${id} did not answer on ${this.spec(id).httpAddress} within ${timeoutMs} ms`);
  }

  /**
   * Waits until the running nodes (or `among`) agree on one leader that is itself running and
   * says it leads; returns its status.
   */
  async waitForLeader(timeoutMs = 20_000, among: readonly string[] = this.running()): Promise<NodeStatus> {
    const end = Date.now() + timeoutMs;
    while (Date.now() < end) {
      const statuses = (await Promise.all(among.map((id) => this.status(id, 500)))).filter((s): s is NodeStatus => s !== null);
      const leader = statuses.find((s) => s.role === 'leader');
      if (leader && statuses.filter((s) => s.leader === leader.id && s.term === leader.term).length * 2 > this.specs.length) return leader;
      await sleep(50);
    }
    throw new Error(`no leader among ${among.join(', ')} within ${timeoutMs} ms`);
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((ok) => setTimeout(ok, ms));
}
