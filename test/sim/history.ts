/**
 * The client history: one record per client operation, in the shape the linearizability checker
 * (jepsen-lite/checker) takes. Times are virtual microseconds. An operation is recorded when the
 * client invokes it and completed once, when the client gives its final answer.
 */
import { assert } from '../../src/util/index.js';

/** How an operation ended. */
export type OpStatus = 'ok' | 'fail' | 'indeterminate';

/** One client operation (structurally the checker's `HistoryOp`). */
export interface SimHistoryOp {
  id: number;
  client: string;
  key: string;
  kind: 'get' | 'put' | 'cas';
  /** put: the value written; get: the value read (null: absent). */
  value?: string | null;
  /** cas: the value expected (null: expected absent). */
  expected?: string | null;
  /** cas: the value written if the compare held. */
  newValue?: string;
  /** cas: whether the compare held. */
  casOk?: boolean;
  /** Invocation time. */
  call: number;
  /** Completion time; null for an indeterminate write. */
  ret: number | null;
  status: OpStatus;
}

/** What an operation asks for, before it has an answer. */
export type OpRequest =
  | { readonly kind: 'get'; readonly key: string }
  | { readonly kind: 'put'; readonly key: string; readonly value: string }
  | { readonly kind: 'cas'; readonly key: string; readonly expected: string | null; readonly newValue: string };

/** How an operation was answered. */
export type OpAnswer =
  | { readonly status: 'ok'; readonly value?: string | null; readonly casOk?: boolean }
  | { readonly status: 'fail' }
  | { readonly status: 'indeterminate' };

/** Records the history of every client in one run. */
export class HistoryRecorder {
  private readonly ops: SimHistoryOp[] = [];
  private readonly open = new Set<number>();

  /** Records an invocation and returns its id. */
  invoke(client: string, request: OpRequest, callUs: number): number {
    const id = this.ops.length;
    const op: SimHistoryOp = { id, client, key: request.key, kind: request.kind, call: callUs, ret: null, status: 'indeterminate' };
    if (request.kind === 'put') op.value = request.value;
    if (request.kind === 'cas') {
      op.expected = request.expected;
      op.newValue = request.newValue;
    }
    this.ops.push(op);
    this.open.add(id);
    return id;
  }

  /** Records the final answer of operation `id`. */
  complete(id: number, answer: OpAnswer, retUs: number): void {
    const op = this.ops[id];
    assert(op !== undefined && this.open.has(id), () => `history: operation ${id} is not open`);
    this.open.delete(id);
    op.status = answer.status;
    if (answer.status === 'indeterminate') {
      // Invariant: only writes may end indeterminate; a read that gets no answer failed.
      assert(op.kind !== 'get', `history: read ${id} cannot be indeterminate`);
      op.ret = null;
      return;
    }
    assert(retUs >= op.call, () => `history: operation ${id} returns before it was called`);
    op.ret = retUs;
    if (answer.status === 'ok') {
      if (op.kind === 'get') op.value = answer.value ?? null;
      if (op.kind === 'cas') {
        assert(answer.casOk !== undefined, `history: cas ${id} answered without casOk`);
        op.casOk = answer.casOk;
      }
    }
  }

  /** Operations invoked but not yet answered. */
  get openCount(): number {
    return this.open.size;
  }

  /** The full history (every operation must be answered). */
  history(): SimHistoryOp[] {
    assert(this.open.size === 0, () => `history: ${this.open.size} operations are still open`);
    return this.ops;
  }

  /** Counts by status. */
  counts(): Record<OpStatus, number> {
    const c: Record<OpStatus, number> = { ok: 0, fail: 0, indeterminate: 0 };
    for (const op of this.ops) c[op.status]++;
    return c;
  }
}
