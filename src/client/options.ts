/**
 * The client's options, their defaults, and the checks that turn bad options into an
 * `InvalidArgumentError` naming the option at `connect()` time.
 */
import { randomUUID } from 'node:crypto';
import type { ChannelCredentials, ChannelOptions } from '@grpc/grpc-js';
import { InvalidArgumentError, noopLogger } from '../util/index.js';
import type { Logger } from '../util/index.js';
import type { BackoffOptions } from './backoff.js';
import { defaultBackoff } from './backoff.js';
import type { CircuitBreakerOptions } from './circuit-breaker.js';
import { defaultCircuitBreaker } from './circuit-breaker.js';
import type { ClientHooks } from './hooks.js';
import type { RetryBudgetOptions } from './retry-budget.js';
import { defaultRetryBudget } from './retry-budget.js';
import { TokenSource } from './credentials.js';
import type { UserCredentials } from './credentials.js';
import { clientCredentials, endpointSchemes, resolveTls } from './tls.js';
import type { ClientTlsOptions } from './tls.js';

/** Options of `connect()`. Only `endpoints` is required. */
export interface ClientOptions {
  /** Client addresses of some or all nodes (`host:port` or `http://host:port`), as an array or comma-separated. */
  readonly endpoints: string | readonly string[];
  /** Default deadline of every call, in ms (overridable per call with `timeoutMs`). Default 5000. */
  readonly timeoutMs?: number;
  /**
   * Deadline of one attempt within a call, in ms, so that a silent node (paused, partitioned)
   * does not eat the whole deadline. Default: 40% of the call's deadline, at least 1000 ms.
   */
  readonly attemptTimeoutMs?: number;
  /** Most attempts per call, the first included. Default 8. */
  readonly maxAttempts?: number;
  /** Backoff between retries (exponential, full jitter). */
  readonly backoff?: Partial<BackoffOptions>;
  /** The retry budget, or false for none (not recommended). */
  readonly retryBudget?: Partial<RetryBudgetOptions> | false;
  /** The per-endpoint circuit breaker, or false for none. */
  readonly circuitBreaker?: Partial<CircuitBreakerOptions> | false;
  /**
   * Where reads go: `any` spreads them over every healthy node (followers serve linearizable
   * reads through ReadIndex), `leader` sends them to the leader. Default `any`.
   */
  readonly readFrom?: 'any' | 'leader';
  /** Deadline of each `Cluster.Status` call made to find the leader, in ms. Default 1000. */
  readonly discoveryTimeoutMs?: number;
  /** How often the member list is refreshed to learn new endpoints, in ms. Default 30000. */
  readonly memberRefreshMs?: number;
  /** Exactly-once writes (client id + seq). Default true; false sends writes without them and never retries a write whose outcome is unknown. */
  readonly exactlyOnce?: boolean;
  /** The client id for exactly-once writes. Default: a random UUID per client instance. */
  readonly clientId?: string;
  /** Most writes outstanding above the acknowledged seq (the server keeps 1024 answers). Default 1000. */
  readonly writeWindowMax?: number;
  /**
   * Send key-value calls over one long-lived pipelined stream per node (`Pipeline/Stream`,
   * pipeline.ts): calls issued in the same event-loop turn share one message. Same retries,
   * exactly-once and deadlines as unary calls. Default false.
   */
  readonly pipeline?: boolean;
  /** Metrics hooks. */
  readonly hooks?: ClientHooks;
  /** A pino-compatible logger (`debug`, `info`, `warn`, `error` taking an object and a message). */
  readonly logger?: Logger;
  /** Extra gRPC channel options. */
  readonly channelOptions?: ChannelOptions;
  /**
   * TLS: `{ ca, cert, key }` as PEM (cert and key for clusters that require client
   * certificates), `true` for TLS with the system's CAs. `https://` endpoints turn it on too.
   */
  readonly tls?: ClientTlsOptions | boolean;
  /**
   * Sign in as this user (clusters with auth on): the client exchanges them for a token
   * (`Auth/Authenticate`), caches it, and renews it before it expires or once a node refuses it.
   */
  readonly credentials?: UserCredentials;
}

/** Options with every default applied. */
export interface ResolvedOptions {
  readonly endpoints: readonly string[];
  readonly timeoutMs: number;
  readonly attemptTimeoutMs: number | null;
  readonly maxAttempts: number;
  readonly backoff: BackoffOptions;
  readonly retryBudget: RetryBudgetOptions | null;
  readonly circuitBreaker: CircuitBreakerOptions | null;
  readonly readFrom: 'any' | 'leader';
  readonly discoveryTimeoutMs: number;
  readonly memberRefreshMs: number;
  readonly exactlyOnce: boolean;
  readonly clientId: string;
  readonly writeWindowMax: number;
  readonly pipeline: boolean;
  readonly hooks: ClientHooks;
  readonly logger: Logger;
  readonly channelOptions: ChannelOptions;
  /** Plaintext or TLS, shared by every endpoint's channel. */
  readonly credentials: ChannelCredentials;
}

/** The endpoints used when none are given (the local cluster's). */
export const defaultEndpoints = ['127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'] as const;

const hostPort = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+):(\d{1,5})$/;

/** One endpoint: its `host:port`, and whether it is to be reached over TLS. */
export interface EndpointSpec {
  readonly address: string;
  readonly tls: boolean;
}

/**
 * One endpoint as users write it: `host:port`, `http://host:port` (plaintext, as etcd's
 * `--endpoints` takes it) or `https://host:port` (TLS). A trailing `/` is allowed; a path is not.
 * `connect()` strips the schemes first (`endpointSchemes` in tls.ts, where `https://` turns TLS on);
 * this checks the form of each one.
 */
export function parseEndpoint(text: string): EndpointSpec {
  const url = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/]*)\/?$/.exec(text);
  const scheme = url?.[1]?.toLowerCase() ?? null;
  const address = url?.[2] ?? text;
  if (scheme !== null && scheme !== 'http' && scheme !== 'https') throw new InvalidArgumentError('endpoints', `"${text}": the scheme must be http:// or https://`);
  const m = hostPort.exec(address);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new InvalidArgumentError('endpoints', `"${text}" is not host:port, http://host:port or https://host:port`);
  const spec = { address, tls: scheme === 'https' };
  return spec;
}

/** Splits and checks an endpoint list; returns the addresses, without duplicates. */
export function parseEndpoints(endpoints: string | readonly string[]): string[] {
  const list = (typeof endpoints === 'string' ? endpoints.split(',') : [...endpoints]).map((e) => String(e).trim()).filter((e) => e !== '');
  if (list.length === 0) throw new InvalidArgumentError('endpoints', 'give at least one host:port');
  return [...new Set(list.map((e) => parseEndpoint(e).address))];
}

function positive(value: number | undefined, fallback: number, field: string, { integer = true, zeroOk = false } = {}): number {
  if (value === undefined) return fallback;
  const ok = typeof value === 'number' && Number.isFinite(value) && (zeroOk ? value >= 0 : value > 0) && (!integer || Number.isInteger(value));
  if (!ok) throw new InvalidArgumentError(field, `must be a ${zeroOk ? 'non-negative' : 'positive'} ${integer ? 'integer' : 'number'}, got ${JSON.stringify(value)}`);
  return value;
}

/** Applies defaults and checks every option. */
export function resolveOptions(options: ClientOptions): ResolvedOptions {
  if (typeof options !== 'object' || options === null) throw new InvalidArgumentError('options', 'must be an object');
  const backoff = {
    baseDelayMs: positive(options.backoff?.baseDelayMs, defaultBackoff.baseDelayMs, 'backoff.baseDelayMs'),
    maxDelayMs: positive(options.backoff?.maxDelayMs, defaultBackoff.maxDelayMs, 'backoff.maxDelayMs'),
  };
  const budget = options.retryBudget;
  const breaker = options.circuitBreaker;
  const readFrom = options.readFrom ?? 'any';
  if (readFrom !== 'any' && readFrom !== 'leader') throw new InvalidArgumentError('readFrom', `must be "any" or "leader", got ${JSON.stringify(readFrom)}`);
  const schemes = endpointSchemes(options.endpoints);
  const tls = resolveTls(options.tls, schemes.https);
  const clientId = options.clientId ?? randomUUID();
  const credentials = clientCredentials(tls);
  const endpoints = parseEndpoints(schemes.endpoints);
  const timeoutMs = positive(options.timeoutMs, 5000, 'timeoutMs');
  // Credentials ride on every channel as an interceptor (channel options carry `interceptors`).
  const tokens = options.credentials === undefined ? null : new TokenSource(endpoints, credentials, options.credentials, timeoutMs);
  const channelOptions = { ...(options.channelOptions ?? {}), ...(tokens === null ? {} : { interceptors: [tokens.interceptor()] }) };
  if (typeof clientId !== 'string' || clientId === '' || clientId.length > 128) throw new InvalidArgumentError('clientId', 'must be a non-empty string of at most 128 characters');
  return {
    endpoints,
    timeoutMs,
    attemptTimeoutMs: options.attemptTimeoutMs === undefined ? null : positive(options.attemptTimeoutMs, 0, 'attemptTimeoutMs'),
    maxAttempts: positive(options.maxAttempts, 8, 'maxAttempts'),
    backoff,
    retryBudget:
      budget === false
        ? null
        : {
            ratio: positive(budget?.ratio, defaultRetryBudget.ratio, 'retryBudget.ratio', { integer: false, zeroOk: true }),
            minPerSecond: positive(budget?.minPerSecond, defaultRetryBudget.minPerSecond, 'retryBudget.minPerSecond', { integer: false, zeroOk: true }),
            burstMax: positive(budget?.burstMax, defaultRetryBudget.burstMax, 'retryBudget.burstMax', { integer: false, zeroOk: true }),
          },
    circuitBreaker:
      breaker === false
        ? null
        : {
            failureThreshold: positive(breaker?.failureThreshold, defaultCircuitBreaker.failureThreshold, 'circuitBreaker.failureThreshold'),
            cooldownMs: positive(breaker?.cooldownMs, defaultCircuitBreaker.cooldownMs, 'circuitBreaker.cooldownMs'),
            cooldownMaxMs: positive(breaker?.cooldownMaxMs, Math.max(defaultCircuitBreaker.cooldownMaxMs, breaker?.cooldownMs ?? 0), 'circuitBreaker.cooldownMaxMs'),
          },
    readFrom,
    discoveryTimeoutMs: positive(options.discoveryTimeoutMs, 1000, 'discoveryTimeoutMs'),
    memberRefreshMs: positive(options.memberRefreshMs, 30_000, 'memberRefreshMs'),
    exactlyOnce: options.exactlyOnce ?? true,
    clientId,
    writeWindowMax: Math.min(positive(options.writeWindowMax, 1000, 'writeWindowMax'), 1000),
    pipeline: options.pipeline ?? false,
    hooks: options.hooks ?? {},
    logger: options.logger ?? noopLogger,
    channelOptions,
    credentials,
  };
}

/** The deadline of one attempt: the option, else 40% of the call's (at least 1 s). */
export function attemptTimeoutOf(options: ResolvedOptions, callTimeoutMs: number): number {
  return options.attemptTimeoutMs ?? Math.max(1000, Math.round(callTimeoutMs * 0.4));
}
