/**
 * A brute-force linearizability checker, written to be obviously right rather than fast: it
 * tries every order of every operation of the whole history at once (no per-key split, no
 * reductions, no cache), with every indeterminate operation either taking effect or not. Tests
 * compare `checkLinearizable` with it on small random histories (up to about 8 operations).
 */
import type { HistoryOp } from './history.js';

type Registers = ReadonlyMap<string, string | null>;

/** Applies `op` to `registers` as if it took effect now: the new registers, or null if it cannot. */
export function applyOp(registers: Registers, op: HistoryOp): Registers | null {
  const current = registers.get(op.key) ?? null;
  const write = (value: string | null | undefined): Registers => new Map(registers).set(op.key, value ?? null);
  switch (op.kind) {
    case 'get':
      return current === op.value ? registers : null;
    case 'put':
      return write(op.value);
    case 'cas':
      if (op.status !== 'ok') return current === op.expected ? write(op.newValue) : registers;
      if (op.casOk === true) return current === op.expected ? write(op.newValue) : null;
      return current !== op.expected ? registers : null;
  }
}

/** True if some order of the history's operations is a linearization. Exponential: small histories only. */
export function bruteForceLinearizable(history: readonly HistoryOp[]): boolean {
  const ops = history.filter((op) => op.status !== 'fail' && !(op.kind === 'get' && op.status !== 'ok'));
  const used = new Array<boolean>(ops.length).fill(false);
  const search = (registers: Registers): boolean => {
    if (ops.every((op, i) => used[i] === true || op.status === 'indeterminate')) return true;
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i]!;
      if (used[i] === true) continue;
      // op may go next only if no unused operation returned before it was called.
      if (ops.some((other, j) => used[j] !== true && other.ret !== null && other.ret < op.call)) continue;
      const next = applyOp(registers, op);
      if (next === null) continue;
      used[i] = true;
      if (search(next)) return true;
      used[i] = false;
    }
    return false;
  };
  return search(new Map());
}

/**
 * True if `order` is a linearization of `history`: it holds each completed operation exactly
 * once and indeterminate ones at most once, respects real time (A before B whenever
 * A.ret < B.call), and every operation can take effect where it stands.
 */
export function isLinearization(history: readonly HistoryOp[], order: readonly HistoryOp[]): boolean {
  const position = new Map<HistoryOp, number>();
  order.forEach((op, i) => position.set(op, i));
  if (position.size !== order.length) return false;
  const checked = history.filter((op) => op.status !== 'fail' && !(op.kind === 'get' && op.status !== 'ok'));
  if (order.some((op) => !checked.includes(op))) return false;
  if (checked.some((op) => op.status === 'ok' && !position.has(op))) return false;
  for (const a of order) {
    for (const b of order) {
      if (a.ret !== null && a.ret < b.call && position.get(a)! > position.get(b)!) return false;
    }
  }
  let registers: Registers | null = new Map();
  for (const op of order) {
    registers = applyOp(registers, op);
    if (registers === null) return false;
  }
  return true;
}
