/**
 * Finds the `.proto` files in the repository's `proto/` folder, wherever this module runs from
 * (`src/api/` under tsx and vitest, `dist/src/api/` once built, or an installed package).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import protobuf from 'protobufjs';

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

/** What a bytes field absent on the wire decodes to. */
const emptyBytes: Uint8Array = Object.freeze(new Uint8Array(0)) as Uint8Array;

/**
 * Loads a `.proto` file with protobufjs, with one correction every decoder here needs. protobufjs
 * decodes a bytes field that is absent on the wire (proto3 never sends an empty one) as a shared
 * frozen plain ARRAY, not a Uint8Array, so an empty value failed every `instanceof Uint8Array`
 * check: a put of an empty value decoded from the wire was refused ("must be a Uint8Array"). Here
 * every such default is an empty Uint8Array instead, once, at load (no cost per message).
 */
export function loadProtoRoot(path: string): protobuf.Root {
  const root = protobuf.loadSync(path);
  root.resolveAll();
  const visit = (ns: protobuf.NamespaceBase): void => {
    for (const nested of ns.nestedArray) {
      if (nested instanceof protobuf.Type) {
        for (const field of nested.fieldsArray) {
          if (field.type !== 'bytes' || field.repeated || field.map || field.defaultValue === null) continue;
          field.defaultValue = emptyBytes;
          (nested.ctor.prototype as Record<string, unknown>)[field.name] = emptyBytes;
        }
      }
      if (nested instanceof protobuf.Namespace) visit(nested);
    }
  };
  visit(root);
  return root;
}
