/**
 * The binary encoding of `WriteResult`: saved in client sessions (so a retried write gets its first
 * answer) and therefore persisted and replicated through snapshots.
 *
 * Layout (format 1): `u8 format, result`, where a result is `u8 tag` then, by tag:
 * - put (1): `varint revision, u8 hasPrevKv, [keyValue]`
 * - delete (2): `varint revision, varint deleted, varint n, n × keyValue`
 * - range (3): `varint revision, varint count, u8 more, varint n, n × keyValue`
 * - txn (4): `varint revision, u8 succeeded, varint n, n × result` (a result of a nested txn is a
 *   txn result, at most `txnNestingDepthMax` deep; added compatibly: the first format refused a
 *   txn result inside a txn result, so no older saved result holds one)
 * - error (5): `u8 code, string message` (codes: 0 INVALID_ARGUMENT, 1 OVERLOADED, 2 FAILED_PRECONDITION,
 *   3 SESSION_EXPIRED, 4 NOT_FOUND, 5 ALREADY_EXISTS)
 * - leaseGrant (6): `varint revision, varint id, varint ttlS`; leaseRevoke (7): `varint revision, varint id, varint deleted`
 */
import { InvalidArgumentError, revision } from '../util/index.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { readKeyValue, writeKeyValue } from './record-codec.js';
import { txnNestingDepthMax } from './txn-limits.js';
import type { DeleteResult, ErrorResult, KeyValue, PutResult, RangeResult, TxnBranchResult, TxnResult, WriteResult } from './types.js';

/** The format version of encoded results. */
const resultFormat = 1;

/** Result tags on the wire. */
const resultTag = { put: 1, delete: 2, range: 3, txn: 4, error: 5, leaseGrant: 6, leaseRevoke: 7 } as const;

/** Error codes by wire code (the index). Append only: the index is the format. */
const errorCodes: readonly ErrorResult['code'][] = ['INVALID_ARGUMENT', 'OVERLOADED', 'FAILED_PRECONDITION', 'SESSION_EXPIRED', 'NOT_FOUND', 'ALREADY_EXISTS'];

/** Encodes a write result. */
export function encodeWriteResult(result: WriteResult): Uint8Array {
  const w = new ByteWriter(32);
  w.u8(resultFormat);
  writeResult(w, result, 0);
  return w.finish();
}

/** Decodes a write result; throws `InvalidArgumentError` (field `result`) on malformed input. */
export function decodeWriteResult(bytes: Uint8Array): WriteResult {
  const r = new ByteReader(bytes, 'result');
  const format = r.u8('format');
  if (format !== resultFormat) throw r.error(`unsupported format version ${format}`);
  const result = readResult(r);
  r.end();
  return result;
}

function writeKeyValues(w: ByteWriter, kvs: readonly KeyValue[]): void {
  w.varint(kvs.length, 'kvs');
  for (const kv of kvs) writeKeyValue(w, kv);
}

/** Writes `result`; `depth` is 0 for the command's own result and the nesting depth of the txn holding it otherwise. */
function writeResult(w: ByteWriter, result: WriteResult | RangeResult, depth: number): void {
  const topLevel = depth === 0;
  switch (result.type) {
    case 'put':
      w.u8(resultTag.put);
      w.varint(result.revision, 'revision');
      w.u8(result.prevKv === null ? 0 : 1);
      if (result.prevKv !== null) writeKeyValue(w, result.prevKv);
      return;
    case 'delete':
      w.u8(resultTag.delete);
      w.varint(result.revision, 'revision');
      w.varint(result.deleted, 'deleted');
      writeKeyValues(w, result.prevKvs);
      return;
    case 'range':
      if (topLevel) throw new InvalidArgumentError('result', 'a range result is only allowed inside a txn result');
      w.u8(resultTag.range);
      w.varint(result.revision, 'revision');
      w.varint(result.count, 'count');
      w.u8(result.more ? 1 : 0);
      writeKeyValues(w, result.kvs);
      return;
    case 'txn':
      if (depth > txnNestingDepthMax) throw new InvalidArgumentError('result', `txn results nest more than txnNestingDepthMax (${txnNestingDepthMax}) deep`);
      w.u8(resultTag.txn);
      w.varint(result.revision, 'revision');
      w.u8(result.succeeded ? 1 : 0);
      w.varint(result.results.length, 'results');
      for (const inner of result.results) writeResult(w, inner, depth + 1);
      return;
    case 'leaseGrant':
      w.u8(resultTag.leaseGrant);
      w.varint(result.revision, 'revision');
      w.varint(result.id, 'id');
      w.varint(result.ttlS, 'ttlS');
      return;
    case 'leaseRevoke':
      w.u8(resultTag.leaseRevoke);
      w.varint(result.revision, 'revision');
      w.varint(result.id, 'id');
      w.varint(result.deleted, 'deleted');
      return;
    case 'error': {
      const code = errorCodes.indexOf(result.code);
      if (code < 0) throw new InvalidArgumentError('result.code', `unknown error code ${JSON.stringify(result.code)}`);
      w.u8(resultTag.error);
      w.u8(code);
      w.string(result.message, 'message');
      return;
    }
    case 'clusterLimits':
      // Never saved: cluster commands carry no session.
      throw new InvalidArgumentError('result', 'a cluster limits result is not saved in a session');
    case 'auth':
      throw new InvalidArgumentError('result', 'an auth result is not saved in a session');
    case 'alarm':
      throw new InvalidArgumentError('result', 'an alarm result is not saved in a session');
    case 'memberUpdate':
      throw new InvalidArgumentError('result', 'a member update result is not saved in a session');
    default:
      throw new InvalidArgumentError('result.type', `unknown result type ${JSON.stringify((result as { type: unknown }).type)}`);
  }
}

function readKeyValues(r: ByteReader): KeyValue[] {
  const n = r.count('kvs');
  const kvs: KeyValue[] = [];
  for (let i = 0; i < n; i++) kvs.push(readKeyValue(r));
  return kvs;
}

function readResult(r: ByteReader): WriteResult {
  const tag = r.u8('result tag');
  switch (tag) {
    case resultTag.put:
      return readPutResult(r);
    case resultTag.delete:
      return readDeleteResult(r);
    case resultTag.range:
      throw r.error('a range result is only allowed inside a txn result');
    case resultTag.txn:
      return readTxnResult(r, 0);
    case resultTag.leaseGrant:
      return { type: 'leaseGrant', revision: revision(r.varint('revision')), id: r.varint('id'), ttlS: r.varint('ttlS') };
    case resultTag.leaseRevoke:
      return { type: 'leaseRevoke', revision: revision(r.varint('revision')), id: r.varint('id'), deleted: r.varint('deleted') };
    case resultTag.error: {
      const codeIndex = r.u8('code');
      const code = errorCodes[codeIndex];
      if (code === undefined) throw r.error(`unknown error code ${codeIndex}`);
      return { type: 'error', code, message: r.string('message') };
    }
    default:
      throw r.error(`unknown result tag ${tag}`);
  }
}

/** Reads a txn result at nesting depth `depth` (0 for the command's own). */
function readTxnResult(r: ByteReader, depth: number): TxnResult {
  const rev = revision(r.varint('revision'));
  const succeeded = r.bool('succeeded');
  const n = r.count('results');
  const results: TxnBranchResult[] = [];
  for (let i = 0; i < n; i++) {
    const tag = r.u8('result tag');
    if (tag === resultTag.put) results.push(readPutResult(r));
    else if (tag === resultTag.delete) results.push(readDeleteResult(r));
    else if (tag === resultTag.range) results.push(readRangeResult(r));
    else if (tag === resultTag.txn) {
      if (depth + 1 > txnNestingDepthMax) throw r.error(`txn results nest more than txnNestingDepthMax (${txnNestingDepthMax}) deep`);
      results.push(readTxnResult(r, depth + 1));
    } else throw r.error(`result tag ${tag} is not allowed inside a txn result`);
  }
  return { type: 'txn', revision: rev, succeeded, results };
}

function readPutResult(r: ByteReader): PutResult {
  const rev = revision(r.varint('revision'));
  const prevKv = r.bool('hasPrevKv') ? readKeyValue(r) : null;
  return { type: 'put', revision: rev, prevKv };
}

function readDeleteResult(r: ByteReader): DeleteResult {
  const rev = revision(r.varint('revision'));
  const deleted = r.varint('deleted');
  const prevKvs = readKeyValues(r);
  if (prevKvs.length > deleted) throw r.error(`${prevKvs.length} prevKvs for ${deleted} deleted keys`);
  return { type: 'delete', revision: rev, deleted, prevKvs };
}

function readRangeResult(r: ByteReader): RangeResult {
  const rev = revision(r.varint('revision'));
  const count = r.varint('count');
  const more = r.bool('more');
  const kvs = readKeyValues(r);
  if (kvs.length > count) throw r.error(`${kvs.length} kvs for a count of ${count}`);
  return { type: 'range', revision: rev, kvs, count, more };
}
