// Proves the peer codec maps every Raft message type to protobuf and back exactly, and refuses bad bytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bytesArb, messageArb, uintArb } from '../../test/support/raft-arbitraries.js';
import { logIndex, nodeId, term } from '../util/index.js';
import type { Message, MessageType } from '../raft/index.js';
import {
  MessageBatchType,
  decodeBatch,
  decodeMessage,
  decodeSnapshotChunk,
  decodeStreamAck,
  encodeBatch,
  encodeMessage,
  encodeSnapshotChunk,
  encodeStreamAck,
  framedSize,
} from './codec.js';
import { MalformedMessageError } from './errors.js';
import { resolveProtoFile } from '../api/index.js';

const allTypes: readonly MessageType[] = [
  'vote', 'preVote', 'voteResponse', 'preVoteResponse', 'append', 'appendResponse', 'heartbeat',
  'heartbeatResponse', 'snapshot', 'readIndex', 'readIndexResponse', 'timeoutNow', 'transferLeader',
];

const message = messageArb();
const uint = uintArb;
const bytes = bytesArb;

describe('codec', () => {
  it('round-trips every message type exactly (property)', () => {
    // Proves encode/decode is the identity, including proto3 defaults (0, '', false, empty bytes).
    const seen = new Set<MessageType>();
    fc.assert(
      fc.property(message, (m) => {
        seen.add(m.type);
        expect(decodeMessage(encodeMessage(m))).toStrictEqual(m);
      }),
      { numRuns: 2000 },
    );
    expect([...seen].sort()).toEqual([...allTypes].sort());
  });

  it('round-trips batches and frames them exactly like MessageBatch.encode', () => {
    // Proves the hand-framed batch is a valid MessageBatch and keeps message order.
    fc.assert(
      fc.property(fc.array(message, { maxLength: 10 }), (ms) => {
        const encoded = ms.map(encodeMessage);
        const frame = encodeBatch(encoded);
        expect(frame.length).toBe(encoded.reduce((n, m) => n + framedSize(m), 0));
        expect(Buffer.from(frame)).toEqual(Buffer.from(MessageBatchType.encode({ messages: ms.map((m) => MessageBatchType.root.lookupType('raftkv.raft.v1.RaftMessage').decode(encodeMessage(m))) }).finish()));
        expect(decodeBatch(frame)).toStrictEqual({ messages: ms, rejected: [] });
      }),
      { numRuns: 300 },
    );
  });

  it('decodes entry data into fresh arrays that do not alias the received buffer', () => {
    // Proves a received entry stays intact when the network buffer is reused.
    const m: Message = { type: 'append', from: nodeId('a'), to: nodeId('b'), term: term(1), prevLogIndex: logIndex(0), prevLogTerm: term(0), commit: logIndex(0), entries: [{ term: term(1), index: logIndex(1), type: 'normal', data: new Uint8Array([7, 7, 7]) }] };
    const wire = Buffer.from(encodeBatch([encodeMessage(m)]));
    const [decoded] = decodeBatch(wire).messages;
    wire.fill(0);
    expect(decoded).toStrictEqual(m);
  });

  it('drops a malformed message but keeps the rest of its batch', () => {
    // Proves one bad message from a peer costs only itself.
    const good: Message = { type: 'timeoutNow', from: nodeId('a'), to: nodeId('b'), term: term(3) };
    const RaftMessage = MessageBatchType.root.lookupType('raftkv.raft.v1.RaftMessage');
    const noBody = RaftMessage.encode({ from: 'a', to: 'b', term: 3 }).finish();
    const noFrom = RaftMessage.encode({ from: '', to: 'b', term: 3, timeoutNow: {} }).finish();
    const tooBig = RaftMessage.encode({ from: 'a', to: 'b', term: 2 ** 53, timeoutNow: {} }).finish();
    const badEntryType = RaftMessage.encode({ from: 'a', to: 'b', term: 1, append: { entries: [{ type: 9 }] } }).finish();
    const garbage = new Uint8Array([0xff, 0xff, 0xff]);
    const result = decodeBatch(encodeBatch([noBody, encodeMessage(good), noFrom, tooBig, badEntryType, garbage, encodeMessage(good)]));
    expect(result.messages).toStrictEqual([good, good]);
    expect(result.rejected.map((e) => e.message)).toEqual([
      expect.stringContaining('body'),
      expect.stringContaining('from'),
      expect.stringContaining('2^53'),
      expect.stringContaining('entry type'),
      expect.stringContaining('RaftMessage'),
    ]);
    expect(result.rejected.every((e) => e instanceof MalformedMessageError)).toBe(true);
  });

  it('throws MalformedMessageError, never anything else, on arbitrary bytes (property)', () => {
    // Proves random input from a peer cannot escape as an unexpected exception.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (raw) => {
        for (const decode of [decodeBatch, decodeMessage, decodeSnapshotChunk, decodeStreamAck]) {
          try {
            decode(raw);
          } catch (e) {
            expect(e).toBeInstanceOf(MalformedMessageError);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips snapshot chunks and stream acks', () => {
    // Proves the snapshot and ack frames keep every field.
    fc.assert(
      fc.property(message.filter((m) => m.type === 'snapshot'), uint, bytes, fc.boolean(), uint, fc.uint8Array({ minLength: 32, maxLength: 32 }), (header, offset, data, last, totalBytes, sha256) => {
        if (header.type !== 'snapshot') return;
        for (const h of [header, null]) {
          const chunk = { header: h, offset, data, last, totalBytes, sha256 };
          expect(decodeSnapshotChunk(encodeSnapshotChunk(chunk))).toStrictEqual(chunk);
        }
      }),
      { numRuns: 200 },
    );
    expect(decodeStreamAck(encodeStreamAck({ nodeId: 'n1', batchesReceived: 5, messagesRejected: 0 }))).toStrictEqual({ nodeId: 'n1', batchesReceived: 5, messagesRejected: 0 });
  });

  it('refuses a snapshot chunk whose header is not an InstallSnapshot message', () => {
    // Proves the chunk decoder validates the header's type.
    const header = { type: 'timeoutNow', from: 'a', to: 'b', term: 1 } as unknown as Message & { type: 'snapshot' };
    const bytesOut = encodeSnapshotChunk({ header, offset: 0, data: new Uint8Array(0), last: true, totalBytes: 0, sha256: new Uint8Array(0) });
    expect(() => decodeSnapshotChunk(bytesOut)).toThrow(MalformedMessageError);
  });

  it('loads the contract from proto/raft.proto', () => {
    // Proves the codec reads the checked-in .proto (not a stale copy) and the file is where the build expects it.
    expect(resolveProtoFile('raft.proto')).toMatch(/proto[/\\]raft\.proto$/);
    expect(MessageBatchType.fullName).toBe('.raftkv.raft.v1.MessageBatch');
  });
});
