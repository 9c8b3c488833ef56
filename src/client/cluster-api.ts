/**
 * `client.cluster`: every endpoint's `Cluster.Status` (with an error per endpoint that did not
 * answer), the member list, and the leader.
 */
import type * as M from '../api/index.js';
import { clusterService, RoleNumber, toNumber } from '../api/index.js';
import type { RaftkvError } from '../util/index.js';
import { classifyFailure } from './errors.js';
import type { CallRunner } from './call-runner.js';
import type { ResolvedOptions } from './options.js';
import type { Router } from './router.js';

/** The part a node plays in its current term. */
export type NodeRole = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** One node's view of the cluster. */
export interface NodeStatus {
  readonly nodeId: string;
  /** The leader this node knows of, or null. */
  readonly leaderId: string | null;
  readonly role: NodeRole;
  readonly term: number;
  /** The highest log index known to be committed. */
  readonly commitIndex: number;
  /** The highest log index applied to the state machine. */
  readonly appliedIndex: number;
  /** The last index in the node's log. */
  readonly raftIndex: number;
  /** The store's revision on this node. */
  readonly revision: number;
  readonly dbSizeBytes: number;
  readonly isLearner: boolean;
  /** Problems the node reports (empty if none). */
  readonly errors: readonly string[];
  /** The raftkv version the node runs (empty from nodes older than 0.1). */
  readonly version: string;
}

/** One endpoint's answer to Status, or why it did not answer. */
export type EndpointStatus =
  | { readonly endpoint: string; readonly ok: true; readonly status: NodeStatus; readonly latencyMs: number }
  | { readonly endpoint: string; readonly ok: false; readonly error: RaftkvError };

/** One member of the cluster. */
export interface Member {
  readonly id: string;
  /** Where clients reach it: as the cluster reports it, else as this client learned it, else null. */
  readonly clientAddress: string | null;
  readonly peerAddresses: readonly string[];
  readonly isLearner: boolean;
}

const roles: Record<number, NodeRole> = {
  [RoleNumber.follower]: 'follower',
  [RoleNumber.preCandidate]: 'pre-candidate',
  [RoleNumber.candidate]: 'candidate',
  [RoleNumber.leader]: 'leader',
};

/** A Status response as a `NodeStatus`. */
export function nodeStatusOf(s: M.StatusResponseMsg): NodeStatus {
  return {
    nodeId: s.nodeId,
    leaderId: s.leaderId || null,
    role: roles[s.role ?? 0] ?? 'follower',
    term: toNumber(s.raftTerm),
    commitIndex: toNumber(s.commitIndex),
    appliedIndex: toNumber(s.appliedIndex),
    raftIndex: toNumber(s.raftIndex),
    revision: toNumber(s.revision),
    dbSizeBytes: toNumber(s.dbSizeBytes),
    isLearner: s.isLearner === true,
    errors: s.errors ?? [],
    version: s.version ?? '',
  };
}

/** Cluster status and membership. */
export class ClusterApi {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly router: Router,
    private readonly runner: CallRunner,
  ) {}

  /**
   * Status of every known endpoint, in parallel, each bounded by the deadline (whatever the
   * circuit breakers say: this is how an operator sees a sick node). Never throws for a node
   * that does not answer: its entry says why.
   */
  async status(options: { timeoutMs?: number } = {}): Promise<EndpointStatus[]> {
    const deadlineMs = Date.now() + (options.timeoutMs ?? this.options.timeoutMs);
    const probes = await Promise.all(this.router.endpoints.map((e) => this.router.probe(e, deadlineMs)));
    return probes.map((p): EndpointStatus => {
      if ('status' in p) return { endpoint: p.endpoint.address, ok: true, status: nodeStatusOf(p.status), latencyMs: p.latencyMs };
      const failure = classifyFailure(p.error, { write: false, endpoint: p.endpoint.address, method: 'Status' });
      return { endpoint: p.endpoint.address, ok: false, error: failure.error };
    });
  }

  /** The members, as of the answering node's applied configuration, with client addresses filled in from what this client learned. */
  async members(options: { timeoutMs?: number } = {}): Promise<Member[]> {
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    const { response, endpoint } = await this.runner.run({
      method: 'MemberList',
      write: false,
      target: 'any',
      idempotent: true,
      deadlineMs: Date.now() + timeoutMs,
      timeoutMs,
      send: (e, deadlineMs) => e.unary(clusterService.MemberList, {}, deadlineMs),
      header: (r) => r.header,
    });
    for (const m of response.members ?? []) if (m.clientAddress) this.router.learnNodeId(this.router.add(m.clientAddress), m.id);
    this.router.learnHeader(endpoint, response.header);
    return (response.members ?? []).map((m) => ({
      id: m.id,
      clientAddress: m.clientAddress || (this.router.endpointOf(m.id)?.address ?? null),
      peerAddresses: m.peerAddresses ?? [],
      isLearner: m.isLearner === true,
    }));
  }

  /** The leader's id and endpoint, finding them if unknown; null if no leader can be found before the deadline. */
  async leader(options: { timeoutMs?: number } = {}): Promise<{ id: string; endpoint: string | null } | null> {
    const deadlineMs = Date.now() + (options.timeoutMs ?? this.options.timeoutMs);
    while (this.router.leaderEndpoint() === null && Date.now() < deadlineMs) {
      await this.router.discover(deadlineMs);
      if (this.router.leaderEndpoint() === null) await new Promise((r) => setTimeout(r, 50));
    }
    const id = this.router.leaderId;
    return id === null ? null : { id, endpoint: this.router.endpointOf(id)?.address ?? null };
  }
}
