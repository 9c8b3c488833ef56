/**
 * What the client returns: plain, readonly results with numbers for revisions and counters, bytes
 * for keys and values, and lazy UTF-8 views (`keyText`, `text`) for the common case of text.
 */
import type * as M from '../api/index.js';
import { toNumber } from '../api/index.js';
import { emptyBytes, isUtf8, utf8 } from './bytes.js';

/** One key and its metadata. */
export class KeyValue {
  constructor(
    /** The key's bytes. */
    readonly key: Uint8Array,
    /** The value's bytes (empty when the request asked for keys only). */
    readonly value: Uint8Array,
    /** The revision of the put that created the key (since its last deletion). */
    readonly createRevision: number,
    /** The revision of the last put to the key. */
    readonly modRevision: number,
    /** Number of puts since creation: 1 after the first. */
    readonly version: number,
    /** The lease the key is attached to (0: none). */
    readonly lease = 0,
  ) {}

  /** Builds one from its wire form. */
  static fromMessage(m: M.KeyValueMsg): KeyValue {
    return new KeyValue(m.key ?? emptyBytes, m.value ?? emptyBytes, toNumber(m.createRevision), toNumber(m.modRevision), toNumber(m.version), toNumber(m.lease));
  }

  /** The key decoded as UTF-8. */
  get keyText(): string {
    return utf8(this.key);
  }

  /** The value decoded as UTF-8. */
  get text(): string {
    return utf8(this.value);
  }

  /** The value parsed as JSON. Throws `SyntaxError` if it is not JSON. */
  json<T = unknown>(): T {
    return JSON.parse(this.text) as T;
  }

  /** A JSON-friendly view: text as strings, other bytes as base64 (`keyBase64`, `valueBase64`). */
  toJSON(): Record<string, string | number> {
    return {
      ...bytesField('key', this.key),
      ...bytesField('value', this.value),
      createRevision: this.createRevision,
      modRevision: this.modRevision,
      version: this.version,
    };
  }
}

/** `{ [name]: text }` when `bytes` is UTF-8, else `{ [name + 'Base64']: base64 }`. */
export function bytesField(name: string, bytes: Uint8Array): Record<string, string> {
  return isUtf8(bytes) ? { [name]: utf8(bytes) } : { [`${name}Base64`]: Buffer.from(bytes).toString('base64') };
}

/** Where and when a request was answered. */
export interface Answered {
  /** The store's revision when the request was answered. */
  readonly revision: number;
  /** The id of the node that answered. */
  readonly nodeId: string;
}

/** How fresh a read is. */
export interface Freshness {
  /**
   * True if the answer came from a node's local state without a linearizability check: asked
   * for with `consistency: 'stale'`, or the fallback of `fallbackToStale`.
   */
  readonly stale: boolean;
  /** For a stale read: milliseconds since the answering node last heard from a leader (an upper bound on its lag). 0 otherwise. */
  readonly stalenessMs: number;
}

/** What every answer to `get` has. */
interface GetResultBase extends Answered, Freshness {
  /** A JSON-friendly view: the key-value's text (or base64) fields and the metadata. */
  toJSON(): object;
}

/** The answer to `get` when the key exists. */
export interface GetFound extends GetResultBase {
  readonly found: true;
  /** The key with its metadata. */
  readonly kv: KeyValue;
  /** The value's bytes. */
  readonly value: Uint8Array;
  /** The value as UTF-8 text. */
  readonly text: string;
}

/** The answer to `get` when the key does not exist. */
export interface GetMissing extends GetResultBase {
  readonly found: false;
  readonly kv: null;
  readonly value: null;
  readonly text: null;
}

/** The answer to `get`: check `found` (TypeScript then knows whether `kv`, `value`, `text` are set). */
export type GetResult = GetFound | GetMissing;

/** Builds a `GetResult`; `text` is decoded on first use. */
export function getResultOf(kv: KeyValue | null, answered: Answered, freshness: Freshness): GetResult {
  const base = {
    ...answered,
    ...freshness,
    toJSON: () => ({ found: kv !== null, kv, ...answered, ...freshness }),
  };
  if (kv === null) return { ...base, found: false, kv: null, value: null, text: null };
  return {
    ...base,
    found: true,
    kv,
    value: kv.value,
    get text(): string {
      return kv.text;
    },
  };
}

/** The answer to `put`. */
export interface PutResult extends Answered {
  /** The key before the put, when `prevKv` was asked for and the key existed. */
  readonly prevKv: KeyValue | null;
}

/** The answer to `delete`. */
export interface DeleteResult extends Answered {
  /** Number of keys deleted. */
  readonly deleted: number;
  /** The deleted keys, when `prevKv` was asked for. */
  readonly prevKvs: readonly KeyValue[];
}

/** The answer to `range`. */
export interface RangeResult extends Answered, Freshness {
  /** The keys, in key order (empty with `countOnly`). */
  readonly kvs: readonly KeyValue[];
  /** True if `limit` cut the result. */
  readonly more: boolean;
  /** Number of keys in the range, regardless of `limit`. */
  readonly count: number;
}

/** The result of one operation inside a transaction, tagged like the operation. */
export type TxnOpResult =
  | { readonly type: 'put'; readonly prevKv: KeyValue | null }
  | { readonly type: 'delete'; readonly deleted: number; readonly prevKvs: readonly KeyValue[] }
  | { readonly type: 'range'; readonly kvs: readonly KeyValue[]; readonly more: boolean; readonly count: number };

/** The answer to a transaction. */
export interface TxnResult extends Answered {
  /** True if every compare held and the `then` branch was applied; false for `else`. */
  readonly succeeded: boolean;
  /** One result per operation of the branch that ran, in order. */
  readonly results: readonly TxnOpResult[];
}

/** The answer to `cas`. */
export interface CasResult extends Answered {
  /** True if the key held the expected value (or was absent, as expected) and now holds the new one. */
  readonly succeeded: boolean;
  /** On failure, the key as it is (null if absent); on success, null. */
  readonly current: KeyValue | null;
}

/** The header fields every result carries. */
export function answeredOf(header: M.ResponseHeaderMsg | null | undefined): Answered {
  return { revision: toNumber(header?.revision), nodeId: header?.nodeId ?? '' };
}

/** A range response as a result. */
export function rangeResultOf(m: M.RangeResponseMsg, stale: boolean): RangeResult {
  return {
    ...answeredOf(m.header),
    kvs: (m.kvs ?? []).map(KeyValue.fromMessage),
    more: m.more === true,
    count: toNumber(m.count),
    stale,
    stalenessMs: toNumber(m.stalenessMs),
  };
}

/** A transaction response as a result. */
export function txnResultOf(m: M.TxnResponseMsg): TxnResult {
  const results = (m.responses ?? []).map((r): TxnOpResult => {
    if (r.responsePut) return { type: 'put', prevKv: r.responsePut.prevKv ? KeyValue.fromMessage(r.responsePut.prevKv) : null };
    if (r.responseDelete) return { type: 'delete', deleted: toNumber(r.responseDelete.deleted), prevKvs: (r.responseDelete.prevKvs ?? []).map(KeyValue.fromMessage) };
    const range = r.responseRange;
    return { type: 'range', kvs: (range?.kvs ?? []).map(KeyValue.fromMessage), more: range?.more === true, count: toNumber(range?.count) };
  });
  return { ...answeredOf(m.header), succeeded: m.succeeded === true, results };
}
