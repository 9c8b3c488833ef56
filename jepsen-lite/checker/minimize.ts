/**
 * Shrinks a failing key's history to a small sub-history that is still not linearizable, for the
 * jepsen-lite report. Greedy, in the style of delta debugging: remove chunks of halving size
 * while the rest stays non-linearizable, then single operations until none can go. Each trial is
 * a full check, so the work is bounded by `minimizeChecksMax` trials and `minimizeStatesMax`
 * search states in total; when a bound is hit the smallest failing history found so far is
 * returned. A trial that ends `unknown` counts as not failing: the result is always a history
 * the checker PROVED non-linearizable.
 *
 * The shrunk history keeps the KIND of violation: removing the only write of a value that a kept
 * operation read would trivially fail ("read of a value never written") and hide the real story
 * (a stale read, a lost write), so such a trial counts as not failing unless the original
 * violation was of that kind.
 */
import { checkKey } from './check-key.js';
import type { KeyVerdict } from './check-key.js';
import type { HistoryOp } from './history.js';
import type { CheckerLimits } from './limits.js';

/**
 * A small sub-history of `ops` (one key's checked operations, ordered by call time) that is still
 * not linearizable. `original` is the full check's verdict: the kind of violation to keep, and
 * where it was located, if anywhere.
 */
export function minimizeKey(
  key: string,
  ops: readonly HistoryOp[],
  original: { readonly culprit: HistoryOp | null; readonly reason: KeyVerdict['reason'] },
  limits: CheckerLimits,
): HistoryOp[] {
  let checks = 0;
  let statesLeft = limits.minimizeStatesMax;
  const exhausted = (): boolean => checks >= limits.minimizeChecksMax || statesLeft <= 0;
  const fails = (candidate: readonly HistoryOp[]): boolean => {
    if (exhausted()) return false;
    checks++;
    const result = checkKey(key, candidate, Math.min(limits.statesMax, statesLeft));
    statesLeft -= result.statesExplored;
    return result.verdict === 'not-linearizable' && (result.reason === 'no-order' || original.reason === 'unwritten-value');
  };

  let current = [...ops];
  for (const seed of seeds(current, original.culprit)) {
    if (seed.length < current.length && fails(seed)) {
      current = seed;
      break;
    }
  }
  for (let chunk = Math.max(1, Math.floor(current.length / 2)); current.length > 1 && !exhausted(); ) {
    let removed = false;
    // From the end backwards, so that removing a chunk leaves the indices still to visit in place.
    for (let start = current.length - chunk; start > -chunk && current.length > 1 && !exhausted(); start -= chunk) {
      const candidate = [...current.slice(0, Math.max(0, start)), ...current.slice(start + chunk)];
      if (candidate.length > 0 && fails(candidate)) {
        current = candidate;
        removed = true;
      }
    }
    if (chunk > 1) chunk = Math.max(1, Math.floor(chunk / 2));
    else if (!removed) break;
  }
  return current;
}

/**
 * Cheap first guesses: the culprit alone (an impossible read fails by itself), then everything
 * called up to the culprit's return, where the search got stuck. The second is usually enough,
 * but not always (a later read can be what proves an earlier indeterminate write happened), so
 * each guess is kept only if a trial check confirms it.
 */
function seeds(ops: readonly HistoryOp[], culprit: HistoryOp | null): HistoryOp[][] {
  if (culprit === null) return [];
  const cutoff = culprit.ret ?? Infinity;
  return [[culprit], ops.filter((op) => op.call <= cutoff)];
}
