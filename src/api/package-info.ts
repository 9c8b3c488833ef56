/**
 * The running raftkv's name and version, read once from its own `package.json` (the repository's
 * or the installed package's), so `raftkv --version`, the Status RPC, `/status` and the build-info
 * metric all report the same version without a copy of it in the code.
 */
import { readFileSync } from 'node:fs';
import { findAbove } from './proto-files.js';

/** What this build says about itself. */
export interface PackageInfo {
  readonly name: string;
  readonly version: string;
}

let cached: PackageInfo | null = null;

/** The package's name and version (`0.0.0-unknown` if its package.json cannot be read). */
export function packageInfo(): PackageInfo {
  if (cached !== null) return cached;
  try {
    const parsed = JSON.parse(readFileSync(findAbove('package.json'), 'utf8')) as { name?: unknown; version?: unknown };
    cached = { name: typeof parsed.name === 'string' ? parsed.name : 'raftkv', version: typeof parsed.version === 'string' ? parsed.version : '0.0.0-unknown' };
  } catch {
    cached = { name: 'raftkv', version: '0.0.0-unknown' };
  }
  return cached;
}
