/**
 * Encoding of the Raft records: log entries, hard state, membership, snapshot metadata, the
 * compaction point and the cluster identity. Every record is framed and checksummed by
 * `record-codec.ts`; the decoders throw `RecordFormatError`, which the caller turns into a
 * `CorruptionError` naming the key and data directory.
 */
import { logIndex, nodeId, term } from '../util/index.js';
import type { LogIndex, NodeId, Term } from '../util/index.js';
import type { ConfState, Entry, EntryType, HardState, Snapshot } from '../raft/index.js';
import { logKey, MetaKey } from './keys.js';
import { ByteReader, ByteWriter, frameRecord, RecordFormatError, RecordKind, unframeRecord } from './record-codec.js';

/** The compaction point: the entry just before the first stored entry. */
export interface LogStart {
  readonly index: LogIndex;
  readonly term: Term;
}

/** The identity of a data directory, checked at every open. */
export interface ClusterRecord {
  /** The storage layout version the directory was written with. */
  readonly formatVersion: number;
  /** The cluster this node belongs to ('' if the creator did not say). */
  readonly clusterId: string;
  /** The node that owns the directory. */
  readonly nodeId: NodeId;
}

const entryTypeCodes: Record<EntryType, number> = { normal: 0, confChange: 1 };

function entryTypeFromCode(code: number): EntryType {
  switch (code) {
    case 0:
      return 'normal';
    case 1:
      return 'confChange';
    default:
      throw new RecordFormatError(`unknown entry type code ${code}`);
  }
}

/** Encodes a log entry as the value stored under `log/<index>`. */
export function encodeEntry(entry: Entry): Uint8Array {
  const payload = new ByteWriter().u64(entry.index).u64(entry.term).u8(entryTypeCodes[entry.type]).bytes(entry.data).finish();
  return frameRecord(logKey(entry.index), RecordKind.entry, payload);
}

/** Decodes the value of `log/<index>`; the stored index must match the key's. */
export function decodeEntry(index: number, value: Uint8Array): Entry {
  const r = new ByteReader(unframeRecord(logKey(index), RecordKind.entry, value));
  const storedIndex = r.u64();
  const entryTerm = r.u64();
  const type = entryTypeFromCode(r.u8());
  const data = r.bytes();
  r.end();
  if (storedIndex !== index) throw new RecordFormatError(`entry records index ${storedIndex} but is stored under index ${index}`);
  return { index: logIndex(index), term: term(entryTerm), type, data };
}

/** Encodes the hard state stored under `meta/hardstate`. */
export function encodeHardState(hs: HardState): Uint8Array {
  const w = new ByteWriter().u64(hs.term).u64(hs.commit);
  if (hs.vote === null) w.u8(0);
  else w.u8(1).string(hs.vote);
  return frameRecord(MetaKey.hardState, RecordKind.hardState, w.finish());
}

/** Decodes `meta/hardstate`. */
export function decodeHardState(value: Uint8Array): HardState {
  const r = new ByteReader(unframeRecord(MetaKey.hardState, RecordKind.hardState, value));
  const hsTerm = r.u64();
  const commit = r.u64();
  const hasVote = r.u8();
  if (hasVote > 1) throw new RecordFormatError(`vote flag ${hasVote} is neither 0 nor 1`);
  const vote = hasVote === 1 ? nodeId(r.string()) : null;
  r.end();
  return { term: term(hsTerm), vote, commit: logIndex(commit) };
}

function writeConf(w: ByteWriter, conf: ConfState): void {
  w.u32(conf.voters.length);
  for (const v of conf.voters) w.string(v);
  w.u32(conf.learners.length);
  for (const l of conf.learners) w.string(l);
}

function readConf(r: ByteReader): ConfState {
  const voters: NodeId[] = [];
  for (let n = r.u32(); n > 0; n--) voters.push(nodeId(r.string()));
  const learners: NodeId[] = [];
  for (let n = r.u32(); n > 0; n--) learners.push(nodeId(r.string()));
  return { voters, learners };
}

/** Encodes the membership stored under `meta/conf`. */
export function encodeConfState(conf: ConfState): Uint8Array {
  const w = new ByteWriter();
  writeConf(w, conf);
  return frameRecord(MetaKey.conf, RecordKind.confState, w.finish());
}

/** Decodes `meta/conf`. */
export function decodeConfState(value: Uint8Array): ConfState {
  const r = new ByteReader(unframeRecord(MetaKey.conf, RecordKind.confState, value));
  const conf = readConf(r);
  r.end();
  return conf;
}

/** Encodes the snapshot (metadata and the opaque data, usually empty on a node) under `meta/snapshot`. */
export function encodeSnapshot(snapshot: Snapshot): Uint8Array {
  const w = new ByteWriter().u64(snapshot.metadata.index).u64(snapshot.metadata.term);
  writeConf(w, snapshot.metadata.conf);
  w.bytes(snapshot.data);
  return frameRecord(MetaKey.snapshot, RecordKind.snapshot, w.finish());
}

/** Decodes `meta/snapshot`. */
export function decodeSnapshot(value: Uint8Array): Snapshot {
  const r = new ByteReader(unframeRecord(MetaKey.snapshot, RecordKind.snapshot, value));
  const index = logIndex(r.u64());
  const snapTerm = term(r.u64());
  const conf = readConf(r);
  const data = r.bytes();
  r.end();
  return { metadata: { index, term: snapTerm, conf }, data };
}

/** Encodes the compaction point stored under `meta/logstart`. */
export function encodeLogStart(start: LogStart): Uint8Array {
  return frameRecord(MetaKey.logStart, RecordKind.logStart, new ByteWriter().u64(start.index).u64(start.term).finish());
}

/** Decodes `meta/logstart`. */
export function decodeLogStart(value: Uint8Array): LogStart {
  const r = new ByteReader(unframeRecord(MetaKey.logStart, RecordKind.logStart, value));
  const start = { index: logIndex(r.u64()), term: term(r.u64()) };
  r.end();
  return start;
}

/** Encodes the data directory identity stored under `meta/cluster`. */
export function encodeCluster(record: ClusterRecord): Uint8Array {
  const payload = new ByteWriter().u32(record.formatVersion).string(record.clusterId).string(record.nodeId).finish();
  return frameRecord(MetaKey.cluster, RecordKind.cluster, payload);
}

/**
 * The storage layout version this build writes and reads. Bump it (and write a migration) when
 * any key or record layout changes. The `meta/cluster` record itself must always start with the
 * format version, so that a newer directory is refused with a clear message instead of a decode error.
 */
export const STORAGE_FORMAT_VERSION = 1;

/** `meta/cluster` names a storage format version this build cannot read. */
export class UnsupportedFormatVersionError extends Error {
  override readonly name = 'UnsupportedFormatVersionError';
  constructor(readonly formatVersion: number) {
    super(`storage format version ${formatVersion} (this build reads only version ${STORAGE_FORMAT_VERSION})`);
  }
}

/** Decodes `meta/cluster`; throws `UnsupportedFormatVersionError` before reading anything else of another version. */
export function decodeCluster(value: Uint8Array): ClusterRecord {
  const r = new ByteReader(unframeRecord(MetaKey.cluster, RecordKind.cluster, value));
  const formatVersion = r.u32();
  if (formatVersion !== STORAGE_FORMAT_VERSION) throw new UnsupportedFormatVersionError(formatVersion);
  const record = { formatVersion, clusterId: r.string(), nodeId: nodeId(r.string()) };
  r.end();
  return record;
}
