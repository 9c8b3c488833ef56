// The client library's administrative calls (member add/promote/remove, leader transfer), backup
// stream, AbortSignal support and status of every member, against a real three-node cluster whose
// nodes advertise client addresses the client cannot resolve (as in docker-compose, where nodes
// advertise `n1:7001` and the host reaches them as `localhost:7001`).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePorts } from '../cluster/local-cluster.js';
import type { LocalCluster } from '../cluster/local-cluster.js';
import { verifyBackupFile } from '../src/server/index.js';
import { connect, createClient, DeadlineExceededError, OutcomeUnknownError, RaftkvError } from '../src/client/index.js';
import type { AttemptEvent, BackupChunk, ClientOptions, RaftkvClient } from '../src/client/index.js';
import { useTestCluster } from './support/test-cluster.js';

let cluster: LocalCluster;
const clients: RaftkvClient[] = [];
const scratch = mkdtempSync(join(tmpdir(), 'raftkv-cluster-ops-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** What every node advertises as its client address: a name no resolver knows. */
const advertised = (id: string): string => `${id}.invalid:7001`;

async function client(options: Partial<ClientOptions> = {}): Promise<RaftkvClient> {
  const kv = await connect({ endpoints: cluster.endpoints, ...options });
  clients.push(kv);
  return kv;
}

useTestCluster('cluster-ops', {
  nodeArgs: Object.fromEntries(['n1', 'n2', 'n3'].map((id) => [id, ['--advertise-client', advertised(id)]])),
  started: (c) => (cluster = c),
  beforeClose: () => {
    for (const kv of clients) kv.close();
  },
});

describe('addresses the cluster advertises but the client cannot reach', () => {
  it('prefers the address it was given for a node id over an advertised one when following a leader hint', async () => {
    const attempts: AttemptEvent[] = [];
    const stale = await client({ hooks: { onAttempt: (e) => attempts.push(e) } });
    await stale.put('adv/before', '1');
    const before = stale.leaderId;
    // Move leadership through another client, so `stale` still believes in the old leader.
    const admin = await client();
    const to = cluster.specs.map((s) => s.id).find((id) => id !== before) ?? '';
    expect((await admin.cluster.transferLeader({ to })).leaderId).toBe(to);
    await stale.put('adv/after', '2');
    expect((await stale.get('adv/after')).text).toBe('2');
    // The NOT_LEADER hint named the unreachable address, and the client learned it, but never sent to it.
    expect(stale.endpoints().map((e) => e.address)).toContain(advertised(to));
    expect(attempts.filter((a) => a.endpoint.endsWith('.invalid:7001'))).toEqual([]);
  });

  it('says a write was not applied (not "outcome unknown") when the only way to the leader is a name that does not resolve', async () => {
    const leader = (await cluster.waitForLeader()).id;
    const follower = cluster.specs.find((s) => s.id !== leader);
    const kv = await client({ endpoints: follower?.clientAddress ?? '', timeoutMs: 2000 });
    const outcome = await kv.put('adv/through-follower', 'v').then(
      () => 'applied',
      (e: unknown) => e,
    );
    // A follower that forwards writes applies it; one that does not leaves the client nowhere to send it.
    if (outcome !== 'applied') {
      expect(outcome).not.toBeInstanceOf(OutcomeUnknownError);
      if (outcome instanceof DeadlineExceededError) expect(outcome.outcome).toBe('not_applied');
      expect(String(outcome)).not.toMatch(/may or may not have been applied/);
    }
  });

  it('reports every member in status, reachable or not, without rows for advertised duplicates', async () => {
    const kv = await client();
    const all = await kv.cluster.status();
    expect(all.map((s) => (s.ok ? s.status.nodeId : `down ${s.endpoint}`)).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(all.every((s) => s.ok && s.status.version !== '')).toBe(true);
    const one = createClient({ endpoints: cluster.specs[0]?.clientAddress ?? '' });
    clients.push(one);
    const partial = await one.cluster.status({ timeoutMs: 2000 });
    expect(partial.filter((s) => s.ok).map((s) => s.ok && s.status.nodeId)).toEqual(['n1']);
    expect(partial.filter((s) => !s.ok).map((s) => !s.ok && s.nodeId).sort()).toEqual(['n2', 'n3']);
  });
});

describe('administrative calls', () => {
  it('adds a learner, refuses to promote it before it catches up, and removes it', async () => {
    const kv = await client();
    const [deadPort] = await freePorts(1);
    const added = await kv.cluster.addMember({ id: 'n9', peerAddress: `127.0.0.1:${deadPort}`, learner: true });
    expect(added.find((m) => m.id === 'n9')).toMatchObject({ isLearner: true, peerAddresses: [`127.0.0.1:${deadPort}`] });
    await expect(kv.cluster.addMember({ id: 'n9', peerAddress: `127.0.0.1:${deadPort}` })).rejects.toThrow(/already a member/);
    await expect(kv.cluster.promoteMember('n9', { timeoutMs: 3000 })).rejects.toBeInstanceOf(RaftkvError);
    const removed = await kv.cluster.removeMember('n9');
    expect(removed.map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3']);
    expect((await kv.cluster.members()).map((m) => m.id).sort()).toEqual(['n1', 'n2', 'n3']);
  });

  it('transfers leadership and then sends writes to the new leader', async () => {
    const kv = await client();
    const before = (await cluster.waitForLeader()).id;
    const moved = await kv.cluster.transferLeader();
    expect(moved.previousLeaderId).toBe(before);
    expect(moved.leaderId).not.toBe(before);
    expect(kv.leaderId).toBe(moved.leaderId);
    expect((await kv.put('admin/after-transfer', 'x')).nodeId).toBe(moved.leaderId);
  });

  it('streams a backup as chunks that make a valid backup file, from any node', async () => {
    const kv = await client();
    for (let i = 0; i < 20; i++) await kv.put(`backup/${i}`, `value ${i}`);
    const chunks: BackupChunk[] = [];
    for await (const chunk of kv.backup()) chunks.push(chunk);
    const info = chunks[0]?.info;
    expect(info?.keyCount).toBeGreaterThanOrEqual(20);
    expect(info?.linearizable).toBe(true);
    expect(chunks.slice(1).every((c) => c.info === null)).toBe(true);
    const file = join(scratch, 'lib.backup');
    writeFileSync(file, Buffer.concat(chunks.map((c) => c.data)));
    const verified = await verifyBackupFile(file);
    expect(verified.header.keyCount).toBe(info?.keyCount);
    // Leaving the loop early cancels the stream instead of hanging.
    for await (const chunk of kv.backup({ local: true })) {
      expect(chunk.info?.linearizable).toBe(false);
      break;
    }
  });
});

describe('AbortSignal', () => {
  it('rejects calls whose signal is already aborted, without sending them', async () => {
    const attempts: AttemptEvent[] = [];
    const kv = await client({ hooks: { onAttempt: (e) => attempts.push(e) } });
    const signal = AbortSignal.abort();
    await expect(kv.get('abort/k', { signal })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(kv.put('abort/k', 'v', { signal })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(kv.txn().then().commit({ signal })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(kv.cluster.members({ signal })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(kv.cluster.transferLeader({ signal })).rejects.toMatchObject({ name: 'AbortError' });
    await expect(kv.backup({ signal }).next()).rejects.toMatchObject({ name: 'AbortError' });
    expect(attempts).toEqual([]);
    const reason = new Error('my reason');
    await expect(kv.get('abort/k', { signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it('ends a call that waits for an unreachable node when aborted, long before its deadline', async () => {
    const [closed] = await freePorts(1);
    const kv = createClient({ endpoints: `127.0.0.1:${closed}`, timeoutMs: 50_000 });
    clients.push(kv);
    const controller = new AbortController();
    const read = kv.get('abort/k', { signal: controller.signal });
    const write = kv.put('abort/k', 'v', { signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    await expect(read).rejects.toMatchObject({ name: 'AbortError' });
    // It never reached a node, so the write is known not to be applied: the abort reason, not "outcome unknown".
    await expect(write).rejects.toMatchObject({ name: 'AbortError' });
  }, 20_000);

  it('ends a watch when its signal aborts', async () => {
    const kv = await client();
    const controller = new AbortController();
    const seen: string[] = [];
    const from = (await kv.put('abort/w-start', 'x')).revision + 1;
    const watch = kv.watch('abort/w', { signal: controller.signal, fromRevision: from });
    const done = (async () => {
      for await (const e of watch) seen.push(e.kv.text);
    })();
    await kv.put('abort/w', 'one');
    while (seen.length === 0) await new Promise((r) => setTimeout(r, 20));
    controller.abort();
    await done;
    expect(seen).toEqual(['one']);
    await expect(kv.watch('abort/w', { signal: AbortSignal.abort() })[Symbol.asyncIterator]().next()).resolves.toMatchObject({ done: true });
  });
});
