/**
 * Changes that only the leader may make (auth and membership changes) sent by an etcd client to
 * a follower: etcd clients do not follow raftkv's NOT_LEADER hint, so the follower passes the
 * call on to the leader's client port, unchanged (with the client's token and deadline), and
 * hands the leader's answer or error back. The leader never passes it on again (the
 * `raftkv-etcd-forwarded` header): if it is no longer the leader it answers etcd's "not leader".
 *
 * With TLS on the client port the follower calls the leader over TLS with the credentials the
 * node gives it (node-tls.ts: the node's CA, and its node certificate for `--client-cert-auth`,
 * which is never taken for a user: the caller's token is the only identity passed on). Without
 * such credentials (a TLS client port but plaintext peers) it answers "not leader" instead.
 */
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/grpc-js';
import type { EtcdMsg } from '../../api/etcd/index.js';
import { etcdLeaseService } from '../../api/etcd/index.js';
import type { NodeId } from '../../util/index.js';
import type { EtcdCallContext, EtcdHandler } from './etcd-call.js';
import { etcdTokenHeader } from './etcd-call.js';
import type { EtcdServiceDeps } from './etcd-deps.js';
import { EtcdError, etcdErrors } from './etcd-errors.js';

/** Set on a call a follower passed on to the leader. */
export const etcdForwardedHeader = 'raftkv-etcd-forwarded';
/** Client metadata carried to the leader. */
const carried = [etcdTokenHeader, 'authorization'] as const;

/** One channel per leader client address, kept while the node runs. */
export class EtcdLeaderProxy {
  private readonly clients = new Map<string, grpc.Client>();

  /** `credentials`: for the leader's client port; null when the follower cannot call it (the call is answered "not leader"). */
  constructor(
    private readonly deps: Pick<EtcdServiceDeps, 'driver' | 'options'>,
    private readonly credentials: grpc.ChannelCredentials | null,
  ) {}

  /** `handler`, run on the leader: here if this node leads, else passed on to it. */
  onLeader(definition: MethodDefinition<EtcdMsg, EtcdMsg>, handler: EtcdHandler): EtcdHandler {
    return async (req, deadlineMs, call) => {
      const { driver } = this.deps;
      if (driver.role === 'leader') return handler(req, deadlineMs, call);
      const leader = driver.leader;
      if (leader === null) throw etcdErrors.noLeader();
      const address = driver.clientAddresses.get(leader) ?? '';
      if (call.metadata.get(etcdForwardedHeader).length > 0 || this.credentials === null || address === '') throw etcdErrors.notLeader();
      return this.forward(definition, leader, address, req, deadlineMs, call);
    };
  }

  private forward(definition: MethodDefinition<EtcdMsg, EtcdMsg>, leader: NodeId, address: string, req: EtcdMsg, deadlineMs: number, call: EtcdCallContext): Promise<EtcdMsg> {
    const client = this.clientFor(address);
    const metadata = new grpc.Metadata();
    for (const key of carried) for (const value of call.metadata.get(key)) metadata.add(key, value);
    metadata.set(etcdForwardedHeader, this.deps.options.id);
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(definition.path, definition.requestSerialize, definition.responseDeserialize, req, metadata, { deadline: deadlineMs }, (e, res) => {
        if (e === null && res !== undefined) resolve(res);
        else if (e !== null && (e.code !== grpc.status.UNAVAILABLE || e.details.startsWith('etcdserver:'))) reject(new EtcdError(e.code, e.details));
        else reject(new EtcdError(grpc.status.UNAVAILABLE, `etcdserver: the leader ${leader} at ${address} could not be reached: ${e?.details ?? 'no answer'}`));
      });
    });
  }

  /**
   * A keep-alive stream to the leader's client port for a follower's client, or null when there
   * is none to open (no leader known, already passed on once, or no credentials for the leader).
   */
  keepAliveUpstream(metadata: grpc.Metadata): grpc.ClientDuplexStream<EtcdMsg, EtcdMsg> | null {
    const { driver } = this.deps;
    const leader = driver.leader;
    if (leader === null || metadata.get(etcdForwardedHeader).length > 0 || this.credentials === null) return null;
    const address = driver.clientAddresses.get(leader) ?? '';
    if (address === '') return null;
    const out = new grpc.Metadata();
    for (const key of carried) for (const value of metadata.get(key)) out.add(key, value);
    out.set(etcdForwardedHeader, this.deps.options.id);
    const definition = etcdLeaseService.LeaseKeepAlive;
    return this.clientFor(address).makeBidiStreamRequest(definition.path, definition.requestSerialize, definition.responseDeserialize, out);
  }

  private clientFor(address: string): grpc.Client {
    if (this.credentials === null) throw new Error('etcd leader proxy: no credentials for the leader (checked by the callers)');
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new grpc.Client(address, this.credentials, { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 });
      this.clients.set(address, client);
    }
    return client;
  }

  /** Closes every channel. */
  close(): void {
    for (const client of this.clients.values()) client.close();
    this.clients.clear();
  }
}
