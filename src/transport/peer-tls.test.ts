// Proves the peer transport's identity checks over real mutual TLS (certificates from
// `raftkv certs` code): a node's stream is accepted only as the node its certificate names and
// only while it is a member; its messages and its client address count only then; and a sender
// refuses a server whose certificate names another node than the one it dialled.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Metadata, Server, ServerCredentials, credentials } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CertificateSource, createDevCerts, namesNode, peerChannelCredentials, tlsServerCredentials } from '../tls/index.js';
import { logIndex, nodeId, term } from '../util/index.js';
import type { NodeId } from '../util/index.js';
import type { Message } from '../raft/index.js';
import { encodeBatch, encodeMessage } from './codec.js';
import { GrpcTransport } from './grpc-transport.js';
import { noopTransportMetrics } from './metrics.js';
import type { PeerRejection } from './metrics.js';
import { peerServerOptions } from './options.js';
import { addRaftPeerService } from './peer-server.js';
import type { PeerAuthentication } from './peer-admission.js';
import { peerMetadataKeys, raftPeerPaths } from './service.js';

let dir = '';
const cleanups: Array<() => Promise<void> | void> = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'raftkv-peer-tls-'));
  createDevCerts(dir, ['a', 'b', 'c'], { clients: [] });
}, 60_000);
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function source(id: string): CertificateSource {
  const s = new CertificateSource({ files: { certFile: join(dir, `${id}.pem`), keyFile: join(dir, `${id}-key.pem`), caFile: join(dir, 'ca.pem') }, what: 'peer TLS', reloadIntervalMs: 0, check: namesNode(id) });
  cleanups.push(() => s.close());
  return s;
}

const heartbeat = (from: string, to: string, n: number): Message => ({ type: 'heartbeat', from: nodeId(from), to: nodeId(to), term: term(1), commit: logIndex(n), context: `${from}-${n}` });

interface Host {
  readonly address: string;
  readonly received: Message[];
  readonly rejected: Map<PeerRejection, number>;
  readonly peerInfo: string[];
  known: Set<string>;
}

async function host(id: string, authentication: PeerAuthentication): Promise<Host> {
  const server = new Server(peerServerOptions());
  const h: Host = { address: '', received: [], rejected: new Map(), peerInfo: [], known: new Set(['a', 'b', 'c']) };
  addRaftPeerService(server, {
    nodeId: nodeId(id),
    limits: { snapshotChunkBytesMax: 64 * 1024 },
    handlers: { onMessage: (m) => h.received.push(m), onSnapshot: async () => {}, onPeerInfo: (peer, info) => h.peerInfo.push(`${peer}=${info.clientAddress}`) },
    metrics: { ...noopTransportMetrics, peerRejected: (reason, n) => h.rejected.set(reason, (h.rejected.get(reason) ?? 0) + n) },
    authentication,
    isKnownPeer: (peer) => h.known.has(peer),
  });
  const credentials = authentication === 'certificate' ? tlsServerCredentials(source(id), true) : ServerCredentials.createInsecure();
  const port = await new Promise<number>((ok, fail) => server.bindAsync('127.0.0.1:0', credentials, (e, p) => (e ? fail(e) : ok(p))));
  cleanups.push(() => void server.forceShutdown());
  return Object.assign(h, { address: `127.0.0.1:${port}` });
}

async function sender(id: string, certId: string | null, peers: Record<string, string>, onReconnect: () => void = () => {}): Promise<GrpcTransport> {
  const certs = certId === null ? null : source(certId);
  const transport = new GrpcTransport({
    metrics: { ...noopTransportMetrics, reconnects: onReconnect },
    nodeId: nodeId(id),
    clientAddress: `${id}.example:7001`,
    peers: new Map(Object.entries(peers).map(([k, v]) => [nodeId(k), v])),
    limits: { peerQueueMessagesMax: 1024, snapshotChunkBytesMax: 64 * 1024 },
    handlers: { onMessage: () => {}, onSnapshot: async () => {}, onUnreachable: () => {}, onSnapshotStatus: () => {} },
    reconnectBackoffBaseMs: 20,
    reconnectBackoffMaxMs: 200,
    ...(certs === null ? {} : { peerCredentials: (peer: NodeId) => peerChannelCredentials(certs, peer) }),
  });
  await transport.start();
  cleanups.push(() => transport.stop());
  return transport;
}

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const end = Date.now() + 10_000;
  while (!condition()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('peer transport over mutual TLS', () => {
  it('delivers a member\'s messages and client address over mutual TLS', async () => {
    const b = await host('b', 'certificate');
    const a = await sender('a', 'a', { b: b.address });
    a.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => b.received.length === 1, 'the message');
    expect(b.peerInfo).toEqual(['a=a.example:7001']);
    expect(b.rejected.size).toBe(0);
  });

  it('refuses a stream whose certificate names another node than its raftkv-from', async () => {
    const b = await host('b', 'certificate');
    // Node "c" holding a's certificate: its streams claim c, the certificate says a.
    const c = await sender('c', 'a', { b: b.address });
    c.send([heartbeat('c', 'b', 1)]);
    await waitFor(() => (b.rejected.get('identityMismatch') ?? 0) > 0, 'the refusal');
    expect(b.received).toEqual([]);
    expect(b.peerInfo).toEqual([]);
  });

  it('drops messages and the client address of a node that is not a member, until it becomes one', async () => {
    const b = await host('b', 'certificate');
    b.known = new Set(['c']);
    const a = await sender('a', 'a', { b: b.address });
    a.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => (b.rejected.get('notMember') ?? 0) === 1, 'the drop');
    expect(b.received).toEqual([]);
    expect(b.peerInfo).toEqual([]);
    b.known = new Set(['a', 'c']);
    a.send([heartbeat('a', 'b', 2)]);
    await waitFor(() => b.received.length === 1, 'the message once a is a member');
    expect(b.peerInfo).toEqual(['a=a.example:7001']);
  });

  it('does not talk to a server whose certificate names another node than the one dialled', async () => {
    const b = await host('b', 'certificate');
    // "a" thinks node c lives at b's address: b's certificate names b, so nothing is sent.
    let failures = 0;
    const a = await sender('a', 'a', { c: b.address }, () => (failures += 1));
    a.send([heartbeat('a', 'c', 1)]);
    await waitFor(() => failures >= 3, 'three failed attempts');
    expect(a.peerStatus()[0]).toMatchObject({ connected: false, queuedMessages: 1 });
    expect(b.received).toEqual([]);
    // The control: the same sender reaches b when it knows b as b.
    const a2 = await sender('a', 'a', { b: b.address });
    a2.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => b.received.length === 1, 'the message to the right node');
  });

  it('without TLS still drops the messages and client address of a non-member', async () => {
    const b = await host('b', 'none');
    b.known = new Set(['a', 'c']);
    const a = await sender('a', null, { b: b.address });
    a.send([heartbeat('a', 'b', 1)]);
    await waitFor(() => b.received.length === 1, 'the message');
    // "z" is not a member: its stream is accepted (nothing is authenticated) but counts for nothing.
    const forged = await sender('z', null, { b: b.address });
    forged.send([heartbeat('z', 'b', 1)]);
    await waitFor(() => (b.rejected.get('notMember') ?? 0) === 1, 'the non-member drop');
    // Nor can a stream claim to be the receiving node itself.
    const raw = new Client(b.address, credentials.createInsecure());
    cleanups.push(() => raw.close());
    const md = new Metadata();
    md.set(peerMetadataKeys.from, 'b');
    const call = raw.makeBidiStreamRequest<Buffer, Buffer>(raftPeerPaths.stream, (x) => x, (x) => x, md);
    call.on('error', () => {});
    call.write(Buffer.from(encodeBatch([encodeMessage(heartbeat('b', 'b', 1))])));
    await waitFor(() => (b.rejected.get('identityMismatch') ?? 0) === 1, 'the refusal of a stream from b to b');
    expect(b.received).toHaveLength(1);
    expect(b.peerInfo).toEqual(['a=a.example:7001']);
  });
});
