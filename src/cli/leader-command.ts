/**
 * `raftkv leader transfer [--to <id>]`: hands leadership to another voter (Raft thesis §3.10),
 * by default the most caught-up healthy one, and prints the new leader.
 */
import type { Command } from 'commander';
import { leaderTransferTimeoutDefaultMs } from '../client/index.js';
import { addClientFlags, clientFlagsOf, withClient } from './client-flags.js';
import { printJson, println } from './output.js';

/** Registers `leader` and its subcommands. */
export function registerLeaderCommand(program: Command): void {
  const leader = program.command('leader').description('leadership');
  addClientFlags(
    leader
      .command('transfer')
      .description('hand leadership to another voter (default: the most caught-up healthy one)')
      .option('--to <id>', 'the voter to hand leadership to'),
    // A transfer takes an election or two.
    { defaultMs: leaderTransferTimeoutDefaultMs, help: 'deadline of the transfer' },
  ).action(async (o: { to?: string }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    await withClient(flags, async (kv) => {
      const timeout = flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs };
      const response = await kv.cluster.transferLeader({ ...(o.to === undefined ? {} : { to: o.to }), ...timeout });
      if (flags.output === 'json') printJson({ previousLeader: response.previousLeaderId, leader: response.leaderId });
      else if (response.previousLeaderId === response.leaderId) println(`${response.leaderId} already leads`);
      else println(`leadership moved from ${response.previousLeaderId} to ${response.leaderId}`);
    });
  });
}
