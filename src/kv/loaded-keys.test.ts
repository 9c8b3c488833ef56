// Proves the start-up load path (issue 12, restart): records decoded straight into packed form agree with the
// KeyValue codec, LoadedKeys checks what the old array load checked, and a machine that adopts loaded keys is
// the same state as one built from the same KeyValues.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssertionError, InvalidArgumentError, logIndex, revision } from '../util/index.js';
import { fromBinaryString, toBinaryString } from './binary-key.js';
import { defaultClusterLimits } from './cluster-limits.js';
import { KvStateMachine } from './kv-state-machine.js';
import { LoadedKeys } from './loaded-keys.js';
import { packRecord } from './packed-record.js';
import { decodeKeyValue, decodePackedKeyValue, encodeKeyValue } from './record-codec.js';
import { Fnv1a64 } from './state-hash.js';
import type { KeyValue } from './types.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const kv = (key: string, value: string, createRevision: number, modRevision: number, lease?: number): KeyValue => ({
  key: b(key),
  value: b(value),
  createRevision: revision(createRevision),
  modRevision: revision(modRevision),
  version: modRevision - createRevision + 1,
  ...(lease === undefined ? {} : { lease }),
});

/** Key-values with keys and values on both sides of toBinaryString's native-decoder threshold. */
const keyValue: fc.Arbitrary<KeyValue> = fc
  .record({
    key: fc.uint8Array({ minLength: 1, maxLength: 80 }),
    value: fc.uint8Array({ maxLength: 300 }),
    createRevision: fc.integer({ min: 1, max: 1000 }),
    extra: fc.nat(1000),
    version: fc.integer({ min: 1, max: 50 }),
    lease: fc.option(fc.integer({ min: 1, max: 2 ** 40 }), { nil: undefined }),
  })
  .map(({ key, value, createRevision, extra, version, lease }) => ({
    key,
    value,
    createRevision: revision(createRevision),
    modRevision: revision(createRevision + extra),
    version,
    ...(lease === undefined ? {} : { lease }),
  }));

describe('binary strings', () => {
  it('map every byte to the char code of the same value, at every length', () => {
    // Proves the native latin1 path (32 bytes and up) and the char-code path give the same strings, and round-trip.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const s = toBinaryString(bytes);
        expect(s.length).toBe(bytes.length);
        for (let i = 0; i < bytes.length; i++) expect(s.charCodeAt(i)).toBe(bytes[i]);
        expect(fromBinaryString(s)).toEqual(bytes);
        // A view into a larger buffer converts only its own bytes.
        const padded = new Uint8Array(bytes.length + 8);
        padded.set(bytes, 4);
        expect(toBinaryString(padded.subarray(4, 4 + bytes.length))).toBe(s);
      }),
      { numRuns: 300 },
    );
  });

  it('hash as the bytes they stand for, and the halves spell the hex digest', () => {
    // Proves Fnv1a64.binaryString (native copy from 32 chars up) mixes exactly what bytes() mixes.
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        const h = new Fnv1a64().binaryString(toBinaryString(bytes));
        expect(h.digest()).toBe(new Fnv1a64().bytes(bytes).digest());
        const { hi, lo } = h.halves();
        expect(hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0')).toBe(h.digest());
      }),
      { numRuns: 200 },
    );
  });
});

describe('decodePackedKeyValue', () => {
  it('decodes what decodeKeyValue decodes, packed', () => {
    // Proves the packed decoder reads the same fields (lease included) as the KeyValue decoder.
    fc.assert(
      fc.property(keyValue, (value) => {
        const encoded = encodeKeyValue(value);
        const packed = decodePackedKeyValue(encoded);
        expect(packed.key).toBe(toBinaryString(value.key));
        expect(packed.record).toEqual(packRecord(decodeKeyValue(encoded)));
      }),
      { numRuns: 300 },
    );
  });

  it('refuses what decodeKeyValue refuses, with the same message', () => {
    // Proves the packed decoder keeps every invariant check: version, revisions, empty key, lease, trailing bytes.
    const bad = [
      encodeKeyValue({ ...kv('k', 'v', 2, 3), version: 0 }),
      encodeKeyValue(kv('k', 'v', 4, 3)),
      encodeKeyValue({ ...kv('k', 'v', 2, 3), key: new Uint8Array(0) }),
      encodeKeyValue(kv('k', 'v', 2, 3, 1)).map((x, i, all) => (i === all.length - 1 ? 0 : x)),
      new Uint8Array([...encodeKeyValue(kv('k', 'v', 2, 3)), 0]),
      new Uint8Array([9, ...encodeKeyValue(kv('k', 'v', 2, 3)).subarray(1)]),
    ];
    for (const bytes of bad) {
      const expected = (() => {
        try {
          decodeKeyValue(bytes);
        } catch (e) {
          return e as Error;
        }
        throw new Error('decodeKeyValue accepted a bad record');
      })();
      expect(expected).toBeInstanceOf(InvalidArgumentError);
      expect(() => decodePackedKeyValue(bytes)).toThrow(expected.message);
    }
  });
});

describe('LoadedKeys', () => {
  it('refuses a repeated key, in order or not, and a record newer than the image', () => {
    // Proves the checks the old array load made: no key twice, 1 <= createRevision <= modRevision <= revision.
    const inOrder = new LoadedKeys(10);
    inOrder.add('a', packRecord(kv('a', '1', 1, 1)));
    expect(() => inOrder.add('a', packRecord(kv('a', '2', 2, 2)))).toThrow(/holds key "a" twice/);
    const unordered = new LoadedKeys(10);
    for (const key of ['m', 'c', 'x']) unordered.add(key, packRecord(kv(key, '1', 1, 1)));
    expect(() => unordered.add('c', packRecord(kv('c', '1', 1, 1)))).toThrow(/holds key "c" twice/);
    unordered.add('d', packRecord(kv('d', '1', 1, 1)));
    expect([...unordered].map((x) => toBinaryString(x.key))).toEqual(['c', 'd', 'm', 'x']);
    expect(() => unordered.add('z', packRecord(kv('z', '1', 1, 11)))).toThrow(/modRevision \(11\) <= revision \(10\)/);
    expect(() => unordered.add('', packRecord(kv('', '1', 1, 1)))).toThrow(AssertionError);
  });

  it('is adopted once, and cannot be read or grown after', () => {
    // Proves the state machine takes the key space over without a copy, so no one else may touch it.
    const keys = new LoadedKeys(5);
    keys.add('a', packRecord(kv('a', '1', 1, 1)));
    const image = { appliedIndex: logIndex(3), revision: revision(5), clockMs: 0, kvs: keys, sessions: [] };
    new KvStateMachine({ limits: defaultClusterLimits, sessionTtlMs: defaultClusterLimits.sessionTtlMs, image });
    expect(() => [...keys]).toThrow(/after the state machine adopted/);
    expect(() => keys.add('b', packRecord(kv('b', '1', 1, 1)))).toThrow(/after the state machine adopted/);
    expect(() => new KvStateMachine({ limits: defaultClusterLimits, sessionTtlMs: defaultClusterLimits.sessionTtlMs, image })).toThrow(/adopted twice/);
  });

  it('builds the same state machine as the KeyValues it was loaded from', () => {
    // Proves adoption and the array path are one state: same digest, same reads, same byte accounting.
    fc.assert(
      fc.property(fc.uniqueArray(keyValue.map((x) => ({ ...x, lease: undefined })), { selector: (x) => toBinaryString(x.key), maxLength: 30 }), (values) => {
        const kvs = values.map(({ lease: _lease, ...rest }) => rest);
        const top = Math.max(1, ...kvs.map((x) => x.modRevision));
        const sorted = [...kvs].sort((x, y) => (toBinaryString(x.key) < toBinaryString(y.key) ? -1 : 1));
        const loaded = new LoadedKeys(top);
        for (const x of sorted) loaded.add(toBinaryString(x.key), packRecord(x));
        const build = (keys: Iterable<KeyValue>): KvStateMachine =>
          new KvStateMachine({ limits: defaultClusterLimits, sessionTtlMs: defaultClusterLimits.sessionTtlMs, image: { appliedIndex: logIndex(1), revision: revision(top), clockMs: 0, kvs: keys, sessions: [] } });
        const fromArray = build(kvs);
        const adopted = build(loaded);
        expect(adopted.digest()).toBe(fromArray.digest());
        expect(adopted.dataBytes).toBe(fromArray.dataBytes);
        expect(adopted.range({ type: 'range', key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) })).toEqual(fromArray.range({ type: 'range', key: new Uint8Array([0]), rangeEnd: new Uint8Array([0]) }));
      }),
      { numRuns: 100 },
    );
  });
});
