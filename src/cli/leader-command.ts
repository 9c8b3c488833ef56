/**
 * `raftkv leader transfer [--to <id>]`: hands leadership to another voter (Raft thesis §3.10),
 * by default the most caught-up healthy one, and prints the new leader.
 */
import type { Command } from 'commander';
import { clusterService } from '../api/index.js';
import { addClientFlags, clientFlagsOf } from './client-flags.js';
import { withAdmin } from './member-rpc.js';
import { printJson, println } from './output.js';

/** Registers `leader` and its subcommands. */
export function registerLeaderCommand(program: Command): void {
  const leader = program.command('leader').description('leadership');
  addClientFlags(
    leader
      .command('transfer')
      .description('hand leadership to another voter (default: the most caught-up healthy one)')
      .option('--to <id>', 'the voter to hand leadership to'),
  ).action(async (o: { to?: string }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    await withAdmin(flags, async (admin) => {
      // A transfer takes an election or two: 15 s unless --timeout says otherwise.
      const deadlineMs = Date.now() + (cmd.getOptionValueSource('timeout') === 'default' ? 15_000 : flags.timeoutMs);
      const { response } = await admin.onLeader(clusterService.LeaderTransfer, { to: o.to ?? '' }, deadlineMs);
      if (flags.output === 'json') printJson({ previousLeader: response.previousLeaderId, leader: response.leaderId });
      else if (response.previousLeaderId === response.leaderId) println(`${response.leaderId} already leads`);
      else println(`leadership moved from ${response.previousLeaderId} to ${response.leaderId}`);
    });
  });
}
