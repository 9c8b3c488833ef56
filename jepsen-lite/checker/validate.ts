/**
 * Input validation. A malformed history is a bug in whoever recorded it (the simulator or the
 * harness), and checking it anyway would give a verdict about the wrong thing, so the checker
 * refuses it with `MalformedHistoryError` naming the operation and the field.
 */
import { InvalidArgumentError, unreachable } from '../../src/util/index.js';
import type { HistoryOp } from './history.js';

/** The history does not follow the `HistoryOp` contract. `field` is a path like `history[3].ret`. */
export class MalformedHistoryError extends InvalidArgumentError {
  override readonly name = 'MalformedHistoryError';
  constructor(
    field: string,
    message: string,
    /** The id of the offending operation, when one is to blame. */
    readonly opId: number | null,
  ) {
    super(field, message);
  }
}

const kinds: ReadonlySet<unknown> = new Set(['get', 'put', 'cas']);
const statuses: ReadonlySet<unknown> = new Set(['ok', 'fail', 'indeterminate']);

/**
 * Throws `MalformedHistoryError` unless `history` is well formed: unique integer ids, known kinds
 * and statuses, finite times with `call <= ret`, `ret` null exactly for indeterminate operations,
 * the fields each kind needs (and none it does not), and at most one operation in flight per
 * client. An indeterminate operation does not keep its client busy: the client gave up waiting,
 * so its next operation may start at any later time.
 */
export function validateHistory(history: readonly HistoryOp[]): void {
  if (!Array.isArray(history)) throw new MalformedHistoryError('history', 'must be an array of operations', null);
  const ids = new Set<number>();
  history.forEach((op, index) => {
    validateOp(op, `history[${index}]`);
    if (ids.has(op.id)) throw new MalformedHistoryError(`history[${index}].id`, `duplicate id ${op.id}`, op.id);
    ids.add(op.id);
  });
  validateClients(history);
}

function validateOp(op: HistoryOp, at: string): void {
  const fail = (field: string, message: string): never => {
    throw new MalformedHistoryError(`${at}.${field}`, message, Number.isSafeInteger(op.id) ? op.id : null);
  };
  if (typeof op !== 'object' || op === null) throw new MalformedHistoryError(at, 'must be an object', null);
  if (!Number.isSafeInteger(op.id)) fail('id', `must be a safe integer, got ${String(op.id)}`);
  if (typeof op.client !== 'string' || op.client === '') fail('client', 'must be a non-empty string');
  if (typeof op.key !== 'string') fail('key', 'must be a string');
  if (!kinds.has(op.kind)) fail('kind', `must be 'get', 'put' or 'cas', got ${JSON.stringify(op.kind)}`);
  if (!statuses.has(op.status)) fail('status', `must be 'ok', 'fail' or 'indeterminate', got ${JSON.stringify(op.status)}`);
  if (typeof op.call !== 'number' || !Number.isFinite(op.call)) fail('call', `must be a finite number, got ${String(op.call)}`);
  if (op.status === 'indeterminate') {
    if (op.ret !== null) fail('ret', `must be null for an indeterminate operation, got ${String(op.ret)}`);
  } else if (typeof op.ret !== 'number' || !Number.isFinite(op.ret)) {
    fail('ret', `must be a finite number for a completed operation, got ${String(op.ret)}`);
  } else if (op.ret < op.call) {
    fail('ret', `(${op.ret}) must not be before call (${op.call})`);
  }
  validateFields(op, fail);
}

type Fail = (field: string, message: string) => never;

function validateFields(op: HistoryOp, fail: Fail): void {
  const absent = (field: 'value' | 'expected' | 'newValue' | 'casOk'): void => {
    if (op[field] !== undefined) fail(field, `does not belong to a ${op.kind}`);
  };
  const isValue = (v: unknown): boolean => typeof v === 'string' || v === null;
  switch (op.kind) {
    case 'get':
      absent('expected');
      absent('newValue');
      absent('casOk');
      if (op.status === 'ok' && !isValue(op.value)) fail('value', 'a completed get must record the value read (a string, or null for absent)');
      if (op.status !== 'ok' && op.value !== undefined && !isValue(op.value)) fail('value', 'must be a string or null');
      return;
    case 'put':
      absent('expected');
      absent('newValue');
      absent('casOk');
      if (typeof op.value !== 'string') fail('value', 'a put must record the value written, a string');
      return;
    case 'cas':
      absent('value');
      if (!isValue(op.expected)) fail('expected', 'a cas must record the expected value (a string, or null for absent)');
      if (typeof op.newValue !== 'string') fail('newValue', 'a cas must record the new value, a string');
      if (op.status === 'ok' && typeof op.casOk !== 'boolean') fail('casOk', 'a completed cas must record whether it swapped');
      if (op.status !== 'ok' && op.casOk !== undefined) fail('casOk', `must be absent when the status is '${op.status}'`);
      return;
    default:
      unreachable(op.kind, 'operation kind');
  }
}

/** At most one operation in flight per client: each completed operation returns before the client's next call. */
function validateClients(history: readonly HistoryOp[]): void {
  const byClient = new Map<string, HistoryOp[]>();
  for (const op of history) {
    const ops = byClient.get(op.client);
    if (ops === undefined) byClient.set(op.client, [op]);
    else ops.push(op);
  }
  for (const [client, ops] of byClient) {
    ops.sort((a, b) => a.call - b.call || a.id - b.id);
    for (let i = 1; i < ops.length; i++) {
      const before = ops[i - 1];
      const after = ops[i];
      if (before === undefined || after === undefined || before.ret === null) continue;
      if (before.ret > after.call) {
        throw new MalformedHistoryError(
          `client ${JSON.stringify(client)}`,
          `has two operations in flight: #${after.id} was called at ${after.call}, before #${before.id} returned at ${before.ret}`,
          after.id,
        );
      }
    }
  }
}
