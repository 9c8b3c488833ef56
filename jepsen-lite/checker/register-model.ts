/**
 * The sequential specification the history is checked against: one register per key, starting
 * absent. Values are interned to small integers per key so that a model state is a number and a
 * search configuration is cheap to hash. `absent` (0) stands for null; strings get 1, 2, ...
 */
import { unreachable } from '../../src/util/index.js';

/** The interned id of the absent value (null). */
export const absent = 0;

/** Returned by `step` when an operation cannot take effect in the given state. */
export const illegal = -1;

/**
 * What one operation does to, or requires of, the register, with values interned. The status
 * decides the variant: an indeterminate cas is `cas-unknown`, which swaps when it can and is
 * otherwise a no-op, because the client never learnt which happened.
 */
export type Effect =
  /** A completed get: the value must be `value`. */
  | { readonly type: 'read'; readonly value: number }
  /** A put, completed or indeterminate: the value becomes `value`. */
  | { readonly type: 'write'; readonly value: number }
  /** A completed cas that swapped: the value must be `expected`, and becomes `value`. */
  | { readonly type: 'cas-swapped'; readonly expected: number; readonly value: number }
  /** A completed cas that did not swap: an observation that the value was not `expected`. */
  | { readonly type: 'cas-not-swapped'; readonly expected: number }
  /** An indeterminate cas: swaps to `value` if the value is `expected`, else does nothing. */
  | { readonly type: 'cas-unknown'; readonly expected: number; readonly value: number };

/** Applies `effect` to `state`: the next state, or `illegal` if the operation cannot take effect now. */
export function step(state: number, effect: Effect): number {
  switch (effect.type) {
    case 'read':
      return state === effect.value ? state : illegal;
    case 'write':
      return effect.value;
    case 'cas-swapped':
      return state === effect.expected ? effect.value : illegal;
    case 'cas-not-swapped':
      return state !== effect.expected ? state : illegal;
    case 'cas-unknown':
      return state === effect.expected ? effect.value : state;
    default:
      return unreachable(effect, 'effect');
  }
}

/** The value an effect may write, or null if it never writes. */
export function writtenValue(effect: Effect): number | null {
  switch (effect.type) {
    case 'write':
    case 'cas-swapped':
    case 'cas-unknown':
      return effect.value;
    case 'read':
    case 'cas-not-swapped':
      return null;
    default:
      return unreachable(effect, 'effect');
  }
}

/** The value an effect requires to be current (a definite observation), or null if it requires none. */
export function requiredValue(effect: Effect): number | null {
  switch (effect.type) {
    case 'read':
      return effect.value;
    case 'cas-swapped':
      return effect.expected;
    case 'write':
    case 'cas-not-swapped':
    case 'cas-unknown':
      return null;
    default:
      return unreachable(effect, 'effect');
  }
}
