// The NOSPACE alarm on a real process: a single node whose data dir is a 20 MiB tmpfs is filled
// with writes until its disk is full. Proves that it does not exit, that writes then get
// RESOURCE_EXHAUSTED with outcome not_applied, that STALE reads are still served, that /status,
// /readyz, the metric and `raftkv alarm list` show the alarm, and that once space returns (the
// filler file is deleted) the node clears the alarm on its own, takes writes again, and every
// acknowledged write is readable. Needs root to mount the tmpfs; skipped with a message otherwise.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, planTestCluster, sleep } from '../cluster/local-cluster.js';
import { bytes, RawClient, text } from './support/raw-client.js';
import { runCli } from './support/run-cli.js';
import { diskFillLimits, mountTmpfs } from './support/tmpfs.js';
import type { TmpfsMount } from './support/tmpfs.js';

const { fillWritesMax, valueBytes, fillerBytes, waitMs } = diskFillLimits;
/** Other failures in a row that end the fill (a node that exited answers nothing). */
const otherFailuresMax = 5;

const root = mkdtempSync(join(tmpdir(), 'raftkv-nospace-'));
const dataDir = join(root, 'n1');
let tmpfs: TmpfsMount | null = null;
let cluster: LocalCluster | null = null;
let rc: RawClient | null = null;

beforeAll(() => {
  tmpfs = mountTmpfs(dataDir, diskFillLimits.tmpfsMiB);
});

afterAll(async () => {
  rc?.close();
  await cluster?.killAll();
  tmpfs?.unmount();
  rmSync(root, { recursive: true, force: true });
});

async function status(c: LocalCluster): Promise<{ alarms: { member: string; type: string; local: boolean }[] }> {
  const res = await fetch(`http://${c.spec('n1').httpAddress}/status`);
  return (await res.json()) as { alarms: { member: string; type: string; local: boolean }[] };
}

describe('NOSPACE alarm on a full disk (20 MiB tmpfs)', () => {
  it('refuses writes, keeps serving reads, does not exit, clears once space returns, loses no acknowledged write', async (ctx) => {
    if (tmpfs?.mounted !== true) {
      console.log(`NOSPACE e2e skipped: ${tmpfs?.skipWhy ?? 'no mount attempted'}`);
      ctx.skip();
      return;
    }
    const specs = await planTestCluster(1, root);
    cluster = new LocalCluster(specs, { extraArgs: ['--snapshot-entries', '100000'] });
    await cluster.startAll();
    await cluster.waitForLeader();
    rc = new RawClient(cluster.spec('n1').clientAddress);
    const filler = join(dataDir, 'filler.bin');
    writeFileSync(filler, new Uint8Array(fillerBytes));

    const acked = new Map<string, string>();
    let refused: Awaited<ReturnType<RawClient['failure']>> = null;
    let otherFailures = 0;
    for (let i = 0; i < fillWritesMax && refused === null && otherFailures < otherFailuresMax; i++) {
      const key = `fill-${i}`;
      const value = `${i}-`.padEnd(valueBytes, 'x');
      const err = await rc.failure('Put', { key: bytes(key), value: bytes(value) }, 5_000);
      if (err === null) {
        acked.set(key, value);
        otherFailures = 0;
      } else if (err.code === grpcStatus.RESOURCE_EXHAUSTED) refused = err;
      else otherFailures++; // the write in flight when the disk filled: outcome unknown, not counted
    }
    console.log(`NOSPACE e2e: ${acked.size} writes acknowledged before the disk filled`);
    expect(refused, 'a write was refused with RESOURCE_EXHAUSTED').not.toBeNull();
    expect(refused?.details).toMatch(/NOSPACE alarm/);
    expect(refused?.trailers['raftkv-outcome']).toBe('not_applied');
    expect(acked.size).toBeGreaterThan(0);

    // The process is alive; the alarm shows everywhere; reads are served (STALE: no leader can
    // confirm a linearizable one while this single node cannot write).
    expect(cluster.pid('n1')).not.toBeNull();
    expect((await status(cluster)).alarms).toEqual([expect.objectContaining({ member: 'n1', type: 'nospace' })]);
    const ready = await fetch(`http://${cluster.spec('n1').httpAddress}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.text()).toMatch(/NOSPACE/);
    const metrics = await (await fetch(`http://${cluster.spec('n1').httpAddress}/metrics`)).text();
    expect(metrics).toContain('raftkv_alarm{type="nospace",member="n1"} 1');
    const listed = await runCli(['alarm', 'list', '--endpoints', cluster.spec('n1').clientAddress]);
    expect(listed.stdout).toMatch(/memberID:n1 alarm:NOSPACE/);
    const [firstKey, firstValue] = [...acked][0] as [string, string];
    const stale = await rc.call<{ found: boolean; value: Uint8Array }>('Get', { key: bytes(firstKey), consistency: 1 });
    expect(stale.found).toBe(true);
    expect(text(stale.value)).toBe(firstValue);
    const again = await rc.failure('Put', { key: bytes('while-full'), value: bytes('v') }, 5_000);
    expect(again?.code).toBe(grpcStatus.RESOURCE_EXHAUSTED);

    // Space returns: the node clears the alarm on its own (bounded wait) and takes writes again.
    rmSync(filler);
    const end = Date.now() + waitMs;
    while (Date.now() < end && (await status(cluster)).alarms.length > 0) await sleep(200);
    expect((await status(cluster)).alarms).toEqual([]);
    await cluster.waitForLeader();
    expect(await rc.failure('Put', { key: bytes('after'), value: bytes('space returned') }, 10_000)).toBeNull();
    for (const [key, value] of acked) {
      const got = await rc.call<{ found: boolean; value: Uint8Array }>('Get', { key: bytes(key) });
      expect(got.found, `acknowledged key ${key} survives`).toBe(true);
      expect(text(got.value)).toBe(value);
    }
    expect(cluster.pid('n1')).not.toBeNull();
  }, 120_000);
});
