/**
 * `raftkv member list`: the cluster's members (id, client address, peer addresses, learner).
 * A member's client address comes from the cluster when it knows it, else from what this client
 * learned by asking each endpoint which node it is.
 */
import type { Command } from 'commander';
import { addClientFlags, clientFlagsOf, withClient } from './client-flags.js';
import { registerMemberChangeCommands } from './member-change-commands.js';
import { registerMemberUpdateCommand } from './member-update-command.js';
import { printJson, printTable } from './output.js';

/** Registers `member` and its subcommands. */
export function registerMemberCommand(program: Command): void {
  const member = program.command('member').description('cluster membership');
  addClientFlags(member.command('list').description('list the members of the cluster')).action(async (_o: unknown, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const members = await withClient(flags, async (kv) => {
      await kv.discover();
      return kv.cluster.members();
    });
    if (flags.output === 'json') printJson(members);
    else printTable(['ID', 'CLIENT_ADDRESS', 'PEER_ADDRESSES', 'LEARNER'], members.map((m) => [m.id, m.clientAddress ?? '-', m.peerAddresses.join(',') || '-', m.isLearner ? 'yes' : 'no']));
  });
  registerMemberChangeCommands(member);
  registerMemberUpdateCommand(member);
}
