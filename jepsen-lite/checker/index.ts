/**
 * jepsen-lite checker: decides whether a recorded history of register operations is
 * linearizable, key by key. Pure and deterministic (no I/O, clock or randomness), so the
 * deterministic simulator and the black-box harness get the same verdict for the same history.
 */
export type { HistoryOp, OpKind, OpStatus } from './history.js';
export type { CheckFailure, CheckOptions, CheckResult } from './check.js';
export { checkLinearizable } from './check.js';
export { describeOp, describeValue } from './describe.js';
export { MalformedHistoryError, validateHistory } from './validate.js';
export type { CheckerLimits } from './limits.js';
export { defaultCheckerLimits } from './limits.js';
