/**
 * Runs the BUILT CLI (`node bin/raftkv.js`) as a child process and collects its output, for tests
 * of what users see. A run that hangs is killed (by its pid) after `timeoutMs`; with `until`, the
 * process is stopped as soon as its output matches (for `serve`, which does not exit by itself).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../cluster/local-cluster.js';

/** What a run printed, and how it ended. */
export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of `runCli`. */
export interface CliRunOptions {
  /** The environment (the parent's by default); `undefined` values remove a variable. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Kill the process (SIGKILL, by pid) once stdout + stderr match. */
  readonly until?: RegExp;
  readonly timeoutMs?: number;
}

/** Runs `raftkv <args>` and resolves when it has exited. */
export function runCli(args: readonly string[], options: CliRunOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string | undefined> = { ...process.env, ...options.env };
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete env[k];
    const child = spawn(process.execPath, [join(repoRoot, 'bin', 'raftkv.js'), ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const stop = (): void => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    };
    const timer = setTimeout(stop, options.timeoutMs ?? 30_000);
    const check = (): void => {
      if (options.until?.test(stdout + stderr) === true) stop();
    };
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
      check();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      check();
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}
