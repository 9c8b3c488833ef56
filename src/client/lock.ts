/**
 * `kv.lock(name)`: a distributed lock on leases, etcd's concurrency recipe (clientv3/concurrency
 * Mutex), with etcd's key layout so raftkv and etcd tools see the same keys:
 *
 * 1. The client holds a lease (granted for the lock, or given) and puts `<name>/<lease id in hex>`
 *    on it, if absent, in one transaction; the key's create revision is its place in the queue.
 * 2. It holds the lock once no key under `<name>/` has a lower create revision; until then it
 *    watches the key just before its own and waits for it to be deleted (released, or its holder's
 *    lease expired), then looks again. Only one waiter wakes per release: no thundering herd.
 *
 * The lock is held as long as the lease lives: if the lease is lost, so is the lock (`lost`).
 * Waiting ends with the call's deadline (`timeoutMs`) or `signal`, removing the client's key.
 */
import type { Bytes } from './bytes.js';
import { toBytes, utf8 } from './bytes.js';
import type { CallOptions, DeleteOptions, RangeOptions, WatchOptions } from './call-options.js';
import { InvalidArgumentError } from './errors.js';
import type { Lease, LeaseOptions } from './lease.js';
import { compare, op } from './requests.js';
import type { KeySelector } from './requests.js';
import type { DeleteResult, RangeResult } from './results.js';
import type { TxnBuilder } from './txn-builder.js';
import type { Watch } from './watch.js';

/** What the lock and election recipes use of the client (`RaftkvClient` has it). */
export interface RecipeClient {
  lease(ttlS: number, options?: LeaseOptions): Promise<Lease>;
  txn(): TxnBuilder;
  range(options?: RangeOptions): Promise<RangeResult>;
  watch(key: Bytes, options?: WatchOptions): Watch;
  delete(target: Bytes | KeySelector, options?: DeleteOptions): Promise<DeleteResult>;
}

/** Options of `kv.lock()`. */
export interface LockOptions extends CallOptions {
  /** The TTL of the lease granted for the lock, in seconds (default 60, etcd's session TTL). */
  readonly ttlS?: number;
  /** Hold the lock on this lease instead of granting one (it is not revoked on release). */
  readonly lease?: Lease;
}

/** The default TTL of a lock's or election's own lease (etcd's concurrency session default). */
export const lockTtlSDefault = 60;

/** A held lock. */
export interface Lock {
  /** The key that holds it (`<name>/<lease hex>`). */
  readonly key: Uint8Array;
  readonly lease: Lease;
  /** The create revision of `key`: increases with every holder (a fencing token). */
  readonly revision: number;
  /** Releases it: deletes the key, and revokes the lease if the lock granted it. */
  release(options?: CallOptions): Promise<void>;
}

/** The key a lease holds under `prefix` (etcd's `%s%x`). */
export function leaseKey(prefix: Uint8Array, leaseId: number): Uint8Array {
  return Buffer.concat([prefix, Buffer.from(leaseId.toString(16), 'utf8')]);
}

/** `<name>/` as bytes, refusing an empty name. */
export function recipePrefix(name: Bytes, what: string): Uint8Array {
  const bytes = toBytes(name, 'name');
  if (bytes.length === 0) throw new InvalidArgumentError('name', `a ${what} needs a non-empty name`);
  return Buffer.concat([bytes, Buffer.from('/')]);
}

/**
 * Puts `key` on `lease` with `value` unless it exists; returns its create revision (the queue
 * position) and whether it already existed.
 */
export async function enqueue(kv: RecipeClient, key: Uint8Array, value: Bytes, lease: Lease, options: CallOptions): Promise<{ revision: number; existed: boolean; value: Uint8Array }> {
  const result = await kv.txn().if(compare.createRevision(key, '==', 0)).then(op.put(key, value, { lease: lease.id })).else(op.get(key)).commit(options);
  if (result.succeeded) return { revision: result.revision, existed: false, value: toBytes(value, 'value') };
  const read = result.results[0];
  const kvs = read?.type === 'range' ? read.kvs : [];
  const current = kvs[0];
  if (current === undefined) throw new Error(`the key ${utf8(key)} vanished between the compare and the read of one transaction`);
  return { revision: current.createRevision, existed: true, value: current.value };
}

/**
 * Waits until no key under `prefix` has a create revision below `revision` (etcd's
 * waitDeletes): watches the latest such key until it is deleted, then looks again.
 */
export async function waitForPredecessors(kv: RecipeClient, prefix: Uint8Array, revision: number, options: CallOptions): Promise<void> {
  for (;;) {
    options.signal?.throwIfAborted();
    const queue = await kv.range({ prefix, keysOnly: true, ...callOf(options) });
    let previous: { key: Uint8Array; createRevision: number } | null = null;
    for (const kv1 of queue.kvs) if (kv1.createRevision < revision && (previous === null || kv1.createRevision > previous.createRevision)) previous = kv1;
    if (previous === null) return;
    const watch = kv.watch(previous.key, { fromRevision: queue.revision + 1, ...(options.signal ? { signal: options.signal } : {}) });
    try {
      for await (const event of watch) if (event.type === 'delete') break;
    } finally {
      watch.close();
    }
  }
}

/** Takes the lock `name` (see the top of the file). */
export async function acquireLock(kv: RecipeClient, name: Bytes, options: LockOptions = {}): Promise<Lock> {
  const prefix = recipePrefix(name, 'lock');
  const own = options.lease === undefined;
  const lease = options.lease ?? (await kv.lease(options.ttlS ?? lockTtlSDefault, callOf(options)));
  const key = leaseKey(prefix, lease.id);
  const deadline = deadlineSignal(options);
  try {
    const { revision } = await enqueue(kv, key, '', lease, callOf(options));
    await Promise.race([waitForPredecessors(kv, prefix, revision, { signal: deadline.signal }), lease.whenLost().then((e) => Promise.reject(e))]);
    return {
      key,
      lease,
      revision,
      release: async (releaseOptions: CallOptions = {}) => {
        if (own) await lease.revoke(releaseOptions);
        else await kv.delete(key, releaseOptions);
      },
    };
  } catch (e) {
    // Leave the queue: the key would block every later waiter until the lease expires.
    await (own ? lease.revoke() : kv.delete(key)).catch(() => {});
    throw e;
  } finally {
    deadline.clear();
  }
}

/** The per-call options of one step (deadline and signal of the whole operation are separate). */
export function callOf(options: CallOptions): CallOptions {
  return options.signal ? { signal: options.signal } : {};
}

/** An abort signal for the whole wait: the caller's, and the call's `timeoutMs` if given. */
export function deadlineSignal(options: CallOptions): { signal: AbortSignal; clear: () => void } {
  const controller = new AbortController();
  const onAbort = (): void => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });
  if (options.signal?.aborted) controller.abort(options.signal.reason);
  const timer = options.timeoutMs === undefined ? null : setTimeout(() => controller.abort(new Error(`not acquired within ${options.timeoutMs} ms`)), options.timeoutMs);
  return {
    signal: controller.signal,
    clear: () => {
      if (timer !== null) clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
    },
  };
}
