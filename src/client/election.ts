/**
 * `kv.election(name)`: leader election on leases, etcd's concurrency recipe (clientv3/concurrency
 * Election) and key layout: each candidate puts `<name>/<lease id in hex>` with its proposal on
 * its lease; the leader is the key with the lowest create revision. `campaign` waits until this
 * client's key is the lowest (lock.ts's `waitForPredecessors`); `proclaim` changes the leader's
 * value only while it still leads; `resign` deletes the key; `leader` reads the current one;
 * `observe` yields each new leader. A leader whose lease is lost stops being leader.
 */
import type { Bytes } from './bytes.js';
import { toBytes } from './bytes.js';
import type { CallOptions } from './call-options.js';
import { FailedPreconditionError } from './errors.js';
import type { Lease } from './lease.js';
import { callOf, deadlineSignal, enqueue, leaseKey, lockTtlSDefault, recipePrefix, waitForPredecessors } from './lock.js';
import type { RecipeClient } from './lock.js';
import { compare, op } from './requests.js';
import type { KeyValue } from './results.js';

/** Options of `kv.election()`. */
export interface ElectionOptions {
  /** The TTL of the lease granted for a campaign, in seconds (default 60). */
  readonly ttlS?: number;
  /** Campaign on this lease instead of granting one (it is not revoked on resign). */
  readonly lease?: Lease;
}

/** One election; one campaign at a time per object. */
export class Election {
  private readonly prefix: Uint8Array;
  /** This client's key and its create revision while it campaigns or leads. */
  private mine: { key: Uint8Array; revision: number; lease: Lease; own: boolean } | null = null;

  constructor(
    private readonly kv: RecipeClient,
    name: Bytes,
    private readonly options: ElectionOptions = {},
  ) {
    this.prefix = recipePrefix(name, 'election');
  }

  /** The lease this client campaigns on (null before `campaign`). */
  get lease(): Lease | null {
    return this.mine?.lease ?? null;
  }

  /**
   * Campaigns with `proposal` and resolves once this client is the leader (or rejects at the
   * deadline, on abort, or when its lease is lost, leaving the election).
   */
  async campaign(proposal: Bytes, options: CallOptions = {}): Promise<void> {
    const own = this.options.lease === undefined;
    const lease = this.options.lease ?? (await this.kv.lease(this.options.ttlS ?? lockTtlSDefault, callOf(options)));
    const key = leaseKey(this.prefix, lease.id);
    const deadline = deadlineSignal(options);
    try {
      const queued = await enqueue(this.kv, key, proposal, lease, callOf(options));
      this.mine = { key, revision: queued.revision, lease, own };
      if (queued.existed && Buffer.compare(Buffer.from(queued.value), Buffer.from(toBytes(proposal, 'proposal'))) !== 0) await this.proclaim(proposal, callOf(options));
      await Promise.race([waitForPredecessors(this.kv, this.prefix, queued.revision, { signal: deadline.signal }), lease.whenLost().then((e) => Promise.reject(e))]);
    } catch (e) {
      await this.resign().catch(() => {});
      throw e;
    } finally {
      deadline.clear();
    }
  }

  /** Changes the leader's value; FailedPreconditionError if this client does not lead (any more). */
  async proclaim(value: Bytes, options: CallOptions = {}): Promise<void> {
    const mine = this.mine;
    if (mine === null) throw new FailedPreconditionError('proclaim: this client is not campaigning');
    const result = await this.kv.txn().if(compare.createRevision(mine.key, '==', mine.revision)).then(op.put(mine.key, value, { lease: mine.lease.id })).commit(options);
    if (!result.succeeded) throw new FailedPreconditionError('proclaim: this client is no longer the leader (its key is gone)');
  }

  /** Leaves the election: deletes this client's key (and revokes its own lease). */
  async resign(options: CallOptions = {}): Promise<void> {
    const mine = this.mine;
    this.mine = null;
    if (mine === null) return;
    if (mine.own) await mine.lease.revoke(options);
    else await this.kv.delete(mine.key, options);
  }

  /** The current leader's key and value, or null if nobody campaigns. */
  async leader(options: CallOptions = {}): Promise<KeyValue | null> {
    const all = await this.kv.range({ prefix: this.prefix, ...callOf(options), ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) });
    let first: KeyValue | null = null;
    for (const kv of all.kvs) if (first === null || kv.createRevision < first.createRevision) first = kv;
    return first;
  }

  /**
   * Yields the leader now (if any) and every time the leader or its value changes, until
   * `signal` aborts. Each value is read linearizably after the change was seen.
   */
  async *observe(options: { readonly signal?: AbortSignal } = {}): AsyncGenerator<KeyValue> {
    let last: KeyValue | null = null;
    const same = (a: KeyValue | null, b: KeyValue | null): boolean => a !== null && b !== null && a.modRevision === b.modRevision && Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)) === 0;
    const first = await this.kv.range({ prefix: this.prefix, ...callOf(options) });
    const watch = this.kv.watch(this.prefix, { prefix: true, fromRevision: first.revision + 1, ...(options.signal ? { signal: options.signal } : {}) });
    try {
      const events = watch[Symbol.asyncIterator]();
      let current = await this.leader(callOf(options));
      for (;;) {
        if (current !== null && !same(current, last)) {
          last = current;
          yield current;
        }
        const next = await events.next();
        if (next.done === true) return;
        current = await this.leader(callOf(options));
      }
    } finally {
      watch.close();
    }
  }
}
