#!/usr/bin/env node
// The raftkv command. Runs the compiled CLI; `npm run build` (done by `npm run cluster` and `npm test`) produces it.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error('raftkv: not built yet; run `npm run build` first');
  process.exit(2);
}
await import(main.href);
