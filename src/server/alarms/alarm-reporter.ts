/**
 * A member's report of its own NOSPACE alarm to the leader (`Integrity/ReportAlarm`): a node with
 * a full disk cannot append the entry that announces its alarm, and while it holds the alarm it
 * has dropped its Raft instance, so it does not know the leader either. It sends the report to
 * every member it knows; the leader replicates it, the others refuse. It retries every
 * `retryIntervalMs` until a leader took it or the state changed (a later report replaces it),
 * at most `attemptsMax` times. When the alarm clears, it reports that the same way.
 */
import type * as grpc from '@grpc/grpc-js';
import type { Logger, NodeId } from '../../util/index.js';
import { IntegrityPeers } from './integrity-peers.js';

/** Named limits of the reporter. */
export const alarmReportLimits = Object.freeze({
  retryIntervalMs: 1_000,
  attemptsMax: 600,
  callTimeoutMs: 2_000,
});

/** What the reporter needs. */
export interface AlarmReporterDeps {
  readonly selfId: NodeId;
  /** The peer addresses of the members, by id. */
  readonly peers: () => ReadonlyMap<NodeId, string>;
  readonly credentials: (peer: NodeId) => grpc.ChannelCredentials;
  readonly logger: Logger;
}

/** Sends this node's NOSPACE state to the leader, latest state wins. */
export class AlarmReporter {
  private generation = 0;
  private timer: NodeJS.Timeout | null = null;
  private readonly peers: IntegrityPeers;
  private closed = false;

  constructor(private readonly deps: AlarmReporterDeps) {
    this.peers = new IntegrityPeers(deps.selfId, deps.credentials);
  }

  /** This node's NOSPACE alarm was raised (`reason`) or cleared (null). */
  report(reason: string | null): void {
    if (this.closed) return;
    this.generation++;
    if (this.timer !== null) clearTimeout(this.timer);
    void this.attempt(this.generation, reason, 1);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.peers.close();
  }

  private async attempt(generation: number, reason: string | null, n: number): Promise<void> {
    const answers = await Promise.all([...this.deps.peers()].filter(([id]) => id !== this.deps.selfId).map(([id, address]) => this.send(id, address, reason)));
    if (this.closed || generation !== this.generation) return;
    if (answers.some((ok) => ok)) {
      this.deps.logger.info({ raised: reason !== null }, 'alarm: the leader took this node\'s NOSPACE report');
      return;
    }
    if (n >= alarmReportLimits.attemptsMax) {
      this.deps.logger.warn({ attempts: n }, 'alarm: no leader took this node\'s NOSPACE report; giving up (attemptsMax)');
      return;
    }
    this.timer = setTimeout(() => void this.attempt(generation, reason, n + 1), alarmReportLimits.retryIntervalMs);
    this.timer.unref();
  }

  private async send(peer: NodeId, address: string, reason: string | null): Promise<boolean> {
    return (await this.peers.call<object>('ReportAlarm', peer, address, { raised: reason !== null, reason: reason ?? '' }, alarmReportLimits.callTimeoutMs)) !== null;
  }
}
