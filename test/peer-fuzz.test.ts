// Property tests (fast-check) of a node's PEER port under hostile input, on a real three-node
// cluster with mutual TLS (issue 11, "Done when": random and malformed requests to the peer
// service). Every service the peer port hosts is fuzzed: RaftPeer.Stream (message batches),
// RaftPeer.SendSnapshot (chunks), ForwardedKV (forwarded writes), Integrity (digests, alarm
// reports) and the forwarded leader-only etcd calls (from "evil" only: an empty or unknown-field
// body is a well-formed etcd request, which a member may send). Two attackers:
// - "evil", with a node certificate from the cluster's own CA but not a member: any message or
//   body, well-formed or not, is refused;
// - a genuine member's certificate (another follower), whose well-formed messages Raft must trust
//   (Raft does not tolerate a Byzantine member): it sends what no member would, namely messages
//   that claim another sender, and batches, messages, chunks and bodies that do not decode, even
//   when valid messages precede the garbage in the same batch.
// After all runs: the same leader and term on every node, the same applied index and state hash,
// the data as written, all three processes up, and the refusals counted.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from '../cluster/local-cluster.js';
import type { LocalCluster, NodeStatus } from '../cluster/local-cluster.js';
import type { Message, Snapshot } from '../src/raft/index.js';
import { forwardedEtcdPath, leaderOnlyEtcdMethods } from '../src/server/etcd/index.js';
import { createDevCerts } from '../src/tls/index.js';
import { encodeBatch, encodeMessage, encodeSnapshotChunk, peerMetadataKeys } from '../src/transport/index.js';
import { logIndex, nodeId, term } from '../src/util/index.js';
import type { NodeId } from '../src/util/index.js';
import { poison, poisoned } from './support/poison.js';
import { bytesArb, indexArb, messageArb, termArb } from './support/raft-arbitraries.js';
import { RawClient } from './support/raw-client.js';
import { RawPeer, rawCredentials } from './support/raw-peer.js';
import type { PemFiles } from './support/raw-peer.js';
import { useTestCluster } from './support/test-cluster.js';

const root = mkdtempSync(join(tmpdir(), 'raftkv-peer-fuzz-certs-'));
const node = (id: string): PemFiles => ({ ca: join(root, 'ca.pem'), cert: join(root, `${id}.pem`), key: join(root, `${id}-key.pem`) });
const admin: PemFiles = { ca: join(root, 'ca.pem'), cert: join(root, 'client-admin.pem'), key: join(root, 'client-admin-key.pem') };

let cluster: LocalCluster;
const closers: Array<{ close(): void }> = [];

beforeAll(() => {
  createDevCerts(root, ['n1', 'n2', 'n3', 'evil'], { clients: ['admin'] });
}, 60_000);

// A long election timeout: the final check says the leader and term did not change at all, which
// a busy machine must not falsify with a spontaneous election.
useTestCluster('peer-fuzz', {
  tls: { certsDir: root, clientCertAuth: true },
  extraArgs: ['--election-ticks', '60'],
  started: (c) => (cluster = c),
  beforeClose: () => closers.forEach((c) => c.close()),
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

const concat = (...parts: Uint8Array[]): Buffer => Buffer.concat(parts.map((p) => Buffer.from(p)));

const ids = fc.oneof(fc.constantFrom('n1', 'n2', 'n3', 'evil'), fc.string({ minLength: 1, maxLength: 8 })).map(nodeId);
const messages = (senders: fc.Arbitrary<NodeId>, targets: fc.Arbitrary<NodeId>): fc.Arbitrary<Message> => messageArb(senders, targets, ids);

/** Unary calls of the peer port, with one well-formed body each (a write, a digest, an alarm). */
const unaryPaths = [
  '/raftkv.raft.v1.ForwardedKV/Put',
  '/raftkv.raft.v1.ForwardedKV/Delete',
  '/raftkv.raft.v1.ForwardedKV/Txn',
  '/raftkv.raft.v1.ForwardedKV/LeaseGrant',
  '/raftkv.raft.v1.ForwardedKV/LeaseRevoke',
  '/raftkv.raft.v1.Integrity/Digest',
  '/raftkv.raft.v1.Integrity/ReportAlarm',
] as const;

/** The leader-only etcd calls a follower passes on, under their peer-port paths. */
const forwardedEtcdPaths = leaderOnlyEtcdMethods.map((m) => forwardedEtcdPath(m.path));

/** A unary call on the peer port with raw bytes: its status code and details. */
function unary(client: grpc.Client, path: string, from: string, body: Buffer): Promise<{ code: grpc.status; details: string }> {
  const md = new grpc.Metadata();
  md.set(peerMetadataKeys.from, from);
  return new Promise((resolve) => {
    client.makeUnaryRequest(path, (x: Buffer) => x, (x: Buffer) => x, body, md, { deadline: Date.now() + 5_000 }, (err) =>
      resolve(err === null ? { code: grpc.status.OK, details: '' } : { code: err.code, details: err.details }),
    );
  });
}

function peerClient(address: string, files: PemFiles): grpc.Client {
  const c = new grpc.Client(address, rawCredentials(files), { 'grpc.ssl_target_name_override': 'raftkv' });
  closers.push(c);
  return c;
}

function rawPeer(address: string, files: PemFiles): RawPeer {
  const p = new RawPeer(address, files);
  closers.push(p);
  return p;
}

/** Every node's status, with its full state hash. */
async function statuses(): Promise<NodeStatus[]> {
  const all = await Promise.all(cluster.specs.map((s) => cluster.status(s.id, 2000, { stateHash: true })));
  return all.map((s, i) => {
    if (s === null) throw new Error(`node ${cluster.specs[i]?.id} did not answer /status`);
    return s;
  });
}

async function rejectedTotal(id: string): Promise<number> {
  const text = await (await fetch(`http://${cluster.spec(id).httpAddress}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith('raftkv_peer_rejected_total{') || l.startsWith('raftkv_peer_messages_dropped_total{')).reduce((sum, l) => sum + Number(l.split(' ').at(-1)), 0);
}

async function waitUntil(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('random and malformed input to every service of the peer port', () => {
  it('changes nothing: same leader and term, same state everywhere, every node up, refusals counted', async () => {
    const leaderStatus = await cluster.waitForLeader();
    const L = nodeId(leaderStatus.id);
    const t0 = leaderStatus.term;
    const [follower, other] = cluster.specs.filter((s) => s.id !== leaderStatus.id);
    if (!follower || !other) throw new Error('no followers');
    const F = nodeId(follower.id);
    const O = nodeId(other.id);
    const kv = new RawClient(cluster.spec(L).clientAddress, rawCredentials(admin));
    closers.push(kv);
    await kv.call('Put', { key: Buffer.from('guard'), value: Buffer.from('original') });
    const rejectedBefore = await rejectedTotal(follower.id);
    const targets = [cluster.spec(L), follower];
    const target = fc.constantFrom(...targets.map((s) => nodeId(s.id)));

    // 1. "evil" (cluster CA, not a member), as itself, on every node: any well-formed message from any sender.
    const evilStreams = new Map(targets.map((s) => [s.id, rawPeer(s.peerAddress, node('evil')).stream({ from: 'evil', to: s.id })]));
    await fc.assert(
      fc.asyncProperty(fc.array(messages(fc.constantFrom(L, F, O, nodeId('evil')), target), { minLength: 1, maxLength: 4 }), async (batch) => {
        const to = batch[0]?.to as string;
        const stream = evilStreams.get(to);
        if (stream === undefined) throw new Error(`no stream to ${to}`);
        const before = stream.rejected;
        stream.send(batch.map((m) => ({ ...m, to: nodeId(to) })));
        await waitUntil(() => stream.rejected >= before + batch.length, `${to} to refuse ${batch.length} messages from "evil"`);
      }),
      { numRuns: 60, seed: 11_01 },
    );

    // 2. A member's certificate (the other follower) on its own stream, speaking for anyone else.
    const memberStreams = new Map(targets.map((s) => [s.id, rawPeer(s.peerAddress, node(O)).stream({ from: O, to: s.id })]));
    await fc.assert(
      fc.asyncProperty(fc.array(messages(fc.constantFrom(L, F, nodeId('evil'), nodeId('n9')), target), { minLength: 1, maxLength: 4 }), async (batch) => {
        const to = batch[0]?.to as string;
        const stream = memberStreams.get(to) as NonNullable<ReturnType<typeof memberStreams.get>>;
        const sent = batch.map((m) => ({ ...m, to: nodeId(to) })).filter((m) => m.from !== to);
        if (sent.length === 0) return;
        const before = stream.rejected;
        stream.send(sent);
        await waitUntil(() => stream.rejected >= before + sent.length, `${to} to refuse ${sent.length} forged-sender messages`);
      }),
      { numRuns: 60, seed: 11_02 },
    );

    // 3. The member's own messages, made undecodable: poisoned messages in a batch, and valid
    //    messages (a vote at term + 1000, a TimeoutNow: each would depose the leader) followed by
    //    garbage in the same frame. A frame that does not decode delivers none of its messages.
    const forgedButValid = (to: NodeId): Message[] => [
      { type: 'vote', from: O, to, term: term(t0 + 1000), lastLogIndex: logIndex(10 ** 9), lastLogTerm: term(t0 + 999), transfer: true },
      { type: 'timeoutNow', from: O, to, term: term(t0) },
    ];
    await fc.assert(
      fc.asyncProperty(target, messages(fc.constant(O), target), fc.nat(), fc.constantFrom(...poison), fc.boolean(), async (to, m, cut, tail, wholeFrame) => {
        const stream = memberStreams.get(to) as NonNullable<ReturnType<typeof memberStreams.get>>;
        const before = stream.rejected;
        if (wholeFrame) {
          const valid = encodeBatch([...forgedButValid(to), { ...m, to }].map((x) => encodeMessage(x)));
          stream.sendRaw(concat(valid, tail));
        } else {
          stream.sendRaw(Buffer.from(encodeBatch([poisoned(encodeMessage({ ...m, to }), cut, tail)])));
        }
        await waitUntil(() => stream.rejected >= before + 1, `${to} to drop an undecodable frame`);
      }),
      { numRuns: 60, seed: 11_03 },
    );

    // 4. Snapshots: from "evil", random chunks (well-formed ones claiming any sender, and raw
    //    bytes); from the member, chunks that do not decode. None is accepted.
    const header = (from: NodeId, to: NodeId, s: Snapshot) => ({ type: 'snapshot' as const, from, to, term: term(t0 + 10), snapshot: s });
    const snapshotArb: fc.Arbitrary<Snapshot> = fc.record({ metadata: fc.record({ index: indexArb, term: termArb, conf: fc.record({ voters: fc.constant([nodeId('evil')]), learners: fc.constant([]) }) }), data: bytesArb });
    await fc.assert(
      fc.asyncProperty(target, fc.constantFrom(L, F, O, nodeId('evil')), snapshotArb, bytesArb, fc.oneof(fc.constant(null), fc.uint8Array({ maxLength: 48 })), async (to, from, s, data, raw) => {
        const peer = rawPeer(cluster.spec(to).peerAddress, node('evil'));
        const chunk = { header: header(from, to, s), offset: 0, data, last: true, totalBytes: data.length, sha256: new Uint8Array(0) };
        const end = raw === null ? await peer.sendSnapshot('evil', [chunk]) : await peer.sendSnapshotRaw('evil', [Buffer.from(raw)]);
        expect(end.code, end.details).not.toBe(grpc.status.OK);
        peer.close();
      }),
      { numRuns: 30, seed: 11_04 },
    );
    await fc.assert(
      fc.asyncProperty(target, snapshotArb, fc.nat(), fc.constantFrom(...poison), async (to, s, cut, tail) => {
        const peer = rawPeer(cluster.spec(to).peerAddress, node(O));
        const encoded = encodeSnapshotChunk({ header: header(O, to, s), offset: 0, data: new Uint8Array(0), last: true, totalBytes: 0, sha256: new Uint8Array(0) });
        const end = await peer.sendSnapshotRaw(O, [poisoned(encoded, cut, tail)]);
        expect(end.code, end.details).not.toBe(grpc.status.OK);
        peer.close();
      }),
      { numRuns: 30, seed: 11_05 },
    );

    // 5. The unary services: from "evil" any body (to a forwarded etcd call too) is
    //    PERMISSION_DENIED before it is read; from the member, a body that does not decode is
    //    INVALID_ARGUMENT. Never INTERNAL or UNKNOWN.
    const evilClients = new Map(targets.map((s) => [s.id, peerClient(s.peerAddress, node('evil'))]));
    const memberClients = new Map(targets.map((s) => [s.id, peerClient(s.peerAddress, node(O))]));
    await fc.assert(
      fc.asyncProperty(target, fc.constantFrom(...unaryPaths, ...forwardedEtcdPaths), fc.uint8Array({ maxLength: 48 }), async (to, path, body) => {
        const answer = await unary(evilClients.get(to) as grpc.Client, path, 'evil', Buffer.from(body));
        expect(answer.code, `${path} from evil: ${answer.details}`).toBe(grpc.status.PERMISSION_DENIED);
      }),
      { numRuns: 60, seed: 11_06 },
    );
    await fc.assert(
      fc.asyncProperty(target, fc.constantFrom(...unaryPaths), fc.uint8Array({ maxLength: 8 }), fc.constantFrom(...poison), async (to, path, prefix, tail) => {
        // A prefix of whole varint fields (tag 1..15, wire type 0) cannot swallow the poison.
        const fields = Buffer.from(Array.from(prefix).flatMap((b) => [((b % 15) + 1) << 3, b & 0x7f]));
        const answer = await unary(memberClients.get(to) as grpc.Client, path, O, concat(fields, tail));
        expect(answer.code, `${path} from ${O} ${concat(fields, tail).toString('hex')}: ${answer.details}`).toBe(grpc.status.INVALID_ARGUMENT);
      }),
      { numRuns: 60, seed: 11_07 },
    );

    // Nothing changed.
    await kv.call('Put', { key: Buffer.from('after'), value: Buffer.from('fuzz') });
    await waitUntil(async () => new Set((await statuses()).map((s) => `${s.applied}/${String(s['stateHash'])}`)).size === 1 && (await statuses()).every((s) => typeof s['stateHash'] === 'string'), 'every node at the same applied index and state hash');
    for (const s of await statuses()) {
      expect({ id: s.id, leader: s.leader, term: s.term, role: s.role }).toEqual({ id: s.id, leader: L, term: t0, role: s.id === L ? 'leader' : 'follower' });
    }
    for (const s of cluster.specs) {
      const r = new RawClient(s.clientAddress, rawCredentials(admin));
      closers.push(r);
      const got = await r.call<{ found: boolean; value: Uint8Array }>('Get', { key: Buffer.from('guard') });
      expect({ found: got.found, value: Buffer.from(got.value).toString() }).toEqual({ found: true, value: 'original' });
    }
    expect(cluster.running()).toHaveLength(3);
    expect(await rejectedTotal(follower.id)).toBeGreaterThan(rejectedBefore);
  }, 300_000);
});
