/**
 * A small tmpfs mounted over a node's data dir, for the disk-full tests: needs root; without it
 * (or when the mount is refused) the test skips and says why. Unmounted by the test's afterAll.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';

/** A mount attempt: `mounted`, or why not (`skipWhy`). */
export interface TmpfsMount {
  readonly mounted: boolean;
  readonly skipWhy: string;
  /** Unmounts it (no-op when it was not mounted). */
  unmount(): void;
}

/** Mounts a tmpfs of `sizeMiB` at `dir` (created if missing). */
export function mountTmpfs(dir: string, sizeMiB: number): TmpfsMount {
  mkdirSync(dir, { recursive: true });
  const unmounted = (skipWhy: string): TmpfsMount => ({ mounted: false, skipWhy, unmount: () => {} });
  if (process.getuid?.() !== 0) return unmounted('not running as root: cannot mount a tmpfs for the data dir');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    return unmounted(`mounting a tmpfs was refused: ${e instanceof Error ? e.message : String(e)}`);
  }
  return { mounted: true, skipWhy: '', unmount: () => execFileSync('umount', [dir], { stdio: 'pipe' }) };
}
