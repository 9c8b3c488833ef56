/**
 * `raftkv config get` and `raftkv config set <name>=<value>...`: the cluster-wide limits, which
 * are replicated state (README "Limits"). `get` asks any node; `set` goes to the leader, which
 * changes them through the log, and prints the limits once the change is applied.
 */
import type { Command } from 'commander';
import { toNumber } from '../api/index.js';
import type { ClusterLimitsMsg, ClusterLimitsResponseMsg } from '../api/index.js';
import { clusterLimitNames } from '../kv/index.js';
import { addClientFlags, clientFlagsOf, withClient } from './client-flags.js';
import { CliFailure, ExitCode } from './exit-codes.js';
import { printJson, printTable } from './output.js';

/** Registers `config` and its subcommands. */
export function registerConfigCommand(program: Command): void {
  const config = program.command('config').description('cluster-wide limits (replicated; changed through the log)');
  addClientFlags(config.command('get').description('show the cluster limits every node applies entries by')).action(async (_o: object, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    await withClient(flags, async (kv) => print(await kv.cluster.clusterLimits(flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs }), flags.output === 'json'));
  });
  addClientFlags(
    config
      .command('set')
      .description(`change cluster limits: ${clusterLimitNames.map((n) => `${n}=<n>`).join(' ')}`)
      .argument('<assignments...>', 'name=value pairs; limits not named keep their value'),
  ).action(async (assignments: string[], _o: object, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const limits = parseAssignments(assignments);
    await withClient(flags, async (kv) => print(await kv.cluster.setClusterLimits(limits, flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs }), flags.output === 'json'));
  });
}

function parseAssignments(assignments: readonly string[]): ClusterLimitsMsg {
  const limits: Record<string, number> = {};
  for (const a of assignments) {
    const [name, value, ...rest] = a.split('=');
    if (name === undefined || value === undefined || rest.length > 0 || !(clusterLimitNames as readonly string[]).includes(name)) {
      throw new CliFailure(`expected <name>=<value> with a name among ${clusterLimitNames.join(', ')}, got ${JSON.stringify(a)}`, ExitCode.usage);
    }
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n <= 0) throw new CliFailure(`${name} must be a positive integer, got ${JSON.stringify(value)}`, ExitCode.usage);
    limits[name] = n;
  }
  return limits;
}

function print(response: ClusterLimitsResponseMsg, json: boolean): void {
  const values = clusterLimitNames.map((name) => [name, toNumber(response.limits[name])] as const);
  if (json) printJson({ limits: Object.fromEntries(values), setIndex: toNumber(response.setIndex) });
  else printTable(['limit', 'value'], [...values.map(([name, v]) => [name, String(v)]), ['(set at index)', String(toNumber(response.setIndex))]]);
}
