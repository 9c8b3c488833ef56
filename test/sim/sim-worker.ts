/**
 * A worker thread of `npm run sim -- --jobs N`: runs the seed jobs the CLI posts, one at a time,
 * and posts each outcome back. Each seed is deterministic on its own, so the order in which
 * workers finish changes nothing but the order of progress lines.
 */
import { parentPort } from 'node:worker_threads';
import { runSeedJob } from './run-seed.js';
import type { SeedJob } from './run-seed.js';

const port = parentPort;
if (port === null) throw new Error('sim-worker.ts runs as a worker thread of cli.ts');
port.on('message', (job: SeedJob) => {
  runSeedJob(job, () => {}).then(
    (outcome) => port.postMessage({ ok: true, outcome }),
    (e: unknown) => port.postMessage({ ok: false, error: e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ''}` : String(e) }),
  );
});
