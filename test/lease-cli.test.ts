// End-to-end tests of the lease commands of the BUILT CLI (`npm run build` first) on a real
// three-node cluster: lease grant/list/time-to-live/keep-alive/revoke, put --lease, lock (with a
// command, and blocking a second holder), elect; outputs and exit codes.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../cluster/local-cluster.js';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { runCli } from './support/run-cli.js';
import type { CliRun } from './support/run-cli.js';
import { useTestCluster } from './support/test-cluster.js';

let cluster: LocalCluster;
const children: ChildProcess[] = [];

useTestCluster('lease-cli', {
  started: (c) => (cluster = c),
  beforeClose: () => {
    for (const child of children) if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
  },
});

function raftkv(args: readonly string[], until?: RegExp): Promise<CliRun> {
  return runCli(args, { env: { RAFTKV_ENDPOINTS: cluster.endpoints }, timeoutMs: 20_000, ...(until ? { until } : {}) });
}

/** Starts a long-running CLI command; resolves once its stdout matches `ready`. */
function background(args: readonly string[], ready: RegExp): Promise<{ child: ChildProcess; stdout: () => string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [join(repoRoot, 'bin', 'raftkv.js'), ...args], { env: { ...process.env, RAFTKV_ENDPOINTS: cluster.endpoints }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready: ${out} ${err}`)), 20_000);
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve({ child, stdout: () => out, exited });
      }
    });
  });
}

describe('raftkv lease', () => {
  it('grants, lists and inspects a lease; put --lease attaches a key', async () => {
    const granted = await raftkv(['lease', 'grant', '60']);
    expect(granted.code, granted.stderr).toBe(0);
    const id = /^lease ([0-9a-f]+) granted with TTL\(60s\)\n$/.exec(granted.stdout)?.[1];
    expect(id).toBeDefined();
    expect(await raftkv(['put', 'cli/leased', 'v', '--lease', id!])).toMatchObject({ code: 0, stdout: 'OK\n' });
    const list = await raftkv(['lease', 'list']);
    expect(list.stdout).toMatch(new RegExp(`^found \\d+ leases\\n(.*\\n)*${id}\\n`));
    const ttl = await raftkv(['lease', 'time-to-live', id!, '--keys']);
    expect(ttl.stdout).toMatch(new RegExp(`^lease ${id} granted with TTL\\(60s\\), remaining\\(\\d+s\\), attached keys\\(\\[cli/leased\\]\\)\\n$`));
    const json = JSON.parse((await raftkv(['lease', 'time-to-live', id!, '-o', 'json'])).stdout) as { idHex: string; grantedTtlS: number; keyCount: number };
    expect(json).toMatchObject({ idHex: id, grantedTtlS: 60, keyCount: 1 });
  });

  it('renews a lease once, revokes it (deleting its key), and exits 1 for a lease that is gone', async () => {
    const id = /lease ([0-9a-f]+)/.exec((await raftkv(['lease', 'grant', '60'])).stdout)?.[1];
    expect(await raftkv(['put', 'cli/leased', 'v', '--lease', id!])).toMatchObject({ code: 0, stdout: 'OK\n' });
    expect(await raftkv(['lease', 'keep-alive', id!, '--once'])).toMatchObject({ code: 0, stdout: `lease ${id} keepalived with TTL(60)\n` });
    expect(await raftkv(['lease', 'revoke', id!])).toMatchObject({ code: 0, stdout: `lease ${id} revoked (1 keys deleted)\n` });
    expect((await raftkv(['get', 'cli/leased'])).code).toBe(1);
    const gone = await raftkv(['lease', 'revoke', id!]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/not found/);
    expect((await raftkv(['put', 'cli/x', 'v', '--lease', 'zz'])).code).toBe(2);
    expect((await raftkv(['put', 'cli/x', 'v', '--lease', 'abcdef'])).code).toBe(1); // no such lease
  });

  it('keep-alive renews until stopped, and exits 1 once the lease is revoked', async () => {
    const id = /lease ([0-9a-f]+)/.exec((await raftkv(['lease', 'grant', '30'])).stdout)?.[1];
    const keeper = await background(['lease', 'keep-alive', id!], /keepalived/);
    await raftkv(['lease', 'revoke', id!]);
    expect(await keeper.exited).toBe(1);
  });
});

describe('raftkv lock and elect', () => {
  it('runs a command under the lock with its key in the environment, exits with its code, and releases', async () => {
    const r = await raftkv(['lock', 'cli-lock', '--', process.execPath, '-e', 'console.log("held " + process.env.RAFTKV_LOCK_KEY); process.exit(7)']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.stdout).toMatch(/^held cli-lock\/[0-9a-f]+\n$/);
    const key = /held (\S+)/.exec(r.stdout)?.[1];
    expect((await raftkv(['get', key!])).code).toBe(1); // released
  });

  it('a held lock makes a second one wait (exit 3 at its timeout) until the holder releases it', async () => {
    const holder = await background(['lock', 'cli-lock2'], /cli-lock2\//);
    const blocked = await raftkv(['lock', 'cli-lock2', '--timeout', '1s', '--', process.execPath, '-e', '']);
    expect(blocked.code, blocked.stderr).toBe(3);
    process.kill(holder.child.pid!, 'SIGTERM');
    expect(await holder.exited).toBe(0);
    const next = await raftkv(['lock', 'cli-lock2', '--timeout', '10s', '--', process.execPath, '-e', '']);
    expect(next.code, next.stderr).toBe(0);
  });

  it('elect prints the proposal once elected; an observer prints the leader', async () => {
    const leader = await background(['elect', 'cli-elect', 'first'], /^cli-elect\nfirst\n/);
    const seen = await raftkv(['elect', 'cli-elect'], /first\n/);
    expect(seen.stdout).toMatch(/^cli-elect\/[0-9a-f]+\nfirst\n/);
    process.kill(leader.child.pid!, 'SIGTERM');
    expect(await leader.exited).toBe(0);
  });
});
