/**
 * Linearizability per key, by the shared checker (jepsen-lite/checker). The register-model
 * operations of the register and append workloads (gets, puts and compare-and-swaps) are turned
 * into the checker's `HistoryOp`s; failing keys are minimized to a small failing sub-history for
 * the report.
 */
import { checkLinearizable, describeOp } from '../checker/index.js';
import type { CheckResult, HistoryOp } from '../checker/index.js';
import type { OpRecord } from '../history.js';
import type { CheckOutcome } from './check.js';

/** The register-model operations of a history, as the checker takes them. */
export function toCheckerHistory(ops: readonly OpRecord[]): HistoryOp[] {
  const out: HistoryOp[] = [];
  for (const op of ops) {
    if (op.workload === 'bank' || op.key === undefined) continue;
    if (op.f !== 'get' && op.f !== 'put' && op.f !== 'cas') continue;
    if (op.f === 'get' && op.status !== 'ok') continue;
    const base = { id: op.id, client: op.client, key: op.key, call: op.call, ret: op.ret, status: op.status };
    if (op.f === 'get') out.push({ ...base, kind: 'get', value: op.value ?? null });
    else if (op.f === 'put') out.push({ ...base, kind: 'put', value: op.value ?? '' });
    else {
      out.push({
        ...base,
        kind: 'cas',
        expected: op.expected ?? null,
        newValue: op.newValue ?? '',
        ...(op.status === 'ok' ? { casOk: op.casOk === true } : {}),
      });
    }
  }
  return out;
}

/** Checks the history; `statesMax` bounds the search per key. */
export function checkLinearizability(ops: readonly OpRecord[], statesMax?: number): CheckOutcome {
  const history = toCheckerHistory(ops);
  if (history.length === 0) {
    return { name: 'linearizability', ok: true, summary: 'no register operations to check', problems: [] };
  }
  const started = Date.now();
  const result = checkLinearizable(history, { minimize: true, ...(statesMax === undefined ? {} : { statesMax }) });
  const ms = Date.now() - started;
  const problems: string[] = [];
  for (const f of result.failures.slice(0, 5)) {
    problems.push(`key ${JSON.stringify(f.key)}: ${f.verdict}: ${f.explanation}`);
    for (const op of (f.minimal ?? []).slice(0, 20)) problems.push(`    ${describeOp(op)}`);
  }
  const summary =
    result.verdict === 'linearizable'
      ? `linearizable: ${result.opsChecked} operations on ${result.keysChecked} keys (${ms} ms)`
      : `${result.verdict}: ${result.failures.length} of ${result.keysChecked} keys fail (${result.failures.map((f) => f.key).slice(0, 5).join(', ')})`;
  return { name: 'linearizability', ok: result.ok, summary, problems, data: linearizabilityData(result, ms) };
}

/** What the report needs: the verdict, and per failing key its explanation and smallest failing sub-history. */
export interface LinearizabilityData {
  readonly verdict: CheckResult['verdict'];
  readonly keysChecked: number;
  readonly opsChecked: number;
  readonly checkMs: number;
  readonly failures: readonly {
    readonly key: string;
    readonly verdict: string;
    readonly explanation: string;
    readonly opsOnKey: number;
    readonly minimal: readonly HistoryOp[];
    readonly lines: readonly string[];
    /** Not part of the failing sub-history: the writes of the values it reads or expects, to show where they came from. */
    readonly context: readonly string[];
  }[];
}

/** The operations of `ops` that wrote a value `minimal` reads or expects (and are not in it). */
function contextOf(ops: readonly HistoryOp[], minimal: readonly HistoryOp[]): HistoryOp[] {
  const ids = new Set(minimal.map((o) => o.id));
  const wanted = new Set<string>();
  for (const o of minimal) {
    if (o.kind === 'get' && typeof o.value === 'string') wanted.add(o.value);
    if (o.kind === 'cas' && typeof o.expected === 'string') wanted.add(o.expected);
  }
  return ops.filter((o) => !ids.has(o.id) && ((o.kind === 'put' && wanted.has(o.value ?? '')) || (o.kind === 'cas' && wanted.has(o.newValue ?? ''))));
}

function linearizabilityData(result: CheckResult, checkMs: number): LinearizabilityData {
  return {
    verdict: result.verdict,
    keysChecked: result.keysChecked,
    opsChecked: result.opsChecked,
    checkMs,
    failures: result.failures.slice(0, 10).map((f) => {
      const minimal = f.minimal ?? f.ops.slice(0, 30);
      return { key: f.key, verdict: f.verdict, explanation: f.explanation, opsOnKey: f.ops.length, minimal, lines: minimal.map(describeOp), context: contextOf(f.ops, minimal).map(describeOp) };
    }),
  };
}
