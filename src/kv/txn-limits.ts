/**
 * Fixed limits of transactions, next to the cluster's tunable `txnOpsMax` (cluster-limits.ts,
 * which bounds the compares and operations of a whole txn tree). These two shape what a txn does
 * when applied, so every replica must use the same values: they are constants of the command
 * format, not tunables; raising one is a format change (an entry refused by an old replica would be
 * applied by a new one).
 */

/**
 * Most live keys one compare with a range end visits. A compare over a range holds only if it
 * holds for every key in it, so it reads them all; a range with more live keys than this refuses
 * the whole command (INVALID_ARGUMENT) rather than walking an unbounded part of the key space
 * inside one apply.
 */
export const compareRangeKeysMax = 1_000;

/**
 * Deepest nesting of txns: a txn directly inside a branch of the top-level txn is at depth 1. It
 * bounds the recursion of validation, encoding, decoding and execution (hostile bytes cannot
 * nest deeper than this and exhaust the stack).
 */
export const txnNestingDepthMax = 16;
