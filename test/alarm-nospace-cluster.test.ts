// The NOSPACE alarm across nodes, on real processes: in a three-node cluster, follower n2's data
// dir is a 20 MiB tmpfs, filled by writes through the leader until n2's disk is full. Proves that
// n2 does not exit, reports its alarm to the leader (Integrity/ReportAlarm: n2 cannot append the
// entry itself), that the alarm is replicated (every node's /status and `raftkv alarm list` show
// NOSPACE for n2) while the other two keep taking writes, and that once space returns it clears
// on every node, n2 catches up, and every acknowledged write is readable on n2. Needs root to
// mount the tmpfs; skipped with a message otherwise. Every process is stopped by its pid.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, planTestCluster, sleep } from '../cluster/local-cluster.js';
import { bytes, RawClient, text } from './support/raw-client.js';
import { runCli } from './support/run-cli.js';
import { diskFillLimits, mountTmpfs } from './support/tmpfs.js';
import type { TmpfsMount } from './support/tmpfs.js';

const { fillWritesMax, valueBytes, fillerBytes, waitMs } = diskFillLimits;
/** How often n2 is asked whether it holds the alarm, in writes. */
const checkEveryWrites = 20;

const root = mkdtempSync(join(tmpdir(), 'raftkv-nospace-cluster-'));
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
  readonly appliedIndex?: number;
}

async function status(c: LocalCluster, id: string): Promise<Status> {
  return (await (await fetch(`http://${c.spec(id).httpAddress}/status`)).json()) as Status;
}

/** Polls until `done` holds for every node's /status, at most `waitMs`; returns the last ones. */
async function untilEvery(c: LocalCluster, done: (s: Status) => boolean): Promise<Status[]> {
  const end = Date.now() + waitMs;
  for (;;) {
    const all = await Promise.all(c.specs.map((s) => status(c, s.id)));
    if (all.every(done) || Date.now() >= end) return all;
    await sleep(200);
  }
}

const n2Alarm = (s: Status): boolean => s.alarms.some((a) => a.member === 'n2' && a.type === 'nospace');

describe('NOSPACE alarm of a follower, replicated to every node', () => {
  it('is reported to the leader, shown on every node, and cleared on every node when space returns', async (ctx) => {
    if (tmpfs?.mounted !== true) {
      console.log(`NOSPACE cluster e2e skipped: ${tmpfs?.skipWhy ?? 'no mount attempted'}`);
      ctx.skip();
      return;
    }
    const c = new LocalCluster(await planTestCluster(3, root), { extraArgs: ['--snapshot-entries', '100000'] });
    cluster = c;
    await c.startAll();
    let leader = await c.waitForLeader();
    if (leader.id === 'n2') {
      const moved = await runCli(['leader', 'transfer', '--to', 'n1', '--endpoints', c.endpoints]);
      expect(moved.code, moved.stderr).toBe(0);
      leader = await c.waitForLeader(20_000, ['n1', 'n3']);
    }
    expect(leader.id).not.toBe('n2');
    const rc = new RawClient(c.spec(leader.id).clientAddress);
    clients.push(rc);
    writeFileSync(join(root, 'n2', 'filler.bin'), new Uint8Array(fillerBytes));

    const acked = new Map<string, string>();
    let alarmed = false;
    for (let i = 0; i < fillWritesMax && !alarmed; i++) {
      const key = `fill-${i}`;
      const value = `${i}-`.padEnd(valueBytes, 'x');
      // The leader and n3 form the quorum: a write n2 cannot store is still acknowledged.
      const err = await rc.failure('Put', { key: bytes(key), value: bytes(value) }, 10_000);
      if (err === null) acked.set(key, value);
      if (i % checkEveryWrites === 0) alarmed = n2Alarm(await status(c, 'n2'));
    }
    console.log(`NOSPACE cluster e2e: ${acked.size} writes acknowledged before n2's disk filled`);
    expect(alarmed, 'n2 raised NOSPACE').toBe(true);
    expect(c.pid('n2')).not.toBeNull();

    // Replicated: every node shows n2's alarm (the leader took n2's report and proposed it).
    const raised = await untilEvery(c, n2Alarm);
    expect(raised.map(n2Alarm)).toEqual([true, true, true]);
    for (const s of c.specs) {
      const listed = await runCli(['alarm', 'list', '--endpoints', s.clientAddress]);
      expect(listed.stdout, s.id).toMatch(/memberID:n2 alarm:NOSPACE/);
    }
    // The other two still take writes.
    expect(await rc.failure('Put', { key: bytes('while-n2-full'), value: bytes('v') }, 10_000)).toBeNull();
    acked.set('while-n2-full', 'v');

    // Space returns: n2 clears its alarm, reports it, and the clear reaches every node.
    rmSync(join(root, 'n2', 'filler.bin'));
    const cleared = await untilEvery(c, (s) => s.alarms.length === 0);
    expect(cleared.map((s) => s.alarms)).toEqual([[], [], []]);
    expect(c.pid('n2')).not.toBeNull();
    const n2 = new RawClient(c.spec('n2').clientAddress);
    clients.push(n2);
    for (const [key, value] of acked) {
      const got = await n2.call<{ found: boolean; value: Uint8Array }>('Get', { key: bytes(key) }, 10_000);
      expect(got.found, `acknowledged key ${key} on n2`).toBe(true);
      expect(text(got.value)).toBe(value);
    }
  }, 180_000);
});
