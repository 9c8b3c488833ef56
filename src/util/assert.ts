/**
 * Assertions for invariants. A failed assertion is a bug, never an expected condition: it throws
 * `AssertionError` and the process is expected to stop (TigerBeetle style). Expected failures use
 * the typed errors in `errors.ts` instead.
 */
export class AssertionError extends Error {
  override readonly name = 'AssertionError';
}

/** Throws `AssertionError` with `message` unless `condition` holds. */
export function assert(condition: unknown, message: string | (() => string)): asserts condition {
  if (!condition) {
    throw new AssertionError(typeof message === 'function' ? message() : message);
  }
}

/** Marks a branch that the type system proves unreachable (exhaustive `switch` on a union). */
export function unreachable(value: never, what = 'value'): never {
  throw new AssertionError(`unreachable: unexpected ${what} ${JSON.stringify(value)}`);
}
