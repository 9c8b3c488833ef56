/**
 * Turns one key's operations into the search problem. Indeterminate writes never return, so a
 * plain Wing–Gong search keeps every one of them pending until the end and tries them in every
 * order; with a few dozen of them the search explodes. The steps below shrink the problem. Each
 * is exact: the history is linearizable after the step if and only if it was before. The
 * property tests cross-check the whole pipeline against a brute-force checker.
 *
 * 1. Drop observations that are always true and change nothing (`dropVacuousOps`).
 * 2. Drop indeterminate writes nothing could observe (`dropUnobservableWrites`).
 * 3. Pin indeterminate writes that a read proves happened (`pinObservedWrites`).
 * 4. Merge values no operation can tell apart into one `junk` value (`mergeIndistinguishable`).
 * 5. Group the remaining indeterminate operations by identical effect (`IndeterminateClass`).
 */
import { unreachable } from '../../src/util/index.js';
import type { HistoryOp } from './history.js';
import { absent, requiredValue, writtenValue } from './register-model.js';
import type { Effect } from './register-model.js';

/** One operation as the search sees it. */
export interface KeyOp {
  /** The operation in the caller's history. */
  readonly source: HistoryOp;
  /** What it does to the register. */
  readonly effect: Effect;
  /** Invocation time. */
  readonly call: number;
  /** Completion time; `Infinity` for an indeterminate operation, which may take effect at any later time or never. */
  readonly ret: number;
}

/**
 * Indeterminate operations with the same effect, ordered by call time, then id. They are
 * interchangeable except that an earlier call is available sooner, so the search only ever
 * linearizes the earliest-called one not yet used: if a linearization uses a later one while an
 * earlier one is unused, swapping the two gives another linearization (neither ever returns).
 */
export interface IndeterminateClass {
  /** The effect all of them have. */
  readonly effect: Effect;
  /** The operations. Invariant: all have `ret === Infinity`, sorted by call time, then id. */
  readonly ops: readonly KeyOp[];
}

/** One key's search problem. */
export interface KeyProblem {
  /** The key. */
  readonly key: string;
  /** Operations that must all take effect, ordered by call time, then id. Invariant: every `ret` is finite. */
  readonly definite: readonly KeyOp[];
  /** Indeterminate operations, which may take effect or not, by class. */
  readonly classes: readonly IndeterminateClass[];
  /** Interned values: `values[id]` is the string, or null for `absent` (and for `junk`, which stands for many). */
  readonly values: readonly (string | null)[];
  /** The id standing for every written value that no operation reads or compares, or -1 if there is none. */
  readonly junk: number;
  /** A completed operation that observed a value no operation on this key writes, if any: no linearization can exist. */
  readonly impossible: { readonly op: HistoryOp; readonly value: string } | null;
}

/**
 * The operations that take part in a check: a failed operation certainly did not happen, and a
 * get that did not complete observed nothing, so both are dropped.
 */
export function isChecked(op: HistoryOp): boolean {
  return op.status !== 'fail' && !(op.kind === 'get' && op.status !== 'ok');
}

/** Builds the search problem for one key from its checked operations (see `isChecked`). */
export function prepareKey(key: string, history: readonly HistoryOp[]): KeyProblem {
  const values: (string | null)[] = [null];
  const ids = new Map<string, number>();
  const intern = (value: string | null | undefined): number => {
    if (value === null || value === undefined) return absent;
    let id = ids.get(value);
    if (id === undefined) {
      id = values.length;
      values.push(value);
      ids.set(value, id);
    }
    return id;
  };
  let ops = history.map((op) => compile(op, intern));
  for (let before = -1; before !== ops.length; ) {
    before = ops.length;
    ops = dropUnobservableWrites(dropVacuousOps(ops));
  }
  ops = pinObservedWrites(ops);
  const impossible = findImpossibleObservation(ops, values);
  const junk = values.length;
  const merged = mergeIndistinguishable(ops, junk);
  const byTime = (a: KeyOp, b: KeyOp): number => a.call - b.call || a.source.id - b.source.id;
  return {
    key,
    definite: merged.filter((op) => op.ret !== Infinity).sort(byTime),
    classes: groupIndeterminate(merged.filter((op) => op.ret === Infinity).sort(byTime)),
    values: [...values, null],
    junk: merged.some((op) => writtenValue(op.effect) === junk) ? junk : -1,
    impossible,
  };
}

function compile(op: HistoryOp, intern: (value: string | null | undefined) => number): KeyOp {
  const ret = op.ret ?? Infinity;
  const base = { source: op, call: op.call, ret };
  switch (op.kind) {
    case 'get':
      return { ...base, effect: { type: 'read', value: intern(op.value) } };
    case 'put':
      return { ...base, effect: { type: 'write', value: intern(op.value) } };
    case 'cas': {
      const expected = intern(op.expected);
      const value = intern(op.newValue);
      if (op.status !== 'ok') return { ...base, effect: { type: 'cas-unknown', expected, value } };
      // A swap from a value to itself only observes it.
      if (op.casOk === true) return { ...base, effect: expected === value ? { type: 'read', value } : { type: 'cas-swapped', expected, value } };
      return { ...base, effect: { type: 'cas-not-swapped', expected } };
    }
    default:
      return unreachable(op.kind, 'operation kind');
  }
}

/** The set of values some operation may write. */
function writtenValues(ops: readonly KeyOp[]): Set<number> {
  const written = new Set<number>();
  for (const op of ops) {
    const v = writtenValue(op.effect);
    if (v !== null) written.add(v);
  }
  return written;
}

/**
 * Step 1: a cas expecting a (non-absent) value that no operation writes can never find it
 * current. If it did not swap, it observed something always true; if its outcome is unknown, it
 * certainly did nothing. An indeterminate cas from a value to itself does nothing either. Such an
 * operation is legal everywhere and changes nothing, so it fits in any linearization of the
 * rest: after every operation that returned before it was called, which all precede every
 * operation called after it returned. (An indeterminate one may simply be left out.)
 */
function dropVacuousOps(ops: readonly KeyOp[]): KeyOp[] {
  const written = writtenValues(ops);
  return ops.filter((op) => {
    const e = op.effect;
    if (e.type === 'cas-unknown' && e.expected === e.value) return false;
    return !((e.type === 'cas-not-swapped' || e.type === 'cas-unknown') && e.expected !== absent && !written.has(e.expected));
  });
}

/**
 * Step 2: drops an indeterminate write of `v` that nothing could ever observe. It is
 * unobservable when no operation requires `v` (a get reading it, a swapped cas expecting it), no
 * indeterminate cas expects it, and every cas that did not swap expected `v` itself.
 *
 * Exactness: leaving the write out is always allowed. Conversely, take a linearization that
 * includes it and delete it. Only the stretch where the register held `v` changes. In that
 * stretch there were no gets (none read `v`), no swapped cas (none expected `v`), no cas that did
 * not swap (they all expected `v`, which was current), and indeterminate cas ops that did nothing
 * (none expected `v`); those can be left out too. The stretch ended with a put, or the end of the
 * history, so everything after it is unchanged.
 */
function dropUnobservableWrites(ops: readonly KeyOp[]): KeyOp[] {
  const needed = new Set<number>();
  const notSwappedExpected = new Set<number>();
  for (const op of ops) {
    const e = op.effect;
    const required = requiredValue(e);
    if (required !== null) needed.add(required);
    if (e.type === 'cas-unknown') needed.add(e.expected);
    if (e.type === 'cas-not-swapped') notSwappedExpected.add(e.expected);
  }
  const observable = (v: number): boolean =>
    needed.has(v) || notSwappedExpected.size > 1 || (notSwappedExpected.size === 1 && !notSwappedExpected.has(v));
  return ops.filter((op) => {
    const v = writtenValue(op.effect);
    return op.ret !== Infinity || v === null || observable(v);
  });
}

/**
 * Step 3: pins an indeterminate write of `v` that is the only write of `v` on the key and that a
 * completed operation observed (a get read `v`, or a cas swapped from `v`). In every
 * linearization it takes effect (as a swap, if it is a cas) before the first observer, so before
 * the earliest return `r` of any observer. It becomes a completed operation returning at `r`,
 * which the search must place and no longer keeps pending forever. When an observer returned
 * before the write was called, no linearization exists and the write is left for the search to
 * reject.
 */
function pinObservedWrites(ops: readonly KeyOp[]): KeyOp[] {
  const current = [...ops];
  for (let changed = true; changed; ) {
    changed = false;
    const writers = new Map<number, number>();
    const firstObserverRet = new Map<number, number>();
    for (const op of current) {
      const written = writtenValue(op.effect);
      if (written !== null) writers.set(written, (writers.get(written) ?? 0) + 1);
      const required = requiredValue(op.effect);
      if (required !== null) firstObserverRet.set(required, Math.min(op.ret, firstObserverRet.get(required) ?? Infinity));
    }
    current.forEach((op, index) => {
      const e = op.effect;
      if (op.ret !== Infinity || (e.type !== 'write' && e.type !== 'cas-unknown')) return;
      const r = firstObserverRet.get(e.value);
      if (writers.get(e.value) !== 1 || r === undefined || r < op.call) return;
      const effect: Effect = e.type === 'write' ? e : { type: 'cas-swapped', expected: e.expected, value: e.value };
      current[index] = { ...op, effect, ret: r };
      changed = true;
    });
  }
  return current;
}

/** The first completed operation (by call time, then id) that requires a value no operation writes. */
function findImpossibleObservation(ops: readonly KeyOp[], values: readonly (string | null)[]): KeyProblem['impossible'] {
  const written = writtenValues(ops);
  let found: KeyOp | null = null;
  for (const op of ops) {
    const required = requiredValue(op.effect);
    if (required === null || required === absent || written.has(required)) continue;
    if (found === null || op.call < found.call || (op.call === found.call && op.source.id < found.source.id)) found = op;
  }
  if (found === null) return null;
  return { op: found.source, value: values[requiredValue(found.effect)!] ?? '' };
}

/**
 * Step 4: definite operations only ever compare the register with the values they read or
 * expect, and with absent: call those observable. An indeterminate cas from `e` to a relevant
 * value makes `e` relevant too (it can turn `e` into something observable); the relevant values
 * are the closure of the observable ones under that rule. Any two other values behave the same
 * in every state, so they are merged into the one id `junk`, and an indeterminate cas expecting
 * one of them can then only swap junk for junk: it does nothing and is dropped. This lets the
 * cache and the classes see through unique values that are written and never read.
 */
function mergeIndistinguishable(ops: readonly KeyOp[], junk: number): KeyOp[] {
  const relevant = new Set<number>([absent]);
  for (const op of ops) {
    const e = op.effect;
    if (e.type === 'read') relevant.add(e.value);
    if (e.type === 'cas-swapped' || e.type === 'cas-not-swapped') relevant.add(e.expected);
  }
  for (let grew = true; grew; ) {
    grew = false;
    for (const { effect: e } of ops) {
      if (e.type === 'cas-unknown' && relevant.has(e.value) && !relevant.has(e.expected)) {
        relevant.add(e.expected);
        grew = true;
      }
    }
  }
  const map = (v: number): number => (relevant.has(v) ? v : junk);
  const merged: KeyOp[] = [];
  for (const op of ops) {
    const e = op.effect;
    switch (e.type) {
      case 'read':
      case 'cas-not-swapped':
        merged.push(op);
        break;
      case 'write':
      case 'cas-swapped':
        merged.push(map(e.value) === e.value ? op : { ...op, effect: { ...e, value: junk } });
        break;
      case 'cas-unknown':
        if (relevant.has(e.expected)) merged.push(map(e.value) === e.value ? op : { ...op, effect: { ...e, value: junk } });
        break;
      default:
        unreachable(e, 'effect');
    }
  }
  return merged;
}

/** Step 5: groups indeterminate operations (sorted by call, then id) by identical effect, in order of first call. */
function groupIndeterminate(ops: readonly KeyOp[]): IndeterminateClass[] {
  const byEffect = new Map<string, KeyOp[]>();
  for (const op of ops) {
    const name = effectName(op.effect);
    const group = byEffect.get(name);
    if (group === undefined) byEffect.set(name, [op]);
    else group.push(op);
  }
  return [...byEffect.values()].map((group) => ({ effect: group[0]!.effect, ops: group }));
}

/** A name that is equal for equal effects. */
function effectName(e: Effect): string {
  const expected = e.type === 'cas-swapped' || e.type === 'cas-not-swapped' || e.type === 'cas-unknown' ? e.expected : '';
  const value = e.type === 'cas-not-swapped' ? '' : e.value;
  return `${e.type}:${expected}:${value}`;
}
