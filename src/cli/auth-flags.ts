/**
 * `--user name[:password]` and `--password` (or RAFTKV_USER, RAFTKV_PASSWORD), as etcdctl takes
 * them: the credentials a client command signs in with. There is no prompt.
 */
import type { UserCredentials } from '../client/index.js';
import { CliFailure, ExitCode } from './exit-codes.js';

/** The auth flags as given. */
export interface AuthFlags {
  readonly user?: string;
  readonly password?: string;
}

/** The credentials of the flags, or null without --user. */
export function credentialsOfFlags(o: AuthFlags): UserCredentials | null {
  if (o.user === undefined || o.user === '') {
    if (o.password !== undefined) throw new CliFailure('--password needs --user', ExitCode.usage);
    return null;
  }
  const colon = o.user.indexOf(':');
  const user = colon < 0 ? o.user : o.user.slice(0, colon);
  const inline = colon < 0 ? undefined : o.user.slice(colon + 1);
  const password = inline ?? o.password;
  if (user === '') throw new CliFailure('--user: the user name is empty', ExitCode.usage);
  if (password === undefined || password === '') throw new CliFailure(`--user ${user}: give the password as --user ${user}:<password>, --password or RAFTKV_PASSWORD`, ExitCode.usage);
  return { user, password };
}
