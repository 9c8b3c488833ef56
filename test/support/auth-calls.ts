/**
 * Raw gRPC calls for the auth tests: any unary method of the Auth, Cluster or KV service, or the
 * Maintenance/Backup stream, with an optional token, resolving with the response or the failure
 * (status code, details, raftkv trailers) as an outside tool would see them.
 */
import * as grpc from '@grpc/grpc-js';
import type { MethodDefinition } from '@grpc/grpc-js';
import { authService, clusterService, kvService, maintenanceService } from '../../src/api/index.js';

const services = { Auth: authService, Cluster: clusterService, KV: kvService } as const;

/** A failed call. */
export interface Failure {
  readonly code: grpc.status;
  readonly details: string;
  readonly trailers: Record<string, string>;
}

/** Calls to one node's client port. */
export class AuthCalls {
  private readonly client: grpc.Client;

  constructor(address: string) {
    this.client = new grpc.Client(address, grpc.credentials.createInsecure(), { 'grpc.initial_reconnect_backoff_ms': 100, 'grpc.max_reconnect_backoff_ms': 1000 });
  }

  /** `service/method` with `request`; `token` goes in the authorization metadata; extra headers too. */
  call<Res = Record<string, unknown>>(service: keyof typeof services, method: string, request: object, token: string | null = null, headers: Record<string, string> = {}): Promise<Res> {
    const definition = (services[service] as unknown as Record<string, MethodDefinition<object, Res>>)[method];
    if (definition === undefined) throw new Error(`no method ${service}/${method}`);
    const metadata = new grpc.Metadata();
    if (token !== null) metadata.set('authorization', `Bearer ${token}`);
    for (const [k, v] of Object.entries(headers)) metadata.set(k, v);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(definition.path, definition.requestSerialize, definition.responseDeserialize, request, metadata, { deadline: Date.now() + 15_000 }, (e, r) =>
        e ? reject(failureOf(e)) : resolve(r as Res),
      );
    });
  }

  /** Like `call`, resolving with the failure (null on success). */
  async failure(service: keyof typeof services, method: string, request: object, token: string | null = null, headers: Record<string, string> = {}): Promise<Failure | null> {
    try {
      await this.call(service, method, request, token, headers);
      return null;
    } catch (e) {
      return e as Failure;
    }
  }

  /** Opens a server stream (Backup or Watch) and resolves with its first message, or its failure. */
  firstOfStream(method: 'Backup' | 'Watch', request: object, token: string | null): Promise<{ message: unknown } | { failure: Failure }> {
    const definition = (method === 'Backup' ? maintenanceService.Backup : kvService.Watch) as unknown as MethodDefinition<object, unknown>;
    const metadata = new grpc.Metadata();
    if (token !== null) metadata.set('authorization', `Bearer ${token}`);
    const stream = this.client.makeServerStreamRequest(definition.path, definition.requestSerialize, definition.responseDeserialize, request, metadata, { deadline: Date.now() + 15_000 });
    return new Promise((resolve) => {
      stream.once('data', (message: unknown) => {
        resolve({ message });
        stream.cancel();
      });
      stream.once('error', (e: grpc.ServiceError) => resolve({ failure: failureOf(e) }));
    });
  }

  close(): void {
    this.client.close();
  }
}

function failureOf(e: grpc.ServiceError): Failure {
  const trailers: Record<string, string> = {};
  for (const [k, v] of Object.entries(e.metadata?.getMap() ?? {})) trailers[k] = String(v);
  return { code: e.code, details: e.details, trailers };
}
