/**
 * A terse way to write histories by hand, for tests of the checker and of its callers. Ids are
 * assigned in the order operations are added, starting at 1.
 */
import type { HistoryOp } from './history.js';

/** Collects operations; each method adds one and returns it. */
export class HistoryBuilder {
  /** The operations added so far, in order. */
  readonly ops: HistoryOp[] = [];

  /** A completed get that read `value` (null: absent). */
  get(client: string, key: string, value: string | null, span: readonly [call: number, ret: number]): HistoryOp {
    return this.add({ client, key, kind: 'get', value, call: span[0], ret: span[1], status: 'ok' });
  }

  /** A completed put. */
  put(client: string, key: string, value: string, span: readonly [call: number, ret: number]): HistoryOp {
    return this.add({ client, key, kind: 'put', value, call: span[0], ret: span[1], status: 'ok' });
  }

  /** A put whose outcome is unknown: it may take effect at any time after `call`, or never. */
  putUnknown(client: string, key: string, value: string, call: number): HistoryOp {
    return this.add({ client, key, kind: 'put', value, call, ret: null, status: 'indeterminate' });
  }

  /** A put that certainly failed. */
  putFailed(client: string, key: string, value: string, span: readonly [call: number, ret: number]): HistoryOp {
    return this.add({ client, key, kind: 'put', value, call: span[0], ret: span[1], status: 'fail' });
  }

  /** A completed cas; `swapped` is what the server answered. */
  cas(
    client: string,
    key: string,
    swap: { readonly expected: string | null; readonly newValue: string; readonly swapped: boolean },
    span: readonly [call: number, ret: number],
  ): HistoryOp {
    const { expected, newValue, swapped } = swap;
    return this.add({ client, key, kind: 'cas', expected, newValue, casOk: swapped, call: span[0], ret: span[1], status: 'ok' });
  }

  /** A cas whose outcome is unknown. */
  casUnknown(client: string, key: string, swap: { readonly expected: string | null; readonly newValue: string }, call: number): HistoryOp {
    return this.add({ client, key, kind: 'cas', expected: swap.expected, newValue: swap.newValue, call, ret: null, status: 'indeterminate' });
  }

  private add(op: Omit<HistoryOp, 'id'>): HistoryOp {
    const full: HistoryOp = { id: this.ops.length + 1, ...op };
    this.ops.push(full);
    return full;
  }
}
