/**
 * `etcdserverpb.Cluster` on raftkv's membership (cluster-admin.ts, with its guard rails).
 *
 * Members: ID is the etcd id derived from the raftkv node id (etcd-ids.ts), name the node id,
 * URLs the node's addresses with the client port's and peer port's scheme. MemberAdd has no name
 * in etcd's API, so raftkv names the new node after its peer address (`m-<host>-<port>`): start
 * it with that `--id`. Changes run on the leader (a follower passes them on:
 * etcd-leader-proxy.ts) and need the root role once auth is on. MemberUpdate is raftkv's
 * member update (cluster-admin.ts: the new peer address goes through the log; restart the member
 * listening on it).
 */
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { etcdClusterService } from '../../api/etcd/index.js';
import type { NodeId } from '../../util/index.js';
import { InvalidArgumentError } from '../../util/index.js';
import { authorizedCall, etcdUnary } from './etcd-call.js';
import type { EtcdHandler } from './etcd-call.js';
import { etcdHeader } from './etcd-deps.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { etcdErrors } from './etcd-errors.js';
import type { EtcdLeaderProxy } from './etcd-leader-proxy.js';
import { memberIdOf, nodeIdOfMember, u64 } from './etcd-ids.js';

/** The etcd Member of node `id`. */
export function etcdMember(deps: EtcdServiceDeps, id: NodeId, isLearner: boolean): EtcdMsg {
  const { driver } = deps;
  const peer = driver.peerAddresses.get(id) ?? '';
  const client = id === deps.options.id ? deps.options.advertiseClient : (driver.clientAddresses.get(id) ?? '');
  return {
    ID: memberIdOf(id).toString(),
    name: id,
    peerURLs: peer === '' ? [] : [`${deps.peerUrlScheme}://${peer}`],
    clientURLs: client === '' ? [] : [`${deps.clientUrlScheme}://${client}`],
    isLearner,
  };
}

/** Every member, voters first. */
export function etcdMembers(deps: EtcdServiceDeps): EtcdMsg[] {
  const conf = deps.driver.confState;
  return [...conf.voters.map((id) => etcdMember(deps, id, false)), ...conf.learners.map((id) => etcdMember(deps, id, true))];
}

/** The node id of member `memberId` (a decoded uint64), or etcd's "member not found". */
export function nodeOfMember(deps: EtcdServiceDeps, memberId: unknown): NodeId {
  const conf = deps.driver.confState;
  const id = nodeIdOfMember(u64(memberId), [...conf.voters, ...conf.learners, ...deps.driver.peerAddresses.keys()]);
  if (id === null) throw etcdErrors.memberNotFound();
  return id as NodeId;
}

/** host:port of a peer URL (`http://host:port`, `https://host:port` or bare `host:port`). */
function addressOfUrl(url: string): string {
  const m = /^(?:https?:\/\/)?([^/]+?)\/?$/.exec(url.trim());
  if (m === null || m[1] === undefined) throw new InvalidArgumentError('peerURLs', `"${url}" is not a peer URL (http://host:port)`);
  return m[1];
}

/** The raftkv node id MemberAdd gives a node with peer address `address`. */
export function nodeIdForPeer(address: string): string {
  return `m-${address.replace(/[^A-Za-z0-9_.]/g, '-')}`.slice(0, 64);
}

/** Builds the `etcdserverpb.Cluster` implementation. */
export function etcdClusterImplementation(deps: EtcdServiceDeps, proxy: EtcdLeaderProxy): UntypedServiceImplementation {
  const { admin, authorizer } = deps;
  const header = (): EtcdMsg => etcdHeader(deps);

  const memberList: EtcdHandler = async () => ({ header: header(), members: etcdMembers(deps) });
  const memberAdd: EtcdHandler = async (req, _deadlineMs, call) => {
    authorizer.requireRoot(authorizedCall(call), 'MemberAdd');
    const urls = (req.peerURLs as string[] | undefined) ?? [];
    if (urls.length !== 1) throw new InvalidArgumentError('peerURLs', `raftkv members have exactly one peer address, got ${urls.length} URLs`);
    const peerAddress = addressOfUrl(urls[0] ?? '');
    const id = nodeIdForPeer(peerAddress);
    const isLearner = req.isLearner === true;
    await admin.add({ id, peerAddress, clientAddress: '', learner: isLearner });
    return {
      header: header(),
      member: { ID: memberIdOf(id).toString(), name: id, peerURLs: [`${deps.peerUrlScheme}://${peerAddress}`], clientURLs: [], isLearner },
      members: etcdMembers(deps),
    };
  };
  const memberRemove: EtcdHandler = async (req, deadlineMs, call) => {
    authorizer.requireRoot(authorizedCall(call), 'MemberRemove');
    const id = nodeOfMember(deps, req.ID);
    await admin.remove(id, { force: false, deadlineMs });
    return { header: header(), members: etcdMembers(deps) };
  };
  const memberPromote: EtcdHandler = async (req, deadlineMs, call) => {
    authorizer.requireRoot(authorizedCall(call), 'MemberPromote');
    const id = nodeOfMember(deps, req.ID);
    await admin.promote(id, { force: false, deadlineMs });
    return { header: header(), members: etcdMembers(deps) };
  };
  const memberUpdate: EtcdHandler = async (req, _deadlineMs, call) => {
    authorizer.requireRoot(authorizedCall(call), 'MemberUpdate');
    const id = nodeOfMember(deps, req.ID);
    const urls = (req.peerURLs as string[] | undefined) ?? [];
    if (urls.length !== 1) throw new InvalidArgumentError('peerURLs', `raftkv members have exactly one peer address, got ${urls.length} URLs`);
    await admin.update(id, { peerAddress: addressOfUrl(urls[0] ?? ''), clientAddress: '' });
    return { header: header(), members: etcdMembers(deps) };
  };
  return {
    MemberList: etcdUnary('MemberList', false, memberList, deps),
    MemberAdd: etcdUnary('MemberAdd', false, proxy.onLeader(etcdClusterService.MemberAdd, memberAdd), deps),
    MemberRemove: etcdUnary('MemberRemove', false, proxy.onLeader(etcdClusterService.MemberRemove, memberRemove), deps),
    MemberPromote: etcdUnary('MemberPromote', false, proxy.onLeader(etcdClusterService.MemberPromote, memberPromote), deps),
    MemberUpdate: etcdUnary('MemberUpdate', false, proxy.onLeader(etcdClusterService.MemberUpdate, memberUpdate), deps),
  };
}
