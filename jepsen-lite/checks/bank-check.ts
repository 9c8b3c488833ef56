/**
 * The bank invariant: every successful read (during the run and the final read on each node)
 * sees every account, no negative balance, and the opening total.
 */
import type { OpRecord } from '../history.js';
import { accountKeys, bankAccounts, bankOpeningBalance } from '../workloads/bank.js';
import type { CheckOutcome } from './check.js';

/** Checks the bank workload's reads. */
export function checkBank(ops: readonly OpRecord[]): CheckOutcome {
  const total = bankAccounts * bankOpeningBalance;
  const problems: string[] = [];
  let reads = 0;
  let finals = 0;
  for (const op of ops) {
    if (op.workload !== 'bank' || op.f !== 'read' || op.status !== 'ok' || !op.balances) continue;
    reads++;
    if (op.final === true) finals++;
    const values = accountKeys().map((k) => op.balances?.[k]);
    const sum = values.reduce<number>((s, v) => s + (v ?? 0), 0);
    const where = `read #${op.id}${op.final === true ? ' (final)' : ''} on ${op.node ?? '?'} at ${op.call.toFixed(1)} ms`;
    if (values.some((v) => v === undefined || !Number.isFinite(v))) problems.push(`${where}: accounts missing or unreadable: ${JSON.stringify(op.balances)}`);
    else if (sum !== total) problems.push(`${where}: total ${sum}, expected ${total}: ${JSON.stringify(op.balances)}`);
    if (values.some((v) => v !== undefined && v < 0)) problems.push(`${where}: negative balance: ${JSON.stringify(op.balances)}`);
  }
  const transfers = ops.filter((o) => o.workload === 'bank' && o.f === 'transfer');
  const ok = problems.length === 0 && reads > 0;
  const summary = ok
    ? `total stayed ${total} in ${reads} reads (${finals} final); ${transfers.filter((t) => t.status === 'ok' && t.transfer?.succeeded === true).length} transfers applied`
    : reads === 0
      ? 'no successful read of the accounts'
      : `${problems.length} reads broke the invariant`;
  return { name: 'bank', ok, summary, problems: problems.slice(0, 20), data: { reads, finals, transfers: transfers.length, violations: problems.length } };
}
