// Proves the gRPC peer transport delivers in order over one batched stream per peer, isolates dead peers, reconnects, and survives bad input.
import { Socket, connect, createServer } from 'node:net';
import type { Server as NetServer } from 'node:net';
import { Client, Metadata, Server, ServerCredentials, credentials } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { logIndex, nodeId, term } from '../util/index.js';
import type { Logger, NodeId } from '../util/index.js';
import type { Message } from '../raft/index.js';
import { decodeStreamAck, encodeBatch, encodeMessage } from './codec.js';
import { GrpcTransport } from './grpc-transport.js';
import type { GrpcTransportOptions } from './grpc-transport.js';
import type { TransportMetrics } from './metrics.js';
import { peerServerOptions } from './options.js';
import { addRaftPeerService } from './peer-server.js';
import { peerMetadataKeys, raftPeerPaths } from './service.js';
import type { TransportHandlers } from './transport.js';

// ---------------------------------------------------------------------------------------------
// Harness: every server, transport and socket a test starts is registered here and closed in afterEach.

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** Counts what the transport reports, per peer. */
class CountingMetrics implements TransportMetrics {
  readonly counts = new Map<string, number>();
  private add(key: string, n: number): void {
    this.counts.set(key, (this.counts.get(key) ?? 0) + n);
  }
  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }
  messagesSent(peer: NodeId, count: number): void { this.add(`sent:${peer}`, count); }
  messagesDropped(peer: NodeId, reason: string, count: number): void { this.add(`dropped:${reason}:${peer}`, count); }
  batchesSent(peer: NodeId, count: number): void { this.add(`batches:${peer}`, count); }
  bytesSent(peer: NodeId, bytes: number): void { this.add(`bytes:${peer}`, bytes); }
  reconnects(peer: NodeId): void { this.add(`reconnects:${peer}`, 1); }
  messagesReceived(peer: NodeId, count: number): void { this.add(`received:${peer}`, count); }
  bytesReceived(peer: NodeId, bytes: number): void { this.add(`bytesReceived:${peer}`, bytes); }
  streamsAccepted(peer: NodeId): void { this.add(`streams:${peer}`, 1); }
  snapshotsSent(): void {}
  snapshotsReceived(): void {}
  peerRejected(reason: string, count: number): void { this.add(`rejected:${reason}`, count); }
}

/** A logger that keeps warnings, so tests can check that bad input was reported. */
function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  return { warnings, debug: () => {}, info: () => {}, error: () => {}, warn: (_obj, msg) => warnings.push(msg ?? '') };
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** The receiving side of one node: a gRPC server with the peer service, recording everything. */
interface PeerHost {
  readonly id: NodeId;
  readonly port: number;
  readonly address: string;
  readonly server: Server;
  readonly received: Message[];
  readonly metrics: CountingMetrics;
  readonly logger: ReturnType<typeof recordingLogger>;
}

async function startHost(id: string, port = 0): Promise<PeerHost> {
  const server = new Server(peerServerOptions());
  const received: Message[] = [];
  const metrics = new CountingMetrics();
  const logger = recordingLogger();
  addRaftPeerService(server, {
    nodeId: nodeId(id),
    limits: { snapshotChunkBytesMax: 64 * 1024 },
    handlers: { onMessage: (m) => received.push(m), onSnapshot: async () => {} },
    logger,
    metrics,
  });
  const bound = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${port}`, ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  cleanups.push(() => void server.forceShutdown());
  return { id: nodeId(id), port: bound, address: `127.0.0.1:${bound}`, server, received, metrics, logger };
}

/** The sending side of one node, with fast reconnection for tests. */
interface Sender {
  readonly transport: GrpcTransport;
  readonly unreachable: NodeId[];
  readonly metrics: CountingMetrics;
}

async function startSender(id: string, peers: Record<string, string>, overrides: Partial<GrpcTransportOptions> = {}): Promise<Sender> {
  const unreachable: NodeId[] = [];
  const metrics = new CountingMetrics();
  const handlers: TransportHandlers = {
    onMessage: () => {},
    onSnapshot: async () => {},
    onUnreachable: (peer) => unreachable.push(peer),
    onSnapshotStatus: () => {},
  };
  const transport = new GrpcTransport({
    nodeId: nodeId(id),
    peers: new Map(Object.entries(peers).map(([k, v]) => [nodeId(k), v])),
    limits: { peerQueueMessagesMax: 4096, snapshotChunkBytesMax: 64 * 1024 },
    handlers,
    metrics,
    reconnectBackoffBaseMs: 20,
    reconnectBackoffMaxMs: 200,
    ...overrides,
  });
  await transport.start();
  cleanups.push(() => transport.stop());
  return { transport, unreachable, metrics };
}

/** A heartbeat whose context carries a sequence number, to check order. */
function heartbeat(from: string, to: string, seq: number): Message {
  return { type: 'heartbeat', from: nodeId(from), to: nodeId(to), term: term(1), commit: logIndex(seq), context: `${from}-${seq}` };
}

/** A port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  const port = await new Promise<number>((resolve) => probe.listen(0, '127.0.0.1', () => resolve((probe.address() as { port: number }).port)));
  await new Promise((r) => probe.close(r));
  return port;
}

/** A TCP server that accepts connections and never answers (a hung or partitioned peer). */
async function blackhole(): Promise<number> {
  const sockets: Socket[] = [];
  const server: NetServer = createServer((s) => sockets.push(s));
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return port;
}

/** A TCP proxy to `targetPort` that can freeze: connections stay open but carry nothing (a paused peer). */
async function freezableProxy(targetPort: number): Promise<{ port: number; freeze: () => void }> {
  const sockets: Socket[] = [];
  let frozen = false;
  const server: NetServer = createServer((client) => {
    sockets.push(client);
    client.on('error', () => {});
    if (frozen) return;
    const upstream = connect(targetPort, '127.0.0.1');
    sockets.push(upstream);
    upstream.on('error', () => {});
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port)));
  cleanups.push(async () => {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  const freeze = (): void => {
    frozen = true;
    for (const s of sockets) {
      s.unpipe();
      s.pause();
    }
  };
  return { port, freeze };
}

function contexts(messages: readonly Message[], from: string): string[] {
  return messages.filter((m) => m.from === from && m.type === 'heartbeat').map((m) => (m.type === 'heartbeat' ? m.context : ''));
}

// ---------------------------------------------------------------------------------------------

describe('GrpcTransport', () => {
  it('exchanges messages between three nodes in order, over exactly one stream per peer', async () => {
    // Proves per-peer ordering and that many sends reuse one long-lived stream (counted by the server).
    const ids = ['n1', 'n2', 'n3'];
    const hosts = await Promise.all(ids.map((id) => startHost(id)));
    const addresses = Object.fromEntries(hosts.map((h) => [h.id, h.address]));
    const senders = await Promise.all(ids.map((id) => startSender(id, addresses)));
    const rounds = 20;
    const perRound = 25;
    for (let r = 0; r < rounds; r++) {
      senders.forEach((s, i) => {
        const from = ids[i] as string;
        for (const to of ids) {
          if (to === from) continue;
          s.transport.send(Array.from({ length: perRound }, (_, k) => heartbeat(from, to, r * perRound + k)));
        }
      });
      await new Promise((res) => setTimeout(res, 5));
    }
    const total = rounds * perRound;
    await waitFor(() => hosts.every((h) => h.received.length === total * 2), 'every message');
    for (const h of hosts) {
      for (const from of ids) {
        if (from === h.id) continue;
        expect(contexts(h.received, from)).toEqual(Array.from({ length: total }, (_, k) => `${from}-${k}`));
        expect(h.metrics.get(`streams:${from}`)).toBe(1);
      }
      expect(h.received.every((m) => m.to === h.id)).toBe(true);
    }
    for (const s of senders) expect(s.transport.peerStatus().every((p) => p.streamsOpened === 1 && p.connected)).toBe(true);
  });

  it('batches everything queued since the last write into one MessageBatch, capped by batchBytesMax', async () => {
    // Proves many small sends become few stream writes, and that the byte cap splits big backlogs.
    const b = await startHost('b');
    const a = await startSender('a', { b: b.address });
    await waitFor(() => a.transport.peerStatus()[0]?.connected === true, 'the stream to b');
    for (let k = 0; k < 1000; k++) a.transport.send([heartbeat('a', 'b', k)]);
    await waitFor(() => b.received.length === 1000, '1000 messages');
    expect(a.metrics.get('batches:b')).toBe(1);
    expect(a.metrics.get('sent:b')).toBe(1000);

    const c = await startHost('c');
    const capped = await startSender('a', { c: c.address }, { batchBytesMax: 1024 });
    await waitFor(() => capped.transport.peerStatus()[0]?.connected === true, 'the stream to c');
    for (let k = 0; k < 1000; k++) capped.transport.send([heartbeat('a', 'c', k)]);
    await waitFor(() => c.received.length === 1000, '1000 messages');
    const batches = capped.metrics.get('batches:c');
    expect(batches).toBeGreaterThan(10);
    expect(capped.metrics.get('bytes:c') / batches).toBeLessThanOrEqual(1024);
    expect(contexts(c.received, 'a')).toEqual(Array.from({ length: 1000 }, (_, k) => `a-${k}`));
  });

  it('keeps delivering to a live peer while others are refused or hung, and drops beyond their queue limit', async () => {
    // Proves per-peer isolation and the bounded queue: a dead peer costs only its own messages.
    const live = await startHost('live');
    const refusedPort = await closedPort();
    const hungPort = await blackhole();
    const limit = 100;
    const a = await startSender(
      'a',
      { live: live.address, refused: `127.0.0.1:${refusedPort}`, hung: `127.0.0.1:${hungPort}` },
      { limits: { peerQueueMessagesMax: limit, snapshotChunkBytesMax: 64 * 1024 } },
    );
    await waitFor(() => a.transport.peerStatus().some((p) => p.peer === 'live' && p.connected), 'the stream to the live peer');
    const rounds = 10;
    const perRound = 40;
    for (let r = 0; r < rounds; r++) {
      for (const to of ['live', 'refused', 'hung']) a.transport.send(Array.from({ length: perRound }, (_, k) => heartbeat('a', to, r * perRound + k)));
      await new Promise((res) => setTimeout(res, 10));
    }
    // Well below the time a connection attempt to the hung peer takes to give up (about 20 s in
    // gRPC), with room for a loaded CI machine; in practice it takes milliseconds.
    const lastSent = Date.now();
    await waitFor(() => live.received.length === rounds * perRound, 'every message to the live peer', 5_000);
    expect(Date.now() - lastSent).toBeLessThan(5_000);
    expect(contexts(live.received, 'a')).toEqual(Array.from({ length: rounds * perRound }, (_, k) => `a-${k}`));
    const status = new Map(a.transport.peerStatus().map((p) => [p.peer, p]));
    for (const dead of ['refused', 'hung']) {
      expect(status.get(nodeId(dead))?.queuedMessages).toBe(limit);
      expect(status.get(nodeId(dead))?.droppedMessages).toBe(rounds * perRound - limit);
      expect(a.metrics.get(`dropped:queueFull:${dead}`)).toBe(rounds * perRound - limit);
    }
    await waitFor(() => a.unreachable.includes(nodeId('refused')) && a.unreachable.includes(nodeId('hung')), 'unreachable reports');
    expect(a.unreachable).not.toContain(nodeId('live'));
    // Reported once per episode, not once per dropped message.
    expect(a.unreachable.filter((p) => p === 'hung')).toHaveLength(1);
  });

  it('reconnects with backoff after the peer restarts, and delivers what was queued meanwhile', async () => {
    // Proves a lost stream is reopened and the queue survives the outage.
    const b1 = await startHost('b');
    const a = await startSender('a', { b: b1.address });
    a.transport.send([heartbeat('a', 'b', 0)]);
    await waitFor(() => b1.received.length === 1, 'the first message');

    b1.server.forceShutdown();
    await waitFor(() => a.transport.peerStatus()[0]?.connected === false, 'the stream loss to be noticed');
    await waitFor(() => a.unreachable.includes(nodeId('b')), 'an unreachable report');
    a.transport.send([heartbeat('a', 'b', 1), heartbeat('a', 'b', 2)]);
    await new Promise((res) => setTimeout(res, 300)); // Several failed attempts while b is down.
    expect(a.metrics.get('reconnects:b')).toBeGreaterThan(1);

    const b2 = await startHost('b', b1.port);
    await waitFor(() => b2.received.length === 2, 'the queued messages after the restart');
    expect(contexts(b2.received, 'a')).toEqual(['a-1', 'a-2']);
    expect(b2.metrics.get('streams:a')).toBe(1);
    a.transport.send([heartbeat('a', 'b', 3)]);
    await waitFor(() => b2.received.length === 3, 'a message on the new stream');
  });

  it('detects a peer that stops answering mid-stream through keepalive pings, without any deadline', async () => {
    // Proves the long-lived stream notices a silent (paused or partitioned) peer and reports it.
    const b = await startHost('b');
    const proxy = await freezableProxy(b.port);
    const a = await startSender('a', { b: `127.0.0.1:${proxy.port}` }, { keepaliveTimeMs: 200, keepaliveTimeoutMs: 200 });
    a.transport.send([heartbeat('a', 'b', 0)]);
    await waitFor(() => b.received.length === 1, 'the first message through the proxy');
    expect(a.unreachable).toEqual([]);
    proxy.freeze();
    await waitFor(() => a.transport.peerStatus()[0]?.connected === false, 'the keepalive to declare the stream dead', 5_000);
    await waitFor(() => a.unreachable.includes(nodeId('b')), 'an unreachable report', 1_000);
  });

  it('follows membership changes: new address, removed peer, and a wrong node at an address', async () => {
    // Proves setPeers reconnects to a moved peer, drops a removed one, and never delivers to an impostor.
    const b1 = await startHost('b');
    const b2 = await startHost('b');
    const impostor = await startHost('x');
    const a = await startSender('a', { b: b1.address, c: impostor.address });
    a.transport.send([heartbeat('a', 'b', 0), heartbeat('a', 'c', 0)]);
    await waitFor(() => b1.received.length === 1, 'the message at the old address');
    await waitFor(() => a.unreachable.includes(nodeId('c')), 'the impostor to refuse the stream');
    expect(impostor.received).toEqual([]);
    expect(impostor.logger.warnings).toContain('refused a message stream meant for another node');

    a.transport.setPeers(new Map([[nodeId('b'), b2.address]]));
    a.transport.send([heartbeat('a', 'b', 1), heartbeat('a', 'c', 1)]);
    await waitFor(() => b2.received.length === 1, 'the message at the new address');
    expect(contexts(b2.received, 'a')).toEqual(['a-1']);
    expect(b1.received).toHaveLength(1);
    expect(a.metrics.get('dropped:unknownPeer:c')).toBe(1);
    expect(a.transport.peerStatus().map((p) => p.peer)).toEqual(['b']);
  });

  it('treats an unusable peer address as an unreachable peer, not a crash', async () => {
    // Proves a bad address from a membership change is survivable and can be corrected.
    const b = await startHost('b');
    const a = await startSender('a', { b: '' });
    a.transport.send([heartbeat('a', 'b', 0)]);
    await waitFor(() => a.unreachable.includes(nodeId('b')), 'an unreachable report');
    a.transport.setPeers(new Map([[nodeId('b'), b.address]]));
    await waitFor(() => b.received.length === 1, 'the queued message at the corrected address');
  });

  it('drops a message larger than messageBytesMax instead of breaking the stream', async () => {
    // Proves an oversized message is counted and skipped while the next ones still flow.
    const b = await startHost('b');
    const a = await startSender('a', { b: b.address }, { messageBytesMax: 128 * 1024, batchBytesMax: 64 * 1024 });
    const big: Message = {
      type: 'append', from: nodeId('a'), to: nodeId('b'), term: term(1), prevLogIndex: logIndex(0), prevLogTerm: term(0), commit: logIndex(0),
      entries: [{ term: term(1), index: logIndex(1), type: 'normal', data: new Uint8Array(200 * 1024) }],
    };
    a.transport.send([big, heartbeat('a', 'b', 1)]);
    await waitFor(() => b.received.length === 1, 'the small message');
    expect(a.metrics.get('dropped:tooLarge:b')).toBe(1);
  });

  it('survives garbage on the peer port: raw bytes, undecodable batches, malformed and misaddressed messages', async () => {
    // Proves bad input from a peer is logged at warn and dropped, never crashing the server or its streams.
    const b = await startHost('b');
    // 1. Not even HTTP/2.
    for (const payload of [Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) & 0xff))]) {
      // The server may close the socket or just ignore it: either way, give up on it after a moment.
      await new Promise<void>((resolve) => {
        const socket = new Socket();
        const done = (): void => {
          clearTimeout(timer);
          socket.destroy();
          resolve();
        };
        const timer = setTimeout(done, 300);
        socket.on('error', done);
        socket.on('close', done);
        socket.connect(b.port, '127.0.0.1', () => socket.write(payload));
      });
    }
    // 2. A real gRPC stream carrying garbage, then a batch mixing good, malformed and misaddressed messages.
    const client = new Client(b.address, credentials.createInsecure());
    cleanups.push(() => client.close());
    const metadata = new Metadata();
    metadata.set(peerMetadataKeys.from, 'evil');
    const call = client.makeBidiStreamRequest<Buffer, Buffer>(raftPeerPaths.stream, (x) => x, (x) => x, metadata);
    const acks: number[] = [];
    call.on('data', (bytes: Buffer) => acks.push(decodeStreamAck(bytes).messagesRejected));
    call.on('error', () => {});
    call.write(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    call.write(Buffer.from(encodeBatch([encodeMessage(heartbeat('evil', 'b', 1)), new Uint8Array([0x18, 0x01]), encodeMessage(heartbeat('evil', 'zz', 2))])));
    await waitFor(() => b.received.length === 1 && acks.includes(3), 'the good message and the rejection ack');
    call.end();
    expect(b.received).toEqual([heartbeat('evil', 'b', 1)]);
    expect(b.logger.warnings).toEqual(
      expect.arrayContaining(['dropped a malformed message batch from a peer', 'dropped malformed messages from a peer', 'dropped messages addressed to another node']),
    );
    // 3. The server still serves a well-behaved peer.
    const a = await startSender('a', { b: b.address });
    a.transport.send([heartbeat('a', 'b', 7)]);
    await waitFor(() => b.received.length === 2, 'a message from a good peer');
  });

  it('counts nothing and calls nothing after stop()', async () => {
    // Proves stop() is final: sends are dropped as stopped and no callback fires.
    const b = await startHost('b');
    const a = await startSender('a', { b: b.address });
    await a.transport.stop();
    a.transport.send([heartbeat('a', 'b', 1)]);
    await tick();
    expect(a.metrics.get('dropped:stopped:b')).toBe(1);
    expect(await a.transport.sendSnapshot(nodeId('b'), { type: 'snapshot', from: nodeId('a'), to: nodeId('b'), term: term(1), snapshot: { metadata: { index: logIndex(1), term: term(1), conf: { voters: [], learners: [] } }, data: new Uint8Array(0) } }, (async function* () {})())).toBe(false);
    await new Promise((res) => setTimeout(res, 50));
    expect(a.unreachable).toEqual([]);
    expect(b.received).toEqual([]);
  });
});
