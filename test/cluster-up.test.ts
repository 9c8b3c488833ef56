// `raftkv cluster up` (the built CLI): it starts three nodes, reports a node that dies with the
// end of its log, and stops the rest on Ctrl-C. Every process is stopped by pid at the end.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot, sleep } from '../cluster/local-cluster.js';

const dir = mkdtempSync(join(tmpdir(), 'raftkv-cluster-up-'));
let up: ChildProcess | null = null;
const nodePids: number[] = [];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

afterAll(async () => {
  for (const pid of [...nodePids, ...(up?.pid === undefined ? [] : [up.pid])]) if (alive(pid)) process.kill(pid, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** Resolves once `read()` matches `pattern`, or fails after `timeoutMs` with what was read. */
async function waitFor(read: () => string, pattern: RegExp, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pattern.test(read())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${pattern}; got:\n${read()}`);
    await sleep(50);
  }
}

describe('raftkv cluster up', () => {
  it('reports a node that dies, with the last lines of its log, and stops the others on Ctrl-C', async () => {
    // Port bases well away from the defaults and from the ephemeral range other tests draw on.
    const base = 21_000 + Math.floor(Math.random() * 90) * 100;
    up = spawn(process.execPath, [join(repoRoot, 'bin', 'raftkv.js'), 'cluster', 'up', '--data-root', dir, '--client-port-base', String(base), '--peer-port-base', String(base + 10), '--http-port-base', String(base + 20)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    up.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    up.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((ok) => up?.once('exit', (code) => ok(code)));
    await waitFor(() => stdout + stderr, /Ctrl-C stops every node/, 60_000);
    for (const id of ['n1', 'n2', 'n3']) nodePids.push(Number(readFileSync(join(dir, `${id}.pid`), 'utf8')));
    expect(stderr).toBe('');

    process.kill(nodePids[1] as number, 'SIGKILL');
    await waitFor(() => stderr, /node n2 exited \(signal SIGKILL\); the last \d+ lines of .*n2\.log:\n/, 20_000);
    expect(stderr).toMatch(/ {2}\{.*"msg":"node: started"/);

    up.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/stopping every node\.\.\.\nstopped\./);
    // The nodes it stopped itself are not reported as deaths.
    expect(stderr.match(/exited \(/g)).toHaveLength(1);
    for (const pid of nodePids) expect(alive(pid), `pid ${pid}`).toBe(false);
    expect(existsSync(join(dir, 'n1.pid'))).toBe(false);
  }, 120_000);
});
