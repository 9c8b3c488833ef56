/**
 * `raftkv member update <id> <peerAddr> [--client-address <host:port>]`: changes a member's peer
 * address through the log (the Cluster service's MemberUpdate; etcdctl's `member update`). Every
 * node records it and peers reconnect to the new address; restart the member itself listening
 * on it (`raftkv serve --listen-peer <peerAddr>`). See docs/membership.md.
 */
import type { Command } from 'commander';
import { addClientFlags, clientFlagsOf, withClient } from './client-flags.js';
import { changeTimeout, printMembers, timeoutOf } from './member-change-commands.js';
import { println } from './output.js';

/** Registers `member update` under `member`. */
export function registerMemberUpdateCommand(member: Command): void {
  addClientFlags(
    member
      .command('update <id> <peerAddr>')
      .description("change a member's peer address (restart it listening there)")
      .option('--client-address <host:port>', "the member's new client address too"),
    changeTimeout,
  ).action(async (id: string, peerAddress: string, o: { clientAddress?: string }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    await withClient(flags, async (kv) => {
      const members = await kv.cluster.updateMember(id, { peerAddress, ...(o.clientAddress === undefined ? {} : { clientAddress: o.clientAddress }) }, timeoutOf(flags));
      if (flags.output !== 'json') println(`updated ${id}: peer address ${peerAddress}; restart it with --listen-peer ${peerAddress}`);
      printMembers(flags, members, { updated: id });
    });
  });
}
