/**
 * Calls to other members' `Integrity` service (integrity-service.ts), one cached channel per peer
 * address, each call named by this node (`raftkv-from`) and bounded by a deadline. A call that
 * fails for any reason resolves null: the callers (the corruption check, the alarm reporter)
 * treat a silent member as "no answer this round".
 */
import * as grpc from '@grpc/grpc-js';
import { peerMetadataKeys } from '../../transport/index.js';
import type { NodeId } from '../../util/index.js';
import { integrityService } from './integrity-service.js';

const IntegrityClient = grpc.makeGenericClientConstructor(integrityService as unknown as grpc.ServiceDefinition, 'Integrity');

type Call = (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: unknown) => void) => void;

/** A pool of Integrity clients. */
export class IntegrityPeers {
  private readonly clients = new Map<string, grpc.Client>();

  constructor(
    private readonly selfId: NodeId,
    private readonly credentials: (peer: NodeId) => grpc.ChannelCredentials,
  ) {}

  /** Calls `method` on `peer` at `address`; resolves with the answer, or null on any failure. */
  call<Res>(method: keyof typeof integrityService, peer: NodeId, address: string, request: object, timeoutMs: number): Promise<Res | null> {
    if (address === '') return Promise.resolve(null);
    let client = this.clients.get(address);
    if (client === undefined) {
      client = new IntegrityClient(address, this.credentials(peer));
      this.clients.set(address, client);
    }
    const metadata = new grpc.Metadata();
    metadata.set(peerMetadataKeys.from, this.selfId);
    const fn = (client as unknown as Record<string, Call>)[method] as Call;
    return new Promise((resolve) => fn.call(client, request, metadata, { deadline: Date.now() + timeoutMs }, (e, r) => resolve(e ? null : (r as Res))));
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}
