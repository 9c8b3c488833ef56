/**
 * The entry point: validates a history, splits it by key and checks each key on its own. A
 * register per key is a composition of independent objects, so the whole history is
 * linearizable exactly when every key's sub-history is (Herlihy and Wing's locality; Lowe calls
 * exploiting it P-compositionality). Keys are checked in sorted order, so the result is
 * deterministic.
 */
import { checkKey } from './check-key.js';
import type { HistoryOp } from './history.js';
import { makeCheckerLimits } from './limits.js';
import { minimizeKey } from './minimize.js';
import { isChecked } from './prepare.js';
import { validateHistory } from './validate.js';

/** Options for `checkLinearizable`. */
export interface CheckOptions {
  /** Most search states explored per key before its verdict becomes `unknown` (default `defaultCheckerLimits.statesMax`). */
  readonly statesMax?: number;
  /** Shrink each non-linearizable key to a small failing sub-history, reported as `minimal`. */
  readonly minimize?: boolean;
}

/** A key whose sub-history is not linearizable, or whose check did not finish within the budget. */
export interface CheckFailure {
  /** The key. */
  readonly key: string;
  /** `not-linearizable`: proved. `unknown`: the search hit `statesMax`. */
  readonly verdict: 'not-linearizable' | 'unknown';
  /** The key's checked operations (failed operations and incomplete gets dropped), ordered by call time, then id. */
  readonly ops: readonly HistoryOp[];
  /** With `minimize`, for `not-linearizable`: a small sub-history of `ops` that is itself not linearizable. */
  readonly minimal?: readonly HistoryOp[];
  /** Why, in one paragraph of deterministic text. */
  readonly explanation: string;
}

/** The outcome of a check. */
export interface CheckResult {
  /** True only if every key is linearizable. An `unknown` key makes it false too; see `verdict`. */
  readonly ok: boolean;
  /** `not-linearizable` if any key is proved not linearizable; else `unknown` if any key ran out of budget; else `linearizable`. */
  readonly verdict: 'linearizable' | 'not-linearizable' | 'unknown';
  /** Keys with at least one checked operation. */
  readonly keysChecked: number;
  /** Operations that took part: all but failed operations and gets that did not complete. */
  readonly opsChecked: number;
  /** One entry per key that is not linearizable or unknown, ordered by key. */
  readonly failures: readonly CheckFailure[];
}

/**
 * Checks that `history` is linearizable against a register per key, each key starting absent.
 * Throws `MalformedHistoryError` if the history breaks the `HistoryOp` contract, and
 * `InvalidArgumentError` if `statesMax` is not a positive integer. Pure and deterministic.
 */
export function checkLinearizable(history: readonly HistoryOp[], options: CheckOptions = {}): CheckResult {
  validateHistory(history);
  const limits = makeCheckerLimits(options.statesMax === undefined ? {} : { statesMax: options.statesMax });
  const byKey = new Map<string, HistoryOp[]>();
  for (const op of history) {
    if (!isChecked(op)) continue;
    const ops = byKey.get(op.key);
    if (ops === undefined) byKey.set(op.key, [op]);
    else ops.push(op);
  }
  const keys = [...byKey.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const failures: CheckFailure[] = [];
  let opsChecked = 0;
  for (const key of keys) {
    const ops = byKey.get(key)!.sort((a, b) => a.call - b.call || a.id - b.id);
    opsChecked += ops.length;
    const result = checkKey(key, ops, limits.statesMax);
    if (result.verdict === 'linearizable') continue;
    const failure: CheckFailure = { key, verdict: result.verdict, ops, explanation: result.explanation };
    failures.push(
      options.minimize === true && result.verdict === 'not-linearizable'
        ? { ...failure, minimal: minimizeKey(key, ops, result, limits) }
        : failure,
    );
  }
  const verdict = failures.some((f) => f.verdict === 'not-linearizable') ? 'not-linearizable' : failures.length > 0 ? 'unknown' : 'linearizable';
  return { ok: verdict === 'linearizable', verdict, keysChecked: keys.length, opsChecked, failures };
}
