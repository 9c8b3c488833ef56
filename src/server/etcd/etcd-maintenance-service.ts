/**
 * `etcdserverpb.Maintenance` on raftkv:
 *
 * - Status: raftkv's status in etcd's fields (version is "3.4.0-raftkv.<raftkv version>": the etcd
 *   API raftkv speaks, and raftkv's own release), dbSize the node's LevelDB files;
 * - Hash and HashKV: the replicated state hash (kv-state-machine.ts), its first 32 bits: equal on
 *   replicas that applied the same commands, as etcd's are;
 * - MoveLeader: raftkv's leadership transfer (on the leader, as in etcd);
 * - Alarm: GET, ACTIVATE and DEACTIVATE on the replicated alarm list (etcd-alarm.ts);
 * - Snapshot: an online raftkv backup, in the size etcd's clients check (etcd-snapshot.ts);
 * - Defragment: a no-op (LevelDB compacts itself).
 */
import type { ServerWritableStream, UntypedServiceImplementation } from '@grpc/grpc-js';
import { status as grpcStatus } from '@grpc/grpc-js';
import { packageInfo } from '../../api/index.js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { authorizedCall, etcdUnary } from './etcd-call.js';
import type { EtcdHandler } from './etcd-call.js';
import { etcdHeader } from './etcd-deps.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { etcdAlarmHandler } from './etcd-alarm.js';
import { etcdErrors, etcdStatusOf } from './etcd-errors.js';
import type { EtcdLeaderProxy } from './etcd-leader-proxy.js';
import { int, memberIdOf } from './etcd-ids.js';
import { nodeOfMember } from './etcd-cluster-service.js';
import { requireCurrentRevision } from './etcd-kv-service.js';
import { toEtcdRevision } from './etcd-revision.js';
import { streamEtcdSnapshot } from './etcd-snapshot.js';
import { slicedStateHash } from '../sliced-state-hash.js';

/** The version Status reports. */
export function etcdVersion(): string {
  return `3.4.0-raftkv.${packageInfo().version}`;
}

/** The 32-bit hash etcd's Hash and HashKV report: the first 32 bits of raftkv's state hash. */
export function stateHash32(stateHash: string): number {
  return Number.parseInt(stateHash.slice(0, 8), 16) >>> 0;
}

/** Builds the `etcdserverpb.Maintenance` implementation. */
export function etcdMaintenanceImplementation(deps: EtcdServiceDeps, proxy: EtcdLeaderProxy): UntypedServiceImplementation {
  const { driver, options, authorizer, admin } = deps;
  const header = (): EtcdMsg => etcdHeader(deps);

  const status: EtcdHandler = async () => {
    const s = driver.status();
    const conf = driver.confState;
    const errors: string[] = [];
    if (driver.awaitingFirstSnapshot()) errors.push('raftkv: joining: not a member yet, waiting to be added and sent a snapshot');
    else if (!conf.voters.includes(options.id) && !conf.learners.includes(options.id)) errors.push('raftkv: not a member of the cluster (removed?)');
    for (const { member, alarm } of deps.activeAlarms()) errors.push(`memberID:${memberIdOf(member)} alarm:${alarm}`);
    const dbSize = deps.dbSizeBytes();
    return {
      header: header(),
      version: etcdVersion(),
      dbSize,
      leader: s.leader === null ? '0' : memberIdOf(s.leader).toString(),
      raftIndex: s.commit,
      raftTerm: s.term,
      raftAppliedIndex: driver.kv.appliedIndex,
      errors,
      dbSizeInUse: dbSize,
      isLearner: conf.learners.includes(options.id),
    };
  };
  const alarm = etcdAlarmHandler(deps, proxy);
  const hash: EtcdHandler = async () => {
    const h = header();
    return { header: h, hash: stateHash32(await slicedStateHash(driver.kv)) };
  };
  const hashKv: EtcdHandler = async (req) => {
    const current = driver.kv.revision;
    requireCurrentRevision(int(req.revision, 'revision'), current);
    const h = etcdHeader(deps, current);
    return { header: h, hash: stateHash32(await slicedStateHash(driver.kv)), compactRevision: toEtcdRevision(current) };
  };
  const moveLeader: EtcdHandler = async (req, deadlineMs, call) => {
    authorizer.requireRoot(authorizedCall(call), 'MoveLeader');
    const target = nodeOfMember(deps, req.targetID);
    if (driver.role !== 'leader') throw etcdErrors.notLeader();
    await admin.transfer(target, deadlineMs);
    return { header: header() };
  };
  const defragment: EtcdHandler = async () => ({ header: header() });

  return {
    Status: etcdUnary('Status', false, status, deps),
    Alarm: etcdUnary('Alarm', false, alarm, deps),
    Hash: etcdUnary('Hash', false, hash, deps),
    HashKV: etcdUnary('HashKV', false, hashKv, deps),
    MoveLeader: etcdUnary('MoveLeader', false, moveLeader, deps),
    Defragment: etcdUnary('Defragment', false, defragment, deps),
    Snapshot: (call: ServerWritableStream<EtcdMsg, EtcdMsg>) => {
      const end = deps.metrics.grpcCall('etcd.Snapshot');
      streamEtcdSnapshot(deps, call).then(
        () => end('OK'),
        (e: unknown) => {
          const err = etcdStatusOf(e, { write: false });
          end(grpcStatus[err.code] ?? String(err.code));
          deps.logger.warn({ err: err.details }, 'etcd snapshot: failed');
          if (!call.cancelled) call.emit('error', Object.assign(new Error(err.details), err));
        },
      );
    },
  };
}
