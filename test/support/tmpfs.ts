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

/** Bounds of filling a 20 MiB tmpfs data dir: writes at most, bytes per value, the filler file that leaves little room, and the longest wait for an alarm to be raised or cleared. */
export const diskFillLimits = Object.freeze({
  tmpfsMiB: 20,
  fillWritesMax: 2_000,
  valueBytes: 32 * 1024,
  fillerBytes: 14 * 1024 * 1024,
  waitMs: 30_000,
});
