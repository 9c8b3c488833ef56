// The start-up warning for a V8 heap limit below what a full space quota needs (values live on
// the heap: packed-record.ts).
import { describe, expect, it } from 'vitest';
import type { Logger } from '../util/index.js';
import { warnIfHeapBelowQuota } from './heap-check.js';

function recordingLogger(): { logger: Logger; warnings: string[] } {
  const warnings: string[] = [];
  const logger = { warn: (_fields: object, msg: string) => warnings.push(msg), info: () => {}, error: () => {}, debug: () => {} } as unknown as Logger;
  return { logger, warnings };
}

describe('heap limit check', () => {
  it('warns, naming the flag and the size, when the heap limit is below the quota plus room', () => {
    const { logger, warnings } = recordingLogger();
    expect(warnIfHeapBelowQuota(2 * 1024 ** 3, logger, 2 * 1024 ** 3)).toBe(true);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/--max-old-space-size=3328 or lower --data-bytes-max/);
  });

  it('says nothing when the heap limit has room for the quota', () => {
    const { logger, warnings } = recordingLogger();
    expect(warnIfHeapBelowQuota(2 * 1024 ** 3, logger, 4 * 1024 ** 3)).toBe(false);
    expect(warnings).toHaveLength(0);
  });
});
