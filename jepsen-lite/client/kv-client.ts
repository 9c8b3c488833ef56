/**
 * The harness's client: raw gRPC over `src/api`, simple and explicit, so every outcome is
 * classified exactly (docs/design.md, "The client protocol and errors"):
 *
 * - a write that returned OK is `ok`;
 * - a write the server says was not applied (`raftkv-outcome: not_applied`, NOT_LEADER, overload,
 *   or a connection that was never established) is retried, at the leader when a hint names it,
 *   and is `fail` if the budget runs out with no attempt that might have been applied;
 * - a write whose outcome is unknown (deadline, `raftkv-outcome: unknown`, a dropped connection) is
 *   retried with the SAME client id and sequence number, which the server answers exactly once;
 *   if no attempt succeeds within the budget it is `indeterminate`;
 * - a read is retried on other nodes within its budget and is `fail` if none answers.
 */
import * as grpc from '@grpc/grpc-js';
import { clusterService, ErrorTrailer, kvService } from '../../src/api/index.js';

const KvClient = grpc.makeGenericClientConstructor(kvService as unknown as grpc.ServiceDefinition, 'KV');
const ClusterClient = grpc.makeGenericClientConstructor(clusterService as unknown as grpc.ServiceDefinition, 'Cluster');

/** A node the client can talk to. */
export interface ClientNode {
  readonly id: string;
  readonly address: string;
}

/** The outcome of one logical operation. */
export type CallResult<T> =
  | { readonly kind: 'ok'; readonly value: T; readonly node: string; readonly attempts: number }
  | { readonly kind: 'fail'; readonly error: string; readonly attempts: number; readonly harnessBug?: boolean }
  | { readonly kind: 'unknown'; readonly error: string; readonly attempts: number };

/** Timing of a write: total budget and per-attempt deadlines, escalating after each unknown outcome. */
export interface WriteTiming {
  readonly budgetMs: number;
  /** Attempt deadline after 0, 1, 2, ... unknown outcomes (the last repeats). */
  readonly attemptTimeoutsMs: readonly number[];
}

/** Timing of a read. */
export interface ReadTiming {
  readonly budgetMs: number;
  readonly attemptTimeoutMs: number;
}

/** A classified gRPC failure. */
interface Failure {
  readonly code: grpc.status;
  readonly details: string;
  readonly trailers: Record<string, string>;
}

type Method = string;

/** Methods of the Cluster service (every other method is the KV service's). */
function isClusterMethod(method: string): boolean {
  return Object.hasOwn(clusterService, method);
}

const channelOptions: grpc.ChannelOptions = {
  // Reconnect quickly after a node restarts (grpc-js backs off up to two minutes by default).
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  // Each harness client has its own connections, as separate client processes would.
  'grpc.use_local_subchannel_pool': 1,
};

/** Connections to every node for one harness client, with its exactly-once session. */
export class JepsenClient {
  private readonly kv = new Map<string, grpc.Client>();
  private readonly cluster = new Map<string, grpc.Client>();
  private seq = 0;
  /** Where writes go first: the last node that accepted one, or the last leader hint. */
  leaderGuess: string;
  private closed = false;

  constructor(
    readonly clientId: string,
    private readonly nodes: readonly ClientNode[],
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {
    this.leaderGuess = nodes[0]?.id ?? '';
  }

  /** Node ids in order. */
  get nodeIds(): string[] {
    return this.nodes.map((n) => n.id);
  }

  /**
   * A write (Put, Txn or Delete). The session fields are added here: one sequence number per
   * logical write, reused by every retry.
   */
  async write<Res>(method: 'Put' | 'Txn' | 'Delete', request: object, timing: WriteTiming): Promise<CallResult<Res>> {
    this.seq += 1;
    const session = { clientId: this.clientId, seq: this.seq, ackSeq: this.seq - 1 };
    const end = Date.now() + timing.budgetMs;
    let unknowns = 0;
    let attempts = 0;
    let lastError = 'no attempt';
    while (Date.now() < end && !this.closed) {
      const node = this.leaderGuess;
      const timeout = Math.min(timing.attemptTimeoutsMs[Math.min(unknowns, timing.attemptTimeoutsMs.length - 1)] ?? 1000, end - Date.now());
      if (timeout <= 0) break;
      attempts++;
      const r = await this.call<Res>(node, method, { ...request, ...session }, timeout);
      if (r.ok) return { kind: 'ok', value: r.value, node, attempts };
      const f = r.failure;
      lastError = `${node}: ${grpc.status[f.code] ?? f.code} ${f.details}`;
      switch (classifyWriteFailure(f)) {
        case 'not-leader': {
          const hint = f.trailers[ErrorTrailer.leaderId];
          this.leaderGuess = hint && hint !== node && this.nodes.some((n) => n.id === hint) ? hint : this.nextNode(node);
          if (!hint) await this.sleep(50);
          break;
        }
        case 'not-applied':
          this.leaderGuess = this.nextNode(node);
          await this.sleep(Math.min(100, Math.max(0, end - Date.now())));
          break;
        case 'overloaded':
          await this.sleep(Math.min(Number(f.trailers[ErrorTrailer.retryAfterMs] ?? 50) || 50, 500));
          break;
        case 'unknown':
          unknowns++;
          this.leaderGuess = this.nextNode(node);
          break;
        case 'bug':
          return unknowns > 0 ? { kind: 'unknown', error: lastError, attempts } : { kind: 'fail', error: lastError, attempts, harnessBug: true };
      }
    }
    return unknowns > 0 ? { kind: 'unknown', error: lastError, attempts } : { kind: 'fail', error: lastError, attempts };
  }

  /** A read (Get or Range), first at `node`, then at the other nodes in turn, within the budget. */
  async read<Res>(method: 'Get' | 'Range', request: object, node: string, timing: ReadTiming): Promise<CallResult<Res>> {
    const end = Date.now() + timing.budgetMs;
    let target = node;
    let attempts = 0;
    let lastError = 'no attempt';
    while (Date.now() < end && !this.closed) {
      const timeout = Math.min(timing.attemptTimeoutMs, end - Date.now());
      if (timeout <= 0) break;
      attempts++;
      const r = await this.call<Res>(target, method, request, timeout);
      if (r.ok) return { kind: 'ok', value: r.value, node: target, attempts };
      lastError = `${target}: ${grpc.status[r.failure.code] ?? r.failure.code} ${r.failure.details}`;
      if (classifyWriteFailure(r.failure) === 'bug') return { kind: 'fail', error: lastError, attempts, harnessBug: true };
      target = this.nextNode(target);
      if (r.failure.code !== grpc.status.DEADLINE_EXCEEDED) await this.sleep(Math.min(50, Math.max(0, end - Date.now())));
    }
    return { kind: 'fail', error: lastError, attempts };
  }

  /** `Cluster/<method>` on one node (status probes, membership changes); the error says why it failed. */
  async admin<Res>(node: string, method: string, request: object, timeoutMs: number): Promise<{ ok: true; value: Res } | { ok: false; error: string; leaderHint: string | null }> {
    const r = await this.call<Res>(node, method, request, timeoutMs);
    if (r.ok) return r;
    const f = r.failure;
    return { ok: false, error: `${node}: ${grpc.status[f.code] ?? f.code} ${f.details}`, leaderHint: f.trailers[ErrorTrailer.leaderId] ?? null };
  }

  /** Closes every connection; calls in flight fail. */
  close(): void {
    this.closed = true;
    for (const c of [...this.kv.values(), ...this.cluster.values()]) c.close();
    this.kv.clear();
    this.cluster.clear();
  }

  private nextNode(node: string): string {
    const i = this.nodes.findIndex((n) => n.id === node);
    return this.nodes[(i + 1) % this.nodes.length]?.id ?? node;
  }

  private channel(node: string, service: 'kv' | 'cluster'): grpc.Client {
    const map = service === 'kv' ? this.kv : this.cluster;
    let c = map.get(node);
    if (!c) {
      const address = this.nodes.find((n) => n.id === node)?.address;
      if (address === undefined) throw new Error(`unknown node ${node}`);
      c = new (service === 'kv' ? KvClient : ClusterClient)(address, grpc.credentials.createInsecure(), channelOptions);
      map.set(node, c);
    }
    return c;
  }

  private call<Res>(node: string, method: Method, request: object, timeoutMs: number): Promise<{ ok: true; value: Res } | { ok: false; failure: Failure }> {
    if (this.closed) return Promise.resolve({ ok: false, failure: { code: grpc.status.CANCELLED, details: 'client closed', trailers: {} } });
    const client = this.channel(node, isClusterMethod(method) ? 'cluster' : 'kv');
    const fn = (client as unknown as Record<string, (r: object, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Res) => void) => void>)[method];
    if (!fn) return Promise.resolve({ ok: false, failure: { code: grpc.status.UNIMPLEMENTED, details: `this build's API has no method ${method}`, trailers: {} } });
    return new Promise((resolve) => {
      fn.call(client, request, { deadline: Date.now() + timeoutMs }, (e, r) => {
        if (!e) resolve({ ok: true, value: r });
        else resolve({ ok: false, failure: toFailure(e) });
      });
    });
  }
}

function toFailure(e: grpc.ServiceError): Failure {
  const trailers: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.metadata?.getMap() ?? {})) trailers[k] = String(v);
  return { code: e.code, details: e.details ?? e.message, trailers };
}

/** What a failed write means for its outcome and for what to do next. */
export function classifyWriteFailure(f: Failure): 'not-leader' | 'not-applied' | 'overloaded' | 'unknown' | 'bug' {
  const outcome = f.trailers[ErrorTrailer.outcome];
  const serverAnswered = f.trailers[ErrorTrailer.code] !== undefined;
  switch (f.code) {
    case grpc.status.FAILED_PRECONDITION:
      return f.trailers[ErrorTrailer.code] === 'NOT_LEADER' ? 'not-leader' : 'not-applied';
    case grpc.status.RESOURCE_EXHAUSTED:
      return serverAnswered ? 'overloaded' : 'bug';
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.OUT_OF_RANGE:
    case grpc.status.UNIMPLEMENTED:
    case grpc.status.DATA_LOSS:
      return 'bug';
    case grpc.status.UNAVAILABLE:
      if (serverAnswered) return outcome === 'not_applied' ? 'not-applied' : 'unknown';
      // Not from raftkv: a transport failure. Only a connection never established is certainly not applied.
      return /No connection established|ECONNREFUSED|failed to connect/i.test(f.details) ? 'not-applied' : 'unknown';
    default:
      return outcome === 'not_applied' ? 'not-applied' : 'unknown';
  }
}
