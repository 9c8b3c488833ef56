/**
 * Validation of client input against the limits, before a write is proposed (by the server) and
 * again, defensively, when it is applied. Every failure is an `InvalidArgumentError` whose field is
 * a path into the command (`op.success[2].key`) and whose message names the limit that was hit.
 */
import { InvalidArgumentError } from '../util/index.js';
import type { ClusterLimits } from './cluster-limits.js';
import { checkLeaseId } from './lease-table.js';
import { clientIdBytesMax } from './session-limits.js';
import { txnNestingDepthMax } from './txn-limits.js';
import type { Compare, DeleteOp, KvCommand, PutOp, RangeOp, TxnOp, WriteOp } from './types.js';

/** The limits a command is checked against: the cluster's (at apply) or a node's flags (admission). */
export type CommandLimits = Pick<ClusterLimits, 'keyBytesMax' | 'valueBytesMax' | 'requestBytesMax' | 'txnOpsMax'>;

/** Running totals while a command is checked. */
interface Budget {
  /** Bytes of keys, values, range ends and compare values seen so far. */
  bytes: number;
  /** Compares and operations of the txn tree seen so far (a nested txn counts as one operation besides its own). */
  txnItems: number;
}

const compareTargets: ReadonlySet<string> = new Set<Compare['target']>(['value', 'version', 'modRevision', 'createRevision', 'lease']);
const compareOps: ReadonlySet<string> = new Set<Compare['op']>(['=', '!=', '<', '>']);
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Checks a write command. Throws `InvalidArgumentError` for: a client id that is not a string, is
 * not well-formed Unicode, starts with U+0000 (reserved for the state machine's own records) or
 * exceeds `clientIdBytesMax`; `seq`, `ackSeq`, `timeMs` that are not
 * non-negative safe integers; with a client id, `seq < 1` or `ackSeq >= seq`; an unknown op type;
 * an empty key or one over `keyBytesMax`; a value over `valueBytesMax`; a range end over
 * `keyBytesMax`; a negative or fractional `limit`; a txn tree with more than `txnOpsMax` compares
 * and ops (all levels together, a nested txn counting as one op besides its own) or nested deeper
 * than `txnNestingDepthMax`; a compare with an unknown target or operator, a value of the wrong
 * kind, or a range end over `keyBytesMax`; and key and value bytes adding up to more than
 * `requestBytesMax`.
 */
export function validateCommand(command: KvCommand, limits: CommandLimits): void {
  if (typeof command !== 'object' || command === null) throw new InvalidArgumentError('command', 'must be an object');
  validateClientId(command.clientId);
  checkCount(command.seq, 'seq');
  checkCount(command.ackSeq, 'ackSeq');
  checkCount(command.timeMs, 'timeMs');
  if (command.clientId !== '') {
    if (command.seq < 1) throw new InvalidArgumentError('seq', `must be at least 1 with a clientId, got ${command.seq}`);
    if (command.ackSeq >= command.seq) {
      throw new InvalidArgumentError('ackSeq', `must be below seq (${command.seq}), got ${command.ackSeq}`);
    }
  }
  const budget: Budget = { bytes: 0, txnItems: 0 };
  validateWriteOp(command.op, limits, budget);
  if (budget.bytes > limits.requestBytesMax) {
    throw new InvalidArgumentError('op', `carries ${budget.bytes} bytes of keys and values, more than requestBytesMax (${limits.requestBytesMax})`);
  }
}

/**
 * Checks a read-only range query: the key rules, the range end and the limit. Throws
 * `InvalidArgumentError` like `validateCommand`.
 */
export function validateRangeOp(op: RangeOp, limits: CommandLimits, path = 'range'): void {
  if (typeof op !== 'object' || op === null) throw new InvalidArgumentError(path, 'must be an object');
  if (op.type !== 'range') throw new InvalidArgumentError(`${path}.type`, `must be "range", got ${JSON.stringify(op.type)}`);
  checkRangeOp(op, limits, { bytes: 0, txnItems: 0 }, path);
}

function validateClientId(clientId: unknown): void {
  if (typeof clientId !== 'string') throw new InvalidArgumentError('clientId', 'must be a string');
  if (loneSurrogate.test(clientId)) throw new InvalidArgumentError('clientId', 'must be well-formed Unicode (it has a lone surrogate)');
  if (clientId.startsWith('\u0000')) throw new InvalidArgumentError('clientId', 'must not start with U+0000 (reserved for the state machine)');
  const bytes = utf8Length(clientId);
  if (bytes > clientIdBytesMax) {
    throw new InvalidArgumentError('clientId', `is ${bytes} bytes, more than clientIdBytesMax (${clientIdBytesMax})`);
  }
}

function validateWriteOp(op: WriteOp, limits: CommandLimits, budget: Budget): void {
  if (typeof op !== 'object' || op === null) throw new InvalidArgumentError('op', 'must be an object');
  switch (op.type) {
    case 'put':
      return checkPut(op, limits, budget, 'op');
    case 'delete':
      return checkDelete(op, limits, budget, 'op');
    case 'txn':
      return checkTxn(op, limits, budget, 'op', 0);
    case 'leaseGrant':
      // 0 lets the state machine choose the id; the TTL's range is the cluster's (checked at apply).
      if (op.id !== 0) checkLeaseId(op.id, 'op.id');
      checkCount(op.ttlS, 'op.ttlS');
      if (op.ttlS < 1) throw new InvalidArgumentError('op.ttlS', `must be at least 1 second, got ${op.ttlS}`);
      return;
    case 'leaseRevoke':
      return checkLeaseId(op.id, 'op.id');
    default:
      throw new InvalidArgumentError('op.type', `must be put, delete, txn, leaseGrant or leaseRevoke, got ${JSON.stringify((op as { type: unknown }).type)}`);
  }
}

/** Checks a txn at nesting depth `depth` (0 for the command's own) and, recursively, its nested txns. */
function checkTxn(txn: TxnOp, limits: CommandLimits, budget: Budget, at: string, depth: number): void {
  if (depth > txnNestingDepthMax) throw new InvalidArgumentError(at, `txns nest more than txnNestingDepthMax (${txnNestingDepthMax}) deep`);
  for (const part of ['compares', 'success', 'failure'] as const) {
    if (!Array.isArray(txn[part])) throw new InvalidArgumentError(`${at}.${part}`, 'must be an array');
  }
  // Counted before the parts are checked, so a huge tree is refused before it is walked.
  budget.txnItems += txn.compares.length + txn.success.length + txn.failure.length;
  if (budget.txnItems > limits.txnOpsMax) {
    // The top-level txn is counted first, so at depth 0 the count is exact; deeper it is a running total.
    const what = depth === 0 ? 'txn has' : 'txn and its nested txns have at least';
    throw new InvalidArgumentError('op', `${what} ${budget.txnItems} compares and operations, more than txnOpsMax (${limits.txnOpsMax})`);
  }
  txn.compares.forEach((compare, i) => checkCompare(compare, limits, budget, `${at}.compares[${i}]`));
  for (const branch of ['success', 'failure'] as const) {
    txn[branch].forEach((op, i) => {
      const path = `${at}.${branch}[${i}]`;
      if (typeof op !== 'object' || op === null) throw new InvalidArgumentError(path, 'must be an object');
      switch (op.type) {
        case 'put':
          return checkPut(op, limits, budget, path);
        case 'delete':
          return checkDelete(op, limits, budget, path);
        case 'range':
          return checkRangeOp(op, limits, budget, path);
        case 'txn':
          return checkTxn(op, limits, budget, path, depth + 1);
        default:
          throw new InvalidArgumentError(`${path}.type`, `must be put, delete, range or txn, got ${JSON.stringify((op as { type: unknown }).type)}`);
      }
    });
  }
}

function checkPut(op: PutOp, limits: CommandLimits, budget: Budget, path: string): void {
  checkKey(op.key, limits, budget, `${path}.key`, false);
  checkBytes(op.value, `${path}.value`, 'valueBytesMax', limits.valueBytesMax, budget);
  checkFlag(op.prevKv, `${path}.prevKv`);
  if (op.lease !== undefined) checkLeaseId(op.lease, `${path}.lease`);
  checkFlag(op.ignoreValue, `${path}.ignoreValue`);
  checkFlag(op.ignoreLease, `${path}.ignoreLease`);
  if (op.ignoreValue === true && op.value.length > 0) throw new InvalidArgumentError(`${path}.value`, 'must be empty with ignoreValue (the key keeps its value)');
  if (op.ignoreLease === true && op.lease !== undefined) throw new InvalidArgumentError(`${path}.lease`, 'must be absent with ignoreLease (the key keeps its lease)');
}

function checkDelete(op: DeleteOp, limits: CommandLimits, budget: Budget, path: string): void {
  checkKeyRange(op, limits, budget, path);
  checkFlag(op.prevKv, `${path}.prevKv`);
}

function checkRangeOp(op: RangeOp, limits: CommandLimits, budget: Budget, path: string): void {
  checkKeyRange(op, limits, budget, path);
  if (op.limit !== undefined) checkCount(op.limit, `${path}.limit`);
  checkFlag(op.keysOnly, `${path}.keysOnly`);
  checkFlag(op.countOnly, `${path}.countOnly`);
}

/** A range's key may be empty only when it starts a span (a prefix or a range end is given). */
function checkKeyRange(op: DeleteOp | RangeOp, limits: CommandLimits, budget: Budget, path: string): void {
  checkFlag(op.prefix, `${path}.prefix`);
  const span = op.prefix === true || op.rangeEnd !== undefined;
  checkKey(op.key, limits, budget, `${path}.key`, span);
  if (op.rangeEnd !== undefined) checkBytes(op.rangeEnd, `${path}.rangeEnd`, 'keyBytesMax', limits.keyBytesMax, budget);
}

function checkCompare(compare: Compare, limits: CommandLimits, budget: Budget, path: string): void {
  if (typeof compare !== 'object' || compare === null) throw new InvalidArgumentError(path, 'must be an object');
  checkKey(compare.key, limits, budget, `${path}.key`, false);
  if (!compareTargets.has(compare.target)) {
    throw new InvalidArgumentError(`${path}.target`, `must be value, version, modRevision, createRevision or lease, got ${JSON.stringify(compare.target)}`);
  }
  if (!compareOps.has(compare.op)) throw new InvalidArgumentError(`${path}.op`, `must be =, !=, < or >, got ${JSON.stringify(compare.op)}`);
  if (compare.target === 'value') {
    if (!(compare.value instanceof Uint8Array)) throw new InvalidArgumentError(`${path}.value`, 'must be bytes when target is value');
    checkBytes(compare.value, `${path}.value`, 'valueBytesMax', limits.valueBytesMax, budget);
  } else {
    if (typeof compare.value !== 'number') throw new InvalidArgumentError(`${path}.value`, `must be a number when target is ${compare.target}`);
    checkCount(compare.value, `${path}.value`);
  }
  if (compare.rangeEnd !== undefined) checkBytes(compare.rangeEnd, `${path}.rangeEnd`, 'keyBytesMax', limits.keyBytesMax, budget);
}

function checkKey(key: Uint8Array, limits: CommandLimits, budget: Budget, field: string, emptyAllowed: boolean): void {
  checkBytes(key, field, 'keyBytesMax', limits.keyBytesMax, budget);
  if (key.length === 0 && !emptyAllowed) throw new InvalidArgumentError(field, 'must not be empty');
}

function checkBytes(bytes: Uint8Array, field: string, limitName: keyof CommandLimits, limit: number, budget: Budget): void {
  if (!(bytes instanceof Uint8Array)) throw new InvalidArgumentError(field, 'must be a Uint8Array');
  if (bytes.length > limit) throw new InvalidArgumentError(field, `is ${bytes.length} bytes, more than ${limitName} (${limit})`);
  budget.bytes += bytes.length;
}

/** A count, sequence number, time or revision: a non-negative safe integer. */
function checkCount(n: unknown, field: string): void {
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new InvalidArgumentError(field, `must be a non-negative safe integer, got ${String(n)}`);
  }
}

function checkFlag(flag: unknown, field: string): void {
  if (flag !== undefined && typeof flag !== 'boolean') throw new InvalidArgumentError(field, 'must be a boolean');
}

/** The UTF-8 length of a well-formed string, without encoding it. */
function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const unit = s.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
