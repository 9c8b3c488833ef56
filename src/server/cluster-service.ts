/**
 * The public `raftkv.v1.Cluster` gRPC service: this node's status, the member list, membership
 * changes and leadership transfer (cluster-admin.ts holds their logic and guard rails). Changes
 * need the root role once auth is on (Status, MemberList and ClusterLimitsGet stay open: clients
 * find the leader with them before they can authenticate). Changes run on the leader; a follower answers FAILED_PRECONDITION with the leader in the trailers.
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type * as M from '../api/index.js';
import { mergeClusterLimits, packageInfo, RoleNumber } from '../api/index.js';
import type { NodeId } from '../util/index.js';
import type { ClusterAdmin } from './cluster-admin.js';
import { responseHeader, unary } from './kv-service.js';
import type { Handler, KvServiceDeps } from './kv-service.js';

/** What the Cluster service needs. */
export interface ClusterServiceDeps extends KvServiceDeps {
  readonly admin: ClusterAdmin;
}

/** Builds the `Cluster` service implementation. */
export function clusterServiceImplementation(deps: ClusterServiceDeps): UntypedServiceImplementation {
  const { driver, options, admin } = deps;
  const header = (): M.ResponseHeaderMsg => responseHeader(deps);
  const members = (): M.MemberMsg[] => {
    const conf = driver.confState;
    const member = (id: NodeId, isLearner: boolean): M.MemberMsg => ({
      id,
      peerAddresses: [driver.peerAddresses.get(id) ?? ''].filter((a) => a !== ''),
      clientAddress: driver.clientAddresses.get(id) ?? '',
      isLearner,
    });
    return [...conf.voters.map((id) => member(id, false)), ...conf.learners.map((id) => member(id, true))];
  };
  const status: Handler<object, M.StatusResponseMsg> = async () => {
    const s = driver.status();
    const conf = driver.confState;
    const errors: string[] = [];
    if (driver.awaitingFirstSnapshot()) errors.push('joining: not a member yet, waiting to be added and sent a snapshot');
    else if (!conf.voters.includes(options.id) && !conf.learners.includes(options.id)) errors.push('not a member of the cluster (removed?)');
    // This member's alarms (replicated), and the NOSPACE it holds locally before its report is.
    const alarms = driver.kv.alarms.alarms.filter((a) => a.member === options.id);
    for (const a of alarms) errors.push(`alarm ${a.type.toUpperCase()}${a.reason === '' ? '' : `: ${a.reason}`}`);
    const disk = driver.diskAlarm;
    if (disk !== null && !alarms.some((a) => a.type === 'nospace')) errors.push(`alarm NOSPACE: ${disk}`);
    return {
      header: header(),
      nodeId: options.id,
      leaderId: s.leader ?? '',
      raftTerm: s.term,
      commitIndex: s.commit,
      appliedIndex: driver.kv.appliedIndex,
      role: RoleNumber[s.role],
      raftIndex: s.lastIndex,
      dbSizeBytes: deps.dbSizeBytes(),
      revision: driver.kv.revision,
      isLearner: conf.learners.includes(options.id),
      errors,
      version: packageInfo().version,
    };
  };
  const memberList: Handler<object, M.MemberListResponseMsg> = async () => ({ header: header(), members: members() });
  const memberAdd: Handler<M.MemberAddRequestMsg, M.MemberChangeResponseMsg> = async (req, _deadlineMs, call) => {
    deps.authorizer.requireRoot(call, 'MemberAdd');
    await admin.add({ id: req.id ?? '', peerAddress: req.peerAddress ?? '', clientAddress: req.clientAddress ?? '', learner: req.isLearner === true });
    return { header: header(), members: members() };
  };
  const memberPromote: Handler<M.MemberPromoteRequestMsg, M.MemberChangeResponseMsg> = async (req, deadlineMs, call) => {
    deps.authorizer.requireRoot(call, 'MemberPromote');
    await admin.promote(req.id ?? '', { force: req.force === true, deadlineMs });
    return { header: header(), members: members() };
  };
  const memberRemove: Handler<M.MemberRemoveRequestMsg, M.MemberChangeResponseMsg> = async (req, deadlineMs, call) => {
    deps.authorizer.requireRoot(call, 'MemberRemove');
    await admin.remove(req.id ?? '', { force: req.force === true, deadlineMs });
    return { header: header(), members: members() };
  };
  const memberUpdate: Handler<M.MemberUpdateRequestMsg, M.MemberChangeResponseMsg> = async (req, _deadlineMs, call) => {
    deps.authorizer.requireRoot(call, 'MemberUpdate');
    await admin.update(req.id ?? '', { peerAddress: req.peerAddress ?? '', clientAddress: req.clientAddress ?? '' });
    return { header: header(), members: members() };
  };
  const leaderTransfer: Handler<M.LeaderTransferRequestMsg, M.LeaderTransferResponseMsg> = async (req, deadlineMs, call) => {
    deps.authorizer.requireRoot(call, 'LeaderTransfer');
    const moved = await admin.transfer(req.to ?? null, deadlineMs);
    return { header: header(), leaderId: moved.to, previousLeaderId: moved.from };
  };
  const limitsResponse = (): M.ClusterLimitsResponseMsg => ({ header: header(), limits: { ...driver.kv.limits }, setIndex: driver.kv.clusterSettings.setIndex });
  const limitsGet: Handler<object, M.ClusterLimitsResponseMsg> = async () => limitsResponse();
  const limitsSet: Handler<M.ClusterLimitsSetRequestMsg, M.ClusterLimitsResponseMsg> = async (req, _deadlineMs, call) => {
    deps.authorizer.requireRoot(call, 'ClusterLimitsSet');
    await driver.setClusterLimits(mergeClusterLimits(driver.kv.limits, req.limits ?? {}));
    return limitsResponse();
  };
  return {
    ClusterLimitsGet: unary('ClusterLimitsGet', false, limitsGet, deps),
    ClusterLimitsSet: unary('ClusterLimitsSet', true, limitsSet, deps),
    Status: unary('Status', false, status, deps),
    MemberList: unary('MemberList', false, memberList, deps),
    MemberAdd: unary('MemberAdd', false, memberAdd, deps),
    MemberPromote: unary('MemberPromote', false, memberPromote, deps),
    MemberRemove: unary('MemberRemove', false, memberRemove, deps),
    MemberUpdate: unary('MemberUpdate', false, memberUpdate, deps),
    LeaderTransfer: unary('LeaderTransfer', false, leaderTransfer, deps),
  };
}
