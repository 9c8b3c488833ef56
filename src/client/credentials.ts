/**
 * The client's `credentials: { user, password }` option: a gRPC interceptor that puts a token in
 * the `authorization` metadata of every call. The token comes from `Auth/Authenticate` (any
 * node), is cached, and is renewed before it expires (`tokenRefreshMarginMs`) and after a node
 * refuses it (the call is then retried once by the retry loop: errors.ts, UNAUTHENTICATED with
 * the `raftkv-auth-retry: token` trailer). Against a cluster without auth, calls go without one.
 * The password and the token are never logged.
 */
import * as grpc from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { authService, ErrorTrailer, toNumber } from '../api/index.js';
import { InvalidArgumentError } from '../util/index.js';

/** A user name and password. */
export interface UserCredentials {
  readonly user: string;
  readonly password: string;
}

/** Renew a token this long before it expires (or at half its life, if that is sooner). */
export const tokenRefreshMarginMs = 30_000;
/** How long to remember that the cluster has auth off before asking again. */
const authOffRecheckMs = 10_000;

type Cached = { readonly token: string | null; readonly renewAtMs: number };

/** Fetches and caches tokens for one set of credentials. */
export class TokenSource {
  private cached: Cached | null = null;
  private inflight: Promise<Cached> | null = null;

  constructor(
    private readonly endpoints: readonly string[],
    private readonly channelCredentials: grpc.ChannelCredentials,
    private readonly credentials: UserCredentials,
    private readonly timeoutMs: number,
  ) {
    if (typeof credentials.user !== 'string' || credentials.user === '') throw new InvalidArgumentError('credentials.user', 'must not be empty');
    if (typeof credentials.password !== 'string') throw new InvalidArgumentError('credentials.password', 'must be a string');
  }

  /** A valid token, or null when the cluster has auth off. Rejects with the node's error (UNAUTHENTICATED for a wrong password). */
  async token(): Promise<string | null> {
    const now = Date.now();
    if (this.cached !== null && now < this.cached.renewAtMs) return this.cached.token;
    this.inflight ??= this.fetch().finally(() => {
      this.inflight = null;
    });
    this.cached = await this.inflight;
    return this.cached.token;
  }

  /** Forgets `token` (a node refused it): the next call authenticates again. */
  invalidate(token: string | null): void {
    if (this.cached !== null && this.cached.token === token) this.cached = null;
  }

  /** The interceptor to pass as a channel's `interceptors`. */
  interceptor(): grpc.Interceptor {
    return (options, nextCall) =>
      new grpc.InterceptingCall(nextCall(options), {
        start: (metadata, listener, next) => {
          this.token().then(
            (token) => {
              if (token !== null) metadata.set('authorization', `Bearer ${token}`);
              next(metadata, {
                onReceiveStatus: (status, nextStatus) => {
                  if (status.code === grpc.status.UNAUTHENTICATED) this.invalidate(token);
                  nextStatus(status);
                },
              });
            },
            (e: ServiceError) => {
              // The call never went out: answer it with Authenticate's own error.
              listener.onReceiveStatus({ code: e.code ?? grpc.status.UNAUTHENTICATED, details: e.details ?? String(e), metadata: e.metadata ?? new grpc.Metadata() });
            },
          );
        },
      });
  }

  /** Asks the endpoints in turn for a token (the first that answers decides). */
  private async fetch(): Promise<Cached> {
    let last: unknown = null;
    for (const address of this.endpoints) {
      const client = new grpc.Client(address, this.channelCredentials, { 'grpc.enable_retries': 0 });
      try {
        const m = authService.Authenticate;
        const res = await new Promise<{ token: string; expiresMs: number }>((resolve, reject) => {
          client.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, { name: this.credentials.user, password: this.credentials.password }, new grpc.Metadata(), { deadline: Date.now() + this.timeoutMs }, (e, r) =>
            e || r === undefined ? reject(e) : resolve({ token: r.token, expiresMs: toNumber(r.expiresMs) }),
          );
        });
        const now = Date.now();
        const life = Math.max(0, res.expiresMs - now);
        return { token: res.token, renewAtMs: now + Math.max(0, Math.min(life - tokenRefreshMarginMs, life / 2)) };
      } catch (e) {
        const err = e as ServiceError;
        const code = String(err.metadata?.get(ErrorTrailer.code)[0] ?? '');
        if (code === 'FAILED_PRECONDITION') return { token: null, renewAtMs: Date.now() + authOffRecheckMs };
        // A node's own answer (wrong password...) is final; an unreachable node: try the next.
        if (code !== '' && code !== 'UNAVAILABLE' && code !== 'NOT_LEADER') throw err;
        last = err;
      } finally {
        client.close();
      }
    }
    throw last ?? new Error('no endpoint to authenticate with');
  }
}
