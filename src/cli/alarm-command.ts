/**
 * `raftkv alarm list` and `raftkv alarm disarm [--member <id>] [--type nospace|corrupt]`: the
 * cluster's alarms (README "Alarms"), asked of every endpoint and merged, since a node with a full
 * disk may hold its NOSPACE alarm only locally. Disarming clears the replicated alarms (on the
 * leader) and makes a node with a local NOSPACE alarm retry its disk now; an alarm whose cause
 * remains (the disk is still full) stays raised.
 */
import type { Command } from 'commander';
import { addClientFlags, clientFlagsOf, withClient } from './client-flags.js';
import { printJson, println } from './output.js';
import type { AlarmEntry } from '../client/index.js';

/** Registers `alarm` and its subcommands. */
export function registerAlarmCommand(program: Command): void {
  const alarm = program.command('alarm').description('alarms: NOSPACE (a disk full or failing) and CORRUPT (a member whose state diverged)');
  addClientFlags(alarm.command('list').description('list every member\'s alarms')).action(async (_o: object, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    await withClient(flags, async (kv) => print(await kv.cluster.alarms({}, flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs }), flags.output === 'json'));
  });
  addClientFlags(
    alarm
      .command('disarm')
      .description('clear alarms (all by default); a NOSPACE alarm stays while the disk is still not writable')
      .option('--member <id>', 'only this member\'s alarms')
      .option('--type <type>', 'only this type: nospace or corrupt'),
  ).action(async (o: { member?: string; type?: string }, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const disarm = { ...(o.member === undefined ? {} : { member: o.member }), ...(o.type === undefined ? {} : { type: o.type }) };
    await withClient(flags, async (kv) => print(await kv.cluster.alarms({ disarm }, flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs }), flags.output === 'json'));
  });
}

function print(alarms: readonly AlarmEntry[], json: boolean): void {
  if (json) {
    printJson({ alarms });
    return;
  }
  if (alarms.length === 0) {
    println('no alarms');
    return;
  }
  for (const a of alarms) println(`memberID:${a.member} alarm:${a.type.toUpperCase()}${a.local ? ' (local, not replicated yet)' : ''} reason:${a.reason}`);
}
