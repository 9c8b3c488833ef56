/** Checks one key's operations: the reductions, the fast rejection, then the search, with an explanation. */
import { unreachable } from '../../src/util/index.js';
import { describeOp, describeValue } from './describe.js';
import type { HistoryOp } from './history.js';
import { prepareKey } from './prepare.js';
import { searchKey } from './search.js';

/** The verdict for one key. */
export interface KeyVerdict {
  /** Whether the key's operations are linearizable, or `unknown` when the search hit `statesMax`. */
  readonly verdict: 'linearizable' | 'not-linearizable' | 'unknown';
  /** Configurations the search explored (0 when it was not needed). */
  readonly statesExplored: number;
  /** Why the verdict is not `linearizable`, in one paragraph; empty when it is. */
  readonly explanation: string;
  /**
   * For `not-linearizable`: `unwritten-value` when an operation observed a value no operation on
   * the key writes (found without searching), `no-order` when the search ruled out every order.
   */
  readonly reason: 'unwritten-value' | 'no-order' | null;
  /**
   * For `not-linearizable`: an operation at the heart of the violation (the impossible observation,
   * or the operation nothing could get past). The minimizer starts from it.
   */
  readonly culprit: HistoryOp | null;
}

/**
 * Checks one key. `ops` are that key's checked operations (see `isChecked`), already validated.
 * The search explores at most `statesMax` configurations.
 */
export function checkKey(key: string, ops: readonly HistoryOp[], statesMax: number): KeyVerdict {
  const problem = prepareKey(key, ops);
  if (problem.impossible !== null) {
    const { op, value } = problem.impossible;
    return {
      verdict: 'not-linearizable',
      statesExplored: 0,
      explanation: `${describeOp(op)} observed ${describeValue(value)}, which no operation on key ${JSON.stringify(key)} ever writes.`,
      reason: 'unwritten-value',
      culprit: op,
    };
  }
  const outcome = searchKey(problem, statesMax);
  switch (outcome.verdict) {
    case 'linearizable':
      return { verdict: 'linearizable', statesExplored: outcome.statesExplored, explanation: '', reason: null, culprit: null };
    case 'unknown':
      return {
        verdict: 'unknown',
        statesExplored: outcome.statesExplored,
        explanation:
          `Search budget exhausted on key ${JSON.stringify(key)}: explored ${outcome.statesExplored} states ` +
          `(statesMax ${statesMax}) among ${ops.length} operations without a verdict.`,
        reason: null,
        culprit: null,
      };
    case 'not-linearizable': {
      const { frontier } = outcome;
      const tail = frontier.tail.length === 0 ? '' : ` (ending ${frontier.tail.map((op) => `#${op.id}`).join(', ')})`;
      const blocking = frontier.blocking === null ? '' : ` Then no pending operation could take effect before this one returned: ${describeOp(frontier.blocking)}.`;
      return {
        verdict: 'not-linearizable',
        statesExplored: outcome.statesExplored,
        explanation:
          `No linearization exists for key ${JSON.stringify(key)}: at best ${frontier.linearizedCount} of ` +
          `${problem.definite.length} operations that must take effect could be ordered${tail}, leaving ` +
          `${frontier.valueText}.${blocking}`,
        reason: 'no-order',
        culprit: frontier.blocking,
      };
    }
    default:
      return unreachable(outcome, 'search outcome');
  }
}
