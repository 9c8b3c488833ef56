/**
 * `client.namespace(prefix)`: the key-value API narrowed to the keys under `prefix` (as etcd's
 * namespace package). Every key sent gets the prefix in front; every key received loses it; a
 * range or delete with no end stops at the end of the namespace instead of the key space. So
 * `kv.namespace('app1/').put('a', '1')` writes `app1/a`, and `range()` in it lists only `app1/...`
 * keys, as `a`, `b`, ...
 */
import { InvalidArgumentError } from '../util/index.js';
import type { Bytes } from './bytes.js';
import { prefixEnd, toBytes } from './bytes.js';
import type { CallOptions, DeleteOptions, GetOptions, PutOptions, RangeAllOptions, RangeOptions, WatchOptions } from './call-options.js';
import type { KeyValueApi, NamespaceBase } from './kv-api.js';
import type { Compare, KeySelector, TxnOp } from './requests.js';
import { prefixSelectorOf, selectorOf } from './requests.js';
import { getResultOf, KeyValue } from './results.js';
import type { CasResult, DeleteResult, GetResult, PutResult, RangeResult, TxnOpResult, TxnResult } from './results.js';
import { TxnBuilder } from './txn-builder.js';
import type { Watch, WatchEvent } from './watch.js';

/** The key-value API under one key prefix. */
export class Namespace implements NamespaceBase {
  /** The prefix's bytes (including any parent namespace's prefix is the parent's business). */
  readonly prefix: Uint8Array;

  constructor(
    private readonly base: NamespaceBase,
    prefix: Bytes,
  ) {
    this.prefix = toBytes(prefix, 'namespace');
    if (this.prefix.length === 0) throw new InvalidArgumentError('namespace', 'must not be empty');
  }

  async put(key: Bytes, value: Bytes, options: PutOptions = {}): Promise<PutResult> {
    const r = await this.base.put(this.key(key, 'key'), value, options);
    return { ...r, prevKv: this.strip(r.prevKv) };
  }

  async get(key: Bytes, options: GetOptions = {}): Promise<GetResult> {
    const r = await this.base.get(this.key(key, 'key'), options);
    return getResultOf(this.strip(r.kv), { revision: r.revision, nodeId: r.nodeId }, { stale: r.stale, stalenessMs: r.stalenessMs });
  }

  async range(options: RangeOptions = {}): Promise<RangeResult> {
    const r = await this.base.range({ ...options, ...this.selector(options) });
    return { ...r, kvs: this.stripAll(r.kvs) };
  }

  async *rangeAll(target?: Bytes | KeySelector, options: RangeAllOptions = {}): AsyncGenerator<KeyValue> {
    for await (const kv of this.base.rangeAll(this.selector(prefixSelectorOf(target)), options)) yield this.strip(kv) as KeyValue;
  }

  async delete(target: Bytes | KeySelector, options: DeleteOptions = {}): Promise<DeleteResult> {
    const selector = selectorOf(target);
    if (selector.key === undefined && selector.prefix === undefined && selector.start === undefined) {
      throw new InvalidArgumentError('delete', 'give a key, a prefix or a start (prefix "" selects every key of the namespace)');
    }
    const r = await this.base.delete(this.selector(selector), options);
    return { ...r, prevKvs: this.stripAll(r.prevKvs) };
  }

  txn(): TxnBuilder {
    return new TxnBuilder(async (t, options) => {
      const r = await this.base
        .txn()
        .if(t.compares.map((c) => this.compare(c)))
        .then(t.success.map((o) => this.op(o)))
        .else(t.failure.map((o) => this.op(o)))
        .commit(options);
      return { ...r, results: r.results.map((x) => this.opResult(x)) } satisfies TxnResult;
    });
  }

  async cas(key: Bytes, expected: Bytes | null, value: Bytes, options: CallOptions = {}): Promise<CasResult> {
    const r = await this.base.cas(this.key(key, 'key'), expected, value, options);
    return { ...r, current: this.strip(r.current) };
  }

  watch(key: Bytes, options: WatchOptions = {}): Watch {
    return this.watchMapped(key, options, (e) => e);
  }

  watchMapped(key: Bytes, options: WatchOptions, mapEvent: (event: WatchEvent) => WatchEvent): Watch {
    const k = this.key(key, 'key', options.prefix === true);
    const end = options.end === undefined ? {} : { end: this.key(options.end, 'end') };
    return this.base.watchMapped(k, { ...options, ...end }, (e) => mapEvent({ ...e, kv: this.strip(e.kv) as KeyValue, prevKv: this.strip(e.prevKv) }));
  }

  namespace(prefix: Bytes): KeyValueApi {
    return new Namespace(this, prefix);
  }

  /** `key` under the prefix; an empty key is refused unless it stands for "the whole namespace". */
  private key(key: Bytes, field: string, emptyOk = false): Uint8Array {
    const bytes = toBytes(key, field);
    if (bytes.length === 0 && !emptyOk) throw new InvalidArgumentError(field, 'must not be empty');
    const out = new Uint8Array(this.prefix.length + bytes.length);
    out.set(this.prefix);
    out.set(bytes, this.prefix.length);
    return out;
  }

  /** A selector of keys in the namespace as one of keys in the whole key space, kept inside the namespace. */
  private selector(s: KeySelector): KeySelector {
    if (s.key !== undefined) return { key: this.key(s.key, 'key') };
    if (s.start !== undefined) {
      const end = s.end === undefined ? prefixEnd(this.prefix) : this.key(s.end, 'end');
      return { start: this.key(s.start, 'start', true), ...(end.length > 0 ? { end } : {}) };
    }
    return { prefix: this.key(s.prefix ?? '', 'prefix', true) };
  }

  private compare(c: Compare): Compare {
    return { ...c, key: this.key(c.key, 'compare.key') };
  }

  private op(o: TxnOp): TxnOp {
    switch (o.type) {
      case 'put':
        return { ...o, key: this.key(o.key, 'put.key') };
      case 'delete':
      case 'range': {
        const { key: _key, prefix: _prefix, start: _start, end: _end, ...rest } = o;
        return { ...rest, ...this.selector(o) } as TxnOp;
      }
    }
  }

  private opResult(r: TxnOpResult): TxnOpResult {
    switch (r.type) {
      case 'put':
        return { ...r, prevKv: this.strip(r.prevKv) };
      case 'delete':
        return { ...r, prevKvs: this.stripAll(r.prevKvs) };
      case 'range':
        return { ...r, kvs: this.stripAll(r.kvs) };
    }
  }

  /** `kv` with the prefix taken off its key (null stays null). */
  private strip(kv: KeyValue | null): KeyValue | null {
    if (kv === null) return null;
    return new KeyValue(kv.key.slice(this.prefix.length), kv.value, kv.createRevision, kv.modRevision, kv.version, kv.lease);
  }

  private stripAll(kvs: readonly KeyValue[]): KeyValue[] {
    return kvs.map((kv) => this.strip(kv) as KeyValue);
  }
}
