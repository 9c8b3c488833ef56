/**
 * `npm run jepsen -- --nemesis partition,kill --time 120 --nodes 3 --workload register`
 *
 * Runs jepsen-lite once, prints a one-screen summary and the report's path, and exits 0 only
 * when every check passed (1 when a check failed, 2 for bad arguments). Needs a built node
 * (`npm run build`). `--help` lists every option.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../cluster/local-cluster.js';
import { parseArgs } from './args.js';
import { runJepsen } from './run.js';
import type { RunOptions } from './run.js';

async function main(): Promise<number> {
  let options: RunOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (e) {
    const code = (e as { code?: string }).code;
    if (code === 'commander.helpDisplayed' || code === 'commander.version' || code === 'commander.help') return 0;
    console.error(e instanceof Error ? e.message : String(e));
    console.error('try: npm run jepsen -- --help');
    return 2;
  }
  if (!existsSync(join(repoRoot, 'dist', 'src', 'cli', 'main.js'))) {
    console.error('jepsen-lite: the node is not built; run `npm run build` first');
    return 2;
  }
  const started = Date.now();
  const result = await runJepsen({ ...options, log: (line) => console.error(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${line}`) });
  console.log(result.summary);
  return result.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
