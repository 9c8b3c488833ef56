/**
 * etcdctl 3.4 (Debian's etcd-client, which CI installs) against a real three-node raftkv
 * cluster, through etcd's v3 API on the client port: each command's exit code and output, as an
 * etcd user would run it. Without etcdctl the file is skipped, and says so.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { runCli } from './support/run-cli.js';
import { etcdctl, etcdctlPath, warnIfNoEtcdctl } from './support/etcdctl.js';
import { waitForAllToKnowLeader } from './support/cluster-wait.js';
import { useTestCluster } from './support/test-cluster.js';

warnIfNoEtcdctl('test/etcd-etcdctl.test.ts');

let cluster: LocalCluster;
let dir = '';
const ids = ['n1', 'n2', 'n3'];
const endpoint = (id: string): string => cluster.spec(id).clientAddress;
const all = (): string => ids.map(endpoint).join(',');

/** `endpoint status` rows: endpoint, member id (hex), leader or not. */
async function statusRows(): Promise<{ endpoint: string; id: string; isLeader: boolean; version: string; term: string }[]> {
  const r = await etcdctl(all(), ['endpoint', 'status']);
  expect(r.code, r.stderr).toBe(0);
  return r.stdout
    .trim()
    .split('\n')
    .map((line) => line.split(', '))
    .map((f) => ({ endpoint: f[0] ?? '', id: f[1] ?? '', version: f[2] ?? '', isLeader: f[4] === 'true', term: f[6] ?? '' }));
}

describe.skipIf(etcdctlPath === null)('etcdctl 3.4 against raftkv', () => {
  useTestCluster('etcdctl', {
    started: (c) => {
      cluster = c;
      dir = mkdtempSync(join(tmpdir(), 'raftkv-etcdctl-'));
    },
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('put, get (prefix, keys-only, limit, sort, json), del, on any node', async () => {
    // Each node is asked in turn: a follower that does not know the leader yet answers "no leader".
    await waitForAllToKnowLeader(cluster);
    for (const [i, id] of ids.entries()) {
      // A follower forwards the write to the leader: etcd clients never follow raftkv's hint.
      const put = await etcdctl(endpoint(id), ['put', `fruit/${['b', 'a', 'c'][i]}`, `v${i}`]);
      expect(put.code, put.stderr).toBe(0);
      expect(put.stdout.trim()).toBe('OK');
    }
    const get = await etcdctl(all(), ['get', 'fruit/a']);
    expect(get.stdout).toBe('fruit/a\nv1\n');
    const prefix = await etcdctl(all(), ['get', 'fruit/', '--prefix', '--keys-only']);
    expect(prefix.stdout.split('\n').filter((l) => l !== '')).toEqual(['fruit/a', 'fruit/b', 'fruit/c']);
    const limited = await etcdctl(all(), ['get', 'fruit/', '--prefix', '--limit=2', '-w', 'json']);
    const json = JSON.parse(limited.stdout) as { kvs: unknown[]; more: boolean; count: number; header: { revision: number } };
    expect(json.kvs).toHaveLength(2);
    expect(json.more).toBe(true);
    expect(json.count).toBe(3);
    expect(json.header.revision).toBeGreaterThanOrEqual(3);
    const sorted = await etcdctl(all(), ['get', 'fruit/', '--prefix', '--sort-by=VALUE', '--order=DESCEND', '--print-value-only']);
    expect(sorted.stdout.split('\n').filter((l) => l !== '')).toEqual(['v2', 'v1', 'v0']);
    const fromKey = await etcdctl(all(), ['get', 'fruit/b', '--from-key', '--keys-only']);
    expect(fromKey.stdout.split('\n').filter((l) => l !== '')).toEqual(['fruit/b', 'fruit/c']);
    const serializable = await etcdctl(endpoint('n2'), ['get', 'fruit/a', '--consistency=s', '--print-value-only']);
    expect(serializable.code).toBe(0);
    const del = await etcdctl(endpoint('n3'), ['del', 'fruit/', '--prefix', '--prev-kv']);
    expect(del.code, del.stderr).toBe(0);
    expect(del.stdout.split('\n')[0]).toBe('3');
    expect(del.stdout).toContain('fruit/b\nv0\n');
    const gone = await etcdctl(all(), ['get', 'fruit/', '--prefix', '-w', 'json']);
    expect(JSON.parse(gone.stdout)).not.toHaveProperty('kvs');
  });

  it('an old revision is compacted, a future one refused (no MVCC history)', async () => {
    await etcdctl(all(), ['put', 'rev', '1']);
    await etcdctl(all(), ['put', 'rev', '2']);
    const old = await etcdctl(all(), ['get', 'rev', '--rev=1']);
    expect(old.code).not.toBe(0);
    expect(old.stderr).toContain('etcdserver: mvcc: required revision has been compacted');
    const future = await etcdctl(all(), ['get', 'rev', '--rev=1000000']);
    expect(future.code).not.toBe(0);
    expect(future.stderr).toContain('etcdserver: mvcc: required revision is a future revision');
    const compact = await etcdctl(all(), ['compact', '1']);
    expect(compact.code, compact.stderr).toBe(0);
    expect(compact.stdout).toContain('compacted revision 1');
  });

  it('txn from interactive input takes the branch its compares choose', async () => {
    await etcdctl(all(), ['put', 'txn/k', 'yes']);
    const input = (value: string): string => `value("txn/k") = "${value}"\n\nput txn/then t\n\nput txn/else e\n\n`;
    const taken = await etcdctl(endpoint('n2'), ['txn'], { input: input('yes') });
    expect(taken.code, taken.stderr).toBe(0);
    expect(taken.stdout).toBe('SUCCESS\n\nOK\n');
    const other = await etcdctl(endpoint('n3'), ['txn', '-w', 'json'], { input: input('no') });
    expect(other.code, other.stderr).toBe(0);
    expect((JSON.parse(other.stdout) as { succeeded?: boolean }).succeeded ?? false).toBe(false);
    const keys = await etcdctl(all(), ['get', 'txn/', '--prefix']);
    expect(keys.stdout).toBe('txn/else\ne\ntxn/k\nyes\ntxn/then\nt\n');
    // A version compare on a missing key (version 0), and an update in the same txn.
    const create = await etcdctl(all(), ['txn'], { input: 'version("txn/new") = "0"\n\nput txn/new created\n\n\n' });
    expect(create.stdout).toBe('SUCCESS\n\nOK\n');
  });

  it('watch delivers puts and deletes from a revision (bounded, in the background, stopped by pid)', async () => {
    const head = JSON.parse((await etcdctl(all(), ['get', 'none', '-w', 'json'])).stdout) as { header: { revision: number } };
    // Starting at the next revision makes the watch see the writes below however late it connects.
    const child = spawn(etcdctlPath ?? 'etcdctl', [`--endpoints=${endpoint('n2')}`, 'watch', 'w/', '--prefix', `--rev=${head.header.revision + 1}`, '--prev-kv'], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    try {
      await etcdctl(all(), ['put', 'w/a', '1']);
      await etcdctl(all(), ['put', 'w/a', '2']);
      await etcdctl(all(), ['del', 'w/a']);
      await etcdctl(all(), ['put', 'other', 'x']);
      for (let i = 0; i < 200 && !out.includes('DELETE'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(out).toBe('PUT\nw/a\n1\nPUT\nw/a\n1\nw/a\n2\nDELETE\nw/a\n2\nw/a\n\n');
    } finally {
      if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    }
  });

  it('member list, endpoint status, endpoint health, endpoint hashkv', async () => {
    const members = await etcdctl(all(), ['member', 'list']);
    expect(members.code, members.stderr).toBe(0);
    const rows = members.stdout.trim().split('\n').map((l) => l.split(', '));
    expect(rows.map((r) => r[2]).sort()).toEqual(ids);
    for (const r of rows) {
      expect(r[0]).toMatch(/^[0-9a-f]{1,16}$/);
      expect(r[1]).toBe('started');
      expect(r[4]).toBe(`http://${endpoint(r[2] ?? '')}`);
      expect(r[5]).toBe('false');
    }
    const status = await statusRows();
    expect(status).toHaveLength(3);
    expect(status.filter((s) => s.isLeader)).toHaveLength(1);
    expect(new Set(status.map((s) => s.term)).size).toBe(1);
    expect(status.every((s) => s.version.startsWith('3.4.0-raftkv.'))).toBe(true);
    // The member ids of `member list` and `endpoint status` are the same mapping.
    expect(status.map((s) => s.id).sort()).toEqual(rows.map((r) => r[0]).sort());
    const health = await etcdctl(all(), ['endpoint', 'health']);
    expect(health.code, health.stderr).toBe(0);
    expect(health.stderr.match(/is healthy/g) ?? health.stdout.match(/is healthy/g)).toHaveLength(3);
    // Replicas that applied the same commands have the same hash (poll until all applied the last write).
    await etcdctl(all(), ['put', 'hash', 'me']);
    let hashes: string[] = [];
    for (let i = 0; i < 50; i++) {
      const r = await etcdctl(all(), ['endpoint', 'hashkv']);
      expect(r.code, r.stderr).toBe(0);
      hashes = r.stdout.trim().split('\n').map((l) => l.split(', ')[1] ?? '');
      if (hashes.length === 3 && new Set(hashes).size === 1) break;
      await new Promise((res) => setTimeout(res, 100));
    }
    expect(hashes).toHaveLength(3);
    expect(new Set(hashes).size).toBe(1);
  });

  it('move-leader hands leadership to the member named', async () => {
    const before = await statusRows();
    const leader = before.find((s) => s.isLeader);
    const target = before.find((s) => !s.isLeader);
    if (leader === undefined || target === undefined) throw new Error(`no leader and follower in ${JSON.stringify(before)}`);
    const moved = await etcdctl(leader.endpoint, ['move-leader', target.id]);
    expect(moved.code, moved.stderr).toBe(0);
    expect(moved.stdout).toContain(`Leadership transferred from ${leader.id} to ${target.id}`);
    const after = await statusRows();
    expect(after.find((s) => s.isLeader)?.id).toBe(target.id);
    // etcdctl sends MoveLeader to the leader only: it finds it from Status, so this one refuses.
    const refused = await etcdctl(leader.endpoint, ['move-leader', target.id]);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('no leader endpoint given');
  });

  it('snapshot save writes a file etcdctl accepts and raftkv verifies as a backup', async () => {
    await etcdctl(all(), ['put', 'snap', 'shot']);
    const file = join(dir, 'snap.db');
    const saved = await etcdctl(endpoint('n1'), ['snapshot', 'save', file]);
    expect(saved.code, saved.stderr).toBe(0);
    expect(saved.stdout).toContain(`Snapshot saved at ${file}`);
    expect(existsSync(file)).toBe(true);
    expect(statSync(file).size % 512).toBe(32);
    const verified = await runCli(['backup', 'verify', file]);
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toMatch(/verified\s+ok/);
  });

  it('alarm list is empty on a healthy cluster', async () => {
    const alarms = await etcdctl(all(), ['alarm', 'list']);
    expect(alarms.code, alarms.stderr).toBe(0);
    expect(alarms.stdout).toBe('');
  });

  it('lease grant, put --lease, timetolive, keep-alive --once, list, revoke (on a follower: passed on to the leader)', async () => {
    const leader = (await statusRows()).find((s) => s.isLeader);
    const follower = (await statusRows()).find((s) => !s.isLeader)?.endpoint ?? '';
    expect(leader).toBeDefined();
    const grant = await etcdctl(follower, ['lease', 'grant', '60']);
    expect(grant.code, grant.stderr).toBe(0);
    const id = /^lease ([0-9a-f]+) granted with TTL\(60s\)$/.exec(grant.stdout.trim())?.[1] ?? '';
    expect(id).not.toBe('');
    expect((await etcdctl(follower, ['put', 'leased/a', 'v', `--lease=${id}`])).stdout).toBe('OK\n');
    const json = JSON.parse((await etcdctl(all(), ['get', 'leased/a', '-w', 'json'])).stdout) as { kvs: { lease: number }[] };
    expect(json.kvs[0]?.lease).toBe(Number.parseInt(id, 16));
    const ttl = await etcdctl(follower, ['lease', 'timetolive', id, '--keys']);
    expect(ttl.code, ttl.stderr).toBe(0);
    expect(ttl.stdout).toMatch(new RegExp(`^lease ${id} granted with TTL\\(60s\\), remaining\\(\\d+s\\), attached keys\\(\\[leased/a\\]\\)`));
    const keep = await etcdctl(follower, ['lease', 'keep-alive', '--once', id]);
    expect(keep.code, keep.stderr).toBe(0);
    expect(keep.stdout).toBe(`lease ${id} keepalived with TTL(60)\n`);
    expect((await etcdctl(all(), ['lease', 'list'])).stdout).toContain(id);
    const revoke = await etcdctl(follower, ['lease', 'revoke', id]);
    expect(revoke.stdout).toBe(`lease ${id} revoked\n`);
    expect((await etcdctl(all(), ['get', 'leased/a'])).stdout).toBe('');
    expect((await etcdctl(all(), ['lease', 'timetolive', id])).stdout).toBe(`lease ${id} already expired\n`);
    const unknown = await etcdctl(all(), ['put', 'leased/b', 'v', '--lease=1234567']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain('etcdserver: requested lease not found');
  });
});
