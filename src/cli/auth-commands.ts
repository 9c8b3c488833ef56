/**
 * `raftkv user add|list|delete|passwd|grant-role|revoke-role`, `raftkv role add|delete|grant|
 * revoke|list` and `raftkv auth enable|disable|status` (the Auth service, proto/kv.proto; etcd's
 * commands are the model). Changes go to the leader, which applies them through the log, and
 * need the root role once auth is on: sign in with --user root:<password>.
 */
import type { MethodDefinition } from '@grpc/grpc-js';
import type { Command } from 'commander';
import { authService, PermissionType, toNumber } from '../api/index.js';
import type { AuthChangeResponseMsg, ResponseHeaderMsg } from '../api/index.js';
import { addClientFlags, clientFlagsOf, withClient } from './client-flags.js';
import type { ClientFlags } from './client-flags.js';
import { CliFailure, ExitCode } from './exit-codes.js';
import { cell, printJson, printTable, println } from './output.js';

/** Registers `user`, `role` and `auth`. */
export function registerAuthCommands(program: Command): void {
  const user = program.command('user').description('auth users (replicated; changed through the log)');
  const role = program.command('role').description('auth roles: read or readwrite on key prefixes (the built-in role root grants everything)');
  const auth = program.command('auth').description('turn authentication on or off');

  command(user, 'add <name[:password]>', 'add a user (the password is hashed with scrypt by the node)', (c) =>
    c.option('--new-user-password <password>', 'the new user\'s password (instead of name:password)').option('--cert-only', 'no password: the user signs in only with a client certificate naming it'),
  ).action(async (nameArg: string, o: { newUserPassword?: string; certOnly?: boolean }, cmd: Command) => {
    const { name, password } = nameAndPassword(nameArg, o.newUserPassword, o.certOnly === true);
    await change(cmd, authService.UserAdd, { name, password, noPassword: o.certOnly === true }, `user ${name} added`);
  });
  command(user, 'passwd <name[:password]>', 'change a user\'s password (tokens issued before are refused)', (c) => c.option('--new-user-password <password>', 'the new password')).action(
    async (nameArg: string, o: { newUserPassword?: string }, cmd: Command) => {
      const { name, password } = nameAndPassword(nameArg, o.newUserPassword, false);
      await change(cmd, authService.UserChangePassword, { name, password }, `password of ${name} changed`);
    },
  );
  command(user, 'delete <name>', 'delete a user').action(async (name: string, _o: object, cmd: Command) => change(cmd, authService.UserDelete, { name }, `user ${name} deleted`));
  command(user, 'grant-role <user> <role>', 'give a user a role').action(async (u: string, r: string, _o: object, cmd: Command) => change(cmd, authService.UserGrantRole, { user: u, role: r }, `role ${r} granted to ${u}`));
  command(user, 'revoke-role <user> <role>', 'take a role from a user').action(async (u: string, r: string, _o: object, cmd: Command) => change(cmd, authService.UserRevokeRole, { user: u, role: r }, `role ${r} revoked from ${u}`));
  command(user, 'list', 'list the users and their roles').action(async (_o: object, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const res = await anyNode(flags, authService.UserList, {});
    if (flags.output === 'json') printJson({ users: res.users.map((u) => ({ name: u.name, roles: u.roles, hasPassword: u.hasPassword })) });
    else printTable(['user', 'roles', 'password'], res.users.map((u) => [u.name, u.roles.join(','), u.hasPassword ? 'yes' : 'no (certificate only)']));
  });

  command(role, 'add <name>', 'add a role (no permissions until granted)').action(async (name: string, _o: object, cmd: Command) => change(cmd, authService.RoleAdd, { name }, `role ${name} added`));
  command(role, 'delete <name>', 'delete a role (it is taken from every user that has it)').action(async (name: string, _o: object, cmd: Command) => change(cmd, authService.RoleDelete, { name }, `role ${name} deleted`));
  command(role, 'grant <role> <read|readwrite> <prefix>', 'grant access to every key starting with prefix ("" for every key)').action(
    async (name: string, access: string, prefix: string, _o: object, cmd: Command) => {
      if (access !== 'read' && access !== 'readwrite') throw new CliFailure(`access must be read or readwrite, got ${JSON.stringify(access)}`, ExitCode.usage);
      const perm = { permType: access === 'readwrite' ? PermissionType.READWRITE : PermissionType.READ, prefix: Buffer.from(prefix) };
      await change(cmd, authService.RoleGrantPermission, { name, perm }, `role ${name} may ${access === 'read' ? 'read' : 'read and write'} keys starting with ${JSON.stringify(prefix)}`);
    },
  );
  command(role, 'revoke <role> <prefix>', 'revoke the permission on prefix').action(async (name: string, prefix: string, _o: object, cmd: Command) =>
    change(cmd, authService.RoleRevokePermission, { role: name, prefix: Buffer.from(prefix) }, `permission on ${JSON.stringify(prefix)} revoked from role ${name}`),
  );
  command(role, 'list', 'list the roles and their permissions').action(async (_o: object, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const res = await anyNode(flags, authService.RoleList, {});
    const rows = res.roles.flatMap((r) => (r.permissions.length === 0 ? [[r.name, '', '(none)']] : r.permissions.map((p) => [r.name, p.permType === PermissionType.READWRITE ? 'readwrite' : 'read', cell(p.prefix ?? new Uint8Array(0))])));
    if (flags.output === 'json') printJson({ roles: res.roles.map((r) => ({ name: r.name, permissions: r.permissions.map((p) => ({ access: p.permType === PermissionType.READWRITE ? 'readwrite' : 'read', prefix: cell(p.prefix ?? new Uint8Array(0)) })) })) });
    else printTable(['role', 'access', 'prefix'], rows);
  });

  command(auth, 'enable', 'turn auth on (user root must exist with role root)').action(async (_o: object, cmd: Command) => change(cmd, authService.AuthEnable, {}, 'authentication enabled'));
  command(auth, 'disable', 'turn auth off (root only)').action(async (_o: object, cmd: Command) => change(cmd, authService.AuthDisable, {}, 'authentication disabled'));
  command(auth, 'status', 'whether auth is on').action(async (_o: object, cmd: Command) => {
    const flags = clientFlagsOf(cmd);
    const res = await anyNode(flags, authService.AuthStatus, {});
    if (flags.output === 'json') printJson({ enabled: res.enabled, authRevision: toNumber(res.authRevision) });
    else println(`authentication ${res.enabled ? 'enabled' : 'disabled'} (last changed at index ${toNumber(res.authRevision)})`);
  });
}

function command(parent: Command, spec: string, description: string, extra: (c: Command) => Command = (c) => c): Command {
  return addClientFlags(extra(parent.command(spec).description(description)));
}

function nameAndPassword(arg: string, flag: string | undefined, none: boolean): { name: string; password: string } {
  const colon = arg.indexOf(':');
  const name = colon < 0 ? arg : arg.slice(0, colon);
  const password = colon < 0 ? (flag ?? '') : arg.slice(colon + 1);
  if (name === '') throw new CliFailure('the user name is empty', ExitCode.usage);
  if (!none && password === '') throw new CliFailure(`give the password as ${name}:<password> or --new-user-password (there is no prompt)`, ExitCode.usage);
  return { name, password: none ? '' : password };
}

async function change<Req>(cmd: Command, method: MethodDefinition<Req, AuthChangeResponseMsg>, request: Req, done: string): Promise<void> {
  const flags = clientFlagsOf(cmd);
  await withClient(flags, async (kv) => {
    const response = await kv.cluster.callLeader(method.originalName ?? method.path, method, request, flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs });
    if (flags.output === 'json') printJson({ ok: true, authRevision: toNumber(response.authRevision) });
    else println(done);
  });
}

async function anyNode<Req, Res extends { header?: ResponseHeaderMsg | null }>(flags: ClientFlags, method: MethodDefinition<Req, Res>, request: Req): Promise<Res> {
  return withClient(flags, (kv) => kv.cluster.callAny(method.originalName ?? method.path, method, request, flags.timeoutMs === undefined ? {} : { timeoutMs: flags.timeoutMs }));
}
