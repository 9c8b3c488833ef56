/**
 * The history format every caller of the checker produces: the deterministic simulator in
 * `test/sim/` and the jepsen-lite black-box harness. One `HistoryOp` records one client operation
 * from invocation to completion.
 */

/** The operations of the register model: read, blind write and compare-and-swap. */
export type OpKind = 'get' | 'put' | 'cas';

/** The outcome a client saw: `ok` (completed), `fail` (certainly not applied), `indeterminate` (may or may not apply). */
export type OpStatus = 'ok' | 'fail' | 'indeterminate';

/**
 * One client operation on one key.
 *
 * - `fail`: the operation certainly did not happen; the checker drops it.
 * - A `get` whose status is not `ok` has no effect and is dropped.
 * - An `indeterminate` put or cas may take effect at any point after `call`, or never.
 * - A cas with status `ok` and `casOk: false` is an observation: at some moment between `call`
 *   and `ret` the value was not `expected`.
 * - Every key starts absent (`null`).
 */
export interface HistoryOp {
  /** Unique per history. */
  readonly id: number;
  /** The process or client that issued it. A client has at most one operation in flight. */
  readonly client: string;
  /** The key it touched. Keys are checked independently (P-compositionality). */
  readonly key: string;
  /** Which operation. */
  readonly kind: OpKind;
  /** put: the value written. get with status `ok`: the value read (`null`: the key was absent). */
  readonly value?: string | null;
  /** cas: the value expected to be current (`null`: the key must be absent). */
  readonly expected?: string | null;
  /** cas: the value to write when `expected` is current. */
  readonly newValue?: string;
  /** cas with status `ok`: whether the swap happened. Absent otherwise. */
  readonly casOk?: boolean;
  /** Invocation time, in any monotonic unit shared by the whole history. */
  readonly call: number;
  /** Completion time in the same unit; `null` exactly when the status is `indeterminate`. */
  readonly ret: number | null;
  /** What the client learnt about the outcome. */
  readonly status: OpStatus;
}
