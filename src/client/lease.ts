/**
 * Leases in the client library: `kv.leases` (the raw operations: grant, revoke, one keep-alive,
 * time-to-live, list) and `kv.lease(ttlS)`, a `Lease` handle that keeps itself alive.
 *
 * The handle sends a keep-alive every TTL/3 (etcd's clientv3 does the same). A keep-alive that
 * fails is retried with full-jitter backoff until the lease's local deadline: TTL after the moment
 * the last ANSWERED keep-alive was SENT (the server never expires the lease before then; README,
 * "Leases"). When that deadline passes without an answer, or the cluster answers that the lease is
 * gone (NOT_FOUND: it expired or was revoked elsewhere), the handle emits `lost` once and stops.
 * `revoke()` ends it on purpose (no `lost`); `close()` stops the keep-alives and lets it expire.
 */
import { EventEmitter } from 'node:events';
import type { MethodDefinition } from '@grpc/grpc-js';
import type * as M from '../api/index.js';
import { leaseService, toNumber } from '../api/index.js';
import { defaultBackoff, fullJitterDelayMs } from './backoff.js';
import type { BackoffOptions } from './backoff.js';
import type { CallOptions } from './call-options.js';
import { InvalidArgumentError, NotFoundError, UnavailableError } from './errors.js';

/** How the lease client reaches the cluster (given by `RaftkvClient`). */
export interface LeaseCalls {
  /** A write to the leader with exactly-once fields. */
  write<Req extends { clientId?: string; seq?: M.Uint64; ackSeq?: M.Uint64 }, Res extends { header: M.ResponseHeaderMsg }>(method: string, def: MethodDefinition<Req, Res>, request: Req, options: CallOptions): Promise<Res>;
  /** A call the leader must answer (keep-alive, time-to-live), retried and redirected like a write, never forwarded. */
  leader<Req, Res extends { header: M.ResponseHeaderMsg }>(method: string, send: 'unary' | 'bidiOnce', def: MethodDefinition<Req, Res>, request: Req, options: CallOptions): Promise<Res>;
  /** A linearizable read on any node. */
  read<Req, Res extends { header: M.ResponseHeaderMsg }>(def: MethodDefinition<Req, Res>, request: Req, options: CallOptions): Promise<Res>;
}

/** The answer to a time-to-live query. */
export interface LeaseTimeToLive {
  readonly id: number;
  /** Seconds left (rounded up), as the leader sees it. */
  readonly ttlS: number;
  readonly grantedTtlS: number;
  /** The attached keys, when asked for. */
  readonly keys: readonly Uint8Array[];
  readonly keyCount: number;
}

/** The raw lease operations (`kv.leases`). Ids are positive integers up to 2^53 - 1. */
export class LeaseClient {
  constructor(private readonly calls: LeaseCalls) {}

  /** Grants a lease of `ttlS` seconds (raised to the cluster's minimum); `id` 0 or absent: the cluster picks it. */
  async grant(ttlS: number, options: CallOptions & { readonly id?: number } = {}): Promise<{ id: number; ttlS: number; revision: number }> {
    positive(ttlS, 'ttlS');
    if (options.id !== undefined && options.id !== 0) positive(options.id, 'id');
    const res = await this.calls.write('Lease/Grant', leaseService.Grant, { ttlS, id: options.id ?? 0 }, options);
    return { id: toNumber(res.id), ttlS: toNumber(res.ttlS), revision: toNumber(res.header.revision) };
  }

  /** Revokes a lease: every attached key is deleted at one revision. NotFoundError if it is gone. */
  async revoke(id: number, options: CallOptions = {}): Promise<{ deleted: number; revision: number }> {
    positive(id, 'id');
    const res = await this.calls.write('Lease/Revoke', leaseService.Revoke, { id }, options);
    return { deleted: toNumber(res.deleted), revision: toNumber(res.header.revision) };
  }

  /** One keep-alive: the lease has its full TTL again from now. NotFoundError if it is gone. */
  async keepAliveOnce(id: number, options: CallOptions = {}): Promise<{ id: number; ttlS: number }> {
    positive(id, 'id');
    const res = await this.calls.leader('Lease/KeepAlive', 'bidiOnce', leaseService.KeepAlive, { id }, options);
    return { id: toNumber(res.id), ttlS: toNumber(res.ttlS) };
  }

  /** The lease's remaining and granted TTL (and its keys with `keys: true`). */
  async timeToLive(id: number, options: CallOptions & { readonly keys?: boolean } = {}): Promise<LeaseTimeToLive> {
    positive(id, 'id');
    const res = await this.calls.leader('Lease/TimeToLive', 'unary', leaseService.TimeToLive, { id, keys: options.keys === true }, options);
    return { id: toNumber(res.id), ttlS: toNumber(res.ttlS), grantedTtlS: toNumber(res.grantedTtlS), keys: res.keys ?? [], keyCount: toNumber(res.keyCount) };
  }

  /** Every live lease id. */
  async list(options: CallOptions = {}): Promise<number[]> {
    const res = await this.calls.read(leaseService.Leases, {}, options);
    return (res.ids ?? []).map((id) => toNumber(id));
  }
}

/** Options of `kv.lease()`. */
export interface LeaseOptions extends CallOptions {
  /** Keep an existing lease alive instead of granting one. */
  readonly id?: number;
  /** Time between keep-alives, in ms (default: a third of the TTL). */
  readonly keepAliveIntervalMs?: number;
  /** Backoff between failed keep-alives (default 25 ms doubling to 1 s, full jitter). */
  readonly backoff?: BackoffOptions;
}

/** Why a lease was lost. */
export type LeaseLostReason = 'expired' | 'unreachable';

/** Events of a `Lease`. */
interface LeaseEvents {
  /** The lease is gone (or can no longer be proven alive): every key on it is, or soon will be, deleted. */
  lost: [reason: LeaseLostReason, error: Error];
}

/** A lease kept alive in the background (`kv.lease(ttlS)`). */
export class Lease extends EventEmitter<LeaseEvents> {
  /** When (local ms since the epoch) the last answered keep-alive (or the grant) was sent. */
  private lastAnsweredSentMs: number;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private lostWith: Error | null = null;
  private readonly lostPromise: Promise<Error>;
  private markLost: (e: Error) => void = () => {};

  constructor(
    /** The lease id: pass it to `put(key, value, { lease })`. */
    readonly id: number,
    /** The granted TTL in seconds. */
    readonly ttlS: number,
    private readonly leases: LeaseClient,
    grantSentMs: number,
    private readonly options: LeaseOptions = {},
  ) {
    super();
    this.lastAnsweredSentMs = grantSentMs;
    this.lostPromise = new Promise<Error>((resolve) => (this.markLost = resolve));
    // A `lost` listener is optional: without one, EventEmitter would not throw (not 'error').
    this.schedule(this.intervalMs());
  }

  /** True once the lease was lost (see `lost`). */
  get isLost(): boolean {
    return this.lostWith !== null;
  }

  /** The local time (ms since the epoch) until which the lease is certainly alive. */
  get aliveUntilMs(): number {
    return this.lastAnsweredSentMs + this.ttlS * 1000;
  }

  /** Resolves with the error when the lease is lost (never, if it is revoked or closed first). */
  whenLost(): Promise<Error> {
    return this.lostPromise;
  }

  /** Stops the keep-alives and revokes the lease (its keys are deleted now). */
  async revoke(options: CallOptions = {}): Promise<{ deleted: number }> {
    this.stop();
    try {
      return await this.leases.revoke(this.id, options);
    } catch (e) {
      if (e instanceof NotFoundError) return { deleted: 0 };
      throw e;
    }
  }

  /** Stops the keep-alives without revoking: the lease expires TTL after the last one. */
  close(): void {
    this.stop();
  }

  private intervalMs(): number {
    const interval = this.options.keepAliveIntervalMs ?? Math.floor((this.ttlS * 1000) / 3);
    return Math.max(10, interval);
  }

  private stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.renew(1), delayMs);
    this.timer.unref();
  }

  /** One keep-alive attempt (retry number `retry`), then the next step. */
  private async renew(retry: number): Promise<void> {
    if (this.stopped) return;
    const sentMs = Date.now();
    const leftMs = this.aliveUntilMs - sentMs;
    if (leftMs <= 0) {
      this.lose('unreachable', new UnavailableError(`lease ${this.id}: no keep-alive was answered within its TTL of ${this.ttlS} s; it may have expired`));
      return;
    }
    try {
      await this.leases.keepAliveOnce(this.id, { timeoutMs: Math.max(1, Math.min(leftMs, this.options.timeoutMs ?? leftMs)) });
      if (this.stopped) return;
      this.lastAnsweredSentMs = sentMs;
      this.schedule(this.intervalMs());
    } catch (e) {
      if (this.stopped) return;
      if (e instanceof NotFoundError) {
        this.lose('expired', e);
        return;
      }
      const delayMs = Math.min(fullJitterDelayMs(retry, this.options.backoff ?? defaultBackoff), Math.max(0, this.aliveUntilMs - Date.now()));
      this.timer = setTimeout(() => void this.renew(retry + 1), delayMs);
      this.timer.unref();
    }
  }

  private lose(reason: LeaseLostReason, error: Error): void {
    if (this.lostWith !== null) return;
    this.lostWith = error;
    this.stop();
    this.markLost(error);
    this.emit('lost', reason, error);
  }
}

function positive(n: number, field: string): void {
  if (!Number.isSafeInteger(n) || n <= 0) throw new InvalidArgumentError(field, `must be a positive integer, got ${String(n)}`);
}
