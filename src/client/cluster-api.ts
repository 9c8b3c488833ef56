/**
 * `client.cluster`: every endpoint's and member's `Cluster.Status` (with an error per node that did
 * not answer), the member list, the leader, and the administrative calls: member add, promote and
 * remove and update, and leader transfer (what `raftkv member` and `raftkv leader` run).
 */
import type { MethodDefinition } from '@grpc/grpc-js';
import type * as M from '../api/index.js';
import { clusterService, maintenanceService, RoleNumber, toNumber } from '../api/index.js';
import { UnavailableError } from '../util/index.js';
import type { RaftkvError } from '../util/index.js';
import type { CallOptions } from './call-options.js';
import { untilAborted } from './call-runner.js';
import type { CallRunner } from './call-runner.js';
import type { Endpoint } from './endpoint.js';
import { classifyFailure } from './errors.js';
import type { ResolvedOptions } from './options.js';
import type { Router, StatusProbe } from './router.js';

/** Deadline of a membership change when the call gives none (it waits for the change to apply, a learner to catch up). */
export const membershipTimeoutDefaultMs = 30_000;
/** Deadline of a leader transfer when the call gives none (it takes an election or two). */
export const leaderTransferTimeoutDefaultMs = 15_000;

/** Options of the administrative calls: the deadline defaults to the call's own (30 s for membership, 15 s for transfers), never less than the client's. */
export type AdminCallOptions = CallOptions;

/** Options of `status()`. */
/** One alarm (`ClusterApi.alarms`). */
export interface AlarmEntry {
  readonly member: string;
  /** "nospace" or "corrupt". */
  readonly type: string;
  readonly reason: string;
  /** The log index that raised it (0: held only locally by the member, not replicated yet). */
  readonly raisedIndex: number;
  readonly local: boolean;
}

export interface StatusOptions extends CallOptions {
  /** Also report members none of the known endpoints reached (default true). */
  readonly members?: boolean;
}

/** A node to add. */
export interface MemberToAdd {
  readonly id: string;
  /** Where the other members reach its peer service, host:port. */
  readonly peerAddress: string;
  /** Where clients reach it (otherwise learned once it connects). */
  readonly clientAddress?: string;
  /** Keep it a non-voting learner (promote it later). */
  readonly learner?: boolean;
}

/** What a leader transfer did. */
export interface LeaderTransferResult {
  readonly previousLeaderId: string;
  readonly leaderId: string;
}

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
  | { readonly endpoint: string; readonly ok: false; readonly nodeId: string | null; readonly error: RaftkvError };

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

/** Cluster status, membership and leadership. */
export class ClusterApi {
  constructor(
    private readonly options: ResolvedOptions,
    private readonly router: Router,
    private readonly runner: CallRunner,
  ) {}

  /**
   * Every alarm the cluster holds (README "Alarms"), from every known endpoint in parallel and
   * merged: a node with a full disk may hold its NOSPACE alarm only locally, so asking one node
   * is not enough. With `disarm`, each endpoint is asked to clear the matching alarms (the leader
   * through the log; a node with a local NOSPACE alarm retries its disk) and the list after that
   * is returned. Throws only if no endpoint answered.
   */
  async alarms(request: { readonly disarm?: { readonly member?: string; readonly type?: string } } = {}, options: CallOptions = {}): Promise<AlarmEntry[]> {
    const deadlineMs = Date.now() + (options.timeoutMs ?? this.options.timeoutMs);
    const req: M.AlarmRequestMsg = request.disarm === undefined ? { action: 0 } : { action: 1, memberId: request.disarm.member ?? '', type: request.disarm.type ?? '' };
    const answers = await Promise.allSettled(this.router.endpoints.map((e) => e.unary(maintenanceService.Alarm, req, deadlineMs, options.signal)));
    const merged = new Map<string, AlarmEntry>();
    let answered = 0;
    let failure: unknown = null;
    for (const a of answers) {
      if (a.status === 'rejected') {
        failure ??= a.reason;
        continue;
      }
      answered++;
      for (const m of a.value.alarms ?? []) {
        const entry: AlarmEntry = { member: m.memberId, type: m.type, reason: m.reason, raisedIndex: toNumber(m.raisedIndex), local: m.local === true };
        const key = `${entry.member}/${entry.type}`;
        const known = merged.get(key);
        if (known === undefined || (known.local && !entry.local)) merged.set(key, entry);
      }
    }
    if (answered === 0) throw failure instanceof Error ? failure : new UnavailableError('no endpoint answered the alarm request');
    return [...merged.values()].sort((x, y) => (x.member === y.member ? (x.type < y.type ? -1 : 1) : x.member < y.member ? -1 : 1));
  }

  /**
   * Status of every known endpoint and every member, in parallel, each bounded by the deadline
   * (whatever the circuit breakers say: this is how an operator sees a sick node). Never throws
   * for a node that does not answer: its entry says why. With `members` (the default) the member
   * list of a node that answered adds the members none of the endpoints reached, so a member the
   * client was not given still shows, answering or not; an advertised address of a member that
   * already answered elsewhere is left out.
   */
  async status(options: StatusOptions = {}): Promise<EndpointStatus[]> {
    const deadlineMs = Date.now() + (options.timeoutMs ?? this.options.timeoutMs);
    const probe = (e: Endpoint): Promise<StatusProbe> => this.router.probe(e, deadlineMs, options.signal);
    const probes = await Promise.all(this.router.endpoints.map(probe));
    const answered = (): Set<string> => new Set(probes.flatMap((p) => ('status' in p ? [p.status.nodeId] : [])));
    const missing: string[] = [];
    const first = probes.find((p) => 'status' in p);
    if (options.members !== false && first !== undefined) {
      const list = await first.endpoint.unary(clusterService.MemberList, {}, deadlineMs, options.signal).catch(() => null);
      const seen = answered();
      const more: Endpoint[] = [];
      for (const m of list?.members ?? []) {
        if (seen.has(m.id)) continue;
        if (m.clientAddress) {
          const e = this.router.add(m.clientAddress);
          this.router.learnNodeId(e, m.id, 'advertised');
          if (!probes.some((p) => p.endpoint === e)) more.push(e);
        }
        missing.push(m.id);
      }
      probes.push(...(await Promise.all(more.map(probe))));
    }
    const reached = answered();
    const rows = probes
      .filter((p) => 'status' in p || p.endpoint.seed || p.endpoint.nodeId === null || !reached.has(p.endpoint.nodeId))
      .map((p): EndpointStatus => {
        if ('status' in p) return { endpoint: p.endpoint.address, ok: true, status: nodeStatusOf(p.status), latencyMs: p.latencyMs };
        const failure = classifyFailure(p.error, { write: false, endpoint: p.endpoint.address, method: 'Status' });
        return { endpoint: p.endpoint.address, ok: false, nodeId: p.endpoint.nodeId, error: failure.error };
      });
    for (const id of missing) {
      if (reached.has(id) || rows.some((r) => !r.ok && r.nodeId === id)) continue;
      rows.push({ endpoint: '-', ok: false, nodeId: id, error: new UnavailableError(`member ${id}: its client address is not known and no endpoint given reaches it`) });
    }
    return rows;
  }

  /** The members, as of the answering node's applied configuration, with client addresses filled in from what this client learned. */
  async members(options: CallOptions = {}): Promise<Member[]> {
    const response = await this.callAny('MemberList', clusterService.MemberList, {}, options);
    return this.membersOf(response.members);
  }


  /** The leader's id and endpoint, finding them if unknown; null if no leader can be found before the deadline. */
  async leader(options: CallOptions = {}): Promise<{ id: string; endpoint: string | null } | null> {
    const deadlineMs = Date.now() + (options.timeoutMs ?? this.options.timeoutMs);
    while (this.router.leaderEndpoint() === null && Date.now() < deadlineMs && options.signal?.aborted !== true) {
      await untilAborted(this.router.discover(deadlineMs), options.signal);
      if (this.router.leaderEndpoint() === null) await untilAborted(new Promise((r) => setTimeout(r, 50)), options.signal);
    }
    if (options.signal?.aborted === true) throw options.signal.reason;
    const id = this.router.leaderId;
    return id === null ? null : { id, endpoint: this.router.endpointOf(id)?.address ?? null };
  }

  /**
   * Adds a node as a learner (`raftkv member add`). Unless `learner`, the leader promotes it to a
   * voter by itself once it has caught up. Resolves with the members after the change.
   */
  async addMember(member: MemberToAdd, options: AdminCallOptions = {}): Promise<Member[]> {
    const request: M.MemberAddRequestMsg = { id: member.id, peerAddress: member.peerAddress, clientAddress: member.clientAddress ?? '', isLearner: member.learner === true };
    const res = await this.admin('MemberAdd', clusterService.MemberAdd, request, options, membershipTimeoutDefaultMs);
    return this.membersOf(res.members);
  }

  /** Promotes a learner to a voter once it has caught up (`force`: skip the catch-up and quorum checks). */
  async promoteMember(id: string, options: AdminCallOptions & { readonly force?: boolean } = {}): Promise<Member[]> {
    const res = await this.admin('MemberPromote', clusterService.MemberPromote, { id, force: options.force === true }, options, membershipTimeoutDefaultMs);
    return this.membersOf(res.members);
  }

  /** Removes a member; removing the leader hands leadership over first (`force`: even if that leaves no healthy quorum). */
  async removeMember(id: string, options: AdminCallOptions & { readonly force?: boolean } = {}): Promise<Member[]> {
    const res = await this.admin('MemberRemove', clusterService.MemberRemove, { id, force: options.force === true }, options, membershipTimeoutDefaultMs);
    return this.membersOf(res.members);
  }

  /**
   * Changes member `id`'s peer address (and client address, if given) through the log (`raftkv
   * member update`); restart the member listening on the new address. Resolves with the members.
   */
  async updateMember(id: string, addresses: { readonly peerAddress: string; readonly clientAddress?: string }, options: AdminCallOptions = {}): Promise<Member[]> {
    const request: M.MemberUpdateRequestMsg = { id, peerAddress: addresses.peerAddress, clientAddress: addresses.clientAddress ?? '' };
    const res = await this.admin('MemberUpdate', clusterService.MemberUpdate, request, options, membershipTimeoutDefaultMs);
    return this.membersOf(res.members);
  }

  /** Hands leadership to voter `to`, or by default to the most caught-up healthy one. */
  async transferLeader(options: AdminCallOptions & { readonly to?: string } = {}): Promise<LeaderTransferResult> {
    const res = await this.admin('LeaderTransfer', clusterService.LeaderTransfer, { to: options.to ?? '' }, options, leaderTransferTimeoutDefaultMs);
    // The old leader answered; the new one leads now.
    if (res.leaderId) this.router.setLeader(res.leaderId);
    return { previousLeaderId: res.previousLeaderId, leaderId: res.leaderId };
  }

  /** The cluster-wide limits every replica applies entries by (replicated state), from any node. */
  async clusterLimits(options: CallOptions = {}): Promise<M.ClusterLimitsResponseMsg> {
    return this.callAny('ClusterLimitsGet', clusterService.ClusterLimitsGet, {}, options);
  }

  /**
   * A read-only administrative call answered by any node (for the Auth service's lists and
   * status, which have no typed methods here yet): retried elsewhere when a node is unavailable.
   */
  async callAny<Req, Res extends { header?: M.ResponseHeaderMsg | null }>(method: string, def: MethodDefinition<Req, Res>, request: Req, options: CallOptions = {}): Promise<Res> {
    const timeoutMs = options.timeoutMs ?? this.options.timeoutMs;
    const { response, endpoint } = await this.runner.run({
      method,
      write: false,
      target: 'any',
      idempotent: true,
      deadlineMs: Date.now() + timeoutMs,
      timeoutMs,
      signal: options.signal,
      send: (e, deadlineMs, signal) => e.unary(def, request, deadlineMs, signal),
      header: (r) => r.header ?? null,
    });
    if (response.header) this.router.learnHeader(endpoint, response.header);
    return response;
  }

  /**
   * A change on the leader through the log (for the Auth service's user, role and switch
   * changes): see `admin` for how it is retried.
   */
  async callLeader<Req, Res extends { header: M.ResponseHeaderMsg }>(method: string, def: MethodDefinition<Req, Res>, request: Req, options: AdminCallOptions = {}): Promise<Res> {
    return this.admin(method, def, request, options, this.options.timeoutMs);
  }

  /** Changes cluster limits through the log (limits not named keep their value); resolves with them once applied. */
  async setClusterLimits(limits: M.ClusterLimitsMsg, options: AdminCallOptions = {}): Promise<M.ClusterLimitsResponseMsg> {
    return this.callLeader('ClusterLimitsSet', clusterService.ClusterLimitsSet, { limits }, options);
  }

  /**
   * An administrative call on the leader: follows NOT_LEADER hints and waits out elections, but is
   * resent only when it certainly was not applied (a change applied twice is a different change).
   * One attempt may take the whole deadline: the leader answers once the change is done.
   */
  private async admin<Req, Res extends { header: M.ResponseHeaderMsg }>(method: string, def: MethodDefinition<Req, Res>, request: Req, options: AdminCallOptions, defaultTimeoutMs: number): Promise<Res> {
    const timeoutMs = options.timeoutMs ?? Math.max(this.options.timeoutMs, defaultTimeoutMs);
    const { response } = await this.runner.run({
      method,
      write: true,
      target: 'leader',
      idempotent: false,
      deadlineMs: Date.now() + timeoutMs,
      timeoutMs,
      attemptTimeoutMs: timeoutMs,
      signal: options.signal,
      send: (e, deadlineMs, signal) => e.unary(def, request, deadlineMs, signal),
      header: (r) => r.header,
    });
    return response;
  }

  /** Members as the API returns them, learning their advertised client addresses. */
  private membersOf(members: readonly M.MemberMsg[] | null | undefined): Member[] {
    for (const m of members ?? []) if (m.clientAddress) this.router.learnNodeId(this.router.add(m.clientAddress), m.id, 'advertised');
    return (members ?? []).map((m) => ({
      id: m.id,
      clientAddress: m.clientAddress || (this.router.endpointOf(m.id)?.address ?? null),
      peerAddresses: m.peerAddresses ?? [],
      isLearner: m.isLearner === true,
    }));
  }
}
