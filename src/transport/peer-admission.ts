/**
 * Who may talk on the peer port, and which of their messages count. A peer's identity is its
 * TLS certificate when the port requires one (`authentication: 'certificate'`): the node id in
 * the certificate (SAN URI `raftkv://node/<id>`, see src/tls/identity.ts) must equal the
 * `raftkv-from` the stream claims, and the `from` of every message on it. Without TLS
 * (`authentication: 'none'`) the claim is all there is, but the same checks still stop a stream
 * from speaking for another node. Either way a message counts only while its sender is a member
 * (or being added): `isKnownPeer` asks the driver.
 *
 * Nothing here trusts the label an attacker chose for metrics: rejections are counted by reason
 * only, and logged once per stream at warn (then at debug) so a hostile peer cannot flood the log.
 */
import type { PeerCertificate } from 'node:tls';
import type { Logger, NodeId } from '../util/index.js';
import { nodeId as toNodeId } from '../util/index.js';
import { nodeIdOfCertificate } from '../tls/index.js';
import type { PeerRejection, TransportMetrics } from './metrics.js';

/** What grpc-js's `call.getAuthContext()` returns (the type is not exported by the package). */
export interface CallAuthContext {
  readonly transportSecurityType?: string;
  readonly sslPeerCertificate?: PeerCertificate;
}

/** How the peer port identifies callers. */
export type PeerAuthentication = 'certificate' | 'none';

/** What admission needs. */
export interface AdmissionContext {
  readonly nodeId: NodeId;
  readonly authentication: PeerAuthentication;
  /** Whether `id` is a member (voter or learner) or a node being added. */
  readonly isKnownPeer: (id: NodeId) => boolean;
  readonly logger: Logger;
  readonly metrics: TransportMetrics;
}

/** The outcome of admitting a call. */
export type Admission =
  | { readonly ok: true; readonly peer: NodeId; readonly authenticated: boolean }
  | { readonly ok: false; readonly reason: PeerRejection; readonly details: string };

/** Longest claimed id looked at; anything longer is refused as it stands. */
const claimedIdLengthMax = 64;

/**
 * Decides who is calling: the certificate's node id (when required) checked against the claimed
 * `raftkv-from`. Refusals are counted and logged here.
 */
export function admitCall(ctx: AdmissionContext, claimed: string | undefined, auth: CallAuthContext, what: string): Admission {
  const claim = claimed === undefined || claimed === '' || claimed.length > claimedIdLengthMax ? null : claimed;
  let result: Admission;
  if (ctx.authentication === 'certificate') {
    const certified = auth.transportSecurityType === 'ssl' ? nodeIdOfCertificate(auth.sslPeerCertificate) : null;
    if (certified === null) result = { ok: false, reason: 'unauthenticated', details: 'the peer port needs a node certificate (SAN URI raftkv://node/<id>)' };
    else if (claim !== certified) result = { ok: false, reason: 'identityMismatch', details: `the certificate names node "${certified}", the call claims "${claim ?? ''}"` };
    else if (certified === ctx.nodeId) result = { ok: false, reason: 'identityMismatch', details: 'a call from this node\'s own identity' };
    else result = { ok: true, peer: toNodeId(certified), authenticated: true };
  } else if (claim === null) {
    result = { ok: false, reason: 'unauthenticated', details: 'the call names no sender (raftkv-from)' };
  } else if (claim === ctx.nodeId) {
    result = { ok: false, reason: 'identityMismatch', details: 'a call that claims to come from this node itself' };
  } else {
    result = { ok: true, peer: toNodeId(claim), authenticated: false };
  }
  if (!result.ok) {
    ctx.metrics.peerRejected(result.reason, 1);
    ctx.logger.warn({ claimed: claim, reason: result.reason, details: result.details }, `refused a peer ${what}`);
  }
  return result;
}

/**
 * Per-stream filter of messages by sender: a message must come from the stream's peer, which
 * must not be this node and must be known. Counts and logs (once per stream) what it drops.
 */
export class SenderFilter {
  private warned = false;

  constructor(
    private readonly ctx: AdmissionContext,
    private readonly peer: NodeId,
  ) {}

  /** Whether a message claiming to be from `from` is delivered. */
  accepts(from: NodeId): boolean {
    if (from !== this.peer || from === this.ctx.nodeId) return this.reject('forgedSender', from);
    if (!this.ctx.isKnownPeer(from)) return this.reject('notMember', from);
    return true;
  }

  /** Whether the stream's peer is a known member now (for its metadata). */
  peerIsKnown(): boolean {
    return this.ctx.isKnownPeer(this.peer);
  }

  private reject(reason: PeerRejection, from: NodeId): false {
    this.ctx.metrics.peerRejected(reason, 1);
    const log = { peer: this.peer, from: from.length > claimedIdLengthMax ? `${from.slice(0, claimedIdLengthMax)}...` : from, reason };
    if (this.warned) this.ctx.logger.debug(log, 'dropped a peer message');
    else this.ctx.logger.warn(log, reason === 'forgedSender' ? 'dropped a message whose sender is not the stream\'s peer' : 'dropped a message from a node that is not a member');
    this.warned = true;
    return false;
  }
}
