/**
 * Finds the `.proto` files in the repository's `proto/` folder, wherever this module runs from
 * (`src/api/` under tsx and vitest, `dist/src/api/` once built, or an installed package).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The name of a contract in `proto/`. */
export type ProtoFileName = 'raft.proto' | 'kv.proto' | 'forward.proto' | 'integrity.proto';

/**
 * The absolute path of `proto/<name>`: the nearest one in this module's folder or any folder above.
 * Throws if none exists (the package was installed without its `proto/` folder).
 */
export function resolveProtoFile(name: ProtoFileName): string {
  return findAbove(join('proto', name));
}

/**
 * The absolute path of `relativePath` in the nearest folder at or above this module's that has
 * it (the repository or the installed package's root, from `src/api/` or `dist/src/api/`).
 */
export function findAbove(relativePath: string): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, relativePath);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`${relativePath} not found above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
