// End-to-end tests of the raftkv command line: the BUILT CLI (`node bin/raftkv.js`, run
// `npm run build` first) against a real three-node cluster, checking output and exit codes.
import { execFileSync, spawnSync, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePorts, repoRoot } from '../cluster/local-cluster.js';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { useTestCluster } from './support/test-cluster.js';

let cluster: LocalCluster;
let dataRoot: string;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the CLI with RAFTKV_ENDPOINTS pointing at the test cluster. */
function raftkv(args: readonly string[], options: { input?: string; env?: Record<string, string> } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'raftkv.js'), ...args], {
      env: { ...process.env, RAFTKV_ENDPOINTS: cluster.endpoints, ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    // A command that hangs fails its test with what it printed, instead of timing the file out.
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // The CLI may exit before it reads its input (most commands read none): writing to its closed
    // stdin then fails with EPIPE, which is no result of the command; its exit code and output are.
    child.stdin.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') reject(e);
    });
    child.stdin.end(options.input ?? '');
  });
}

/** Asserts a failure: the exit code and exactly one line on stderr, without a stack trace. */
function expectFailure(r: Run, code: number, pattern: RegExp): void {
  expect(r.code, r.stderr).toBe(code);
  expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
}

useTestCluster('cli', {
  started: (c, dir) => {
    cluster = c;
    dataRoot = dir;
  },
});

describe('raftkv put/get/del', () => {
  it('writes and reads values; a missing key exits 1 with one line on stderr', async () => {
    expect(await raftkv(['put', 'greeting', 'hello world'])).toMatchObject({ code: 0, stdout: 'OK\n' });
    expect(await raftkv(['put', 'piped'], { input: 'from stdin' })).toMatchObject({ code: 0 });
    const [get, piped, json, stale, missing] = await Promise.all([
      raftkv(['get', 'greeting']),
      raftkv(['get', 'piped']),
      raftkv(['get', 'greeting', '-o', 'json']),
      raftkv(['get', 'greeting', '--stale']),
      raftkv(['get', 'nope']),
    ]);
    expect(get).toMatchObject({ code: 0, stdout: 'hello world\n', stderr: '' });
    expect(piped.stdout).toBe('from stdin\n');
    expect(JSON.parse(json.stdout)).toMatchObject({ found: true, key: 'greeting', value: 'hello world', version: 1, stale: false });
    expect(stale).toMatchObject({ code: 0, stdout: 'hello world\n' });
    expect(missing.stdout).toBe('');
    expectFailure(missing, 1, /^raftkv: key "nope" not found\n$/);
  });

  it('deletes one key or a prefix and prints how many', async () => {
    await Promise.all(['d/1', 'd/2', 'd/3'].map((k) => raftkv(['put', k, 'x'])));
    expect(await raftkv(['del', 'd/1'])).toMatchObject({ code: 0, stdout: '1\n' });
    expect(await raftkv(['del', 'd/', '--prefix'])).toMatchObject({ code: 0, stdout: '2\n' });
    expect(await raftkv(['del', 'd/none'])).toMatchObject({ code: 0, stdout: '0\n' });
  });
});

describe('raftkv range', () => {
  it('lists keys as a table, keys only, a count, or JSON with the limit reported', async () => {
    for (const k of ['r/a', 'r/b', 'r/c']) await raftkv(['put', k, `value of ${k}`]);
    const [table, keys, count, limited, all] = await Promise.all([
      raftkv(['range', 'r/']),
      raftkv(['list', 'r/', '--keys-only']),
      raftkv(['range', 'r/', '--count-only']),
      raftkv(['range', 'r/', '--limit', '2', '-o', 'json']),
      raftkv(['list', '--keys-only']),
    ]);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^KEY\s+VALUE\s+VERSION\s+MOD_REVISION$/);
    expect(table.stdout).toMatch(/^r\/b\s+value of r\/b\s+1\s+\d+$/m);
    expect(keys.stdout).toBe('r/a\nr/b\nr/c\n');
    expect(count.stdout).toBe('3\n');
    const j = JSON.parse(limited.stdout) as { count: number; more: boolean; kvs: { key: string }[] };
    expect(j).toMatchObject({ count: 3, more: true });
    expect(j.kvs.map((kv) => kv.key)).toEqual(['r/a', 'r/b']);
    expect(all.stdout.split('\n')).toEqual(expect.arrayContaining(['r/a', 'greeting']));
  });
});

describe('raftkv cas and txn', () => {
  it('swaps only from the expected value ("-" = absent); a mismatch exits 1', async () => {
    expect(await raftkv(['cas', 'lock', '-', 'alice'])).toMatchObject({ code: 0, stdout: 'OK\n' });
    expectFailure(await raftkv(['cas', 'lock', '-', 'bob']), 1, /cas failed: key "lock" exists/);
    expectFailure(await raftkv(['cas', 'lock', 'bob', 'carol']), 1, /cas failed: key "lock" holds "alice"/);
    expect(await raftkv(['cas', 'lock', 'alice', 'bob'])).toMatchObject({ code: 0 });
    expect((await raftkv(['get', 'lock'])).stdout).toBe('bob\n');
  });

  it('runs a JSON transaction from an argument, a file or stdin; a failed guard exits 1, bad JSON 2', async () => {
    const txn = (expected: string): string =>
      JSON.stringify({
        if: [{ key: 'acct', target: 'value', op: '==', value: expected }],
        then: [{ type: 'put', key: 'acct', value: 'updated' }, { type: 'range', prefix: 'acct' }],
        else: [{ type: 'range', key: 'acct' }],
      });
    await raftkv(['put', 'acct', 'initial']);
    const ok = await raftkv(['txn', txn('initial')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^SUCCEEDED\nOK\nKEY\s+VALUE/);
    const file = join(dataRoot, 'txn.json');
    writeFileSync(file, txn('initial'));
    const failed = await raftkv(['txn', '--file', file, '-o', 'json']);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({ succeeded: false, results: [{ type: 'range', count: 1 }] });
    expect(await raftkv(['txn'], { input: txn('updated') })).toMatchObject({ code: 0 });
    expectFailure(await raftkv(['txn', '{not json']), 2, /txn: is not JSON/);
    expectFailure(await raftkv(['txn', '{"then":[{"type":"put","key":"","value":"x"}]}']), 2, /txn\.then\[0\]\.key/);
  });
});

describe('raftkv watch', () => {
  it('replays from a revision and exits after --count events', async () => {
    const first = JSON.parse((await raftkv(['put', 'wc/k', 'one', '-o', 'json'])).stdout) as { revision: number };
    await raftkv(['put', 'wc/k', 'two']);
    const r = await raftkv(['watch', 'wc/', '--prefix', '--from-revision', String(first.revision), '--count', '2', '--timeout', '3s']);
    expect(r.code, `${r.stdout}${r.stderr}`).toBe(0);
    expect(r.stdout).toBe(`PUT wc/k one (revision ${first.revision})\nPUT wc/k two (revision ${first.revision + 1})\n`);
  });

  it('prints changes as they happen until Ctrl-C, then exits 0', async () => {
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'raftkv.js'), 'watch', 'live/', '--prefix', '-o', 'json'], {
      env: { ...process.env, RAFTKV_ENDPOINTS: cluster.endpoints },
    });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // The watch starts "from now": write until it has seen a change.
    for (let i = 0; !stdout.includes('\n') && i < 100; i++) await raftkv(['put', 'live/k', `v${i}`]);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    const event = JSON.parse(stdout.split('\n')[0] ?? '') as { type: string; key: string };
    expect(event).toMatchObject({ type: 'put', key: 'live/k' });
  });
});

describe('raftkv status and member list', () => {
  it('shows every node with its role, indexes and health', async () => {
    const [table, json] = await Promise.all([raftkv(['status']), raftkv(['status', '-o', 'json'])]);
    expect(table.code).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+ADDRESS\s+ROLE\s+TERM\s+COMMIT\s+APPLIED\s+LAG\s+HEALTH$/);
    expect(lines).toHaveLength(4);
    expect(lines.filter((l) => /\sleader\s/.test(l))).toHaveLength(1);
    const rows = JSON.parse(json.stdout) as { id: string; address: string; role: string; health: string; lag: number }[];
    expect(rows.map((r) => r.address)).toEqual(cluster.specs.map((s) => s.clientAddress));
    expect(rows.map((r) => r.id)).toEqual(cluster.specs.map((s) => s.id));
    expect(rows.every((r) => r.health === 'ok' && r.lag >= 0)).toBe(true);
  });

  it('lists the members with their client and peer addresses', async () => {
    const r = await raftkv(['member', 'list', '-o', 'json']);
    expect(r.code).toBe(0);
    const members = JSON.parse(r.stdout) as { id: string; clientAddress: string; peerAddresses: string[] }[];
    expect(members.map((m) => [m.id, m.clientAddress, m.peerAddresses[0]])).toEqual(cluster.specs.map((s) => [s.id, s.clientAddress, s.peerAddress]));
    const table = await raftkv(['member', 'list']);
    expect(table.stdout).toMatch(/^ID\s+CLIENT_ADDRESS\s+PEER_ADDRESSES\s+LEARNER\n/);
  });
});

describe('errors and exit codes', () => {
  it('exits 2 with one line for usage errors and invalid arguments', async () => {
    const [missingArg, badOutput, badTimeout, unknown, emptyKey] = await Promise.all([
      raftkv(['get']),
      raftkv(['get', 'k', '-o', 'yaml']),
      raftkv(['get', 'k', '--timeout', 'soon']),
      raftkv(['frobnicate']),
      raftkv(['put', '', 'v']),
    ]);
    expectFailure(missingArg, 2, /missing required argument 'key'/);
    expectFailure(badOutput, 2, /--output/);
    expectFailure(badTimeout, 2, /--timeout/);
    expectFailure(unknown, 2, /unknown command/);
    expectFailure(emptyKey, 2, /key: must not be empty \[INVALID_ARGUMENT\]/);
  });

  it('exits 3 with one line when no node can be reached, and --endpoints overrides RAFTKV_ENDPOINTS', async () => {
    const closed = '127.0.0.1:1';
    const [get, put, status, override] = await Promise.all([
      raftkv(['get', 'k', '--endpoints', closed, '--timeout', '500ms']),
      raftkv(['put', 'k', 'v', '--timeout', '500ms'], { env: { RAFTKV_ENDPOINTS: closed } }),
      raftkv(['status', '--endpoints', closed]),
      raftkv(['get', 'greeting', '--endpoints', cluster.endpoints], { env: { RAFTKV_ENDPOINTS: closed } }),
    ]);
    expectFailure(get, 3, /^raftkv: Get did not complete within 500 ms.*\[DEADLINE_EXCEEDED\]\n$/);
    expectFailure(put, 3, /^raftkv: Put did not complete within 500 ms/);
    expectFailure(status, 3, /no node answered/);
    expect(status.stdout).toMatch(/unreachable/);
    expect(override).toMatchObject({ code: 0, stdout: 'hello world\n' });
  });
});

describe('CLI conveniences', () => {
  it('prints its version, and shell completion scripts that complete commands, flags and choices', async () => {
    const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { version: string };
    expect(await raftkv(['--version'])).toMatchObject({ code: 0, stdout: `${pkg.version}\n` });
    const bash = await raftkv(['completion', 'bash']);
    expect(bash.code).toBe(0);
    const script = join(dataRoot, 'raftkv.bash');
    writeFileSync(script, bash.stdout);
    const complete = (words: string): string =>
      execFileSync('bash', ['-c', `source ${script}; COMP_WORDS=(${words}); COMP_CWORD=$((\${#COMP_WORDS[@]}-1)); _raftkv; echo "\${COMPREPLY[*]}"`], { encoding: 'utf8' }).trim();
    expect(complete('raftkv mem')).toBe('member');
    expect(complete('raftkv member a')).toBe('add');
    expect(complete('raftkv put --pr')).toBe('--prev-kv');
    expect(complete('raftkv get k -o ""')).toBe('table json');
    expect(complete('raftkv completion ""')).toBe('bash zsh');
    expect(complete('raftkv serve --tick')).toBe('--tick-interval-ms');
    expect(complete('raftkv --endpoints 127.0.0.1:7001 sta')).toBe('status');
    const zsh = await raftkv(['completion', 'zsh']);
    expect(zsh.stdout).toMatch(/^#compdef raftkv\n/);
    expect(zsh.stdout).toContain('compdef _raftkv raftkv');
    expect(zsh.stdout).toContain('"member") echo "list add promote remove update"');
    // Run the zsh function itself where zsh is installed (CI installs it), with compsys stubbed:
    // compadd prints the candidates it is given (zsh filters them by the typed prefix itself).
    const hasZsh = spawnSync('zsh', ['--version']).status === 0;
    if (!hasZsh) console.warn('zsh is not installed: the zsh completion script is checked as text only');
    else {
      const zshScript = join(dataRoot, 'raftkv.zsh');
      writeFileSync(zshScript, zsh.stdout);
      const zshComplete = (words: string, current: number): string =>
        execFileSync('zsh', ['-c', `compdef() {}; _files() {}; compadd() { shift; print -r -- "$*"; }; source ${zshScript}; words=(${words}); CURRENT=${current}; _raftkv`], { encoding: 'utf8' }).trim();
      expect(zshComplete('raftkv member ""', 3)).toBe('list add promote remove update');
      expect(zshComplete('raftkv get k -o ""', 5)).toBe('table json');
      expect(zshComplete('raftkv put --pr', 3).split(' ')).toContain('--prev-kv');
    }
    expectFailure(await raftkv(['completion', 'fish']), 2, /'fish' is invalid for argument 'shell'/);
  });

  it('takes http:// endpoints, refuses a mix of http:// and https:// clearly, and takes Go durations and RAFTKV_* variables for every client flag', async () => {
    const first = cluster.specs[0]?.clientAddress ?? '';
    expect((await raftkv(['put', 'greeting', 'hello world'])).code).toBe(0);
    const [url, https, longTimeout, compound, badUnit, envJson, envTimeout, envBadTimeout] = await Promise.all([
      raftkv(['get', 'greeting', '--endpoints', `http://${first}`]),
      raftkv(['get', 'greeting', '--endpoints', `https://${first},http://${first}`]),
      raftkv(['get', 'greeting', '--timeout', '1h']),
      raftkv(['get', 'greeting', '--timeout', '1m30s']),
      raftkv(['get', 'greeting', '--timeout', '1hr']),
      raftkv(['get', 'greeting'], { env: { RAFTKV_OUTPUT: 'json' } }),
      raftkv(['get', 'greeting'], { env: { RAFTKV_TIMEOUT: '2m' } }),
      raftkv(['get', 'greeting'], { env: { RAFTKV_TIMEOUT: 'soon' } }),
    ]);
    expect(url).toMatchObject({ code: 0, stdout: 'hello world\n' });
    expectFailure(https, 2, /mixes https:\/\/ and http:\/\/ endpoints/);
    expect(longTimeout).toMatchObject({ code: 0, stdout: 'hello world\n' });
    expect(compound).toMatchObject({ code: 0, stdout: 'hello world\n' });
    expectFailure(badUnit, 2, /--timeout.*expected a duration such as 500ms, 5s, 1m30s or 1h/);
    expect(JSON.parse(envJson.stdout)).toMatchObject({ found: true, value: 'hello world' });
    expect(envTimeout).toMatchObject({ code: 0, stdout: 'hello world\n' });
    expectFailure(envBadTimeout, 2, /RAFTKV_TIMEOUT|--timeout/);
  });

  it('tells the truth in its help: defaults of limits, deadlines as they are, and what --timeout bounds for each command', async () => {
    const [serve, watch, save, add, transfer, status] = await Promise.all([
      raftkv(['serve', '--help']),
      raftkv(['watch', '--help']),
      raftkv(['backup', 'save', '--help']),
      raftkv(['member', 'add', '--help']),
      raftkv(['leader', 'transfer', '--help']),
      raftkv(['status', '--help']),
    ]);
    const flat = (s: string): string => s.replace(/\s+/g, ' ');
    expect(flat(serve.stdout)).toContain('largest value, bytes (default 1048576) [RAFTKV_VALUE_BYTES_MAX]');
    expect(serve.stdout).not.toMatch(/limit [a-z]+Max/);
    expect(flat(serve.stdout)).toContain('time between scheduled backups, a duration (default 1h)');
    expect(flat(watch.stdout)).toMatch(/--timeout <duration> stop watching after this long .*\(default: none\) \(env: RAFTKV_TIMEOUT\)/);
    expect(flat(save.stdout)).toMatch(/--timeout <duration> deadline of the whole backup .*\(default: none\)/);
    expect(flat(add.stdout)).toMatch(/--timeout <duration> deadline of the change .*\(default: 30s, env: RAFTKV_TIMEOUT\)/);
    expect(flat(transfer.stdout)).toMatch(/\(default: 15s, env: RAFTKV_TIMEOUT\)/);
    expect(flat(status.stdout)).toMatch(/3 when any node .* is unreachable/);
    expect(flat(status.stdout)).toContain('env: RAFTKV_ENDPOINTS)');
  });

  it('bounds a watch by --timeout: exit 0 when it ends, 3 when --count changes were not seen by then', async () => {
    const [quiet, short] = await Promise.all([raftkv(['watch', 'nothing/', '--prefix', '--timeout', '500ms']), raftkv(['watch', 'nothing/', '--prefix', '--count', '1', '--timeout', '500ms'])]);
    expect(quiet).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expectFailure(short, 3, /watch: 0 of 1 changes seen within 500ms/);
  });

  it('exits 3 from status when any node is unreachable, after printing every row', async () => {
    const [closed] = await freePorts(1);
    const r = await raftkv(['status', '--endpoints', `${cluster.endpoints},127.0.0.1:${closed}`, '--timeout', '1s']);
    expectFailure(r, 3, /1 of 4 nodes unreachable: 127\.0\.0\.1:\d+/);
    const rows = r.stdout.trimEnd().split('\n').slice(1);
    expect(rows).toHaveLength(4);
    expect(rows.filter((l) => / ok$/.test(l))).toHaveLength(3);
    expect(rows.filter((l) => /unreachable/.test(l))).toHaveLength(1);
  });

  it('draws progress bars for backup save, restore and bench', async () => {
    const file = join(dataRoot, 'progress.backup');
    const env = { RAFTKV_PROGRESS: '1' };
    const saved = await raftkv(['backup', 'save', file], { env });
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stderr).toMatch(/backup \[.*\] 100% \| \d+\/\d+ keys/);
    const restored = await raftkv(['backup', 'restore', file, '--id', 'n1', '--data-dir', join(dataRoot, 'restored'), '--initial-cluster', 'n1=127.0.0.1:1'], { env });
    expect(restored.code, restored.stderr).toBe(0);
    expect(restored.stderr).toMatch(/verify {2}\[.*\] 100% \| (\d+)\/\1 keys/);
    expect(restored.stderr).toMatch(/restore \[.*\] 100% \| (\d+)\/\1 keys/);
    // Twenty puts: enough to see the bar, far too few to measure anything.
    const bench = await raftkv(['bench', '--scenarios', 'A', '--scale', '0.01'], { env });
    expect(bench.code, bench.stderr).toBe(0);
    expect(bench.stderr).toMatch(/A-put-seq +\[.*\] 100% \| 20\/20 ops/);
    const quiet = await raftkv(['backup', 'save', join(dataRoot, 'quiet.backup')]);
    expect(quiet.stderr).toBe('');
  });
});
