// A full disk while a follower STAGES an incoming snapshot raises the NOSPACE alarm, on real
// processes: follower n2's data dir is a 20 MiB tmpfs; n2 is stopped while the leader takes ~6 MiB
// of writes and compacts its log past n2's; a filler file then leaves n2 less room than the
// snapshot, and n2 is started again. Proves that n2 does not exit, holds NOSPACE (its /status),
// and that once space returns the alarm clears, the snapshot is staged and installed, and every
// acknowledged write is readable on n2. Needs root to mount the tmpfs; skipped with a message
// otherwise. Every process is stopped by its pid.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, planTestCluster, sleep } from '../cluster/local-cluster.js';
import { bytes, RawClient, text } from './support/raw-client.js';
import { runCli } from './support/run-cli.js';
import { diskFillLimits, mountTmpfs } from './support/tmpfs.js';
import type { TmpfsMount } from './support/tmpfs.js';

const { valueBytes, waitMs } = diskFillLimits;
/** Writes while n2 is down: about 6 MiB of state, far more than the snapshot interval. */
const writes = 200;
/** What the filler leaves free on n2's 20 MiB tmpfs: less than the snapshot, enough to start. */
const fillerBytes = 16 * 1024 * 1024;

const root = mkdtempSync(join(tmpdir(), 'raftkv-nospace-snapshot-'));
let tmpfs: TmpfsMount | null = null;
let cluster: LocalCluster | null = null;
const clients: RawClient[] = [];

beforeAll(() => {
  tmpfs = mountTmpfs(join(root, 'n2'), diskFillLimits.tmpfsMiB);
});

afterAll(async () => {
  clients.forEach((c) => c.close());
  await cluster?.killAll();
  tmpfs?.unmount();
  rmSync(root, { recursive: true, force: true });
});

interface Status {
  readonly alarms: { member: string; type: string }[];
}

/** Polls n2's /status until `done` holds, at most `waitMs`. */
async function untilN2(c: LocalCluster, done: (s: Status) => boolean): Promise<boolean> {
  const end = Date.now() + waitMs;
  while (Date.now() < end) {
    const s = (await (await fetch(`http://${c.spec('n2').httpAddress}/status`)).json()) as Status;
    if (done(s)) return true;
    await sleep(200);
  }
  return false;
}

const n2Alarm = (s: Status): boolean => s.alarms.some((a) => a.member === 'n2' && a.type === 'nospace');

describe('NOSPACE while staging a snapshot', () => {
  it('raises the alarm on the receiving follower, which keeps running, and clears it once space returns', async (ctx) => {
    if (tmpfs?.mounted !== true) {
      console.log(`NOSPACE snapshot e2e skipped: ${tmpfs?.skipWhy ?? 'no mount attempted'}`);
      ctx.skip();
      return;
    }
    const c = new LocalCluster(await planTestCluster(3, root), { extraArgs: ['--snapshot-entries', '50', '--snapshot-catchup-entries', '10'] });
    cluster = c;
    await c.startAll();
    let leader = await c.waitForLeader();
    if (leader.id === 'n2') {
      const moved = await runCli(['leader', 'transfer', '--to', 'n1', '--endpoints', c.endpoints]);
      expect(moved.code, moved.stderr).toBe(0);
      leader = await c.waitForLeader(20_000, ['n1', 'n3']);
    }
    const rc = new RawClient(c.spec(leader.id).clientAddress);
    clients.push(rc);
    await c.stop('n2');
    const acked = new Map<string, string>();
    for (let i = 0; i < writes; i++) {
      const key = `snap-${i}`;
      const value = `${i}-`.padEnd(valueBytes, 'x');
      expect(await rc.failure('Put', { key: bytes(key), value: bytes(value) }, 10_000), key).toBeNull();
      acked.set(key, value);
    }
    writeFileSync(join(root, 'n2', 'filler.bin'), new Uint8Array(fillerBytes));
    c.start('n2');
    await c.waitForHttp('n2', 20_000);

    // The leader streams a snapshot (n2's log was compacted away); staging it fills the disk.
    expect(await untilN2(c, n2Alarm), 'n2 raised NOSPACE while staging the snapshot').toBe(true);
    expect(c.pid('n2')).not.toBeNull();

    rmSync(join(root, 'n2', 'filler.bin'));
    expect(await untilN2(c, (s) => !n2Alarm(s)), 'n2 cleared NOSPACE once space returned').toBe(true);
    const n2 = new RawClient(c.spec('n2').clientAddress);
    clients.push(n2);
    const end = Date.now() + waitMs;
    for (const [key, value] of acked) {
      let got = await n2.call<{ found: boolean; value: Uint8Array }>('Get', { key: bytes(key) }, 10_000).catch(() => null);
      while ((got === null || !got.found) && Date.now() < end) {
        await sleep(200);
        got = await n2.call<{ found: boolean; value: Uint8Array }>('Get', { key: bytes(key) }, 10_000).catch(() => null);
      }
      expect(got?.found, `acknowledged key ${key} on n2`).toBe(true);
      expect(text(got?.value ?? new Uint8Array(0))).toBe(value);
    }
    expect(c.pid('n2')).not.toBeNull();
  }, 180_000);
});
