/**
 * How users describe key ranges, transaction guards and transaction operations, and how those
 * become wire messages. Every check that can be made here throws `InvalidArgumentError` naming the
 * field, before anything is sent.
 */
import type * as M from '../api/index.js';
import { CompareResult, CompareTarget } from '../api/index.js';
import { InvalidArgumentError } from '../util/index.js';
import type { Bytes } from './bytes.js';
import { emptyBytes, toBytes } from './bytes.js';

/**
 * Which keys: one `key`, every key that starts with `prefix` (an empty prefix is every key), or
 * the span `[start, end)` (without `end`, every key from `start` on). Give exactly one of `key`,
 * `prefix` and `start`; giving none selects every key.
 */
export interface KeySelector {
  readonly key?: Bytes;
  readonly prefix?: Bytes;
  readonly start?: Bytes;
  readonly end?: Bytes;
}

/** The wire fields of a key range. */
export interface RangeFields {
  key: Uint8Array;
  rangeEnd?: Uint8Array;
  prefix?: boolean;
}

/** `range_end` = the single byte 0x00 means "every key >= key" (kv.proto conventions). */
const toTheEnd = new Uint8Array([0]);

/** The wire fields for `selector`; `field` prefixes error field names. */
export function rangeFields(selector: KeySelector, field: string): RangeFields {
  const given = (['key', 'prefix', 'start'] as const).filter((name) => selector[name] !== undefined);
  if (given.length > 1) throw new InvalidArgumentError(field, `give one of key, prefix and start, not ${given.join(' and ')}`);
  if (selector.end !== undefined && selector.start === undefined) throw new InvalidArgumentError(`${field}.end`, 'needs start');
  if (selector.key !== undefined) {
    const key = toBytes(selector.key, `${field}.key`);
    if (key.length === 0) throw new InvalidArgumentError(`${field}.key`, 'must not be empty');
    return { key };
  }
  if (selector.start !== undefined) {
    const key = toBytes(selector.start, `${field}.start`);
    const end = selector.end === undefined ? toTheEnd : toBytes(selector.end, `${field}.end`);
    if (end.length === 0) throw new InvalidArgumentError(`${field}.end`, 'must not be empty (omit it to read to the last key)');
    return { key, rangeEnd: end };
  }
  return { key: selector.prefix === undefined ? emptyBytes : toBytes(selector.prefix, `${field}.prefix`), prefix: true };
}

/** Throws unless `selector` names its keys (a delete never defaults to every key). */
export function requireSelection(selector: KeySelector, field: string): void {
  if (selector.key === undefined && selector.prefix === undefined && selector.start === undefined) {
    throw new InvalidArgumentError(field, 'give a key, a prefix or a start (prefix "" selects every key)');
  }
}

/** A key given as bytes or a string, or a selector object. */
export function selectorOf(target: Bytes | KeySelector): KeySelector {
  return typeof target === 'string' || target instanceof Uint8Array ? { key: target } : target;
}

/** A prefix given as bytes or a string, or a selector object (what `rangeAll` takes). */
export function prefixSelectorOf(target: Bytes | KeySelector | undefined): KeySelector {
  if (target === undefined) return {};
  return typeof target === 'string' || target instanceof Uint8Array ? { prefix: target } : target;
}

/** A comparison operator. `=` is accepted as `==`. */
export type CompareOp = '==' | '=' | '!=' | '<' | '>';

/** A property of a key a transaction can compare. A missing key has version, revisions 0 and an empty value. */
export type CompareTargetName = 'value' | 'version' | 'modRevision' | 'createRevision';

/** A transaction guard: `<target of key> <op> <value>`. */
export type Compare =
  | { readonly key: Bytes; readonly target: 'value'; readonly op: CompareOp; readonly value: Bytes }
  | { readonly key: Bytes; readonly target: 'version' | 'modRevision' | 'createRevision'; readonly op: CompareOp; readonly value: number };

/** Builders for transaction guards. */
export const compare = {
  /** The key's value compared with `value`. */
  value: (key: Bytes, op: CompareOp, value: Bytes): Compare => ({ key, target: 'value', op, value }),
  /** The key's version (puts since creation; 0 if absent). */
  version: (key: Bytes, op: CompareOp, value: number): Compare => ({ key, target: 'version', op, value }),
  /** The revision of the key's last put (0 if absent). */
  modRevision: (key: Bytes, op: CompareOp, value: number): Compare => ({ key, target: 'modRevision', op, value }),
  /** The revision that created the key (0 if absent). */
  createRevision: (key: Bytes, op: CompareOp, value: number): Compare => ({ key, target: 'createRevision', op, value }),
  /** The key exists. */
  exists: (key: Bytes): Compare => ({ key, target: 'version', op: '>', value: 0 }),
  /** The key does not exist. */
  absent: (key: Bytes): Compare => ({ key, target: 'version', op: '==', value: 0 }),
} as const;

/** Options of a read inside a transaction or of `range`. */
export interface RangeShape {
  /** Most keys to return (0 or absent: the server's limit). */
  readonly limit?: number;
  /** Return keys and metadata without values. */
  readonly keysOnly?: boolean;
  /** Return only the count. */
  readonly countOnly?: boolean;
}

/** One operation inside a transaction, tagged by `type`. */
export type TxnOp =
  | { readonly type: 'put'; readonly key: Bytes; readonly value: Bytes; readonly prevKv?: boolean; readonly lease?: number }
  | ({ readonly type: 'delete'; readonly prevKv?: boolean } & KeySelector)
  | ({ readonly type: 'range' } & KeySelector & RangeShape);

/** Builders for transaction operations. */
export const op = {
  /** Sets `key` to `value`. */
  put: (key: Bytes, value: Bytes, options: { prevKv?: boolean; lease?: number } = {}): TxnOp => ({ type: 'put', key, value, ...options }),
  /** Reads one key. */
  get: (key: Bytes): TxnOp => ({ type: 'range', key }),
  /** Reads a range of keys. */
  range: (selector: KeySelector & RangeShape): TxnOp => ({ type: 'range', ...selector }),
  /** Deletes a key or a range of keys. */
  delete: (target: Bytes | KeySelector, options: { prevKv?: boolean } = {}): TxnOp => ({ type: 'delete', ...selectorOf(target), ...options }),
} as const;

const compareTargets: Record<CompareTargetName, number> = {
  value: CompareTarget.VALUE,
  version: CompareTarget.VERSION,
  modRevision: CompareTarget.MOD,
  createRevision: CompareTarget.CREATE,
};
const compareResults: Record<CompareOp, number> = {
  '==': CompareResult.EQUAL,
  '=': CompareResult.EQUAL,
  '!=': CompareResult.NOT_EQUAL,
  '<': CompareResult.LESS,
  '>': CompareResult.GREATER,
};

/** The wire form of a guard. */
export function compareMsg(c: Compare, field: string): M.CompareMsg {
  if (typeof c !== 'object' || c === null) throw new InvalidArgumentError(field, 'must be an object');
  const target = compareTargets[c.target];
  const result = compareResults[c.op];
  if (target === undefined) throw new InvalidArgumentError(`${field}.target`, `must be value, version, modRevision or createRevision, got ${JSON.stringify(c.target)}`);
  if (result === undefined) throw new InvalidArgumentError(`${field}.op`, `must be ==, !=, < or >, got ${JSON.stringify(c.op)}`);
  const key = toBytes(c.key, `${field}.key`);
  if (c.target === 'value') return { key, target, result, value: toBytes(c.value, `${field}.value`) };
  const n = c.value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError(`${field}.value`, `must be a non-negative integer when target is ${c.target}, got ${JSON.stringify(n)}`);
  }
  const operand = c.target === 'version' ? { version: n } : c.target === 'modRevision' ? { modRevision: n } : { createRevision: n };
  return { key, target, result, ...operand };
}

/** Checks a `limit`. */
export function limitOf(limit: number | undefined, field: string): number {
  if (limit === undefined) return 0;
  if (!Number.isSafeInteger(limit) || limit < 0) throw new InvalidArgumentError(field, `must be a non-negative integer, got ${JSON.stringify(limit)}`);
  return limit;
}

/** The wire form of a range read. */
export function rangeRequestMsg(selector: KeySelector & RangeShape, field: string): M.RangeRequestMsg {
  return {
    ...rangeFields(selector, field),
    limit: limitOf(selector.limit, `${field}.limit`),
    keysOnly: selector.keysOnly === true,
    countOnly: selector.countOnly === true,
  };
}

/** The wire form of an operation inside a transaction. */
export function requestOpMsg(o: TxnOp, field: string): M.RequestOpMsg {
  if (typeof o !== 'object' || o === null) throw new InvalidArgumentError(field, 'must be an object');
  switch (o.type) {
    case 'put': {
      const key = toBytes(o.key, `${field}.key`);
      if (key.length === 0) throw new InvalidArgumentError(`${field}.key`, 'must not be empty');
      const lease = leaseIdOf(o.lease, `${field}.lease`);
      return { requestPut: { key, value: toBytes(o.value, `${field}.value`), prevKv: o.prevKv === true, ...(lease === 0 ? {} : { lease }) } };
    }
    case 'delete':
      requireSelection(o, field);
      return { requestDelete: { ...rangeFields(o, field), prevKv: o.prevKv === true } };
    case 'range':
      return { requestRange: rangeRequestMsg(o, field) };
    default:
      throw new InvalidArgumentError(`${field}.type`, `must be put, delete or range, got ${JSON.stringify((o as { type: unknown }).type)}`);
  }
}

/** A lease id option: absent is 0 (no lease); otherwise a positive safe integer. */
export function leaseIdOf(lease: number | undefined, field: string): number {
  if (lease === undefined || lease === 0) return 0;
  if (!Number.isSafeInteger(lease) || lease < 0) throw new InvalidArgumentError(field, `must be a lease id (a positive integer), got ${String(lease)}`);
  return lease;
}
