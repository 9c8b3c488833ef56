/**
 * A raftkv node: opens and verifies the data dir, then runs the Raft driver, the peer transport,
 * the client gRPC API (KV, Cluster, grpc.health.v1.Health, reflection), and the HTTP endpoint
 * (metrics, health). It binds exactly the addresses it is given.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { Server as HttpServer } from 'node:http';
import { authService, clusterService, kvService, leaseService, maintenanceService, packageInfo, pipelineService, resolveProtoFile } from '../api/index.js';
import type { NodeId, Logger } from '../util/index.js';
import { hasAlarm } from '../kv/index.js';
import { LevelStorage } from '../storage/index.js';
import { addRaftPeerService, GrpcTransport, peerServerOptions, registerPeerSecurityMetrics } from '../transport/index.js';
import type { TransportMetrics } from '../transport/index.js';
import { FailedPreconditionError } from '../util/index.js';
import { alarmHandler, alarmList } from './alarms/alarm-service.js';
import { AlarmReporter } from './alarms/alarm-reporter.js';
import { CorruptionCheck } from './alarms/corruption-check.js';
import { integrityImplementation, integrityService } from './alarms/integrity-service.js';
import { probeSpace } from './alarms/space-probe.js';
import { authServiceImplementation } from './auth/auth-service.js';
import { Authorizer } from './auth/authorizer.js';
import { BackupScheduler } from './backup-scheduler.js';
import { ClusterAdmin } from './cluster-admin.js';
import { clusterServiceImplementation } from './cluster-service.js';
import { addEtcdServices, forwardedEtcdService } from './etcd/index.js';
import { NodeLeaseApi } from './leases/node-lease-api.js';
import type { EtcdAlarm } from './etcd/index.js';
import { startHttpServer } from './http-server.js';
import { warnIfHeapBelowQuota } from './heap-check.js';
import { kvServiceImplementation } from './kv-service.js';
import { pipelineServiceImplementation } from './pipeline-service.js';
import { maintenanceServiceImplementation } from './maintenance-service.js';
import { NodeMetrics } from './metrics.js';
import type { AlarmName } from './metrics.js';
import { nodeTls } from './node-tls.js';
import type { NodeTls } from './node-tls.js';
import type { InitialMember, NodeOptions } from './options.js';
import { FileSnapshotStaging, systemWorld } from './driver/system-world.js';
import { forwardedKvImplementation, forwardedKvService } from './forwarding/forwarded-kv-service.js';
import { leaseForwardedMethods, withWriteForwarding, WriteForwarder } from './forwarding/write-forwarder.js';
import { leaseServiceImplementation } from './leases/lease-service.js';
import type { LeaseApi } from './leases/lease-api.js';
import { RaftDriver } from './raft-driver.js';
import { slicedStateHash } from './sliced-state-hash.js';
import { recoverFromStagedSnapshot, removeStagedSnapshots } from './snapshot-staging.js';
import { WatchHub } from './watch-hub.js';

/** How long SIGTERM waits for in-flight client calls before cutting them off. */
const shutdownGraceMs = 5_000;
/** How long a stopping leader waits for a transfer of leadership. */
const shutdownTransferMs = 2_000;

/** A running node. */
export class RaftkvNode {
  private stopping: Promise<void> | null = null;

  private constructor(
    readonly options: NodeOptions,
    readonly driver: RaftDriver,
    readonly metrics: NodeMetrics,
    private readonly parts: {
      storage: LevelStorage;
      transport: GrpcTransport;
      clientServer: grpc.Server;
      peerServer: grpc.Server;
      http: HttpServer;
      health: HealthImplementation;
      watches: WatchHub;
      admin: ClusterAdmin;
      backups: BackupScheduler;
      forwarder: WriteForwarder;
      corruption: CorruptionCheck;
      reporter: AlarmReporter;
      tls: NodeTls;
      logger: Logger;
      leases: LeaseApi;
    },
  ) {}

  /** The node's lease API (server/leases/lease-api.ts): what the raftkv.v1 and etcd Lease services call. */
  get leases(): LeaseApi {
    return this.parts.leases;
  }

  /** Opens the data dir and starts every part of the node. */
  static async start(options: NodeOptions, logger: Logger, onFatal: (e: unknown) => void): Promise<RaftkvNode> {
    // Certificates first: a node with unusable ones must not touch its data dir.
    const tls = nodeTls(options, logger);
    mkdirSync(options.dataDir, { recursive: true });
    const metrics = new NodeMetrics();
    const initialConf = { voters: options.join ? [] : options.initialCluster.map((m) => m.id), learners: [] };
    // A new data dir of a founding member records the cluster id (the same on every founding
    // member); a joining node learns it from its first snapshot; an existing dir keeps its own.
    const fresh = !existsSync(join(options.dataDir, 'CURRENT'));
    const clusterId = fresh && !options.join ? initialClusterId(options.initialCluster) : undefined;
    const storage = await LevelStorage.open({ path: options.dataDir, nodeId: options.id, initialConf, logger, ...(clusterId === undefined ? {} : { clusterId }) });
    let image: Awaited<ReturnType<LevelStorage['loadKvImage']>>;
    try {
      // A crash during a snapshot install is finished from the staged copy (snapshot-staging.ts).
      await recoverFromStagedSnapshot(storage, options.dataDir, logger);
      await removeStagedSnapshots(options.dataDir);
      image = await storage.loadKvImage();
    } catch (e) {
      await storage.close();
      throw e;
    }
    let driver: RaftDriver | null = null;
    // This node's NOSPACE alarm goes to the leader, which replicates it (alarm-reporter.ts).
    const reporter = new AlarmReporter({
      selfId: options.id,
      peers: () => driver?.peerAddresses ?? new Map(),
      credentials: (peer) => tls.peerCredentials?.(peer) ?? grpc.credentials.createInsecure(),
      logger,
    });
    let node: RaftkvNode | null = null;
    // After a disk fault (the NOSPACE alarm) the driver reopens storage in process, as a restart
    // would: probe for space, close the failed handle, open and verify the data dir again.
    let liveStorage = storage;
    const reopenStorage = async (): Promise<{ storage: LevelStorage; image: Awaited<ReturnType<LevelStorage['loadKvImage']>> }> => {
      await probeSpace(options.dataDir);
      await liveStorage.close();
      liveStorage = await LevelStorage.open({ path: options.dataDir, nodeId: options.id, logger });
      if (node !== null) node.parts.storage = liveStorage;
      await recoverFromStagedSnapshot(liveStorage, options.dataDir, logger);
      await removeStagedSnapshots(options.dataDir);
      return { storage: liveStorage, image: await liveStorage.loadKvImage() };
    };
    const watches = new WatchHub(options.limits.watchersMax, () => driver?.kv.revision ?? (0 as never));
    const handlers = {
      onMessage: (m: Parameters<RaftDriver['step']>[0]) => driver?.step(m),
      onSnapshot: async (m: Parameters<RaftDriver['receiveSnapshot']>[0], chunks: AsyncIterable<Uint8Array>) => {
        if (driver === null) throw new Error('the node is not started yet');
        await driver.receiveSnapshot(m, chunks);
      },
      onUnreachable: (peer: NodeId) => driver?.reportUnreachable(peer),
      onSnapshotStatus: () => {},
      onPeerInfo: (peer: NodeId, info: { readonly clientAddress: string }) => driver?.clientAddresses.set(peer, info.clientAddress),
    };
    const transportMetrics = transportMetricsOf(metrics);
    const initialPeers = new Map(options.initialCluster.filter((m) => m.id !== options.id).map((m) => [m.id, m.peerAddress] as const));
    const transport = new GrpcTransport({
      nodeId: options.id,
      clientAddress: options.advertiseClient,
      peers: initialPeers,
      limits: options.limits,
      handlers,
      logger,
      metrics: transportMetrics,
      ...(tls.peerCredentials === undefined ? {} : { peerCredentials: tls.peerCredentials }),
    });
    driver = new RaftDriver(
      { options, storage, staging: new FileSnapshotStaging(options.dataDir), transport, world: systemWorld(), metrics, logger, onFatal, onApplied: (changes) => watches.publish(changes), reopenStorage, onDiskAlarm: (reason) => reporter.report(reason) },
      image,
    );
    transport.setPeers(driver.peers());

    const dbSizeBytes = (): number => directoryBytes(options.dataDir);
    const admin = new ClusterAdmin({ driver, options, logger });
    const backups = new BackupScheduler({ driver, options, metrics, logger });
    // Permissions are decided by this node's applied auth state (replicated) and its wall clock (token expiry).
    const authorizer = new Authorizer({ auth: () => (driver as RaftDriver).kv.auth, nowMs: () => Date.now() });
    const serviceDeps = { options, driver, watches, metrics, dbSizeBytes, admin, logger, authorizer };
    const kv = kvServiceImplementation(serviceDeps);
    const leaseApi = new NodeLeaseApi(driver, options.requestTimeoutMs);
    const lease = leaseServiceImplementation({ ...serviceDeps, leases: leaseApi });

    // A peer's messages count only while it is a member. A node that has no membership yet
    // (joining, before its first snapshot) cannot tell members apart and accepts any peer the
    // port lets in (with TLS: any node certificate from the cluster's CA).
    const isKnownPeer = (id: NodeId): boolean => {
      if (driver === null) return false;
      const { voters, learners } = driver.confState;
      return (voters.length === 0 && learners.length === 0) || voters.includes(id) || learners.includes(id);
    };
    const peerAdmission = { nodeId: options.id, authentication: tls.peerAuthentication, isKnownPeer, logger, metrics: transportMetrics };
    // Writes reaching a follower go on to the leader over the peer port (forwarding/).
    const forwarder = new WriteForwarder({
      selfId: options.id,
      view: driver,
      credentials: (leader) => tls.peerCredentials?.(leader) ?? grpc.credentials.createInsecure(),
      forwardsPendingMax: options.limits.forwardsPendingMax,
      defaultTimeoutMs: options.requestTimeoutMs,
      registry: metrics.registry,
      logger,
    });
    const peerServer = new grpc.Server(peerServerOptions());
    addRaftPeerService(peerServer, { nodeId: options.id, limits: options.limits, handlers, logger, metrics: transportMetrics, authentication: tls.peerAuthentication, isKnownPeer });
    const forwardedHandlers = { Put: kv['Put'], Delete: kv['Delete'], Txn: kv['Txn'], LeaseGrant: lease['Grant'], LeaseRevoke: lease['Revoke'] };
    peerServer.addService(forwardedKvService, forwardedKvImplementation(forwardedHandlers as Parameters<typeof forwardedKvImplementation>[0], peerAdmission));
    peerServer.addService(integrityService, integrityImplementation({ driver: () => driver as RaftDriver, admission: peerAdmission }));
    const corruption = new CorruptionCheck({ selfId: options.id, driver, credentials: (peer) => tls.peerCredentials?.(peer) ?? grpc.credentials.createInsecure(), logger });

    const clientServer = new grpc.Server({
      'grpc.max_receive_message_length': options.limits.requestBytesMax,
      'grpc.max_send_message_length': 64 * 1024 * 1024,
      'grpc.keepalive_permit_without_calls': 1,
    });
    const member = (): boolean => driver !== null && (driver.confState.voters.includes(options.id) || driver.confState.learners.includes(options.id));
    metrics.observe({
      hasLeader: () => driver !== null && driver.leader !== null,
      dbSizeBytes,
      keys: () => driver?.kv.keyCount ?? 0,
      dataBytes: () => driver?.kv.dataBytes ?? 0,
      watchers: () => watches.size,
      alarms: () => ({ self: options.id, raised: driver === null ? [] : nodeAlarms(driver, options, member()) }),
    });
    const raftkvKv = withWriteForwarding(kv, forwarder);
    const raftkvAuth = authServiceImplementation(serviceDeps);
    clientServer.addService(kvService, raftkvKv);
    clientServer.addService(leaseService, withWriteForwarding(lease, forwarder, leaseForwardedMethods));
    // Pipelined requests run through the same handlers as the unary ones (forwarding included).
    clientServer.addService(pipelineService, pipelineServiceImplementation({ kv: raftkvKv, metrics, logger }));
    clientServer.addService(clusterService, clusterServiceImplementation(serviceDeps));
    clientServer.addService(maintenanceService, { ...maintenanceServiceImplementation(serviceDeps), Alarm: alarmHandler(serviceDeps) });
    clientServer.addService(authService, raftkvAuth);
    // etcd's v3 API on the same port, through the raftkv.v1 services above (server/etcd/).
    const etcd = addEtcdServices(clientServer, {
      ...serviceDeps,
      raftkvKv,
      raftkvAuth,
      leases: leaseApi,
      clientUrlScheme: tls.summary.client === 'plaintext' ? 'http' : 'https',
      peerUrlScheme: tls.summary.peer === 'plaintext' ? 'http' : 'https',
      activeAlarms: () => etcdAlarms(driver, options),
    }, forwarder);
    // Leader-only etcd calls a follower passes on arrive on the peer port, admitted like forwarded writes.
    const forwardedEtcd = forwardedEtcdService(etcd.leaderOnly, peerAdmission);
    peerServer.addService(forwardedEtcd.service, forwardedEtcd.implementation);
    await bind(peerServer, options.listenPeer, 'peer', tls.peerServerCredentials);
    const health = new HealthImplementation({ '': 'NOT_SERVING', 'raftkv.v1.KV': 'NOT_SERVING' });
    health.addToServer(clientServer);
    const packageDefinition = protoLoader.loadSync(resolveProtoFile('kv.proto'), { keepCase: true });
    new ReflectionService(packageDefinition).addToServer(clientServer);
    await bind(clientServer, options.listenClient, 'client', tls.clientServerCredentials);

    node = new RaftkvNode(options, driver, metrics, { storage, transport, clientServer, peerServer, http: null as never, health, watches, admin, backups, forwarder, corruption, reporter, tls, logger, leases: leaseApi });
    node.parts.http = await startHttpServer(options.listenHttp, metrics.registry, {
      liveness: () => (node.stopping ? 'shutting down' : null),
      readiness: () => node.readiness(),
      status: (options: { readonly stateHash: boolean }) => node.statusSummary(options),
    });
    await transport.start();
    driver.start();
    admin.start();
    backups.start();
    corruption.start();
    // Negative control of the CORRUPT alarm: this replica diverges on purpose (never outside tests).
    if (options.testFaults.divergeReplica) driver.kv.divergeForTest(new TextEncoder().encode('raftkv-test-divergence'), new TextEncoder().encode(options.id));
    node.healthTimer = setInterval(() => node.updateHealth(), 200);
    logger.info(
      { id: options.id, client: options.listenClient, peer: options.listenPeer, http: options.listenHttp, dataDir: options.dataDir, applied: image.appliedIndex, clientTls: tls.summary.client, peerTls: tls.summary.peer },
      'node: started',
    );
    warnIfHeapBelowQuota(options.limits.dataBytesMax, logger);
    return node;
  }

  private healthTimer: NodeJS.Timeout | null = null;

  /** Null when the node can serve linearizable requests, else why not. */
  readiness(): string | null {
    if (this.stopping) return 'shutting down';
    const alarm = this.driver.diskAlarm;
    if (alarm !== null) return `NOSPACE alarm: a write to the data dir failed (${alarm})`;
    if (hasAlarm(this.driver.kv.alarms, this.options.id, 'corrupt')) return 'CORRUPT alarm: this member\'s state diverged from the majority\'s; restore it from a backup, or remove and re-add it';
    if (this.driver.leader === null) return 'no leader known';
    return null;
  }

  /**
   * The summary `/status` serves: O(1) in the data, so health checks and tools can poll it. The
   * full state hash walks every key (2.5 s of a blocked event loop at 1,000,000 keys, enough to
   * cost the leader its lease), so it is there only when asked for (`/status?hash=1`).
   */
  statusSummary(options: { readonly stateHash: boolean } = { stateHash: false }): object | Promise<object> {
    const s = this.driver.status();
    const summary = {
      id: this.options.id,
      version: packageInfo().version,
      role: s.role,
      leader: s.leader,
      term: s.term,
      commit: s.commit,
      applied: this.driver.kv.appliedIndex,
      lastIndex: s.lastIndex,
      firstIndex: s.firstIndex,
      revision: this.driver.kv.revision,
      keys: this.driver.kv.keyCount,
      voters: this.driver.confState.voters,
      learners: this.driver.confState.learners,
      clusterId: this.driver.clusterId,
      snapshotIndex: this.driver.snapshotIndexNow,
      clientAddress: this.options.advertiseClient,
      digest: this.driver.kv.digest(),
      alarms: alarmList(this.driver, this.options.id).map((a) => ({ member: a.memberId, type: a.type, reason: a.reason, raisedIndex: a.raisedIndex, local: a.local })),
    };
    // The hash is of the state when it started, which is the state the summary describes.
    return options.stateHash ? slicedStateHash(this.driver.kv).then((stateHash) => ({ ...summary, stateHash })) : summary;
  }

  private updateHealth(): void {
    const state = this.readiness() === null ? 'SERVING' : 'NOT_SERVING';
    this.parts.health.setStatus('', state);
    this.parts.health.setStatus('raftkv.v1.KV', state);
  }

  /**
   * Clean shutdown (SIGTERM): hand leadership over if this node leads, stop accepting calls,
   * let in-flight calls finish (up to a grace period), fail what remains, flush and close.
   */
  stop(): Promise<void> {
    this.stopping ??= this.doStop();
    return this.stopping;
  }

  private async doStop(): Promise<void> {
    const { logger, clientServer, peerServer, transport, storage, http, watches, admin, backups, forwarder, tls } = this.parts;
    logger.info({}, 'node: shutting down');
    if (this.healthTimer) clearInterval(this.healthTimer);
    admin.stop();
    this.parts.corruption.stop();
    this.parts.reporter.close();
    await backups.stop();
    this.updateHealth();
    await this.handOverLeadership();
    watches.close('the node is shutting down');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        clientServer.forceShutdown();
        resolve();
      }, shutdownGraceMs);
      clientServer.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    forwarder.close();
    await this.driver.stop();
    await transport.stop();
    peerServer.forceShutdown();
    await new Promise<void>((resolve) => http.close(() => resolve()));
    http.closeAllConnections();
    await storage.close();
    tls.close();
    logger.info({}, 'node: stopped');
  }

  /** On the leader, asks the most caught-up voter to take over, and waits a little for it. */
  private async handOverLeadership(): Promise<void> {
    const s = this.driver.status();
    if (s.role !== 'leader' || s.progress === null) return;
    let best: { id: NodeId; match: number } | null = null;
    for (const [id, p] of s.progress) {
      if (id !== this.options.id && this.driver.confState.voters.includes(id) && (best === null || p.match > best.match)) best = { id, match: p.match };
    }
    if (best === null) return;
    this.driver.transferLeader(best.id);
    const end = Date.now() + shutdownTransferMs;
    while (Date.now() < end && this.driver.role === 'leader') await new Promise((r) => setTimeout(r, 20));
    this.parts.logger.info({ to: best.id, transferred: this.driver.role !== 'leader' }, 'node: leadership handed over before shutdown');
  }
}

/** Every alarm this node knows: the replicated list, its own disk fault, the quota, membership. */
function nodeAlarms(driver: RaftDriver, options: NodeOptions, member: boolean): { type: AlarmName; member: string }[] {
  const raised: { type: AlarmName; member: string }[] = driver.kv.alarms.alarms.map((a) => ({ type: a.type, member: a.member }));
  if (driver.diskAlarm !== null && !raised.some((a) => a.type === 'nospace' && a.member === options.id)) raised.push({ type: 'nospace', member: options.id });
  if (driver.kv.dataBytes >= options.limits.dataBytesMax) raised.push({ type: 'quota', member: options.id });
  if (!member) raised.push({ type: 'not_member', member: options.id });
  return raised;
}

/**
 * The alarms etcd's Maintenance Status and Alarm GET report: every member's replicated NOSPACE
 * and CORRUPT alarms, this node's NOSPACE while it holds it only locally (alarmList), and this
 * node's data-size quota as NOSPACE (etcd's NOSPACE is its quota alarm).
 */
function etcdAlarms(driver: RaftDriver, options: NodeOptions): { member: string; alarm: EtcdAlarm }[] {
  const raised = alarmList(driver, options.id).map((a) => ({ member: a.memberId, alarm: a.type === 'nospace' ? ('NOSPACE' as const) : ('CORRUPT' as const) }));
  if (driver.kv.dataBytes >= options.limits.dataBytesMax && !raised.some((a) => a.member === options.id && a.alarm === 'NOSPACE')) raised.push({ member: options.id, alarm: 'NOSPACE' });
  return raised;
}

/** The cluster id founding members record: derived from the initial membership, so all agree. */
export function initialClusterId(members: readonly InitialMember[]): string {
  const membership = [...members]
    .map((m) => `${m.id}=${m.peerAddress}`)
    .sort()
    .join(',');
  return `c-${createHash('sha256').update(membership).digest('hex').slice(0, 16)}`;
}

function bind(server: grpc.Server, address: string, what: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => {
      if (err) reject(new FailedPreconditionError(`cannot listen for ${what} traffic on ${address}: ${err.message}`));
      else resolve(port);
    });
  });
}

/** Bytes of the files directly in `dir` (the LevelDB files). */
function directoryBytes(dir: string): number {
  try {
    return readdirSync(dir).reduce((sum, f) => sum + statSync(join(dir, f)).size, 0);
  } catch {
    return 0;
  }
}

function transportMetricsOf(m: NodeMetrics): TransportMetrics {
  const peerRejected = registerPeerSecurityMetrics(m.registry);
  return {
    peerRejected,
    messagesSent: (peer, count) => m.peerMessagesSent.inc({ peer }, count),
    messagesDropped: (peer, _reason, count) => m.peerMessagesDropped.inc({ peer }, count),
    batchesSent: () => {},
    bytesSent: () => {},
    reconnects: (peer) => m.peerReconnects.inc({ peer }),
    messagesReceived: () => {},
    bytesReceived: () => {},
    streamsAccepted: () => {},
    snapshotsSent: () => {},
    snapshotsReceived: () => {},
  };
}
