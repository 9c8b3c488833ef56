/**
 * A raw client of the peer port (proto/raft.proto), for tests that play a hostile peer: it opens
 * RaftPeer.Stream with whatever metadata and credentials it is given, sends hand-made messages,
 * and reports the node's acks and the call's final status, as an outside tool would see them.
 */
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { encodeBatch, encodeMessage, encodeSnapshotChunk, decodeStreamAck, peerMetadataKeys, raftPeerPaths } from '../../src/transport/index.js';
import type { SnapshotChunk, StreamAck } from '../../src/transport/index.js';
import type { Message } from '../../src/raft/index.js';

/** PEM files of a TLS identity (any of them may be missing). */
export interface PemFiles {
  readonly ca?: string;
  readonly cert?: string;
  readonly key?: string;
}

/** Channel credentials from PEM files; plaintext for `null`. The server's identity is not checked (an attacker would not). */
export function rawCredentials(files: PemFiles | null): grpc.ChannelCredentials {
  if (files === null) return grpc.credentials.createInsecure();
  const read = (p: string | undefined): Buffer | null => (p === undefined ? null : readFileSync(p));
  return grpc.credentials.createSsl(read(files.ca), read(files.key), read(files.cert), { checkServerIdentity: () => undefined });
}

/** How a raw peer call ended. */
export interface CallEnd {
  readonly code: grpc.status;
  readonly details: string;
}

/** One open RaftPeer.Stream. */
export class RawPeerStream {
  /** The acks received, in order. */
  readonly acks: StreamAck[] = [];
  /** Resolves with the call's status when it ends. */
  readonly ended: Promise<CallEnd>;
  private readonly call: grpc.ClientDuplexStream<Buffer, Buffer>;

  constructor(client: grpc.Client, metadata: Readonly<Record<string, string>>) {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries(metadata)) md.set(k, v);
    this.call = client.makeBidiStreamRequest<Buffer, Buffer>(raftPeerPaths.stream, (x) => x, (x) => x, md);
    this.call.on('data', (bytes: Buffer) => this.acks.push(decodeStreamAck(bytes)));
    this.call.on('error', () => {});
    this.ended = new Promise((resolve) => this.call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, details: s.details })));
  }

  /** Sends one batch of messages. */
  send(messages: readonly Message[]): void {
    this.call.write(Buffer.from(encodeBatch(messages.map((m) => encodeMessage(m)))));
  }

  /** Sends one frame of raw bytes (a batch that may not decode). */
  sendRaw(frame: Buffer): void {
    this.call.write(frame);
  }

  /** The node's latest count of rejected messages on this stream (0 before any ack). */
  get rejected(): number {
    return this.acks.at(-1)?.messagesRejected ?? 0;
  }

  end(): void {
    this.call.end();
  }

  cancel(): void {
    this.call.cancel();
  }
}

/** A hostile (or merely raw) peer: one channel to a node's peer port. */
export class RawPeer {
  private readonly client: grpc.Client;

  constructor(address: string, files: PemFiles | null) {
    // SNI cannot carry an IP address; any name will do, the server does not look at it.
    this.client = new grpc.Client(address, rawCredentials(files), { 'grpc.ssl_target_name_override': 'raftkv', 'grpc.max_reconnect_backoff_ms': 1000 });
  }

  /** Opens a message stream with the given metadata (`raftkv-from` and so on). */
  stream(metadata: { readonly from?: string; readonly to?: string; readonly clientAddress?: string }): RawPeerStream {
    const md: Record<string, string> = {};
    if (metadata.from !== undefined) md[peerMetadataKeys.from] = metadata.from;
    if (metadata.to !== undefined) md[peerMetadataKeys.to] = metadata.to;
    if (metadata.clientAddress !== undefined) md[peerMetadataKeys.clientAddress] = metadata.clientAddress;
    return new RawPeerStream(this.client, md);
  }

  /** Sends a whole snapshot transfer; resolves with how the call ended. */
  sendSnapshot(from: string, chunks: readonly SnapshotChunk[], deadlineMs = 10_000): Promise<CallEnd> {
    return this.sendSnapshotRaw(from, chunks.map((c) => Buffer.from(encodeSnapshotChunk(c))), deadlineMs);
  }

  /** Sends a snapshot transfer of raw frames (chunks that may not decode); resolves with how the call ended. */
  sendSnapshotRaw(from: string, frames: readonly Buffer[], deadlineMs = 10_000): Promise<CallEnd> {
    const md = new grpc.Metadata();
    md.set(peerMetadataKeys.from, from);
    return new Promise((resolve) => {
      const call = this.client.makeClientStreamRequest<Buffer, Buffer>(raftPeerPaths.sendSnapshot, (x) => x, (x) => x, md, { deadline: Date.now() + deadlineMs }, (err: grpc.ServiceError | null) =>
        resolve(err === null ? { code: grpc.status.OK, details: '' } : { code: err.code, details: err.details }),
      );
      call.on('error', () => {});
      for (const f of frames) call.write(f);
      call.end();
    });
  }

  close(): void {
    this.client.close();
  }
}
