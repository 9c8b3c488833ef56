/**
 * The JSON form of a transaction for `raftkv txn`:
 * `{"if": [compare...], "then": [op...], "else": [op...]}`, each part optional. Compares and ops
 * have the client library's plain-object shapes (`Compare`, `TxnOp`) with UTF-8 strings for keys
 * and values; the library checks them and names the offending field (`txn.then[1].key`).
 */
import { InvalidArgumentError } from '../util/index.js';
import type { Compare, TxnOp } from '../client/index.js';

/** A parsed transaction. */
export interface TxnInput {
  readonly if: readonly Compare[];
  readonly then: readonly TxnOp[];
  readonly else: readonly TxnOp[];
}

/** Parses and shape-checks the JSON text of a transaction. */
export function parseTxn(text: string): TxnInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new InvalidArgumentError('txn', `is not JSON: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidArgumentError('txn', 'must be a JSON object with "if", "then" and "else" arrays');
  const o = parsed as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (k !== 'if' && k !== 'then' && k !== 'else') throw new InvalidArgumentError('txn', `unknown field ${JSON.stringify(k)} (expected "if", "then", "else")`);
  }
  const list = <T>(name: 'if' | 'then' | 'else'): T[] => {
    const v = o[name];
    if (v === undefined) return [];
    if (!Array.isArray(v)) throw new InvalidArgumentError(`txn.${name}`, 'must be an array');
    v.forEach((item, i) => {
      if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new InvalidArgumentError(`txn.${name}[${i}]`, 'must be an object');
    });
    return v as T[];
  };
  const result = { if: list<Compare>('if'), then: list<TxnOp>('then'), else: list<TxnOp>('else') };
  if (result.if.length + result.then.length + result.else.length === 0) throw new InvalidArgumentError('txn', 'is empty');
  return result;
}
