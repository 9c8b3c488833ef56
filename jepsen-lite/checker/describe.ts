/** Deterministic one-line text for operations, for logs, failure reports and golden files. */
import { unreachable } from '../../src/util/index.js';
import type { HistoryOp } from './history.js';

/** A register value as text: JSON-quoted, or `absent` for null. */
export function describeValue(value: string | null | undefined): string {
  if (value === undefined) return '?';
  return value === null ? 'absent' : JSON.stringify(value);
}

/**
 * One line per operation, for example:
 *
 *     #7 c2 put "x" = "3" ok @[10,14]
 *     #8 c1 get "x" ok -> "3" @[12,15]
 *     #9 c3 cas "x" "3" -> "4" ok not-swapped @[13,16]
 *     #10 c4 put "x" = "5" indeterminate @[14,?]
 */
export function describeOp(op: HistoryOp): string {
  const head = `#${op.id} ${op.client} ${op.kind} ${JSON.stringify(op.key)}`;
  const when = `@[${op.call},${op.ret === null ? '?' : op.ret}]`;
  switch (op.kind) {
    case 'get':
      return op.status === 'ok' ? `${head} ok -> ${describeValue(op.value)} ${when}` : `${head} ${op.status} ${when}`;
    case 'put':
      return `${head} = ${describeValue(op.value)} ${op.status} ${when}`;
    case 'cas': {
      const outcome = op.status === 'ok' ? ` ${op.casOk === true ? 'swapped' : 'not-swapped'}` : '';
      return `${head} ${describeValue(op.expected)} -> ${describeValue(op.newValue)} ${op.status}${outcome} ${when}`;
    }
    default:
      return unreachable(op.kind, 'operation kind');
  }
}
