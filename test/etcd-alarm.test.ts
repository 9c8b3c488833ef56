/**
 * etcd's Maintenance/Alarm ACTIVATE and DEACTIVATE against a real three-node raftkv cluster:
 * ACTIVATE (the npm etcd3 client's raw maintenance call; etcdctl has no activate command) raises
 * the alarm through the log, so every member lists it and a CORRUPT member refuses reads;
 * etcdctl's `alarm list` shows it and `alarm disarm` clears it through raftkv's disarm path.
 * etcd's edge cases: alarm NONE, member id 0, an unknown member; auth on: root only.
 */
import { Etcd3 } from 'etcd3';
import { afterAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { memberIdOf } from '../src/server/etcd/etcd-ids.js';
import { waitForAllToKnowLeader } from './support/cluster-wait.js';
import { etcdctl, etcdctlPath, warnIfNoEtcdctl } from './support/etcdctl.js';
import { useTestCluster } from './support/test-cluster.js';

warnIfNoEtcdctl('test/etcd-alarm.test.ts');

let cluster: LocalCluster;
const ids = ['n1', 'n2', 'n3'];
const clients: Etcd3[] = [];
const all = (): string => ids.map((id) => cluster.spec(id).clientAddress).join(',');
/** An etcd3 client talking to node `id` only (so the test knows which node answers). */
const clientOf = (id: string, auth?: { username: string; password: string }): Etcd3 => {
  const c = new Etcd3({ hosts: [`http://${cluster.spec(id).clientAddress}`], dialTimeout: 5_000, ...(auth === undefined ? {} : { auth }) });
  clients.push(c);
  return c;
};
const alarmLine = (id: string, alarm: string): string => `memberID:${memberIdOf(id)} alarm:${alarm}`;
/** The alarms node `id` lists, as etcdctl prints them. */
async function alarmList(id: string): Promise<string[]> {
  const r = await etcdctl(cluster.spec(id).clientAddress, ['alarm', 'list']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '').sort();
}
/** Waits (bounded) until every node lists `expected` (followers apply the entry a little later). */
async function expectEveryNodeLists(expected: string[]): Promise<void> {
  let last: string[][] = [];
  for (let i = 0; i < 100; i++) {
    last = await Promise.all(ids.map(alarmList));
    if (last.every((l) => JSON.stringify(l) === JSON.stringify([...expected].sort()))) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  expect(last).toEqual(ids.map(() => [...expected].sort()));
}

describe.skipIf(etcdctlPath === null)('etcd Alarm ACTIVATE and DEACTIVATE', () => {
  useTestCluster('etcd-alarm', { started: (c) => (cluster = c) });
  afterAll(() => clients.forEach((c) => c.close()));

  it('ACTIVATE CORRUPT (sent to a follower) is replicated: every member lists it, the member refuses reads; etcdctl alarm disarm clears it', async () => {
    const leader = await waitForAllToKnowLeader(cluster);
    const follower = ids.find((id) => id !== leader) ?? '';
    const victim = ids.find((id) => id !== leader && id !== follower) ?? '';
    await etcdctl(all(), ['put', 'k', 'v']);
    const res = await clientOf(follower).maintenance.alarm({ action: 'Activate', memberID: memberIdOf(victim).toString(), alarm: 'Corrupt' });
    expect(res.alarms).toEqual([{ memberID: memberIdOf(victim).toString(), alarm: 'Corrupt' }]);
    await expectEveryNodeLists([alarmLine(victim, 'CORRUPT')]);
    const refused = await etcdctl(cluster.spec(victim).clientAddress, ['get', 'k', '--consistency=s']);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('etcdserver: corrupt cluster');
    // etcdctl's disarm lists the alarms and deactivates each one (clientv3's AlarmDisarm).
    const disarm = await etcdctl(all(), ['alarm', 'disarm']);
    expect(disarm.code, disarm.stderr).toBe(0);
    expect(disarm.stdout.trim()).toBe(alarmLine(victim, 'CORRUPT'));
    await expectEveryNodeLists([]);
    const read = await etcdctl(cluster.spec(victim).clientAddress, ['get', 'k', '--consistency=s', '--print-value-only']);
    expect(read.code, read.stderr).toBe(0);
    expect(read.stdout).toBe('v\n');
  });

  it("etcd's edge cases: NONE activates nothing, member 0 covers every member, DEACTIVATE of what is not held answers nothing, an unknown member is not found", async () => {
    await waitForAllToKnowLeader(cluster);
    const etcd = clientOf('n1');
    expect((await etcd.maintenance.alarm({ action: 'Activate', memberID: memberIdOf('n2').toString(), alarm: 'None' })).alarms).toEqual([]);
    await expect(etcd.maintenance.alarm({ action: 'Activate', memberID: '12345', alarm: 'Nospace' })).rejects.toThrow(/member not found/);
    await expectEveryNodeLists([]);

    const raised = await etcd.maintenance.alarm({ action: 'Activate', memberID: '0', alarm: 'Nospace' });
    expect(raised.alarms.map((a) => a.memberID).sort()).toEqual(ids.map((id) => memberIdOf(id).toString()).sort());
    await expectEveryNodeLists(ids.map((id) => alarmLine(id, 'NOSPACE')));
    // GET filters by type, as etcd's alarm store does.
    expect((await etcd.maintenance.alarm({ action: 'Get', alarm: 'Corrupt' })).alarms).toEqual([]);
    expect((await etcd.maintenance.alarm({ action: 'Get', alarm: 'Nospace' })).alarms).toHaveLength(3);

    expect((await etcd.maintenance.alarm({ action: 'Deactivate', memberID: memberIdOf('n2').toString(), alarm: 'Corrupt' })).alarms).toEqual([]);
    expect((await etcd.maintenance.alarm({ action: 'Deactivate', memberID: '12345', alarm: 'Nospace' })).alarms).toEqual([]);
    const one = await etcd.maintenance.alarm({ action: 'Deactivate', memberID: memberIdOf('n2').toString(), alarm: 'Nospace' });
    expect(one.alarms).toEqual([{ memberID: memberIdOf('n2').toString(), alarm: 'Nospace' }]);
    await expectEveryNodeLists(['n1', 'n3'].map((id) => alarmLine(id, 'NOSPACE')));
    const rest = await etcd.maintenance.alarm({ action: 'Deactivate', memberID: '0', alarm: 'None' });
    expect(rest.alarms).toHaveLength(2);
    await expectEveryNodeLists([]);
  });

  it('with auth on, only root activates or deactivates', async () => {
    await waitForAllToKnowLeader(cluster);
    for (const args of [
      ['user', 'add', 'root', '--new-user-password=rootpw'],
      ['user', 'grant-role', 'root', 'root'],
      ['user', 'add', 'alice', '--new-user-password=alicepw'],
      ['auth', 'enable'],
    ]) {
      const r = await etcdctl(all(), args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const alice = clientOf('n1', { username: 'alice', password: 'alicepw' });
    await expect(alice.maintenance.alarm({ action: 'Activate', memberID: memberIdOf('n1').toString(), alarm: 'Corrupt' })).rejects.toThrow(/permission denied/);
    await expect(alice.maintenance.alarm({ action: 'Deactivate', memberID: '0', alarm: 'None' })).rejects.toThrow(/permission denied/);
    const root = clientOf('n1', { username: 'root', password: 'rootpw' });
    const raised = await root.maintenance.alarm({ action: 'Activate', memberID: memberIdOf('n3').toString(), alarm: 'Nospace' });
    expect(raised.alarms).toEqual([{ memberID: memberIdOf('n3').toString(), alarm: 'Nospace' }]);
    const disarm = await etcdctl(all(), ['--user', 'root:rootpw', 'alarm', 'disarm']);
    expect(disarm.code, disarm.stderr).toBe(0);
    expect(disarm.stdout.trim()).toBe(alarmLine('n3', 'NOSPACE'));
  });
});
