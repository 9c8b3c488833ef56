/**
 * `raftkv status`: every endpoint's view of the cluster as a table (id, address, role, term,
 * commit, applied, lag, health), plus a row for each member none of the endpoints reached. Lag is
 * how far a node's applied index trails the highest commit index any node reports. Exit code 0
 * when every node answered and a leader is known; 3 when any node is unreachable (its row's HEALTH
 * says why), no node answered, or none knows a leader.
 */
import type { Command } from 'commander';
import type { EndpointStatus } from '../client/index.js';
import { addClientFlags, clientFlagsOf, withClient } from './client-flags.js';

/** How long `status` waits for each node by default: a sick node should not hold up the table. */
const statusTimeoutDefaultMs = 2000;
import { CliFailure, ExitCode } from './exit-codes.js';
import { printJson, printTable } from './output.js';

/** Registers `status`. */
export function registerStatusCommand(program: Command): void {
  addClientFlags(
    program
      .command('status')
      .description('show every node: id, address, role, term, commit, applied, lag, health')
      .addHelpText('after', '\nExit code 0 when every node answered and a leader is known; 3 when any node (an endpoint given, or a member\nthe answering nodes list) is unreachable, or no node knows a leader.'),
    { defaultMs: statusTimeoutDefaultMs, help: 'how long to wait for each node' },
  ).action(async (_o: unknown, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const statuses = await withClient(flags, (kv) => kv.cluster.status({ timeoutMs: flags.timeoutMs ?? statusTimeoutDefaultMs }));
    const rows = summarize(statuses);
    if (flags.output === 'json') printJson(rows);
    else printTable(['ID', 'ADDRESS', 'ROLE', 'TERM', 'COMMIT', 'APPLIED', 'LAG', 'HEALTH'], rows.map((r) => [r.id ?? '?', r.address, r.role ?? '-', num(r.term), num(r.commit), num(r.applied), num(r.lag), r.health]));
    const answered = rows.filter((r) => r.role !== null);
    if (answered.length === 0) throw new CliFailure(`no node answered (${rows.map((r) => r.address).join(', ')})`, ExitCode.unavailable);
    if (!answered.some((r) => r.leader !== null)) throw new CliFailure('no node knows a leader', ExitCode.unavailable);
    const unreachable = rows.filter((r) => r.role === null);
    if (unreachable.length > 0) throw new CliFailure(`${unreachable.length} of ${rows.length} nodes unreachable: ${unreachable.map((r) => r.id ?? r.address).join(', ')}`, ExitCode.unavailable);
  });
}

/** One row of the status table. */
interface StatusRow {
  id: string | null;
  address: string;
  role: string | null;
  leader: string | null;
  term: number | null;
  commit: number | null;
  applied: number | null;
  lag: number | null;
  revision: number | null;
  health: string;
}

function num(n: number | null): string {
  return n === null ? '-' : String(n);
}

function summarize(statuses: readonly EndpointStatus[]): StatusRow[] {
  const commitMax = Math.max(0, ...statuses.map((s) => (s.ok ? s.status.commitIndex : 0)));
  return statuses.map((s): StatusRow => {
    if (!s.ok) return { id: s.nodeId, address: s.endpoint, role: null, leader: null, term: null, commit: null, applied: null, lag: null, revision: null, health: `unreachable: ${s.error.message}` };
    const st = s.status;
    const problems = [...st.errors, ...(st.leaderId === null ? ['no leader known'] : [])];
    return {
      id: st.nodeId,
      address: s.endpoint,
      role: st.isLearner ? `${st.role} (learner)` : st.role,
      leader: st.leaderId,
      term: st.term,
      commit: st.commitIndex,
      applied: st.appliedIndex,
      lag: Math.max(0, commitMax - st.appliedIndex),
      revision: st.revision,
      health: problems.length === 0 ? 'ok' : problems.join('; '),
    };
  });
}
