/**
 * The leader's periodic corruption check (etcd's model): every `intervalMs` the leader takes its
 * newest digest checkpoint, asks every other member for its digest at that index
 * (`Integrity/Digest` on the peer port), and when a majority of the voters agree on one digest,
 * raises CORRUPT through the log for each member whose digest differs from it: the leader itself
 * included, if it is the odd one out. Members that do not keep that checkpoint (behind, or
 * started from a later snapshot) are skipped until a later round. Node-level: it runs on real
 * timers and the network, outside the pure core and the driver.
 */
import * as grpc from '@grpc/grpc-js';
import { toNumber } from '../../api/index.js';
import { hasAlarm } from '../../kv/index.js';
import { peerMetadataKeys } from '../../transport/index.js';
import type { Logger, NodeId } from '../../util/index.js';
import type { RaftDriver } from '../raft-driver.js';
import { integrityService } from './integrity-service.js';
import type { DigestResponseMsg } from './integrity-service.js';

/** Named limits of the check. */
export const corruptCheckLimits = Object.freeze({
  /** How often the leader compares digests. */
  intervalMs: 5_000,
  /** The deadline of one member's answer. */
  callTimeoutMs: 2_000,
});

const IntegrityClient = grpc.makeGenericClientConstructor(integrityService as unknown as grpc.ServiceDefinition, 'Integrity');

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
  private readonly clients = new Map<string, grpc.Client>();

  constructor(private readonly deps: CorruptionCheckDeps) {}

  start(): void {
    this.timer = setInterval(() => void this.checkOnce().catch((e: unknown) => this.deps.logger.warn({ err: e instanceof Error ? e.message : String(e) }, 'corruption check: a round failed')), this.deps.intervalMs ?? corruptCheckLimits.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
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
    const address = this.deps.driver.peerAddresses.get(member);
    if (address === undefined || address === '') return Promise.resolve(null);
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new IntegrityClient(address, this.deps.credentials(member));
      this.clients.set(address, client);
    }
    const metadata = new grpc.Metadata();
    metadata.set(peerMetadataKeys.from, this.deps.selfId);
    return new Promise((resolve) => {
      (client as unknown as { Digest: (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: DigestResponseMsg) => void) => void }).Digest(
        { index },
        metadata,
        { deadline: Date.now() + corruptCheckLimits.callTimeoutMs },
        (e, r) => resolve(e ? null : r),
      );
    });
  }
}
