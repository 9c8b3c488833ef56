/**
 * A minimal raw gRPC client for the public API (proto/kv.proto), used by end-to-end tests that
 * must see exactly what goes over the wire (status codes, trailers), as outside tools do.
 */
import * as grpc from '@grpc/grpc-js';
import { clusterService, kvService } from '../../src/api/index.js';

const KvClient = grpc.makeGenericClientConstructor(kvService as unknown as grpc.ServiceDefinition, 'KV');
const ClusterClient = grpc.makeGenericClientConstructor(clusterService as unknown as grpc.ServiceDefinition, 'Cluster');

/** A gRPC failure with its status, details and trailers flattened. */
export interface CallError {
  readonly code: grpc.status;
  readonly details: string;
  readonly trailers: Record<string, string>;
}

/** Unary calls against one node. */
export class RawClient {
  private readonly kv: grpc.Client;
  private readonly cluster: grpc.Client;

  constructor(
    readonly address: string,
    /** Plaintext by default; TLS credentials for a TLS cluster. */
    channelCredentials: grpc.ChannelCredentials = grpc.credentials.createInsecure(),
  ) {
    // Reconnect quickly after a node restarts (grpc-js backs off up to two minutes by default).
    const options = { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 };
    this.kv = new KvClient(address, channelCredentials, options);
    this.cluster = new ClusterClient(address, channelCredentials, options);
  }

  /** Calls `KV/<method>` (or `Cluster/<method>`) and resolves with the decoded response. */
  call<Res = Record<string, unknown>>(method: string, request: object, timeoutMs = 5000, headers: Readonly<Record<string, string>> = {}): Promise<Res> {
    const client = method === 'Status' || method === 'MemberList' ? this.cluster : this.kv;
    const fn = (client as unknown as Record<string, (r: object, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: Res) => void) => void>)[method];
    if (!fn) throw new Error(`no method ${method}`);
    const metadata = new grpc.Metadata();
    for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
    return new Promise((resolve, reject) => {
      fn.call(client, request, metadata, { deadline: Date.now() + timeoutMs, waitForReady: true }, (e, r) => (e ? reject(toCallError(e)) : resolve(r)));
    });
  }

  /** Like `call`, but resolves with the error (or null on success). */
  async failure(method: string, request: object, timeoutMs = 5000, headers: Readonly<Record<string, string>> = {}): Promise<CallError | null> {
    try {
      await this.call(method, request, timeoutMs, headers);
      return null;
    } catch (e) {
      return e as CallError;
    }
  }

  close(): void {
    this.kv.close();
    this.cluster.close();
  }
}

/** One RawClient per key (a node id, an address), made on first use; `close` them in the file's teardown. */
export class RawClients {
  private readonly clients = new Map<string, RawClient>();

  constructor(private readonly addressOf: (key: string) => string) {}

  get(key: string): RawClient {
    let c = this.clients.get(key);
    if (!c) {
      c = new RawClient(this.addressOf(key));
      this.clients.set(key, c);
    }
    return c;
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

function toCallError(e: grpc.ServiceError): CallError {
  const trailers: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.metadata?.getMap() ?? {})) trailers[k] = String(v);
  return { code: e.code, details: e.details, trailers };
}

/** UTF-8 bytes of a string. */
export const bytes = (s: string): Buffer => Buffer.from(s, 'utf8');
/** A string from UTF-8 bytes. */
export const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8');
/** A uint64 field as a number. */
export const num = (v: unknown): number => (typeof v === 'number' ? v : v && typeof (v as { toNumber?: unknown }).toNumber === 'function' ? (v as { toNumber(): number }).toNumber() : Number(v ?? 0));
