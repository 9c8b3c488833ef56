/**
 * The node's Prometheus metrics (prom-client), on a registry of its own so that several nodes in
 * one process (tests) never share counters. Names follow Prometheus conventions: `raftkv_` prefix,
 * base units (seconds, bytes), `_total` for counters; the process and Node.js metrics and the gRPC
 * server metrics keep the standard names dashboards expect (`process_*`, `nodejs_*`,
 * `grpc_server_*` with `grpc_service`, `grpc_method`, `grpc_code`, `grpc_type`).
 * Peer round-trip time is not measured: the transport has no ping of its own to time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Metric } from 'prom-client';
import { clusterService, kvService, maintenanceService, packageInfo } from '../api/index.js';
import { etcdServices } from '../api/etcd/index.js';

/** Latency buckets from 100 µs to 10 s, in seconds. */
const latencyBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The process and Node.js metrics, collected once per process however many nodes it runs. Each
 * `collectDefaultMetrics` call starts an event-loop delay monitor and a GC observer that nothing
 * stops, so one per node start made a process that starts many nodes (tests, the simulator)
 * slower and larger with every start.
 */
let processRegistry: Registry | undefined;
function processMetrics(): readonly Metric[] {
  if (processRegistry === undefined) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
  }
  // The typings say MetricObject; the registry holds the metric instances themselves.
  return processRegistry.getMetricsAsArray() as unknown as readonly Metric[];
}

/** Every metric the node exports. */
export class NodeMetrics {
  readonly registry = new Registry();
  readonly isLeader = new Gauge({ name: 'raftkv_is_leader', help: '1 on the leader, 0 elsewhere', registers: [this.registry] });
  readonly term = new Gauge({ name: 'raftkv_term', help: 'Current Raft term', registers: [this.registry] });
  readonly commitIndex = new Gauge({ name: 'raftkv_commit_index', help: 'Highest log index known committed', registers: [this.registry] });
  readonly appliedIndex = new Gauge({ name: 'raftkv_applied_index', help: 'Highest log index applied to the state machine', registers: [this.registry] });
  readonly leaderChanges = new Counter({ name: 'raftkv_leader_changes_total', help: 'Times the known leader changed', registers: [this.registry] });
  readonly proposalsPending = new Gauge({ name: 'raftkv_proposals_pending', help: 'Writes proposed and not yet applied', registers: [this.registry] });
  readonly readsPending = new Gauge({ name: 'raftkv_reads_pending', help: 'Linearizable reads waiting for their read index', registers: [this.registry] });
  readonly fsyncDuration = new Histogram({
    name: 'raftkv_fsync_duration_seconds',
    help: 'Time to write one Ready (hard state, entries and the apply batch of its committed entries: one LevelDB batch, synced unless it only moves the commit index)',
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly peerRoundTrip = new Histogram({
    name: 'raftkv_peer_round_trip_seconds',
    help: 'On the leader: time from a heartbeat to a peer to its response (driver/peer-round-trips.ts)',
    labelNames: ['peer'],
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly applyDuration = new Histogram({
    name: 'raftkv_apply_duration_seconds',
    help: "Time to apply one Ready's committed entries in memory (their batch is written with the Ready, see raftkv_fsync_duration_seconds)",
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly entriesPersisted = new Counter({ name: 'raftkv_entries_persisted_total', help: 'Log entries persisted', registers: [this.registry] });
  readonly entriesApplied = new Counter({ name: 'raftkv_entries_applied_total', help: 'Log entries applied', registers: [this.registry] });
  readonly entriesUndecodable = new Counter({ name: 'raftkv_entries_undecodable_total', help: 'Committed entries that did not decode (applied as an error result)', registers: [this.registry] });
  readonly snapshotsTaken = new Counter({ name: 'raftkv_snapshots_taken_total', help: 'Snapshots taken', registers: [this.registry] });
  readonly snapshotsInstalled = new Counter({ name: 'raftkv_snapshots_installed_total', help: 'Snapshots installed from the leader', registers: [this.registry] });
  readonly snapshotsSent = new Counter({
    name: 'raftkv_snapshots_sent_total',
    help: 'Snapshots streamed to followers, by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly backupsWritten = new Counter({
    name: 'raftkv_backups_written_total',
    help: 'Scheduled backups written, by result',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly shed = new Counter({
    name: 'raftkv_requests_shed_total',
    help: 'Requests refused because a bounded queue was full',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });
  /** Client gRPC calls started, under the names and labels of go-grpc-prometheus (what standard gRPC dashboards query). */
  private readonly grpcStartedTotal = new Counter({
    name: 'grpc_server_started_total',
    help: 'Client gRPC calls started on the server',
    labelNames: ['grpc_type', 'grpc_service', 'grpc_method'] as const,
    registers: [this.registry],
  });
  private readonly grpcHandledTotal = new Counter({
    name: 'grpc_server_handled_total',
    help: 'Client gRPC calls completed on the server, by status code',
    labelNames: ['grpc_type', 'grpc_service', 'grpc_method', 'grpc_code'] as const,
    registers: [this.registry],
  });
  private readonly grpcHandlingSeconds = new Histogram({
    name: 'grpc_server_handling_seconds',
    help: 'Time from the start of a client gRPC call to its status, by method (streams: their whole life)',
    labelNames: ['grpc_type', 'grpc_service', 'grpc_method'] as const,
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  /** Writes that were proposed to Raft and then failed (dropped, leadership lost, deadline passed), by raftkv code. */
  readonly proposalsFailed = new Counter({
    name: 'raftkv_proposals_failed_total',
    help: 'Writes proposed and then not committed: dropped, leadership lost while in flight, or deadline passed',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly peerMessagesSent = new Counter({ name: 'raftkv_peer_messages_sent_total', help: 'Raft messages sent to peers', labelNames: ['peer'] as const, registers: [this.registry] });
  readonly peerMessagesDropped = new Counter({
    name: 'raftkv_peer_messages_dropped_total',
    help: 'Raft messages dropped because a peer queue was full or the peer unreachable',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });
  readonly peerReconnects = new Counter({ name: 'raftkv_peer_reconnects_total', help: 'Peer stream reconnections', labelNames: ['peer'] as const, registers: [this.registry] });

  constructor(options: { processMetrics: boolean } = { processMetrics: true }) {
    // Under their standard names (process_cpu_seconds_total, nodejs_heap_size_used_bytes, ...), so
    // the usual Node.js dashboards and alerts match them.
    if (options.processMetrics) for (const metric of processMetrics()) this.registry.registerMetric(metric);
    new Gauge({
      name: 'raftkv_build_info',
      help: 'Always 1; the labels say which raftkv and Node.js the node runs',
      labelNames: ['version', 'node_version'] as const,
      registers: [this.registry],
    }).set({ version: packageInfo().version, node_version: process.version }, 1);
  }

  /**
   * Starts timing a client gRPC call of `method` (`Put`, `Status`, `Backup`, ...); call the result
   * once, with the gRPC status code's name (`OK`, `FAILED_PRECONDITION`), when the call ends.
   */
  grpcCall(method: string): (code: string) => void {
    const labels = grpcLabelsOf(method);
    this.grpcStartedTotal.inc(labels);
    const end = this.grpcHandlingSeconds.startTimer(labels);
    let ended = false;
    return (code) => {
      if (ended) return;
      ended = true;
      end();
      this.grpcHandledTotal.inc({ ...labels, grpc_code: code });
    };
  }

  /**
   * Gauges read when Prometheus scrapes, from the node's own getters: nothing to keep in step, and
   * the driver's code stays untouched.
   */
  observe(source: ObservedState): void {
    const gauge = (name: string, help: string, read: () => number): void => {
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect() {
          this.set(read());
        },
      });
    };
    gauge('raftkv_has_leader', '1 if this node knows a leader, 0 if not', () => (source.hasLeader() ? 1 : 0));
    gauge('raftkv_db_size_bytes', 'Size of the node\'s database files on disk', () => source.dbSizeBytes());
    gauge('raftkv_keys', 'Live keys in the state machine', () => source.keys());
    gauge('raftkv_data_bytes', 'Bytes of live keys and values (what the dataBytesMax quota counts)', () => source.dataBytes());
    gauge('raftkv_watchers', 'Watch streams open on this node', () => source.watchers());
    new Gauge({
      name: 'raftkv_alarm',
      help:
        '1 while an alarm is raised, by type and member: nospace (a write to the member\'s data dir failed: disk full or failing; it refuses writes), corrupt (the member\'s state diverged from the majority\'s; it refuses reads), quota (the dataBytesMax quota is reached: writes that grow the data are refused), not_member (this node is not a member: removed, or waiting to join)',
      labelNames: ['type', 'member'] as const,
      registers: [this.registry],
      collect() {
        this.reset();
        const { self, raised } = source.alarms();
        // This node's series always exist (0 or 1); other members' only while raised.
        for (const type of alarmNames) this.set({ type, member: self }, 0);
        for (const a of raised) this.set({ type: a.type, member: a.member }, 1);
      },
    });
  }
}

/** The alarm types `raftkv_alarm` reports. */
export const alarmNames = ['nospace', 'corrupt', 'quota', 'not_member'] as const;
export type AlarmName = (typeof alarmNames)[number];

/** What `observe` reads on each scrape. */
export interface ObservedState {
  hasLeader(): boolean;
  dbSizeBytes(): number;
  keys(): number;
  dataBytes(): number;
  watchers(): number;
  /** This node's id, and every alarm raised (this node's own and the replicated list's). */
  alarms(): { readonly self: string; readonly raised: readonly { readonly type: AlarmName; readonly member: string }[] };
}

/** The gRPC labels of one method (in the order they are printed). */
interface GrpcLabels {
  readonly grpc_type: string;
  readonly grpc_service: string;
  readonly grpc_method: string;
}

/** The gRPC labels of a client method, from the service definitions (service, method, type). */
const grpcLabelsByMethod: ReadonlyMap<string, GrpcLabels> = new Map(
  [
    ...[kvService, clusterService, maintenanceService].map((service) => ['', service] as const),
    // etcd's API (api/etcd/): its handlers record `etcd.<Method>` (method names are unique across etcd's services).
    ...etcdServices.map((service) => ['etcd.', service] as const),
  ].flatMap(([prefix, service]) =>
    Object.entries(service).map(([method, def]) => {
      const type = def.requestStream ? (def.responseStream ? 'bidi_stream' : 'client_stream') : def.responseStream ? 'server_stream' : 'unary';
      return [`${prefix}${method}`, { grpc_type: type, grpc_service: def.path.split('/')[1] ?? '', grpc_method: method }] as const;
    }),
  ),
);

function grpcLabelsOf(method: string): GrpcLabels {
  return grpcLabelsByMethod.get(method) ?? { grpc_type: 'unary', grpc_service: 'unknown', grpc_method: method };
}
