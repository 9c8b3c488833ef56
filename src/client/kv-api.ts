/**
 * The key-value calls a `RaftkvClient` and a `Namespace` both offer, so code can be written
 * against either (a library handed a namespace cannot see keys outside it).
 */
import type { Bytes } from './bytes.js';
import type { CallOptions, DeleteOptions, GetOptions, PutOptions, RangeAllOptions, RangeOptions, WatchOptions } from './call-options.js';
import type { KeySelector } from './requests.js';
import type { CasResult, DeleteResult, GetResult, KeyValue, PutResult, RangeResult } from './results.js';
import type { TxnBuilder } from './txn-builder.js';
import type { Watch, WatchEvent } from './watch.js';

/** Key-value calls (see `RaftkvClient` for what each does). */
export interface KeyValueApi {
  put(key: Bytes, value: Bytes, options?: PutOptions): Promise<PutResult>;
  get(key: Bytes, options?: GetOptions): Promise<GetResult>;
  range(options?: RangeOptions): Promise<RangeResult>;
  /** Every key under a prefix (or of a selector; none: every key), page by page: `for await (const kv of api.rangeAll('p/'))`. */
  rangeAll(target?: Bytes | KeySelector, options?: RangeAllOptions): AsyncGenerator<KeyValue>;
  delete(target: Bytes | KeySelector, options?: DeleteOptions): Promise<DeleteResult>;
  txn(): TxnBuilder;
  cas(key: Bytes, expected: Bytes | null, value: Bytes, options?: CallOptions): Promise<CasResult>;
  watch(key: Bytes, options?: WatchOptions): Watch;
  /** A view of the keys under `prefix`, with the prefix added to every key sent and removed from every key received. */
  namespace(prefix: Bytes): KeyValueApi;
}

/** What a namespace needs of the API it narrows: the calls, and watches whose events it can rewrite. */
export interface NamespaceBase extends KeyValueApi {
  /** `watch`, with each event passed through `mapEvent` before delivery. */
  watchMapped(key: Bytes, options: WatchOptions, mapEvent: (event: WatchEvent) => WatchEvent): Watch;
}
