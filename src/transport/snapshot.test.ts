// Proves snapshots stream in bounded chunks with an end-to-end SHA-256, and that corrupt, malformed, interrupted or refused transfers fail cleanly.
import { createHash, randomBytes } from 'node:crypto';
import { Client, Metadata, Server, ServerCredentials, credentials, status } from '@grpc/grpc-js';
import type { ServiceError } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { logIndex, nodeId, term } from '../util/index.js';
import type { NodeId } from '../util/index.js';
import type { SnapshotMessage } from '../raft/index.js';
import { encodeSnapshotChunk } from './codec.js';
import type { SnapshotChunk } from './codec.js';
import { GrpcTransport } from './grpc-transport.js';
import type { GrpcTransportOptions } from './grpc-transport.js';
import { peerServerOptions } from './options.js';
import { addRaftPeerService } from './peer-server.js';
import { rechunk } from './snapshot-sender.js';
import { peerMetadataKeys, raftPeerPaths } from './service.js';
import type { TransportHandlers } from './transport.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const chunkBytesMax = 256 * 1024;

/** What the receiving node saw of each transfer. */
interface Received {
  readonly message: SnapshotMessage;
  readonly chunkSizes: number[];
  data: Buffer | null;
  error: Error | null;
}

type OnSnapshot = TransportHandlers['onSnapshot'];

/** Stages every chunk, then "installs" the whole; records failures from the chunk iterator. */
function collectingHandler(received: Received[]): OnSnapshot {
  return async (message, chunks) => {
    const record: Received = { message, chunkSizes: [], data: null, error: null };
    received.push(record);
    const parts: Uint8Array[] = [];
    try {
      for await (const chunk of chunks) {
        record.chunkSizes.push(chunk.length);
        parts.push(chunk);
      }
    } catch (e) {
      record.error = e as Error;
      throw e;
    }
    record.data = Buffer.concat(parts);
  };
}

async function startReceiver(id: string, onSnapshot: OnSnapshot): Promise<{ address: string }> {
  const server = new Server(peerServerOptions());
  addRaftPeerService(server, { nodeId: nodeId(id), limits: { snapshotChunkBytesMax: chunkBytesMax }, handlers: { onMessage: () => {}, onSnapshot } });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  cleanups.push(() => void server.forceShutdown());
  return { address: `127.0.0.1:${port}` };
}

async function startSender(peers: Record<string, string>, overrides: Partial<GrpcTransportOptions> = {}): Promise<{ transport: GrpcTransport; statuses: Array<[NodeId, boolean]> }> {
  const statuses: Array<[NodeId, boolean]> = [];
  const transport = new GrpcTransport({
    nodeId: nodeId('a'),
    peers: new Map(Object.entries(peers).map(([k, v]) => [nodeId(k), v])),
    limits: { peerQueueMessagesMax: 64, snapshotChunkBytesMax: chunkBytesMax },
    handlers: { onMessage: () => {}, onSnapshot: async () => {}, onUnreachable: () => {}, onSnapshotStatus: (peer, ok) => statuses.push([peer, ok]) },
    ...overrides,
  });
  await transport.start();
  cleanups.push(() => transport.stop());
  return { transport, statuses };
}

function snapshotMessage(to: string): SnapshotMessage {
  return {
    type: 'snapshot',
    from: nodeId('a'),
    to: nodeId(to),
    term: term(4),
    snapshot: { metadata: { index: logIndex(1234), term: term(3), conf: { voters: [nodeId('a'), nodeId(to)], learners: [] } }, data: new Uint8Array(0) },
  };
}

/** Yields `data` in irregular pieces, as a LevelDB iterator or a file would. */
async function* pieces(data: Buffer, onYield: (bytes: number) => void = () => {}): AsyncGenerator<Uint8Array> {
  let offset = 0;
  for (let i = 0; offset < data.length; i++) {
    const size = [1, 100_000, 333_333, 7, 65_536][i % 5] as number;
    const piece = data.subarray(offset, offset + size);
    offset += piece.length;
    onYield(piece.length);
    yield piece;
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const start = Date.now();
  while (!condition()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Sends hand-made chunks over a raw SendSnapshot call; resolves to the call's status code. */
async function sendRawChunks(address: string, chunks: readonly SnapshotChunk[]): Promise<{ code: number; details: string }> {
  const client = new Client(address, credentials.createInsecure());
  cleanups.push(() => client.close());
  const metadata = new Metadata();
  metadata.set(peerMetadataKeys.from, 'a');
  return new Promise((resolve) => {
    const call = client.makeClientStreamRequest<Buffer, Buffer>(raftPeerPaths.sendSnapshot, (x) => x, (x) => x, metadata, { deadline: Date.now() + 10_000 }, (err: ServiceError | null) =>
      resolve(err === null ? { code: status.OK, details: '' } : { code: err.code, details: err.details }),
    );
    for (const c of chunks) call.write(Buffer.from(encodeSnapshotChunk(c)));
    call.end();
  });
}

/** Valid chunks for `data`, with an optional tamper step. */
function chunksOf(data: Buffer, tamper: (chunks: SnapshotChunk[]) => SnapshotChunk[] = (c) => c): SnapshotChunk[] {
  const chunks: SnapshotChunk[] = [];
  for (let offset = 0; offset < data.length; offset += chunkBytesMax) {
    chunks.push({ header: offset === 0 ? snapshotMessage('b') : null, offset, data: data.subarray(offset, offset + chunkBytesMax), last: false, totalBytes: 0, sha256: new Uint8Array(0) });
  }
  chunks.push({ header: null, offset: data.length, data: new Uint8Array(0), last: true, totalBytes: data.length, sha256: createHash('sha256').update(data).digest() });
  return tamper(chunks);
}

describe('snapshot transfer', () => {
  it('streams a few MB in chunks of at most snapshotChunkBytesMax and verifies the checksum', async () => {
    // Proves the happy path end to end: same bytes, same metadata, bounded chunks, status reported.
    const received: Received[] = [];
    const b = await startReceiver('b', collectingHandler(received));
    const a = await startSender({ b: b.address });
    const data = randomBytes(5 * 1024 * 1024 + 12_345);
    expect(await a.transport.sendSnapshot(nodeId('b'), snapshotMessage('b'), pieces(data))).toBe(true);
    expect(received).toHaveLength(1);
    const [got] = received;
    expect(got?.error).toBeNull();
    expect(got?.message).toStrictEqual(snapshotMessage('b'));
    expect(got?.data?.equals(data)).toBe(true);
    expect(Math.max(...(got?.chunkSizes ?? []))).toBe(chunkBytesMax);
    expect(got?.chunkSizes.length).toBe(Math.ceil(data.length / chunkBytesMax));
    await waitFor(() => a.statuses.length === 1, 'the snapshot status');
    expect(a.statuses).toEqual([[nodeId('b'), true]]);
  });

  it('keeps memory bounded: the source is read only as fast as a slow receiver consumes', async () => {
    // Proves streaming with back-pressure: the sender never runs far ahead of the receiver.
    let produced = 0;
    let consumed = 0;
    let aheadMax = 0;
    const b = await startReceiver('b', async (_m, chunks) => {
      for await (const chunk of chunks) {
        consumed += chunk.length;
        await new Promise((r) => setTimeout(r, 2));
      }
    });
    const a = await startSender({ b: b.address });
    const data = randomBytes(24 * 1024 * 1024);
    const ok = await a.transport.sendSnapshot(nodeId('b'), snapshotMessage('b'), pieces(data, (n) => {
      produced += n;
      aheadMax = Math.max(aheadMax, produced - consumed);
    }));
    expect(ok).toBe(true);
    expect(consumed).toBe(data.length);
    // Buffers on the way: 16 chunks on each side of gRPC plus HTTP/2 windows; far less than the whole.
    expect(aheadMax).toBeLessThan(40 * chunkBytesMax);
    expect(40 * chunkBytesMax).toBeLessThan(data.length / 2);
  });

  it('rejects a corrupted chunk: the checksum mismatch fails the transfer and the iterator', async () => {
    // Proves the receiver verifies SHA-256 and the node sees an error instead of a clean end.
    const received: Received[] = [];
    const b = await startReceiver('b', collectingHandler(received));
    const data = randomBytes(600 * 1024);
    const result = await sendRawChunks(b.address, chunksOf(data, (chunks) => {
      const bad = Buffer.from(chunks[1]?.data ?? []);
      bad[100] = (bad[100] ?? 0) ^ 0xff;
      return chunks.map((c, i) => (i === 1 ? { ...c, data: bad } : c));
    }));
    expect(result.code).toBe(status.DATA_LOSS);
    expect(result.details).toMatch(/SHA-256 mismatch/);
    expect(received[0]?.error?.message).toMatch(/checksum: SHA-256 mismatch/);
    expect(received[0]?.data).toBeNull();
  });

  it('rejects malformed transfers: a gap in offsets, an oversized chunk, a wrong length, no header', async () => {
    // Proves each structural check on the chunk stream.
    const b = await startReceiver('b', collectingHandler([]));
    const data = randomBytes(600 * 1024);
    const gap = await sendRawChunks(b.address, chunksOf(data, (c) => c.filter((_, i) => i !== 1)));
    expect([gap.code, gap.details]).toEqual([status.INVALID_ARGUMENT, expect.stringMatching(/expected 262144/)]);
    const big = await sendRawChunks(b.address, [{ ...chunksOf(data)[0]!, data: data.subarray(0, chunkBytesMax + 1), last: false }]);
    expect([big.code, big.details]).toEqual([status.INVALID_ARGUMENT, expect.stringMatching(/exceeds snapshotChunkBytesMax/)]);
    const length = await sendRawChunks(b.address, chunksOf(data, (c) => c.map((x) => (x.last ? { ...x, totalBytes: 1 } : x))));
    expect(length.code).toBe(status.DATA_LOSS);
    const noHeader = await sendRawChunks(b.address, chunksOf(data, (c) => c.map((x) => ({ ...x, header: null }))));
    expect([noHeader.code, noHeader.details]).toEqual([status.INVALID_ARGUMENT, expect.stringMatching(/no header/)]);
    const truncated = await sendRawChunks(b.address, chunksOf(data).slice(0, 2));
    expect(truncated.code).toBe(status.CANCELLED);
  });

  it('reports failure when the source fails midway, the receiver refuses, or the deadline passes', async () => {
    // Proves every failed or interrupted transfer ends as onSnapshotStatus(peer, false), never a hang.
    const received: Received[] = [];
    const b = await startReceiver('b', collectingHandler(received));
    const refusing = await startReceiver('c', async (_m, chunks) => {
      for await (const _ of chunks) throw new Error('snapshot is older than the applied state');
    });
    const stalling = await startReceiver('d', () => new Promise(() => {}));
    const a = await startSender({ b: b.address, c: refusing.address, d: stalling.address }, { snapshotDeadlineMs: 500 });
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield randomBytes(chunkBytesMax * 2);
      // Fail only once the receiver is mid-transfer, so that both ends see the interruption.
      await waitFor(() => (received[0]?.chunkSizes.length ?? 0) > 0, 'the receiver to start');
      throw new Error('disk read failed');
    }
    expect(await a.transport.sendSnapshot(nodeId('b'), snapshotMessage('b'), failing())).toBe(false);
    await waitFor(() => received[0]?.error !== null && received[0]?.error !== undefined, 'the receiver to see the interruption');
    expect(received[0]?.error?.message).toMatch(/interrupted/);

    expect(await a.transport.sendSnapshot(nodeId('c'), snapshotMessage('c'), pieces(randomBytes(1024)))).toBe(false);
    const start = Date.now();
    expect(await a.transport.sendSnapshot(nodeId('d'), snapshotMessage('d'), pieces(randomBytes(1024)))).toBe(false);
    expect(Date.now() - start).toBeLessThan(5_000);
    await waitFor(() => a.statuses.length === 3, 'three statuses');
    expect(a.statuses).toEqual([[nodeId('b'), false], [nodeId('c'), false], [nodeId('d'), false]]);
  });

  it('runs at most one transfer per peer at a time', async () => {
    // Proves a second concurrent transfer to the same peer is refused at once instead of doubling memory.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const b = await startReceiver('b', async (_m, chunks) => {
      await gate;
      for await (const _ of chunks) { /* drain */ }
    });
    const a = await startSender({ b: b.address });
    const first = a.transport.sendSnapshot(nodeId('b'), snapshotMessage('b'), pieces(randomBytes(1024)));
    expect(await a.transport.sendSnapshot(nodeId('b'), snapshotMessage('b'), pieces(randomBytes(1024)))).toBe(false);
    release();
    expect(await first).toBe(true);
  });

  it('re-cuts any source into pieces of exactly the chunk size', async () => {
    // Proves rechunk's arithmetic on irregular input, including an empty source.
    const data = randomBytes(1_000_003);
    const sizes: number[] = [];
    const parts: Uint8Array[] = [];
    for await (const c of rechunk(pieces(data), 65_536)) {
      sizes.push(c.length);
      parts.push(c);
    }
    expect(Buffer.concat(parts).equals(data)).toBe(true);
    expect(sizes.slice(0, -1).every((s) => s === 65_536)).toBe(true);
    expect(sizes.at(-1)).toBe(1_000_003 % 65_536);
    const none: Uint8Array[] = [];
    for await (const c of rechunk(pieces(Buffer.alloc(0)), 10)) none.push(c);
    expect(none).toEqual([]);
  });
});
