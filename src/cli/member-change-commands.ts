/**
 * `raftkv member add|promote|remove`: membership changes over the Cluster service, sent to the
 * leader by the client library (`client.cluster`, which follows leader hints). See docs/membership.md.
 *
 * - `member add <id> [peerAddr] [--learner] [--wait <duration>]`: adds the node as a learner. Without
 *   `--learner` the leader promotes it to a voter by itself once it has caught up; `--wait` waits
 *   for that. Start the new node with `raftkv serve --join` (the command prints the line).
 * - `member promote <id> [--force]`: promotes a learner, waiting for it to catch up.
 * - `member remove <id> [--force]`: removes a member; removing the leader hands leadership over
 *   first. Refused when it would leave no healthy quorum, unless forced.
 */
import { Option } from 'commander';
import type { Command } from 'commander';
import type { Member, RaftkvClient } from '../client/index.js';
import { membershipTimeoutDefaultMs } from '../client/index.js';
import { addClientFlags, clientFlagsOf, parseDuration, withClient } from './client-flags.js';
import type { ClientFlags, TimeoutFlag } from './client-flags.js';
import { CliFailure, ExitCode } from './exit-codes.js';
import { printJson, printTable, println } from './output.js';

/** `--timeout` of a membership change: it waits until the change is applied (or the learner caught up). */
export const changeTimeout: TimeoutFlag = { defaultMs: membershipTimeoutDefaultMs, help: 'deadline of the change' };

export function timeoutOf(flags: ClientFlags): { timeoutMs?: number } {
  return flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs };
}

export function printMembers(flags: ClientFlags, members: readonly Member[], extra: Record<string, unknown> = {}): void {
  if (flags.output === 'json') {
    printJson({ ...extra, members });
    return;
  }
  printTable(['ID', 'CLIENT_ADDRESS', 'PEER_ADDRESSES', 'LEARNER'], members.map((m) => [m.id, m.clientAddress ?? '-', m.peerAddresses.join(',') || '-', m.isLearner ? 'yes' : 'no']));
}

/** Registers `member add`, `member promote` and `member remove` under `member`. */
export function registerMemberChangeCommands(member: Command): void {
  addClientFlags(
    member
      .command('add <id> [peerAddr]')
      .description('add a node as a learner; it is promoted to a voter once caught up (unless --learner)')
      .option('--peer-address <host:port>', 'the new node\'s peer address (instead of the peerAddr argument)')
      .option('--client-address <host:port>', 'the new node\'s client address (otherwise learned when it connects)')
      .option('--learner', 'keep it a non-voting learner (promote it later with member promote)')
      .addOption(new Option('--wait <duration>', 'wait until it is a voter (5s, 2m)').argParser(parseDuration)),
    changeTimeout,
  ).action(async (id: string, peerArg: string | undefined, o: { peerAddress?: string; clientAddress?: string; learner?: boolean; wait?: number }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const peerAddress = o.peerAddress ?? peerArg;
    if (peerAddress === undefined) throw new CliFailure('member add: give the new node\'s peer address (member add <id> <host:port>)', ExitCode.usage);
    await withClient(flags, async (kv) => {
      let members = await kv.cluster.addMember({ id, peerAddress, ...(o.clientAddress === undefined ? {} : { clientAddress: o.clientAddress }), learner: o.learner === true }, timeoutOf(flags));
      if (o.wait !== undefined && o.learner !== true) members = await waitForVoter(kv, id, Date.now() + o.wait);
      const initialCluster = members
        .filter((m) => m.peerAddresses.length > 0)
        .map((m) => `${m.id}=${m.peerAddresses[0] ?? ''}`)
        .join(',');
      if (flags.output !== 'json') {
        println(`added ${id} as a learner${o.learner === true ? '' : o.wait !== undefined ? '; it is now a voter' : '; the leader promotes it to a voter once it has caught up'}`);
        println(`start it with: raftkv serve --id ${id} --listen-peer ${peerAddress} --join --initial-cluster ${initialCluster}`);
      }
      printMembers(flags, members, { added: id, initialCluster });
    });
  });

  addClientFlags(
    member
      .command('promote <id>')
      .description('promote a learner to a voter once it has caught up')
      .option('--force', 'skip the catch-up and quorum checks'),
    changeTimeout,
  ).action(async (id: string, o: { force?: boolean }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    await withClient(flags, async (kv) => {
      const members = await kv.cluster.promoteMember(id, { force: o.force === true, ...timeoutOf(flags) });
      if (flags.output !== 'json') println(`promoted ${id} to a voter`);
      printMembers(flags, members, { promoted: id });
    });
  });

  addClientFlags(
    member
      .command('remove <id>')
      .description('remove a member (the leader hands leadership over first)')
      .option('--force', 'remove it even if that leaves no healthy quorum'),
    changeTimeout,
  ).action(async (id: string, o: { force?: boolean }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    await withClient(flags, async (kv) => {
      const members = await kv.cluster.removeMember(id, { force: o.force === true, ...timeoutOf(flags) });
      if (flags.output !== 'json') println(`removed ${id}; stop its process and delete its data dir`);
      printMembers(flags, members, { removed: id });
    });
  });
}

/** Polls the member list until `id` is a voter; fails with exit code 3 at the deadline. */
async function waitForVoter(kv: RaftkvClient, id: string, deadlineMs: number): Promise<Member[]> {
  for (;;) {
    const members = await kv.cluster.members({ timeoutMs: Math.max(1000, deadlineMs - Date.now()) });
    if (members.some((m) => m.id === id && !m.isLearner)) return members;
    if (Date.now() >= deadlineMs) throw new CliFailure(`${id} is still a learner: it has not caught up yet (is it running with --join?)`, ExitCode.unavailable);
    await new Promise((r) => setTimeout(r, 250));
  }
}
