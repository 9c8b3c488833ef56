/**
 * Runs etcdctl 3.4 (Debian's etcd-client) for the etcd compatibility tests: `etcdctlPath` is null
 * when it is not installed (the tests then skip, and say so); each run is killed by pid if it
 * hangs.
 */
import { execFileSync, spawn } from 'node:child_process';

/** Where etcdctl is, or null. */
export const etcdctlPath: string | null = ((): string | null => {
  try {
    return execFileSync('sh', ['-c', 'command -v etcdctl'], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
})();

/** How a run ended. */
export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs etcdctl with `args` (stdin from `input`), killed by pid after `timeoutMs`. */
export function etcdctl(endpoints: string, args: readonly string[], options: { input?: string; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(etcdctlPath ?? 'etcdctl', [`--endpoints=${endpoints}`, '--dial-timeout=5s', '--command-timeout=10s', ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    }, options.timeoutMs ?? 30_000);
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    // etcdctl may exit before it reads its input (most commands read none): writing to its closed
    // stdin then fails with EPIPE, which is no result of the command; its exit code and output are.
    child.stdin.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code !== 'EPIPE') reject(e);
    });
    child.stdin.end(options.input ?? '');
  });
}


/** Says loudly that `file` is skipped, when etcdctl is missing. */
export function warnIfNoEtcdctl(file: string): void {
  if (etcdctlPath === null) console.warn(`${file}: SKIPPED: etcdctl is not installed (Debian package etcd-client; .ci/run installs it)`);
}
