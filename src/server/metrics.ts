/**
 * The node's Prometheus metrics (prom-client), on a registry of its own so that several nodes in
 * one process (tests) never share counters. Names follow Prometheus conventions: `raftkv_` prefix,
 * base units (seconds, bytes), `_total` for counters.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Latency buckets from 100 µs to 10 s, in seconds. */
const latencyBuckets = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

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
    help: 'Time to persist one Ready (hard state and entries, one synced batch)',
    buckets: latencyBuckets,
    registers: [this.registry],
  });
  readonly applyDuration = new Histogram({
    name: 'raftkv_apply_duration_seconds',
    help: 'Time to apply one Ready of committed entries and write its batch',
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
  readonly grpcRequests = new Counter({
    name: 'raftkv_grpc_requests_total',
    help: 'Client gRPC requests by method and status code',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });
  readonly grpcDuration = new Histogram({
    name: 'raftkv_grpc_request_duration_seconds',
    help: 'Client gRPC request latency by method and status code',
    labelNames: ['method', 'code'] as const,
    buckets: latencyBuckets,
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
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'raftkv_process_' });
  }
}
