// Proves TLS and peer authentication on a real three-node cluster with real certificates made by
// `raftkv certs` code: clients without a certificate from the cluster's CA are refused; on the
// peer port, a peer without a node certificate from the CA, or with one for another node than
// the `from` it sends, or for a node that is not a member, changes nothing; and each forged
// message of issue 11 (garbage command append, forged Put append, higher-term append and
// heartbeat, transfer vote, TimeoutNow, a client address in the metadata) leaves the leader,
// the term, the data, the state hashes and the leader hints exactly as they were. The CLI works
// with --cacert/--cert/--key, and a new node joins over mutual TLS with its own certificate.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, freePorts, sleep } from '../cluster/local-cluster.js';
import type { NodeStatus } from '../cluster/local-cluster.js';
import { clusterService } from '../src/api/index.js';
import { createClient } from '../src/client/index.js';
import { encodeCommand } from '../src/kv/index.js';
import type { Message } from '../src/raft/index.js';
import { createDevCerts } from '../src/tls/index.js';
import { logIndex, nodeId, term } from '../src/util/index.js';
import { RawClient } from './support/raw-client.js';
import { RawPeer, rawCredentials } from './support/raw-peer.js';
import { runCli } from './support/run-cli.js';
import type { PemFiles, RawPeerStream } from './support/raw-peer.js';
import { useTestCluster } from './support/test-cluster.js';

const root = mkdtempSync(join(tmpdir(), 'raftkv-tls-certs-'));
const certs = join(root, 'cluster-ca');
const otherCa = join(root, 'other-ca');
const ca = join(certs, 'ca.pem');
const node = (dir: string, id: string): PemFiles => ({ ca: join(dir, 'ca.pem'), cert: join(dir, `${id}.pem`), key: join(dir, `${id}-key.pem`) });
const client = (dir: string, name: string): PemFiles => ({ ca: join(dir, 'ca.pem'), cert: join(dir, `client-${name}.pem`), key: join(dir, `client-${name}-key.pem`) });

let cluster: LocalCluster;
const closers: Array<{ close(): void }> = [];

beforeAll(() => {
  // The cluster's CA with its three nodes, a node "evil" that is not a member, and a client;
  // a second CA that issued certificates with the very same names.
  createDevCerts(certs, ['n1', 'n2', 'n3', 'n4', 'evil'], { clients: ['admin'] });
  createDevCerts(otherCa, ['n1', 'n2', 'n3'], { clients: ['admin'] });
}, 60_000);

// A long election timeout: the assertions below say the leader and term did not change at all,
// which a busy machine must not falsify with a spontaneous election.
useTestCluster('tls', {
  tls: { certsDir: certs, clientCertAuth: true },
  extraArgs: ['--election-ticks', '60'],
  started: (c) => (cluster = c),
  beforeClose: () => closers.forEach((c) => c.close()),
});

let joiner: LocalCluster | null = null;
afterAll(async () => {
  await joiner?.killAll();
  rmSync(root, { recursive: true, force: true });
});

/** A Cluster/Status call with these credentials, without waiting for the channel: its status code. */
function statusCode(address: string, files: PemFiles | null, plaintext = false): Promise<grpc.status> {
  const credentials = plaintext ? grpc.credentials.createInsecure() : grpc.credentials.createSsl(...tlsArgs(files));
  const c = new grpc.Client(address, credentials);
  closers.push(c);
  const m = clusterService.Status;
  return new Promise((resolve) => {
    c.makeUnaryRequest(m.path, m.requestSerialize, m.responseDeserialize, {}, new grpc.Metadata(), { deadline: Date.now() + 5000 }, (err) => resolve(err === null ? grpc.status.OK : err.code));
  });
}

function tlsArgs(files: PemFiles | null): [Buffer | null, Buffer | null, Buffer | null] {
  const read = (p: string | undefined): Buffer | null => (p === undefined ? null : readFileSync(p));
  return [read(files?.ca), read(files?.key), read(files?.cert)];
}

/** A TLS RawClient with the admin client certificate. */
function adminRaw(address: string): RawClient {
  const r = new RawClient(address, rawCredentials(client(certs, 'admin')));
  closers.push(r);
  return r;
}

/** Every node's status, with its full state hash. */
async function statuses(): Promise<NodeStatus[]> {
  const all = await Promise.all(cluster.specs.map((s) => cluster.status(s.id, 2000, { stateHash: true })));
  return all.map((s, i) => {
    if (s === null) throw new Error(`node ${cluster.specs[i]?.id} did not answer /status`);
    return s;
  });
}

async function metric(id: string, name: string, reason: string): Promise<number> {
  const text = await (await fetch(`http://${cluster.spec(id).httpAddress}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name}{reason="${reason}"}`));
  return line === undefined ? 0 : Number(line.split(' ').at(-1));
}

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Opens a stream, sends `messages` in one batch, and waits until the node has rejected all of them (its ack says so). */
async function sendRejected(peer: RawPeer, metadata: { from: string; to: string; clientAddress?: string }, messages: readonly Message[]): Promise<RawPeerStream> {
  const s = peer.stream(metadata);
  await waitUntil(() => s.acks.length > 0, 'the stream to be accepted');
  s.send(messages);
  await waitUntil(() => s.rejected >= messages.length, `the node to reject ${messages.length} messages`);
  return s;
}

describe('TLS on the client port', () => {
  it('refuses a plaintext client, a client without a certificate, and clients of another CA; serves one with a certificate from the cluster CA', async () => {
    const address = cluster.specs[0]?.clientAddress ?? '';
    expect(await statusCode(address, null, true)).toBe(grpc.status.UNAVAILABLE);
    expect(await statusCode(address, { ca })).toBe(grpc.status.UNAVAILABLE);
    expect(await statusCode(address, { ...client(otherCa, 'admin'), ca })).toBe(grpc.status.UNAVAILABLE);
    expect(await statusCode(address, client(otherCa, 'admin'))).toBe(grpc.status.UNAVAILABLE);
    expect(await statusCode(address, client(certs, 'admin'))).toBe(grpc.status.OK);

    const tls = { ca: tlsArgs({ ca })[0] ?? '', cert: tlsArgs(client(certs, 'admin'))[2] ?? '', key: tlsArgs(client(certs, 'admin'))[1] ?? '' };
    const kv = createClient({ endpoints: cluster.specs.map((s) => `https://${s.clientAddress}`), tls, timeoutMs: 10_000 });
    try {
      await kv.put('tls-key', 'tls-value');
      expect((await kv.get('tls-key')).text).toBe('tls-value');
    } finally {
      kv.close();
    }
  });
});

describe('the CLI on a TLS cluster', () => {
  it('works with --cacert/--cert/--key or RAFTKV_CACERT/RAFTKV_CERT/RAFTKV_KEY and https:// endpoints, and fails without them', async () => {
    const admin = client(certs, 'admin');
    const endpoints = cluster.specs.map((s) => s.clientAddress).join(',');
    const put = await runCli(['put', 'cli-key', 'cli-value', '--endpoints', endpoints, '--cacert', ca, '--cert', admin.cert ?? '', '--key', admin.key ?? '']);
    expect(put.code, put.stderr).toBe(0);
    const https = cluster.specs.map((s) => `https://${s.clientAddress}`).join(',');
    const get = await runCli(['get', 'cli-key'], { env: { RAFTKV_ENDPOINTS: https, RAFTKV_CACERT: ca, RAFTKV_CERT: admin.cert, RAFTKV_KEY: admin.key } });
    expect({ code: get.code, out: get.stdout.trim(), err: get.stderr }).toEqual({ code: 0, out: 'cli-value', err: '' });
    const plain = await runCli(['get', 'cli-key', '--endpoints', endpoints, '--timeout', '2s'], { env: { RAFTKV_CACERT: undefined, RAFTKV_CERT: undefined, RAFTKV_KEY: undefined } });
    expect(plain.code).toBe(3);
    const noCert = await runCli(['get', 'cli-key', '--endpoints', endpoints, '--cacert', ca, '--timeout', '2s'], { env: { RAFTKV_CERT: undefined, RAFTKV_KEY: undefined } });
    expect(noCert.code).toBe(3);
  });
});

describe('mutual TLS on the peer port', () => {
  it('refuses peers without a node certificate from the cluster CA, and certificates for another node than the from they send', async () => {
    const leader = await cluster.waitForLeader();
    const follower = cluster.specs.find((s) => s.id !== leader.id);
    if (!follower) throw new Error('no follower');
    const before = await metric(follower.id, 'raftkv_peer_rejected_total', 'identityMismatch');
    const unauthenticatedBefore = await metric(follower.id, 'raftkv_peer_rejected_total', 'unauthenticated');
    const meta = { from: leader.id, to: follower.id };
    const open = (files: PemFiles | null): RawPeerStream => {
      const p = new RawPeer(follower.peerAddress, files);
      closers.push(p);
      return p.stream(meta);
    };
    // The TLS handshake fails: plaintext, TLS without a client certificate, the leader's id from another CA.
    expect((await open(null).ended).code).toBe(grpc.status.UNAVAILABLE);
    expect((await open({ ca }).ended).code).toBe(grpc.status.UNAVAILABLE);
    expect((await open({ ...node(otherCa, leader.id), ca }).ended).code).toBe(grpc.status.UNAVAILABLE);
    // The handshake succeeds but the identity does not fit: refused before any message is read.
    const clientCert = await open(client(certs, 'admin')).ended;
    expect(clientCert.code).toBe(grpc.status.PERMISSION_DENIED);
    const evil = await open(node(certs, 'evil')).ended;
    expect(evil).toMatchObject({ code: grpc.status.PERMISSION_DENIED });
    expect(evil.details).toContain('the certificate names node "evil"');
    const third = cluster.specs.find((s) => s.id !== leader.id && s.id !== follower.id)?.id ?? '';
    expect((await open(node(certs, third)).ended).code).toBe(grpc.status.PERMISSION_DENIED);
    expect(await metric(follower.id, 'raftkv_peer_rejected_total', 'identityMismatch')).toBe(before + 2);
    expect(await metric(follower.id, 'raftkv_peer_rejected_total', 'unauthenticated')).toBe(unauthenticatedBefore + 1);
  });

  it('each forged message of issue 11 changes nothing: garbage and forged appends, higher terms, transfer vote, TimeoutNow, client-address metadata', async () => {
    const leaderStatus = await cluster.waitForLeader();
    const leader = { ...cluster.spec(leaderStatus.id), term: leaderStatus.term };
    const [follower, other] = cluster.specs.filter((s) => s.id !== leader.id);
    if (!follower || !other) throw new Error('no followers');
    const leaderRaw = adminRaw(leader.clientAddress);
    await leaderRaw.call('Put', { key: Buffer.from('guard'), value: Buffer.from('original') });
    const before = await statuses();
    const f = before.find((s) => s.id === follower.id) as NodeStatus;
    const lastIndex = Number(f['lastIndex']);
    const t = leader.term;
    const L = nodeId(leader.id);
    const F = nodeId(follower.id);
    const O = nodeId(other.id);
    const put = encodeCommand({ clientId: 'forger', seq: 1, ackSeq: 0, timeMs: Date.now(), op: { type: 'put', key: Buffer.from('guard'), value: Buffer.from('forged') } });
    const append = (from: string, termNow: number, data: Uint8Array): Message => ({
      type: 'append',
      from: nodeId(from),
      to: F,
      term: term(termNow),
      prevLogIndex: logIndex(lastIndex),
      prevLogTerm: term(t),
      entries: [{ term: term(termNow), index: logIndex(lastIndex + 1), type: 'normal', data }],
      commit: logIndex(lastIndex + 1),
    });
    // What issue 11 sent, each as the leader (or a member) would.
    const forgedToFollower: Message[] = [
      append(L, t, randomBytes(64)),
      append(L, t, put),
      append('evil', t + 10, put),
      { type: 'heartbeat', from: nodeId('evil'), to: F, term: term(t + 100), commit: logIndex(lastIndex), context: '' },
      { type: 'heartbeat', from: L, to: F, term: term(t + 100), commit: logIndex(lastIndex), context: '' },
      { type: 'timeoutNow', from: L, to: F, term: term(t) },
    ];
    const forgedToLeader: Message[] = [
      { type: 'vote', from: F, to: L, term: term(t + 1), lastLogIndex: logIndex(lastIndex + 100), lastLogTerm: term(t), transfer: true },
      { type: 'vote', from: nodeId('evil'), to: L, term: term(t + 1), lastLogIndex: logIndex(lastIndex + 100), lastLogTerm: term(t), transfer: true },
    ];
    const spoof = '127.0.0.1:37666';
    // 1. "evil", a node certificate from the cluster CA but not a member, as itself: every message dropped (notMember or forgedSender).
    const evilAtFollower = new RawPeer(follower.peerAddress, node(certs, 'evil'));
    const evilAtLeader = new RawPeer(leader.peerAddress, node(certs, 'evil'));
    closers.push(evilAtFollower, evilAtLeader);
    await sendRejected(evilAtFollower, { from: 'evil', to: F, clientAddress: spoof }, forgedToFollower);
    await sendRejected(evilAtLeader, { from: 'evil', to: L, clientAddress: spoof }, forgedToLeader);
    // 2. A genuine member's certificate (the other follower), on its own stream, speaking for the leader or the target follower: forgedSender.
    const memberAtFollower = new RawPeer(follower.peerAddress, node(certs, other.id));
    const memberAtLeader = new RawPeer(leader.peerAddress, node(certs, other.id));
    closers.push(memberAtFollower, memberAtLeader);
    await sendRejected(memberAtFollower, { from: O, to: F }, forgedToFollower);
    await sendRejected(memberAtLeader, { from: O, to: L }, forgedToLeader.filter((m) => m.from !== O));
    // 3. Streams claiming to be the leader, announcing a client address of the attacker's choice: refused before the metadata is read.
    for (const files of [node(certs, 'evil'), node(certs, other.id), client(certs, 'admin')]) {
      const p = new RawPeer(follower.peerAddress, files);
      closers.push(p);
      expect((await p.stream({ from: leader.id, to: F, clientAddress: spoof }).ended).code).toBe(grpc.status.PERMISSION_DENIED);
    }
    // 4. Forged snapshots: from a non-member, and from a member's stream claiming to be the leader.
    const header = { type: 'snapshot' as const, from: nodeId('evil'), to: F, term: term(t + 10), snapshot: { metadata: { index: logIndex(lastIndex + 1000), term: term(t + 10), conf: { voters: [nodeId('evil')], learners: [] } }, data: new Uint8Array(0) } };
    const chunk = { header, offset: 0, data: new Uint8Array(0), last: true, totalBytes: 0, sha256: new Uint8Array(0) };
    expect((await evilAtFollower.sendSnapshot('evil', [chunk])).code).not.toBe(grpc.status.OK);
    expect((await memberAtFollower.sendSnapshot(O, [{ ...chunk, header: { ...header, from: L } }])).code).not.toBe(grpc.status.OK);

    // Nothing changed: same leader, same term everywhere, no node jumped terms, the data as written.
    await leaderRaw.call('Put', { key: Buffer.from('after'), value: Buffer.from('attack') });
    await waitUntil(async () => new Set((await statuses()).map((s) => `${s.applied}/${String(s['stateHash'])}`)).size === 1 && (await statuses()).every((s) => typeof s['stateHash'] === 'string'), 'every node at the same applied index and state hash');
    const after = await statuses();
    for (const s of after) {
      expect({ id: s.id, leader: s.leader, term: s.term }).toEqual({ id: s.id, leader: leader.id, term: t });
      expect(s.role).toBe(s.id === leader.id ? 'leader' : 'follower');
    }
    for (const s of cluster.specs) {
      const r = adminRaw(s.clientAddress);
      const got = await r.call<{ found: boolean; value: Uint8Array }>('Get', { key: Buffer.from('guard') });
      expect({ found: got.found, value: Buffer.from(got.value).toString() }).toEqual({ found: true, value: 'original' });
    }
    // Leader hints and the member list still point at the real leader's address.
    const followerRaw = adminRaw(follower.clientAddress);
    const notLeader = await followerRaw.failure('Put', { key: Buffer.from('x'), value: Buffer.from('y') }, 5000, { 'raftkv-forward': 'never' });
    expect(notLeader?.trailers['raftkv-leader-address']).toBe(leader.clientAddress);
    // A write forwarded by a follower crosses the peer port with the follower's own certificate.
    const forwarded = await followerRaw.call<{ header: { nodeId: string } }>('Put', { key: Buffer.from('forwarded'), value: Buffer.from('over mtls') });
    expect(forwarded.header.nodeId).toBe(leader.id);
    for (const s of cluster.specs) {
      const members = await adminRaw(s.clientAddress).call<{ members: { id: string; clientAddress: string }[] }>('MemberList', {});
      expect(members.members.map((m) => m.clientAddress).sort()).toEqual(cluster.specs.map((x) => x.clientAddress).sort());
      expect(members.members.map((m) => m.id).sort()).toEqual(cluster.specs.map((x) => x.id).sort());
    }
    // And the drops were counted where they happened.
    expect(await metric(follower.id, 'raftkv_peer_rejected_total', 'notMember')).toBeGreaterThan(0);
    expect(await metric(follower.id, 'raftkv_peer_rejected_total', 'forgedSender')).toBeGreaterThan(0);
    expect(await metric(leader.id, 'raftkv_peer_rejected_total', 'forgedSender')).toBeGreaterThan(0);
    expect(cluster.running()).toHaveLength(3);
  });
});

describe('membership over mutual TLS', () => {
  it('adds a node that joins with its own certificate: it catches up and is promoted', async () => {
    const [client4, peer4, http4] = await freePorts(3);
    const spec = { id: 'n4', clientAddress: `127.0.0.1:${client4}`, peerAddress: `127.0.0.1:${peer4}`, httpAddress: `127.0.0.1:${http4}`, dataDir: join(root, 'n4') };
    joiner = new LocalCluster([spec], { tls: { certsDir: certs, clientCertAuth: true }, initialClusterFor: { n4: `${cluster.initialCluster},n4=${spec.peerAddress}` } });
    joiner.start('n4', ['--join']);
    await joiner.waitForHttp('n4', 20_000);
    const admin = client(certs, 'admin');
    const tlsFlags = ['--cacert', ca, '--cert', admin.cert ?? '', '--key', admin.key ?? ''];
    const added = await runCli(['member', 'add', 'n4', spec.peerAddress, '--wait', '60s', '--endpoints', cluster.endpoints, ...tlsFlags], { timeoutMs: 90_000 });
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toContain('added n4 as a learner; it is now a voter');
    await runCli(['put', 'after-join', 'yes', '--endpoints', cluster.endpoints, ...tlsFlags]);
    const got = await runCli(['get', 'after-join', '--endpoints', spec.clientAddress, ...tlsFlags]);
    expect({ code: got.code, out: got.stdout.trim() }).toEqual({ code: 0, out: 'yes' });
  }, 120_000);
});
