/**
 * The administrative calls of `raftkv member`, `raftkv leader` and `raftkv backup save`: unary
 * Cluster calls that must reach the leader (following the `raftkv-leader-address` hint a
 * follower answers with, and trying the other endpoints when one does not answer), and the
 * Maintenance service's Backup stream from one node. Failures become `CliFailure`s carrying the
 * node's message and raftkv code, with the exit code scripts rely on (exit-codes.ts).
 */
import * as grpc from '@grpc/grpc-js';
import type { ClientReadableStream, MethodDefinition, ServiceError } from '@grpc/grpc-js';
import { ErrorTrailer } from '../api/index.js';
import { clientCredentials, endpointSchemes, parseEndpoints, TokenSource } from '../client/index.js';
import type { ClientTlsOptions, UserCredentials } from '../client/index.js';
import { CliFailure, ExitCode } from './exit-codes.js';

const channelOptions: grpc.ChannelOptions = {
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
  'grpc.max_receive_message_length': 64 * 1024 * 1024 + 1024,
  'grpc.enable_retries': 0,
};

const exitCodeByRaftkvCode: Readonly<Record<string, number>> = {
  INVALID_ARGUMENT: ExitCode.usage,
  NOT_FOUND: ExitCode.notFound,
  UNAVAILABLE: ExitCode.unavailable,
  NOT_LEADER: ExitCode.unavailable,
  DEADLINE_EXCEEDED: ExitCode.unavailable,
  OUTCOME_UNKNOWN: ExitCode.unavailable,
  OVERLOADED: ExitCode.unavailable,
};

/** A failed call, as the CLI reports it. */
export function failureOf(e: ServiceError, endpoint: string): CliFailure {
  const code = String(e.metadata?.get(ErrorTrailer.code)[0] ?? '');
  if (code !== '') return new CliFailure(`${e.details} [${code}]`, exitCodeByRaftkvCode[code] ?? ExitCode.failed);
  if (e.code === grpc.status.UNAVAILABLE || e.code === grpc.status.DEADLINE_EXCEEDED) {
    return new CliFailure(`${endpoint}: ${e.details || 'unreachable'} [${grpc.status[e.code]}]`, ExitCode.unavailable);
  }
  if (e.code === grpc.status.UNIMPLEMENTED) return new CliFailure(`${endpoint} does not support this command (an older raftkv?): ${e.details}`, ExitCode.failed);
  return new CliFailure(`${endpoint}: ${e.details} [${grpc.status[e.code] ?? e.code}]`, ExitCode.failed);
}

/** Which cluster, and how to talk to it (the client flags). */
export interface AdminTarget {
  readonly endpoints: string;
  readonly tls: ClientTlsOptions | null;
  /** Sign in as this user (auth on): a token rides on every call. */
  readonly credentials?: UserCredentials | null;
  readonly timeoutMs?: number;
}

/** Calls to a cluster given by its client endpoints. Close it when done. */
export class AdminConnection {
  private readonly clients = new Map<string, grpc.Client>();
  readonly endpoints: readonly string[];
  private readonly credentials: grpc.ChannelCredentials;
  private readonly interceptors: grpc.Interceptor[];

  constructor(target: AdminTarget) {
    this.endpoints = parseEndpoints(endpointSchemes(target.endpoints).endpoints);
    this.credentials = clientCredentials(target.tls);
    const user = target.credentials ?? null;
    this.interceptors = user === null ? [] : [new TokenSource(this.endpoints, this.credentials, user, target.timeoutMs ?? 5000).interceptor()];
  }

  private client(address: string): grpc.Client {
    let c = this.clients.get(address);
    if (c === undefined) {
      c = new grpc.Client(address, this.credentials, { ...channelOptions, interceptors: this.interceptors });
      this.clients.set(address, c);
    }
    return c;
  }

  /** One unary call to `address`. */
  call<Req, Res>(address: string, method: MethodDefinition<Req, Res>, request: Req, deadlineMs: number): Promise<Res> {
    return new Promise<Res>((resolve, reject) => {
      this.client(address).makeUnaryRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new grpc.Metadata(), { deadline: deadlineMs }, (err, res) => {
        if (err) reject(err);
        else resolve(res as Res);
      });
    });
  }

  /**
   * Calls `method` on the leader: starts with the endpoints in order, follows leader hints, and
   * retries (briefly pausing) while no leader is known, until `deadlineMs`.
   */
  async onLeader<Req, Res>(method: MethodDefinition<Req, Res>, request: Req, deadlineMs: number): Promise<{ response: Res; endpoint: string }> {
    let queue = [...this.endpoints];
    let last: CliFailure | null = null;
    for (let attempt = 0; Date.now() < deadlineMs; attempt++) {
      const address = queue.shift() ?? this.endpoints[attempt % this.endpoints.length] ?? '';
      try {
        return { response: await this.call(address, method, request, deadlineMs), endpoint: address };
      } catch (e) {
        const err = e as ServiceError;
        last = failureOf(err, address);
        const code = String(err.metadata?.get(ErrorTrailer.code)[0] ?? '');
        const hint = String(err.metadata?.get(ErrorTrailer.leaderAddress)[0] ?? '');
        if (code === 'NOT_LEADER') {
          if (hint !== '' && hint !== address) {
            queue = [hint, ...queue.filter((a) => a !== hint)];
            continue;
          }
        } else if (!(code === 'UNAVAILABLE' || (code === '' && err.code === grpc.status.UNAVAILABLE))) {
          throw last;
        }
        if (queue.length === 0) {
          // Every endpoint was tried: wait for an election (or a node to come back), then again.
          await new Promise((r) => setTimeout(r, 200));
          queue = [...this.endpoints];
        }
      }
    }
    throw last ?? new CliFailure('deadline exceeded before any node answered', ExitCode.unavailable);
  }

  /** Opens a server stream on the first endpoint that accepts it. */
  stream<Req, Res>(address: string, method: MethodDefinition<Req, Res>, request: Req, deadlineMs: number): ClientReadableStream<Res> {
    return this.client(address).makeServerStreamRequest(method.path, method.requestSerialize, method.responseDeserialize, request, new grpc.Metadata(), { deadline: deadlineMs });
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/** Runs `fn` with a connection, closing it afterwards. */
export async function withAdmin<T>(target: AdminTarget, fn: (admin: AdminConnection) => Promise<T>): Promise<T> {
  const admin = new AdminConnection(target);
  try {
    return await fn(admin);
  } finally {
    admin.close();
  }
}
