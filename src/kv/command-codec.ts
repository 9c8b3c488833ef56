/**
 * The binary encoding of `KvCommand`: what every write carries through the Raft log, so it is
 * compact (varints, length-prefixed bytes, flag bytes) rather than JSON.
 *
 * Layout (format 1): `u8 format, string clientId, varint seq, varint ackSeq, varint timeMs, op`.
 * An op is `u8 tag` then, by tag:
 * - put (1): `u8 flags(prevKv, hasLease, ignoreValue, ignoreLease), bytes key, bytes value, [varint lease]`
 * - delete (2): `u8 flags(prevKv, prefix, hasRangeEnd), bytes key, [bytes rangeEnd]`
 * - range (3, only inside a txn): `u8 flags(keysOnly, countOnly, prefix, hasRangeEnd, hasLimit),
 *   bytes key, [bytes rangeEnd], [varint limit]`
 * - txn (4): `varint n, n × compare, varint n, n × op, varint n, n × op` (compares, success, failure)
 * - leaseGrant (5): `varint id, varint ttlS`; leaseRevoke (6): `varint id` (lease-table.ts)
 *
 * A compare is `bytes key, u8 target, u8 op, value, [bytes rangeEnd]` where the value is bytes for
 * target `value` and a varint otherwise. Optional booleans are encoded as flags: a decoded op
 * carries `true` or leaves the field out (so `prevKv: false` comes back absent, which means the
 * same).
 *
 * Additions since the first release, all backward compatible (this is the replicated format:
 * entries in logs, snapshots and backups written before them decode exactly as before, since
 * every addition uses a byte value the old encoder never wrote and the old decoder refused):
 * - compare target code 4 is `lease` (codes 0-3 are unchanged);
 * - bit 0x80 of a compare's target byte says a `bytes rangeEnd` follows the value (a compare over
 *   `[key, rangeEnd)`); old compares never set it;
 * - a txn (tag 4) inside a txn branch is a nested txn, at most `txnNestingDepthMax` deep (the old
 *   format refused tag 4 there);
 * - put flag bits 0x04 (ignoreValue) and 0x08 (ignoreLease); the old decoder refused them.
 * A replica that predates an addition refuses an entry using it as undecodable (the same
 * INVALID_ARGUMENT on every such replica): upgrade every node before clients use them.
 */
import { InvalidArgumentError } from '../util/index.js';
import { ByteReader } from './byte-reader.js';
import { ByteWriter } from './byte-writer.js';
import { txnNestingDepthMax } from './txn-limits.js';
import type { Compare, KvCommand, PutOp, DeleteOp, RangeOp, TxnBranchOp, TxnOp, WriteOp } from './types.js';

/** The format version of encoded commands. */
const commandFormat = 1;

/** Operation tags on the wire. */
const opTag = { put: 1, delete: 2, range: 3, txn: 4, leaseGrant: 5, leaseRevoke: 6 } as const;

/** Compare targets by wire code (the index). */
const compareTargets: readonly Compare['target'][] = ['value', 'version', 'modRevision', 'createRevision', 'lease'];
/** The bit of a compare's target byte that says a range end follows. */
const compareRangeEndBit = 0x80;
/** Compare operators by wire code (the index). */
const compareOps: readonly Compare['op'][] = ['=', '!=', '<', '>'];

/** `T` with its fields writable, for building decoded objects field by field. */
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Encodes a command. Throws `InvalidArgumentError` if a field cannot be encoded at all. */
export function encodeCommand(command: KvCommand): Uint8Array {
  const w = new ByteWriter(64);
  w.u8(commandFormat);
  w.string(command.clientId, 'clientId');
  w.varint(command.seq, 'seq');
  w.varint(command.ackSeq, 'ackSeq');
  w.varint(command.timeMs, 'timeMs');
  writeOp(w, command.op, 0);
  return w.finish();
}

/** Decodes a command; throws `InvalidArgumentError` (field `command`) on malformed input. */
export function decodeCommand(bytes: Uint8Array): KvCommand {
  const r = new ByteReader(bytes, 'command');
  const format = r.u8('format');
  if (format !== commandFormat) throw r.error(`unsupported format version ${format}`);
  const clientId = r.string('clientId');
  const seq = r.varint('seq');
  const ackSeq = r.varint('ackSeq');
  const timeMs = r.varint('timeMs');
  const op = readCommandOp(r);
  r.end();
  return { clientId, seq, ackSeq, timeMs, op };
}

/** Writes `op`; `depth` is 0 for the command's own op and the nesting depth of the txn holding it otherwise. */
function writeOp(w: ByteWriter, op: WriteOp | RangeOp, depth: number): void {
  const topLevel = depth === 0;
  switch (op.type) {
    case 'put':
      w.u8(opTag.put);
      w.u8((op.prevKv === true ? 1 : 0) | (op.lease !== undefined ? 2 : 0) | (op.ignoreValue === true ? 4 : 0) | (op.ignoreLease === true ? 8 : 0));
      w.bytes(op.key, 'key');
      w.bytes(op.value, 'value');
      if (op.lease !== undefined) w.varint(op.lease, 'lease');
      return;
    case 'delete':
      w.u8(opTag.delete);
      w.u8((op.prevKv === true ? 1 : 0) | (op.prefix === true ? 2 : 0) | (op.rangeEnd !== undefined ? 4 : 0));
      w.bytes(op.key, 'key');
      if (op.rangeEnd !== undefined) w.bytes(op.rangeEnd, 'rangeEnd');
      return;
    case 'range':
      if (topLevel) throw new InvalidArgumentError('op.type', 'a range is not a write command (only allowed inside a txn)');
      w.u8(opTag.range);
      w.u8(
        (op.keysOnly === true ? 1 : 0) |
          (op.countOnly === true ? 2 : 0) |
          (op.prefix === true ? 4 : 0) |
          (op.rangeEnd !== undefined ? 8 : 0) |
          (op.limit !== undefined ? 16 : 0),
      );
      w.bytes(op.key, 'key');
      if (op.rangeEnd !== undefined) w.bytes(op.rangeEnd, 'rangeEnd');
      if (op.limit !== undefined) w.varint(op.limit, 'limit');
      return;
    case 'txn':
      if (depth > txnNestingDepthMax) throw new InvalidArgumentError('op', `txns nest more than txnNestingDepthMax (${txnNestingDepthMax}) deep`);
      writeTxn(w, op, depth);
      return;
    case 'leaseGrant':
    case 'leaseRevoke':
      if (!topLevel) throw new InvalidArgumentError('op', 'a lease operation is not allowed inside a transaction');
      w.u8(opTag[op.type]);
      w.varint(op.id, 'id');
      if (op.type === 'leaseGrant') w.varint(op.ttlS, 'ttlS');
      return;
    default:
      throw new InvalidArgumentError('op.type', `unknown operation type ${JSON.stringify((op as { type: unknown }).type)}`);
  }
}

function writeTxn(w: ByteWriter, txn: TxnOp, depth: number): void {
  w.u8(opTag.txn);
  w.varint(txn.compares.length, 'compares');
  for (const compare of txn.compares) writeCompare(w, compare);
  for (const branch of [txn.success, txn.failure]) {
    w.varint(branch.length, 'ops');
    for (const op of branch) writeOp(w, op, depth + 1);
  }
}

function writeCompare(w: ByteWriter, compare: Compare): void {
  const target = compareTargets.indexOf(compare.target);
  const op = compareOps.indexOf(compare.op);
  if (target < 0) throw new InvalidArgumentError('compare.target', `unknown target ${JSON.stringify(compare.target)}`);
  if (op < 0) throw new InvalidArgumentError('compare.op', `unknown operator ${JSON.stringify(compare.op)}`);
  w.bytes(compare.key, 'compare.key');
  w.u8(target | (compare.rangeEnd !== undefined ? compareRangeEndBit : 0));
  w.u8(op);
  if (compare.target === 'value') {
    if (!(compare.value instanceof Uint8Array)) throw new InvalidArgumentError('compare.value', 'must be bytes for target value');
    w.bytes(compare.value, 'compare.value');
  } else {
    if (typeof compare.value !== 'number') throw new InvalidArgumentError('compare.value', `must be a number for target ${compare.target}`);
    w.varint(compare.value, 'compare.value');
  }
  if (compare.rangeEnd !== undefined) w.bytes(compare.rangeEnd, 'compare.rangeEnd');
}

/** Reads a command's top-level operation: a put, delete or txn. */
function readCommandOp(r: ByteReader): WriteOp {
  const tag = r.u8('op tag');
  switch (tag) {
    case opTag.put:
      return readPut(r);
    case opTag.delete:
      return readDelete(r);
    case opTag.txn:
      return readTxn(r, 0);
    case opTag.leaseGrant:
      return { type: 'leaseGrant', id: r.varint('id'), ttlS: r.varint('ttlS') };
    case opTag.leaseRevoke:
      return { type: 'leaseRevoke', id: r.varint('id') };
    case opTag.range:
      throw r.error('a range is not a write command');
    default:
      throw r.error(`unknown op tag ${tag}`);
  }
}

/** Reads an operation of a branch of a txn at nesting depth `depth`: a put, delete, range or nested txn. */
function readBranchOp(r: ByteReader, depth: number): TxnBranchOp {
  const tag = r.u8('op tag');
  switch (tag) {
    case opTag.put:
      return readPut(r);
    case opTag.delete:
      return readDelete(r);
    case opTag.range:
      return readRange(r);
    case opTag.txn:
      if (depth + 1 > txnNestingDepthMax) throw r.error(`txns nest more than txnNestingDepthMax (${txnNestingDepthMax}) deep`);
      return readTxn(r, depth + 1);
    case opTag.leaseGrant:
    case opTag.leaseRevoke:
      throw r.error('a lease operation is not allowed inside a transaction');
    default:
      throw r.error(`unknown op tag ${tag}`);
  }
}

/** Reads a flag byte, refusing bits outside `known`. */
function readFlags(r: ByteReader, known: number): number {
  const flags = r.u8('flags');
  if ((flags & ~known) !== 0) throw r.error(`unknown flag bits 0x${(flags & ~known).toString(16)}`);
  return flags;
}

function readPut(r: ByteReader): PutOp {
  const flags = readFlags(r, 15);
  const op: Mutable<PutOp> = { type: 'put', key: r.bytes('key'), value: r.bytes('value') };
  if (flags & 1) op.prevKv = true;
  if (flags & 2) op.lease = r.varint('lease');
  if (flags & 4) op.ignoreValue = true;
  if (flags & 8) op.ignoreLease = true;
  return op;
}

function readDelete(r: ByteReader): DeleteOp {
  const flags = readFlags(r, 7);
  const op: Mutable<DeleteOp> = { type: 'delete', key: r.bytes('key') };
  if (flags & 4) op.rangeEnd = r.bytes('rangeEnd');
  if (flags & 2) op.prefix = true;
  if (flags & 1) op.prevKv = true;
  return op;
}

function readRange(r: ByteReader): RangeOp {
  const flags = readFlags(r, 31);
  const op: Mutable<RangeOp> = { type: 'range', key: r.bytes('key') };
  if (flags & 8) op.rangeEnd = r.bytes('rangeEnd');
  if (flags & 16) op.limit = r.varint('limit');
  if (flags & 4) op.prefix = true;
  if (flags & 1) op.keysOnly = true;
  if (flags & 2) op.countOnly = true;
  return op;
}

function readTxn(r: ByteReader, depth: number): TxnOp {
  const compares: Compare[] = [];
  const compareCount = r.count('compares');
  for (let i = 0; i < compareCount; i++) compares.push(readCompare(r));
  const success = readBranch(r, depth);
  const failure = readBranch(r, depth);
  return { type: 'txn', compares, success, failure };
}

function readBranch(r: ByteReader, depth: number): TxnBranchOp[] {
  const ops: TxnBranchOp[] = [];
  const n = r.count('ops');
  for (let i = 0; i < n; i++) ops.push(readBranchOp(r, depth));
  return ops;
}

function readCompare(r: ByteReader): Compare {
  const key = r.bytes('compare.key');
  const targetByte = r.u8('compare.target');
  const opCode = r.u8('compare.op');
  const targetCode = targetByte & ~compareRangeEndBit;
  const target = compareTargets[targetCode];
  const op = compareOps[opCode];
  if (target === undefined) throw r.error(`unknown compare target ${targetCode}`);
  if (op === undefined) throw r.error(`unknown compare operator ${opCode}`);
  const value = target === 'value' ? r.bytes('compare.value') : r.varint('compare.value');
  if ((targetByte & compareRangeEndBit) === 0) return { key, target, op, value };
  return { key, target, op, value, rangeEnd: r.bytes('compare.rangeEnd') };
}
