// Proves the auth commands of the built CLI (user, role, auth; --user, --password and their
// RAFTKV_* variables) against a real node, and that neither a password nor a token ever reaches
// the node's log file, even at trace level.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthCalls } from './support/auth-calls.js';
import { InProcessCluster } from './support/in-process-nodes.js';
import { runCli } from './support/run-cli.js';

let cluster: InProcessCluster;
let calls: AuthCalls;
let logFile: string;
const rootPassword = 'Root-Pass-7f3a9c';
const alicePassword = 'Alice-Pass-5e1b2d';

beforeAll(async () => {
  cluster = await InProcessCluster.plan(1, 'auth-cli');
  logFile = join(cluster.plan('n1').dataDir, '..', 'n1.log');
  const logger = pino({ level: 'trace' }, pino.destination({ dest: logFile, sync: true, mkdir: true }));
  await cluster.start('n1', {}, logger);
  await cluster.leader();
  calls = new AuthCalls(cluster.plan('n1').clientAddress);
}, 60_000);

afterAll(async () => {
  calls?.close();
  await cluster?.stopAll();
});

const cli = (args: string[], env: Record<string, string | undefined> = {}) =>
  runCli([...args, '--endpoints', cluster.plan('n1').clientAddress], { env: { RAFTKV_USER: undefined, RAFTKV_PASSWORD: undefined, ...env } });

describe('raftkv user, role and auth', () => {
  it('sets up users and roles, turns auth on, and signs in with --user, --password and RAFTKV_USER', async () => {
    expect((await cli(['auth', 'enable'])).stderr).toMatch(/user "root" exists with role "root"/);
    for (const args of [
      ['user', 'add', `root:${rootPassword}`],
      ['user', 'grant-role', 'root', 'root'],
      ['role', 'add', 'app'],
      ['role', 'grant', 'app', 'readwrite', 'app/'],
      ['user', 'add', 'alice', '--new-user-password', alicePassword],
      ['user', 'grant-role', 'alice', 'app'],
      ['auth', 'enable'],
    ]) {
      const run = await cli(args);
      expect(run.stderr, args.join(' ')).toBe('');
      expect(run.code, args.join(' ')).toBe(0);
    }
    // Not signed in (exit code 5) and signed in but not allowed (6) are told apart, each with
    // one line saying what to do.
    const anonymous = await cli(['get', 'app/x']);
    expect(anonymous.code).toBe(5);
    expect(anonymous.stderr).toBe('raftkv: not logged in: the cluster has authentication enabled; pass --user <name>[:<password>] (or RAFTKV_USER and RAFTKV_PASSWORD), or --cert and --key of a client certificate that names a user [UNAUTHENTICATED]\n');
    expect((await cli(['put', 'app/x', 'v', '--user', `alice:${alicePassword}`])).code).toBe(0);
    expect((await cli(['get', 'app/x', '--user', 'alice', '--password', alicePassword])).stdout).toMatch(/v/);
    const denied = await cli(['put', 'other/x', 'v'], { RAFTKV_USER: 'alice', RAFTKV_PASSWORD: alicePassword });
    expect(denied.code).toBe(6);
    expect(denied.stderr).toMatch(/^raftkv: permission denied: user "alice" may not write key "other\/x" .*\[PERMISSION_DENIED\]\n$/);
    const wrong = await cli(['get', 'app/x', '--user', 'alice:nope']);
    expect(wrong.code).toBe(5);
    expect(wrong.stderr).toMatch(/^raftkv: not logged in \(wrong user name or password\): pass --user <name>/);
    const notRoot = await cli(['user', 'list', '--user', 'alice', '--password', alicePassword]);
    expect(notRoot.code).toBe(6);
    expect(notRoot.stderr).toMatch(/UserList needs the root role/);
    const users = await cli(['user', 'list', '-o', 'json', '--user', `root:${rootPassword}`]);
    expect(JSON.parse(users.stdout)).toEqual({ users: [{ name: 'alice', roles: ['app'], hasPassword: true }, { name: 'root', roles: ['root'], hasPassword: true }] });
    const roles = await cli(['role', 'list', '-o', 'json', '--user', `root:${rootPassword}`]);
    expect(JSON.parse(roles.stdout).roles).toContainEqual({ name: 'app', permissions: [{ access: 'readwrite', prefix: 'app/' }] });
    expect((await cli(['auth', 'status'])).stdout).toMatch(/authentication enabled/);
  }, 120_000);

  it('keeps passwords and tokens out of the node log', async () => {
    const { token } = await calls.call<{ token: string }>('Auth', 'Authenticate', { name: 'alice', password: alicePassword });
    await calls.call('KV', 'Get', { key: new TextEncoder().encode('app/x') }, token);
    await calls.failure('KV', 'Get', { key: new TextEncoder().encode('app/x') }, `${token}x`);
    await cluster.stop('n1');
    const log = readFileSync(logFile, 'utf8');
    expect(log).toMatch(/auth: changed through the log/);
    for (const secret of [rootPassword, alicePassword, token, token.split('.')[2] ?? token]) expect(log.includes(secret), 'a secret in the log').toBe(false);
  });
});
