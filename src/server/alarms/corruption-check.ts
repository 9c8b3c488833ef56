/**
 * The leader's periodic corruption check (etcd's model): every `intervalMs` the leader takes its
 * newest digest checkpoint, asks every other member for its digest at that index
 * (`Integrity/Digest` on the peer port), and when a majority of the voters agree on one digest,
 * raises CORRUPT through the log for each member whose digest differs from it: the leader itself
 * included, if it is the odd one out. Members that do not keep that checkpoint (behind, or
 * started from a later snapshot) are skipped until a later round. Node-level: it runs on real
 * timers and the network, outside the pure core and the driver.
 */
import type * as grpc from '@grpc/grpc-js';
import { toNumber } from '../../api/index.js';
import { hasAlarm } from '../../kv/index.js';
import type { Logger, NodeId } from '../../util/index.js';
import type { RaftDriver } from '../raft-driver.js';
import type { DigestResponseMsg } from './integrity-service.js';
import { IntegrityPeers } from './integrity-peers.js';

/** Named limits of the check. */
export const corruptCheckLimits = Object.freeze({
  /** How often the leader compares digests. */
  intervalMs: 5_000,
  /** The deadline of one member's answer. */
  callTimeoutMs: 2_000,
});

/** What the check needs. */
export interface CorruptionCheckDeps {
  readonly selfId: NodeId;
  readonly driver: RaftDriver;
  readonly credentials: (peer: NodeId) => grpc.ChannelCredentials;
  readonly logger: Logger;
  readonly intervalMs?: number;
}

/** The check (one round at a time). */
export class CorruptionCheck {
  private timer: NodeJS.Timeout | null = null;
  private running = false;
  private readonly peers: IntegrityPeers;

  constructor(private readonly deps: CorruptionCheckDeps) {
    this.peers = new IntegrityPeers(deps.selfId, deps.credentials);
  }

  start(): void {
    this.timer = setInterval(() => void this.checkOnce().catch((e: unknown) => this.deps.logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'corruption check: a round failed')), this.deps.intervalMs ?? corruptCheckLimits.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.peers.close();
  }

  /** One round; returns the members it raised CORRUPT for. */
  async checkOnce(): Promise<NodeId[]> {
    const { driver, selfId, logger } = this.deps;
    if (this.running || driver.role !== 'leader' || driver.diskAlarm !== null) return [];
    const checkpoint = driver.kv.latestCheckpoint();
    if (checkpoint === undefined) return [];
    this.running = true;
    try {
      const { voters, learners } = driver.confState;
      const others = [...voters, ...learners].filter((m) => m !== selfId);
      const answers = await Promise.all(others.map(async (m) => ({ member: m, answer: await this.ask(m, checkpoint.index) })));
      const byDigest = new Map<string, NodeId[]>([[checkpoint.digest, [selfId]]]);
      for (const { member, answer } of answers) {
        if (answer === null || !answer.found || toNumber(answer.index) !== checkpoint.index) continue;
        byDigest.set(answer.digest, [...(byDigest.get(answer.digest) ?? []), member]);
      }
      const quorum = Math.floor(voters.length / 2) + 1;
      const majority = [...byDigest.entries()].find(([, members]) => members.filter((m) => voters.includes(m)).length >= quorum);
      if (majority === undefined) return [];
      const raised: NodeId[] = [];
      for (const [digest, members] of byDigest) {
        if (digest === majority[0]) continue;
        for (const member of members) {
          if (hasAlarm(driver.kv.alarms, member, 'corrupt')) continue;
          const reason = `state digest ${digest} at index ${checkpoint.index} differs from the majority's ${majority[0]}`;
          logger.error({ member, index: checkpoint.index, digest, majority: majority[0] }, 'corruption check: a member diverged; raising CORRUPT');
          await driver.proposeClusterCommand({ type: 'alarm', alarm: { action: 'raise', member, type: 'corrupt', reason } }, 'CORRUPT alarm');
          raised.push(member);
        }
      }
      return raised;
    } finally {
      this.running = false;
    }
  }

  /** A member's digest at `index`, or null if it did not answer. */
  private ask(member: NodeId, index: number): Promise<DigestResponseMsg | null> {
    return this.peers.call<DigestResponseMsg>('Digest', member, this.deps.driver.peerAddresses.get(member) ?? '', { index }, corruptCheckLimits.callTimeoutMs);
  }
}
