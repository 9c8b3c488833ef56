import { describe, expect, it } from 'vitest';
import { logIndex, nodeId, term } from '../util/index.js';
import { describeKey, kvKey, logKey, logKeyIndex, MetaKey, prefixRange, Prefix } from './keys.js';
import { decodeKeyValueRecord, encodeKeyValueRecord } from './kv-records.js';
import { decodeCluster, decodeEntry, decodeHardState, encodeCluster, encodeEntry, encodeHardState, UnsupportedFormatVersionError } from './raft-records.js';
import { ByteWriter, FRAME_HEADER_BYTES, frameRecord, RecordFormatError, RecordKind, unframeRecord } from './record-codec.js';
import { revision } from '../util/index.js';

const entry = { index: logIndex(7), term: term(3), type: 'confChange' as const, data: new Uint8Array([1, 2, 3, 4]) };

describe('record framing', () => {
  it('round-trips every record kind used for the log and hard state', () => {
    // Proves encode/decode are inverse for entries and hard states, including a null vote.
    expect(decodeEntry(7, encodeEntry(entry))).toEqual(entry);
    const hs = { term: term(9), vote: nodeId('n2'), commit: logIndex(5) };
    expect(decodeHardState(encodeHardState(hs))).toEqual(hs);
    expect(decodeHardState(encodeHardState({ ...hs, vote: null }))).toEqual({ ...hs, vote: null });
  });

  it('detects a flipped bit anywhere in a record', () => {
    // Proves the CRC32 (plus header checks) catches every single-bit error in an entry value.
    const value = encodeEntry(entry);
    for (let byte = 0; byte < value.length; byte++) {
      for (let bit = 0; bit < 8; bit++) {
        const bad = value.slice();
        bad[byte] = (bad[byte] ?? 0) ^ (1 << bit);
        expect(() => decodeEntry(7, bad), `byte ${byte} bit ${bit}`).toThrow(RecordFormatError);
      }
    }
  });

  it('names truncation, a wrong kind, a misplaced record and an over-long value', () => {
    // Proves each failure gets its own message, so a CorruptionError says what happened.
    const value = encodeEntry(entry);
    expect(() => decodeEntry(7, value.subarray(0, value.length - 2))).toThrow(/truncated record: header says \d+ payload bytes, found \d+/);
    expect(() => decodeEntry(7, value.subarray(0, 4))).toThrow(/truncated record: 4 bytes, shorter than the 10-byte header/);
    expect(() => unframeRecord(logKey(7), RecordKind.hardState, value)).toThrow(/record kind 1 where kind 2 was expected/);
    // The checksum is bound to the key: the same bytes under log/8 fail.
    expect(() => decodeEntry(8, value)).toThrow(/checksum mismatch/);
    const longer = new Uint8Array(value.length + 1);
    longer.set(value);
    expect(() => decodeEntry(7, longer)).toThrow(/longer than its header says/);
    const future = value.slice();
    future[0] = 2;
    expect(() => decodeEntry(7, future)).toThrow(/unknown record framing version 2/);
  });

  it('refuses trailing bytes inside a well-framed payload', () => {
    // Proves a payload with extra bytes (a layout mismatch) is not silently accepted.
    const payload = new ByteWriter().u64(9).u64(1).u8(0).bytes(new Uint8Array(0)).u8(0xff).finish();
    expect(() => decodeEntry(9, frameRecord(logKey(9), RecordKind.entry, payload))).toThrow(/unexpected trailing bytes/);
  });

  it('reports an unknown storage format version before anything else in meta/cluster', () => {
    // Proves a directory written by a newer build is refused by version, not by a decode error.
    expect(decodeCluster(encodeCluster({ formatVersion: 1, clusterId: 'c', nodeId: nodeId('n1') }))).toEqual({ formatVersion: 1, clusterId: 'c', nodeId: 'n1' });
    const future = frameRecord(MetaKey.cluster, RecordKind.cluster, new ByteWriter().u32(7).u8(1).u8(2).finish());
    expect(() => decodeCluster(future)).toThrow(UnsupportedFormatVersionError);
  });

  it('binds a key-value record to its key', () => {
    // Proves a kv/ record copied under another key is reported, even though its checksum is intact.
    const kv = { key: new Uint8Array([0x61]), value: new Uint8Array([1]), createRevision: revision(1), modRevision: revision(2), version: 2 };
    const value = encodeKeyValueRecord(kv);
    expect(decodeKeyValueRecord(kvKey(kv.key), value)).toEqual(kv);
    expect(() => decodeKeyValueRecord(kvKey(new Uint8Array([0x62])), value)).toThrow(/checksum mismatch/);
    expect(FRAME_HEADER_BYTES).toBe(10);
  });
});

describe('key layout', () => {
  it('orders log keys by index and decodes them back', () => {
    // Proves big-endian log keys sort numerically (LevelDB compares bytes) across the 32-bit boundary.
    const indexes = [0, 1, 255, 256, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 3, Number.MAX_SAFE_INTEGER];
    const keys = indexes.map(logKey);
    const sorted = [...keys].sort((a, b) => Buffer.compare(a, b));
    expect(sorted.map(logKeyIndex)).toEqual(indexes);
    expect(describeKey(logKey(42))).toBe('log/42');
    expect(describeKey(kvKey(new Uint8Array([0x61, 0x00])))).toBe('kv/a\\x00');
  });

  it('gives each prefix a range that holds exactly its keys', () => {
    // Proves prefixRange keeps kv/ and kv-meta/ apart even though one prefix string starts the other's.
    const range = prefixRange(Prefix.kv);
    const inRange = (k: Uint8Array) => Buffer.compare(k, range.gte) >= 0 && Buffer.compare(k, range.lt) < 0;
    expect(inRange(kvKey(new Uint8Array([0xff, 0xff])))).toBe(true);
    expect(inRange(kvKey(new Uint8Array(0)))).toBe(true);
    expect(inRange(MetaKey.appliedIndex)).toBe(false);
    expect(inRange(logKey(1))).toBe(false);
  });
});
