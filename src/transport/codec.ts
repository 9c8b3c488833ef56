/**
 * Binary protobuf encoding of the peer protocol (proto/raft.proto), with protobufjs reflection
 * types loaded once at module load. Nothing here goes through JSON.
 *
 * Mapping rules (round-trip tested over every message type):
 * - The TypeScript `type` tag becomes the `body` oneof field of the same name in snake case.
 * - Empty strings, empty byte arrays, false and 0 are the proto3 defaults and come back as such.
 * - uint64 fields come back as numbers; a value above Number.MAX_SAFE_INTEGER is malformed.
 * - Decoded byte fields are fresh `Uint8Array`s (entry data never aliases a network buffer).
 *
 * Decoding never trusts the peer: every failure is a `MalformedMessageError`.
 */
import protobuf from 'protobufjs';
import { assert, logIndex, nodeId, term, unreachable } from '../util/index.js';
import type { LogIndex, NodeId, Term } from '../util/index.js';
import type { ConfState, Entry, EntryType, Message, Snapshot, SnapshotMessage } from '../raft/index.js';
import { MalformedMessageError } from './errors.js';
import { resolveProtoFile } from '../api/index.js';

const root = protobuf.loadSync(resolveProtoFile('raft.proto'));
const pkg = 'raftkv.raft.v1';
const RaftMessageType = root.lookupType(`${pkg}.RaftMessage`);
const SnapshotChunkType = root.lookupType(`${pkg}.SnapshotChunk`);
const StreamAckType = root.lookupType(`${pkg}.StreamAck`);
const SnapshotAckType = root.lookupType(`${pkg}.SnapshotAck`);

/** The reflection type of `MessageBatch`, for tests that check the hand-framed batches. */
export const MessageBatchType = root.lookupType(`${pkg}.MessageBatch`);

/** The tag of `MessageBatch.messages` (field 1, wire type 2: length-delimited). */
const batchMessagesTag = (1 << 3) | 2;

// ---------------------------------------------------------------------------------------------
// Wire-level types that have no counterpart in src/raft.

/** The receiver's acknowledgement on a message stream. */
export interface StreamAck {
  /** The receiving node's id. */
  readonly nodeId: string;
  /** Batches received on this stream so far. */
  readonly batchesReceived: number;
  /** Messages dropped so far on this stream (malformed or misaddressed). */
  readonly messagesRejected: number;
}

/** One piece of a snapshot transfer (see `SnapshotChunk` in proto/raft.proto). */
export interface SnapshotChunk {
  /** First chunk only: the InstallSnapshot message the data belongs to. */
  readonly header: SnapshotMessage | null;
  /** Position of `data` in the whole snapshot. */
  readonly offset: number;
  readonly data: Uint8Array;
  /** Set on the last chunk only. */
  readonly last: boolean;
  /** Last chunk only: the total number of bytes. */
  readonly totalBytes: number;
  /** Last chunk only: the SHA-256 of all the bytes (empty otherwise). */
  readonly sha256: Uint8Array;
}

/** The receiver's answer to a successful snapshot transfer. */
export interface SnapshotAck {
  /** Bytes received and verified. */
  readonly bytesReceived: number;
}

/** The result of decoding a batch: the valid messages, and why the others were dropped. */
export interface DecodedBatch {
  /** The valid messages, in batch order. */
  readonly messages: Message[];
  /** One error per message that was dropped. */
  readonly rejected: MalformedMessageError[];
}

// ---------------------------------------------------------------------------------------------
// Shapes that protobufjs produces on decode. Absent sub-messages are null; absent bytes fields are
// an empty array; uint64 fields are Long objects (or numbers when long.js is absent).

type PbUint64 = number | { readonly low: number; readonly high: number };
type PbBytes = Uint8Array | readonly number[];

interface PbEntry { term: PbUint64; index: PbUint64; type: number; data: PbBytes }
interface PbConfState { voters: string[]; learners: string[] }
interface PbSnapshotMetadata { index: PbUint64; term: PbUint64; conf: PbConfState | null }
interface PbSnapshot { metadata: PbSnapshotMetadata | null; data: PbBytes }
interface PbVote { lastLogIndex: PbUint64; lastLogTerm: PbUint64; transfer: boolean }
interface PbVoteResponse { reject: boolean }
interface PbAppend { prevLogIndex: PbUint64; prevLogTerm: PbUint64; entries: PbEntry[]; commit: PbUint64 }
interface PbAppendResponse { index: PbUint64; reject: boolean; rejectHint: PbUint64; hintTerm: PbUint64 }
interface PbHeartbeat { commit: PbUint64; context: string }
interface PbContext { context: string }
interface PbInstallSnapshot { snapshot: PbSnapshot | null }
interface PbReadIndexResponse { index: PbUint64; context: string }
interface PbTransferLeader { transferee: string }

/** The oneof field names of `RaftMessage.body`. */
type PbBodyName =
  | 'vote' | 'preVote' | 'voteResponse' | 'preVoteResponse' | 'append' | 'appendResponse'
  | 'heartbeat' | 'heartbeatResponse' | 'snapshot' | 'readIndex' | 'readIndexResponse'
  | 'timeoutNow' | 'transferLeader';

interface PbRaftMessage {
  from: string;
  to: string;
  term: PbUint64;
  /** The name of the oneof field that is set (a protobufjs virtual getter), if any. */
  body?: PbBodyName;
  vote: PbVote | null;
  preVote: PbVote | null;
  voteResponse: PbVoteResponse | null;
  preVoteResponse: PbVoteResponse | null;
  append: PbAppend | null;
  appendResponse: PbAppendResponse | null;
  heartbeat: PbHeartbeat | null;
  heartbeatResponse: PbContext | null;
  snapshot: PbInstallSnapshot | null;
  readIndex: PbContext | null;
  readIndexResponse: PbReadIndexResponse | null;
  timeoutNow: object | null;
  transferLeader: PbTransferLeader | null;
}

interface PbSnapshotChunk {
  header: PbRaftMessage | null;
  offset: PbUint64;
  data: PbBytes;
  last: boolean;
  totalBytes: PbUint64;
  sha256: PbBytes;
}

interface PbStreamAck { nodeId: string; batchesReceived: PbUint64; messagesRejected: PbUint64 }
interface PbSnapshotAck { bytesReceived: PbUint64 }

// ---------------------------------------------------------------------------------------------
// Encoding.

/** Checks a number bound for a uint64 field. A bad one is a local bug, never peer input. */
function uint64(value: number, field: string): number {
  assert(Number.isSafeInteger(value) && value >= 0, () => `${field} must be a safe non-negative integer, got ${value}`);
  return value;
}

const entryTypeToPb: Record<EntryType, number> = { normal: 0, confChange: 1 };
const entryTypeFromPb: readonly EntryType[] = ['normal', 'confChange'];

function entryToPb(e: Entry): object {
  return { term: uint64(e.term, 'entry.term'), index: uint64(e.index, 'entry.index'), type: entryTypeToPb[e.type], data: e.data };
}

function snapshotToPb(s: Snapshot): object {
  const { index, term: snapshotTerm, conf } = s.metadata;
  return {
    metadata: {
      index: uint64(index, 'snapshot.index'),
      term: uint64(snapshotTerm, 'snapshot.term'),
      conf: { voters: [...conf.voters], learners: [...conf.learners] },
    },
    data: s.data,
  };
}

/** The `body` oneof of a message, as a plain object for protobufjs. */
function bodyToPb(m: Message): object {
  switch (m.type) {
    case 'vote':
    case 'preVote':
      return {
        [m.type]: {
          lastLogIndex: uint64(m.lastLogIndex, 'lastLogIndex'),
          lastLogTerm: uint64(m.lastLogTerm, 'lastLogTerm'),
          transfer: m.transfer,
        },
      };
    case 'voteResponse':
    case 'preVoteResponse':
      return { [m.type]: { reject: m.reject } };
    case 'append':
      return {
        append: {
          prevLogIndex: uint64(m.prevLogIndex, 'prevLogIndex'),
          prevLogTerm: uint64(m.prevLogTerm, 'prevLogTerm'),
          entries: m.entries.map(entryToPb),
          commit: uint64(m.commit, 'commit'),
        },
      };
    case 'appendResponse':
      return {
        appendResponse: {
          index: uint64(m.index, 'index'),
          reject: m.reject,
          rejectHint: uint64(m.rejectHint, 'rejectHint'),
          hintTerm: uint64(m.hintTerm, 'hintTerm'),
        },
      };
    case 'heartbeat':
      return { heartbeat: { commit: uint64(m.commit, 'commit'), context: m.context } };
    case 'heartbeatResponse':
      return { heartbeatResponse: { context: m.context } };
    case 'snapshot':
      return { snapshot: { snapshot: snapshotToPb(m.snapshot) } };
    case 'readIndex':
      return { readIndex: { context: m.context } };
    case 'readIndexResponse':
      return { readIndexResponse: { index: uint64(m.index, 'index'), context: m.context } };
    case 'timeoutNow':
      return { timeoutNow: {} };
    case 'transferLeader':
      return { transferLeader: { transferee: m.transferee } };
    default:
      return unreachable(m, 'message type');
  }
}

function messageToPb(m: Message): object {
  return { from: m.from, to: m.to, term: uint64(m.term, 'term'), ...bodyToPb(m) };
}

/** Encodes one Raft message as a `RaftMessage`. */
export function encodeMessage(m: Message): Uint8Array {
  return RaftMessageType.encode(messageToPb(m)).finish();
}

/**
 * Frames messages already encoded with `encodeMessage` as one `MessageBatch`, without decoding
 * or re-encoding them (the bytes are identical to `MessageBatch.encode`).
 */
export function encodeBatch(encodedMessages: readonly Uint8Array[]): Uint8Array {
  const writer = protobuf.Writer.create();
  for (const m of encodedMessages) writer.uint32(batchMessagesTag).bytes(m);
  return writer.finish();
}

/** The size of an encoded message once framed in a batch (tag, length prefix, bytes). */
export function framedSize(encodedMessage: Uint8Array): number {
  const n = encodedMessage.length;
  const lengthPrefixBytes = n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : n < 0x10000000 ? 4 : 5;
  return 1 + lengthPrefixBytes + n;
}

/** Encodes a snapshot chunk. */
export function encodeSnapshotChunk(chunk: SnapshotChunk): Uint8Array {
  return SnapshotChunkType.encode({
    header: chunk.header === null ? null : messageToPb(chunk.header),
    offset: uint64(chunk.offset, 'offset'),
    data: chunk.data,
    last: chunk.last,
    totalBytes: uint64(chunk.totalBytes, 'totalBytes'),
    sha256: chunk.sha256,
  }).finish();
}

/** Encodes a stream acknowledgement. */
export function encodeStreamAck(ack: StreamAck): Uint8Array {
  return StreamAckType.encode({
    nodeId: ack.nodeId,
    batchesReceived: uint64(ack.batchesReceived, 'batchesReceived'),
    messagesRejected: uint64(ack.messagesRejected, 'messagesRejected'),
  }).finish();
}

/** Encodes a snapshot acknowledgement. */
export function encodeSnapshotAck(ack: SnapshotAck): Uint8Array {
  return SnapshotAckType.encode({ bytesReceived: uint64(ack.bytesReceived, 'bytesReceived') }).finish();
}

// ---------------------------------------------------------------------------------------------
// Decoding. Every helper throws MalformedMessageError.

function malformed(message: string): MalformedMessageError {
  return new MalformedMessageError(message);
}

function safeNumber(v: PbUint64, field: string): number {
  if (typeof v === 'number') {
    if (!Number.isSafeInteger(v) || v < 0) throw malformed(`${field}: ${v} is not a safe unsigned integer`);
    return v;
  }
  const high = v.high >>> 0;
  if (high > 0x1fffff) throw malformed(`${field}: exceeds 2^53`);
  return high * 0x1_0000_0000 + (v.low >>> 0);
}

const toTerm = (v: PbUint64, field: string): Term => term(safeNumber(v, field));
const toIndex = (v: PbUint64, field: string): LogIndex => logIndex(safeNumber(v, field));

/** A fresh, unaliased copy (absent fields decode to an empty array). */
function copyBytes(v: PbBytes): Uint8Array {
  return new Uint8Array(v);
}

/** A plain `Uint8Array` view of the same memory, for transient data such as snapshot chunks. */
function viewBytes(v: PbBytes): Uint8Array {
  return v instanceof Uint8Array ? new Uint8Array(v.buffer, v.byteOffset, v.byteLength) : new Uint8Array(v);
}

function nodeIdOf(s: string, field: string): NodeId {
  if (s.length === 0) throw malformed(`${field}: empty node id`);
  return nodeId(s);
}

function present<T>(v: T | null | undefined, field: string): T {
  if (v === null || v === undefined) throw malformed(`${field}: missing`);
  return v;
}

function entryFromPb(e: PbEntry, i: number): Entry {
  const type = entryTypeFromPb[e.type];
  if (type === undefined) throw malformed(`entries[${i}].type: unknown entry type ${e.type}`);
  return { term: toTerm(e.term, `entries[${i}].term`), index: toIndex(e.index, `entries[${i}].index`), type, data: copyBytes(e.data) };
}

function confFromPb(c: PbConfState): ConfState {
  return {
    voters: c.voters.map((v, i) => nodeIdOf(v, `conf.voters[${i}]`)),
    learners: c.learners.map((v, i) => nodeIdOf(v, `conf.learners[${i}]`)),
  };
}

function snapshotFromPb(s: PbSnapshot): Snapshot {
  const metadata = present(s.metadata, 'snapshot.metadata');
  return {
    metadata: {
      index: toIndex(metadata.index, 'snapshot.metadata.index'),
      term: toTerm(metadata.term, 'snapshot.metadata.term'),
      conf: confFromPb(present(metadata.conf, 'snapshot.metadata.conf')),
    },
    data: copyBytes(s.data),
  };
}

interface Base {
  readonly from: NodeId;
  readonly to: NodeId;
  readonly term: Term;
}

/** The body of a decoded message, by its oneof name. */
function bodyFromPb(pb: PbRaftMessage, base: Base): Message {
  const body = present(pb.body, 'body');
  switch (body) {
    case 'vote':
    case 'preVote': {
      const v = present(pb[body], body);
      return { ...base, type: body, lastLogIndex: toIndex(v.lastLogIndex, 'lastLogIndex'), lastLogTerm: toTerm(v.lastLogTerm, 'lastLogTerm'), transfer: v.transfer };
    }
    case 'voteResponse':
    case 'preVoteResponse':
      return { ...base, type: body, reject: present(pb[body], body).reject };
    case 'append': {
      const a = present(pb.append, body);
      return {
        ...base,
        type: 'append',
        prevLogIndex: toIndex(a.prevLogIndex, 'prevLogIndex'),
        prevLogTerm: toTerm(a.prevLogTerm, 'prevLogTerm'),
        entries: a.entries.map(entryFromPb),
        commit: toIndex(a.commit, 'commit'),
      };
    }
    case 'appendResponse': {
      const r = present(pb.appendResponse, body);
      return {
        ...base,
        type: 'appendResponse',
        index: toIndex(r.index, 'index'),
        reject: r.reject,
        rejectHint: toIndex(r.rejectHint, 'rejectHint'),
        hintTerm: toTerm(r.hintTerm, 'hintTerm'),
      };
    }
    case 'heartbeat': {
      const h = present(pb.heartbeat, body);
      return { ...base, type: 'heartbeat', commit: toIndex(h.commit, 'commit'), context: h.context };
    }
    case 'heartbeatResponse':
      return { ...base, type: 'heartbeatResponse', context: present(pb.heartbeatResponse, body).context };
    case 'snapshot':
      return { ...base, type: 'snapshot', snapshot: snapshotFromPb(present(present(pb.snapshot, body).snapshot, 'snapshot.snapshot')) };
    case 'readIndex':
      return { ...base, type: 'readIndex', context: present(pb.readIndex, body).context };
    case 'readIndexResponse': {
      const r = present(pb.readIndexResponse, body);
      return { ...base, type: 'readIndexResponse', index: toIndex(r.index, 'index'), context: r.context };
    }
    case 'timeoutNow':
      present(pb.timeoutNow, body);
      return { ...base, type: 'timeoutNow' };
    case 'transferLeader':
      return { ...base, type: 'transferLeader', transferee: nodeIdOf(present(pb.transferLeader, body).transferee, 'transferee') };
    default:
      return unreachable(body, 'message body');
  }
}

function messageFromPb(pb: PbRaftMessage): Message {
  const base: Base = { from: nodeIdOf(pb.from, 'from'), to: nodeIdOf(pb.to, 'to'), term: toTerm(pb.term, 'term') };
  return bodyFromPb(pb, base);
}

/** Runs a protobufjs decode, turning its exceptions (truncation, bad wire types) into MalformedMessageError. */
function decodeWith<T>(type: protobuf.Type, bytes: Uint8Array, what: string): T {
  try {
    return type.decode(bytes) as unknown as T;
  } catch (e) {
    throw malformed(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Decodes and validates one `RaftMessage`. */
export function decodeMessage(bytes: Uint8Array): Message {
  return messageFromPb(decodeWith<PbRaftMessage>(RaftMessageType, bytes, 'RaftMessage'));
}

/**
 * Decodes a `MessageBatch`. Each message is decoded and validated on its own, so one bad message
 * does not cost the others; a batch whose framing is broken throws `MalformedMessageError`.
 * Unknown fields are skipped (forward compatibility).
 */
export function decodeBatch(bytes: Uint8Array): DecodedBatch {
  const raws: Uint8Array[] = [];
  try {
    const reader = protobuf.Reader.create(bytes);
    while (reader.pos < reader.len) {
      const tag = reader.uint32();
      if (tag === batchMessagesTag) raws.push(reader.bytes());
      else reader.skipType(tag & 7);
    }
  } catch (e) {
    throw malformed(`MessageBatch: ${e instanceof Error ? e.message : String(e)}`);
  }
  const messages: Message[] = [];
  const rejected: MalformedMessageError[] = [];
  for (const raw of raws) {
    try {
      messages.push(decodeMessage(raw));
    } catch (e) {
      if (!(e instanceof MalformedMessageError)) throw e;
      rejected.push(e);
    }
  }
  return { messages, rejected };
}

/** Decodes a snapshot chunk. A header, when present, must be a valid InstallSnapshot message. */
export function decodeSnapshotChunk(bytes: Uint8Array): SnapshotChunk {
  const pb = decodeWith<PbSnapshotChunk>(SnapshotChunkType, bytes, 'SnapshotChunk');
  let header: SnapshotMessage | null = null;
  if (pb.header !== null) {
    const m = messageFromPb(pb.header);
    if (m.type !== 'snapshot') throw malformed(`SnapshotChunk.header: a ${m.type} message, not a snapshot`);
    header = m;
  }
  return {
    header,
    offset: safeNumber(pb.offset, 'offset'),
    data: viewBytes(pb.data),
    last: pb.last,
    totalBytes: safeNumber(pb.totalBytes, 'totalBytes'),
    sha256: copyBytes(pb.sha256),
  };
}

/** Decodes a stream acknowledgement. */
export function decodeStreamAck(bytes: Uint8Array): StreamAck {
  const pb = decodeWith<PbStreamAck>(StreamAckType, bytes, 'StreamAck');
  return { nodeId: pb.nodeId, batchesReceived: safeNumber(pb.batchesReceived, 'batchesReceived'), messagesRejected: safeNumber(pb.messagesRejected, 'messagesRejected') };
}

/** Decodes a snapshot acknowledgement. */
export function decodeSnapshotAck(bytes: Uint8Array): SnapshotAck {
  const pb = decodeWith<PbSnapshotAck>(SnapshotAckType, bytes, 'SnapshotAck');
  return { bytesReceived: safeNumber(pb.bytesReceived, 'bytesReceived') };
}
