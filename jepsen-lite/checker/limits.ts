/**
 * Every bound of the linearizability checker lives here. Checking linearizability is NP-complete
 * (Gibbons and Korach), so the search and the minimizer each stop at a named limit and report
 * what they could not decide, instead of hanging the simulator or the harness.
 */
import { InvalidArgumentError } from '../../src/util/index.js';

/** The checker's limits. */
export interface CheckerLimits {
  /**
   * Most search states (distinct pairs of linearized set and register value) explored for one
   * key. Past it the key's verdict is `unknown`.
   */
  readonly statesMax: number;
  /** Most trial checks the minimizer runs to shrink one failing key. */
  readonly minimizeChecksMax: number;
  /** Most search states the minimizer's trial checks may explore in total for one failing key. */
  readonly minimizeStatesMax: number;
}

/**
 * Defaults. A per-key history of a few hundred operations from ten clients typically needs a few
 * thousand states, a few tens of thousands when it is not linearizable (the search must then
 * rule out every order). A state costs a few microseconds and a few hundred bytes, so the
 * default bounds one key to seconds and about a hundred megabytes.
 */
export const defaultCheckerLimits: CheckerLimits = Object.freeze({
  statesMax: 500_000,
  minimizeChecksMax: 1_000,
  minimizeStatesMax: 1_000_000,
});

/**
 * Checks that every limit is a positive safe integer. The limits are independent of each other: a
 * minimizer trial simply gets whichever is smaller of `statesMax` and what is left of
 * `minimizeStatesMax`. Throws `InvalidArgumentError` naming the limit otherwise.
 */
export function checkCheckerLimits(limits: CheckerLimits): CheckerLimits {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new InvalidArgumentError(name, `must be a positive integer, got ${String(value)}`);
    }
  }
  return limits;
}

/** Merges overrides into the defaults and checks the result. */
export function makeCheckerLimits(overrides: Partial<CheckerLimits> = {}): CheckerLimits {
  return checkCheckerLimits({ ...defaultCheckerLimits, ...overrides });
}
