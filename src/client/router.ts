/**
 * Where calls go. The router knows the endpoints (the seeds given to `connect` plus any learned
 * from the member list), which node id answers at each, and which node leads. Writes go to the
 * leader; reads go round-robin over the healthy endpoints (or to the leader, with
 * `readFrom: 'leader'`). The leader is learned from answers (a write's answer comes from the
 * leader; NOT_LEADER carries a hint) and, when unknown, by discovery: `Cluster.Status` on every
 * endpoint at once, and now and then `Cluster.MemberList` to learn new endpoints.
 *
 * A node id may be reachable at several addresses: the one the client was given, and the one the
 * node advertises (member list, NOT_LEADER hints). They are not equally good: behind Docker port
 * mappings a node advertises `n1:7001`, which only its peers can resolve, while the client reaches
 * it as `localhost:7001`. So an address the node answered at ("verified") beats one given to the
 * client ("seed"), which beats one merely advertised; an advertised address is used only when no
 * better one for that node is available.
 */
import type * as M from '../api/index.js';
import { clusterService, RoleNumber, toNumber } from '../api/index.js';
import type { BreakerState } from './circuit-breaker.js';
import { Endpoint } from './endpoint.js';
import { classifyFailure } from './errors.js';
import { callHook } from './hook-call.js';
import type { ResolvedOptions } from './options.js';

/** A node's answer to Status, or why there is none. */
export type StatusProbe = { readonly endpoint: Endpoint; readonly status: M.StatusResponseMsg; readonly latencyMs: number } | { readonly endpoint: Endpoint; readonly error: unknown };

/** Least time between two discovery rounds, in ms. */
const discoveryIntervalMs = 100;

/** Endpoints, node ids and the leader. */
export class Router {
  private readonly list: Endpoint[] = [];
  private readonly byAddress = new Map<string, Endpoint>();
  /** The leader's node id, or null when unknown. */
  private leader: string | null = null;
  /** The leader's term when learned from Status (hints from lower terms are ignored). */
  private leaderTerm = 0;
  private roundRobin = 0;
  private discovery: Promise<void> | null = null;
  private lastDiscoveryMs = 0;
  private lastMemberRefreshMs = 0;
  private closed = false;

  constructor(private readonly options: ResolvedOptions) {
    for (const address of options.endpoints) this.add(address, true);
  }

  /** Every endpoint, seeds first. */
  get endpoints(): readonly Endpoint[] {
    return this.list;
  }

  /** The leader's id, if known. */
  get leaderId(): string | null {
    return this.leader;
  }

  /** The endpoint at `address`, added if new (`seed`: given to the client rather than learned). */
  add(address: string, seed = false): Endpoint {
    let e = this.byAddress.get(address);
    if (e === undefined) {
      e = new Endpoint(address, seed, this.options, (endpoint, from, to) => this.onBreakerChange(endpoint, from, to));
      this.byAddress.set(address, e);
      this.list.push(e);
    }
    return e;
  }

  /**
   * The best endpoint of node `id`, if any is known: one whose circuit lets calls through before
   * one whose circuit is open, then verified before seed before advertised, then the first known.
   */
  endpointOf(id: string): Endpoint | undefined {
    let best: Endpoint | undefined;
    let bestRank = -1;
    for (const e of this.list) {
      if (e.nodeId !== id) continue;
      const rank = (e.available() ? 4 : 0) + (e.verified ? 2 : 0) + (e.seed ? 1 : 0);
      if (rank > bestRank) {
        best = e;
        bestRank = rank;
      }
    }
    return best;
  }

  /** The leader's endpoint if it is known and its circuit lets calls through. */
  leaderEndpoint(): Endpoint | null {
    if (this.leader === null) return null;
    const e = this.endpointOf(this.leader);
    return e !== undefined && e.available() ? e : null;
  }

  /**
   * When every endpoint's circuit is open (a cluster restart, a network outage), ends the
   * cooldown of the one due first, so the next call probes it instead of waiting up to
   * `cooldownMaxMs` after the cluster is back (Envoy's "panic mode" in spirit: with no healthy
   * node left, health no longer decides). Returns whether it did. The caller paces it: one probe
   * per backoff wait.
   */
  probeWhenAllOpen(): boolean {
    let due: Endpoint | null = null;
    for (const e of this.list) {
      if (e.available() || e.breaker === null) return false;
      if (e.breaker.state !== 'open') continue;
      if (due === null || e.breaker.halfOpenAtMs < (due.breaker as NonNullable<Endpoint['breaker']>).halfOpenAtMs) due = e;
    }
    due?.breaker?.endCooldown();
    return due !== null;
  }

  /** The next healthy endpoint in round-robin order, skipping `avoid` when there is a choice. */
  anyEndpoint(avoid: Endpoint | null = null): Endpoint | null {
    const n = this.list.length;
    let fallback: Endpoint | null = null;
    for (let i = 0; i < n; i++) {
      const e = this.list[(this.roundRobin + i) % n] as Endpoint;
      if (!e.available()) continue;
      if (e === avoid) {
        fallback = e;
        continue;
      }
      this.roundRobin = (this.roundRobin + i + 1) % n;
      return e;
    }
    return fallback;
  }

  /** Learns from an answer's header: which node answered at `endpoint`. */
  learnHeader(endpoint: Endpoint, header: M.ResponseHeaderMsg | null | undefined): void {
    if (!header?.nodeId) return;
    this.learnNodeId(endpoint, header.nodeId, 'answer');
  }

  /**
   * The node at `endpoint` is `id`: it said so itself (`answer`), or the cluster says so
   * (`advertised`). An answer is final for its address; an advertisement never overrides an answer,
   * and never takes `id` from the addresses that already reach it (they stay preferred, see
   * `endpointOf`).
   */
  learnNodeId(endpoint: Endpoint, id: string, source: 'answer' | 'advertised'): void {
    if (source === 'answer') {
      endpoint.nodeId = id;
      endpoint.verified = true;
      // Advertised claims of other addresses for this id stay as fallbacks; a stale claim of this
      // address for another node is gone with the assignment above.
      return;
    }
    if (endpoint.verified) return;
    endpoint.nodeId = id;
  }

  /** `id` leads (from a write's answer or a NOT_LEADER hint). */
  setLeader(id: string | null, term = 0): void {
    if (id === this.leader) {
      this.leaderTerm = Math.max(this.leaderTerm, term);
      return;
    }
    if (term > 0 && term < this.leaderTerm) return;
    this.leader = id;
    if (term > 0) this.leaderTerm = term;
    this.options.logger.debug({ leaderId: id }, 'raftkv client: leader changed');
    callHook(this.options, 'onLeaderChange', { leaderId: id, endpoint: id === null ? null : (this.endpointOf(id)?.address ?? null) });
  }

  /**
   * Follows a NOT_LEADER hint: the endpoint of the hinted leader, learned from the hint's address
   * or the id's known endpoint. Null if the hint names no leader or an unknown endpoint.
   */
  followHint(hint: { leaderId: string | null; leaderAddress: string | null }): Endpoint | null {
    if (hint.leaderId === null) {
      this.setLeader(null);
      return null;
    }
    if (hint.leaderAddress) this.learnNodeId(this.add(hint.leaderAddress), hint.leaderId, 'advertised');
    this.setLeader(hint.leaderId);
    return this.leaderEndpoint();
  }

  /**
   * The node at `endpoint` did not answer: if that is the leader's best address, forget the
   * leader (an advertised address of the leader that fails leaves a working one in place).
   */
  onSilent(endpoint: Endpoint): void {
    if (endpoint.nodeId !== null && endpoint.nodeId === this.leader && this.endpointOf(this.leader) === endpoint) this.setLeader(null);
  }

  /**
   * Finds the leader: Status on every endpoint at once (each bounded by `discoveryTimeoutMs` and
   * `deadlineMs`). Resolves as soon as a node that says it leads has answered, or when all have
   * answered. Concurrent callers share one round; rounds are at least 100 ms apart.
   */
  discover(deadlineMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.discovery !== null) return this.discovery;
    const wait = this.lastDiscoveryMs + discoveryIntervalMs - Date.now();
    const round = (async () => {
      if (wait > 0) await new Promise((r) => setTimeout(r, Math.min(wait, Math.max(0, deadlineMs - Date.now()))));
      this.lastDiscoveryMs = Date.now();
      await this.discoveryRound(deadlineMs);
    })().finally(() => {
      this.discovery = null;
    });
    this.discovery = round;
    return round;
  }

  private async discoveryRound(deadlineMs: number): Promise<void> {
    const perCallDeadline = Math.min(deadlineMs, Date.now() + this.options.discoveryTimeoutMs);
    const candidates = this.list.filter((e) => e.available());
    let leaderFound: () => void = () => {};
    const leaderSeen = new Promise<void>((resolve) => (leaderFound = resolve));
    const probes = candidates.map(async (e) => {
      const probe = await this.probe(e, perCallDeadline);
      if ('status' in probe && probe.status.role === RoleNumber.leader) {
        this.setLeader(probe.status.nodeId, toNumber(probe.status.raftTerm));
        leaderFound();
      }
      return probe;
    });
    const all = Promise.all(probes).then((results) => this.chooseLeader(results));
    await Promise.race([all, leaderSeen]);
    const leaderUnreachable = this.leader !== null && this.endpointOf(this.leader) === undefined;
    if (leaderUnreachable || Date.now() - this.lastMemberRefreshMs >= this.options.memberRefreshMs) {
      this.lastMemberRefreshMs = Date.now();
      // The leader's address is unknown: wait for the member list, which may name it.
      const refreshed = this.refreshMembers(perCallDeadline);
      if (leaderUnreachable) await refreshed;
    }
  }

  /** Status of one endpoint, learning its node id; its answer or silence feeds the endpoint's circuit breaker. */
  async probe(endpoint: Endpoint, deadlineMs: number, signal?: AbortSignal): Promise<StatusProbe> {
    const started = Date.now();
    try {
      const status = await endpoint.unary(clusterService.Status, {}, deadlineMs, signal);
      endpoint.breaker?.onSuccess();
      if (status.nodeId) this.learnNodeId(endpoint, status.nodeId, 'answer');
      return { endpoint, status, latencyMs: Date.now() - started };
    } catch (error) {
      if (classifyFailure(error, { write: false, endpoint: endpoint.address, method: 'Status' }).nodeSilent) endpoint.breaker?.onFailure();
      return { endpoint, error };
    }
  }

  /** Without a node that says it leads: the leader named by the answers of the highest term. */
  private chooseLeader(results: readonly StatusProbe[]): void {
    let best: M.StatusResponseMsg | null = null;
    for (const r of results) {
      if (!('status' in r)) continue;
      if (best === null || toNumber(r.status.raftTerm) > toNumber(best.raftTerm)) best = r.status;
    }
    if (best === null) return;
    const leaders = results.filter((r): r is Extract<StatusProbe, { status: unknown }> => 'status' in r && r.status.role === RoleNumber.leader);
    const self = leaders.sort((a, b) => toNumber(b.status.raftTerm) - toNumber(a.status.raftTerm))[0];
    if (self !== undefined) this.setLeader(self.status.nodeId, toNumber(self.status.raftTerm));
    else this.setLeader(best.leaderId || null, toNumber(best.raftTerm));
  }

  /** Learns endpoints from the member list (members whose client address is known). */
  async refreshMembers(deadlineMs: number): Promise<M.MemberMsg[] | null> {
    const e = this.leaderEndpoint() ?? this.anyEndpoint();
    if (e === null) return null;
    try {
      const res = await e.unary(clusterService.MemberList, {}, deadlineMs);
      this.learnHeader(e, res.header);
      for (const m of res.members ?? []) {
        if (m.clientAddress) this.learnNodeId(this.add(m.clientAddress), m.id, 'advertised');
      }
      return res.members ?? [];
    } catch (error) {
      this.options.logger.debug({ endpoint: e.address, err: String(error) }, 'raftkv client: member list refresh failed');
      return null;
    }
  }

  private onBreakerChange(endpoint: Endpoint, from: BreakerState, to: BreakerState): void {
    this.options.logger.info({ endpoint: endpoint.address, nodeId: endpoint.nodeId, from, to }, 'raftkv client: circuit breaker changed state');
    callHook(this.options, 'onBreakerStateChange', { endpoint: endpoint.address, nodeId: endpoint.nodeId, from, to });
  }

  /** Closes every channel. */
  close(): void {
    this.closed = true;
    for (const e of this.list) e.close();
  }
}
