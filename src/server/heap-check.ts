/**
 * The start-up check of the V8 heap limit against the space quota (`dataBytesMax`).
 */
import { getHeapStatistics } from 'node:v8';
import type { Logger } from '../util/index.js';

/**
 * Live values are held on the V8 heap (packed-record.ts), so a heap limit below the space quota
 * would end the process with an out-of-memory error before the quota refuses a write. Says so at
 * start-up, with the flag that fixes it.
 */
export function warnIfHeapBelowQuota(dataBytesMax: number, logger: Logger, heapLimitBytes: number = getHeapStatistics().heap_size_limit): boolean {
  // The quota's bytes plus room for per-key records, the watch history and the rest of the node.
  const neededBytes = Math.ceil(dataBytesMax * 1.5) + 256 * 1024 * 1024;
  if (heapLimitBytes >= neededBytes) return false;
  logger.warn(
    { heapLimitMiB: Math.round(heapLimitBytes / 2 ** 20), dataBytesMaxMiB: Math.round(dataBytesMax / 2 ** 20), neededMiB: Math.round(neededBytes / 2 ** 20) },
    `node: the V8 heap limit is below what a full space quota needs; start node with --max-old-space-size=${Math.round(neededBytes / 2 ** 20)} or lower --data-bytes-max`,
  );
  return true;
}
