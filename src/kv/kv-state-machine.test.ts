// Proves the KV state machine's put/get/delete/range semantics (etcd v3 revisions and versions), its quota, its images and its determinism.
import { describe, expect, it } from 'vitest';
import { AssertionError, InvalidArgumentError, logIndex, makeLimits, revision, SeededPrng } from '../util/index.js';
import type { Limits } from '../util/index.js';
import { KvStateMachine, encodeCommand } from './index.js';
import type { ApplyOutcome, DeleteOp, KvCommand, PutOp, RangeOp, WriteOp, WriteResult } from './index.js';

const utf8 = new TextEncoder();
const text = new TextDecoder();
const b = (s: string): Uint8Array => utf8.encode(s);
const str = (bytes: Uint8Array): string => text.decode(bytes);

function machine(overrides: Partial<Limits> = {}): KvStateMachine {
  return new KvStateMachine({ limits: makeLimits(overrides), sessionTtlMs: 60_000 });
}
/** Applies `op` as the next entry, with no session unless `fields` gives one. */
function run(sm: KvStateMachine, op: WriteOp, fields: Partial<KvCommand> = {}): ApplyOutcome {
  return sm.apply(logIndex(sm.appliedIndex + 1), { clientId: '', seq: 0, ackSeq: 0, timeMs: 0, op, ...fields });
}
const put = (key: string, value: string, extra: Partial<PutOp> = {}): PutOp => ({ type: 'put', key: b(key), value: b(value), ...extra });
const del = (key: string, extra: Partial<DeleteOp> = {}): DeleteOp => ({ type: 'delete', key: b(key), ...extra });
const range = (key: string, extra: Partial<RangeOp> = {}): RangeOp => ({ type: 'range', key: b(key), ...extra });
/** Narrows a result to the expected type, failing the test otherwise. */
function as<T extends WriteResult['type']>(result: WriteResult, type: T): Extract<WriteResult, { type: T }> {
  expect(result.type, JSON.stringify(result)).toBe(type);
  return result as Extract<WriteResult, { type: T }>;
}
const keysOf = (sm: KvStateMachine, op: RangeOp): string[] => sm.range(op).kvs.map((kv) => str(kv.key));

describe('put and get', () => {
  it('creates a key at a new revision and counts versions on overwrite', () => {
    // Proves createRevision is kept, modRevision follows the revision, and version counts puts.
    const sm = machine();
    expect(as(run(sm, put('a', '1')).result, 'put').revision).toBe(1);
    expect(sm.get(b('a'))).toMatchObject({ value: b('1'), createRevision: 1, modRevision: 1, version: 1 });
    run(sm, put('b', 'x'));
    const second = run(sm, put('a', '2'));
    expect(second.revision).toBe(3);
    expect(sm.get(b('a'))).toMatchObject({ value: b('2'), createRevision: 1, modRevision: 3, version: 2 });
    expect(sm.revision).toBe(3);
    expect(sm.get(b('missing'))).toBeNull();
  });

  it('returns the previous key-value only when asked', () => {
    // Proves prevKv is opt-in and is the state before the put.
    const sm = machine();
    expect(as(run(sm, put('a', '1', { prevKv: true })).result, 'put').prevKv).toBeNull();
    expect(as(run(sm, put('a', '2')).result, 'put').prevKv).toBeNull();
    const third = as(run(sm, put('a', '3', { prevKv: true })).result, 'put');
    expect(third.prevKv).toMatchObject({ value: b('2'), modRevision: 2, version: 2 });
  });

  it('lists each change as a mutation with the new applied index and revision', () => {
    // Proves the node gets everything it must persist in one batch.
    const sm = machine();
    const outcome = run(sm, put('a', '1'));
    expect(outcome.mutations).toEqual([{ type: 'putKey', kv: sm.get(b('a')) }]);
    expect(outcome).toMatchObject({ appliedIndex: 1, revision: 1, duplicate: false });
    const before = sm.get(b('a'));
    expect(run(sm, del('a')).mutations).toEqual([{ type: 'deleteKey', key: b('a'), prev: before }]);
  });

  it('tracks dataBytes and keyCount', () => {
    // Proves the quota's accounting follows puts, overwrites and deletes.
    const sm = machine();
    run(sm, put('ab', '123'));
    run(sm, put('c', ''));
    expect([sm.dataBytes, sm.keyCount]).toEqual([6, 2]);
    run(sm, put('ab', '1'));
    expect(sm.dataBytes).toBe(4);
    run(sm, del('ab'));
    expect([sm.dataBytes, sm.keyCount]).toEqual([1, 1]);
  });
});

describe('delete', () => {
  it('removes a key at a new revision and reports prevKvs when asked', () => {
    // Proves a delete that deletes raises the revision once and can return what it removed.
    const sm = machine();
    run(sm, put('a', '1'));
    const result = as(run(sm, del('a', { prevKv: true })).result, 'delete');
    expect(result).toMatchObject({ revision: 2, deleted: 1 });
    expect(result.prevKvs.map((kv) => str(kv.value))).toEqual(['1']);
    expect(sm.get(b('a'))).toBeNull();
  });

  it('leaves the revision alone when it deletes nothing', () => {
    // Proves an empty delete is not a write (etcd).
    const sm = machine();
    run(sm, put('a', '1'));
    const outcome = run(sm, del('zzz'));
    expect(as(outcome.result, 'delete')).toMatchObject({ revision: 1, deleted: 0, prevKvs: [] });
    expect(outcome.mutations).toEqual([]);
    expect(sm.revision).toBe(1);
  });

  it('deletes a range and a prefix in one revision each', () => {
    // Proves range deletes remove exactly the selected keys at one revision.
    const sm = machine();
    for (const k of ['a', 'b1', 'b2', 'c', 'd']) run(sm, put(k, k));
    const spanned = run(sm, del('b', { rangeEnd: b('c') }));
    expect(as(spanned.result, 'delete')).toMatchObject({ revision: 6, deleted: 2 });
    expect(spanned.mutations).toHaveLength(2);
    expect(as(run(sm, del('c', { prefix: true })).result, 'delete')).toMatchObject({ revision: 7, deleted: 1 });
    expect(keysOf(sm, range('', { prefix: true }))).toEqual(['a', 'd']);
  });

  it('restarts createRevision and version when a deleted key is put again', () => {
    // Proves a key's lifetime starts over after deletion.
    const sm = machine();
    run(sm, put('a', '1'));
    run(sm, put('a', '2'));
    run(sm, del('a'));
    run(sm, put('a', '3'));
    expect(sm.get(b('a'))).toMatchObject({ createRevision: 4, modRevision: 4, version: 1 });
  });
});

describe('range', () => {
  const filled = (): KvStateMachine => {
    const sm = machine({ rangeKeysMax: 4 });
    for (const k of ['a', 'ab', 'abc', 'abd', 'b', 'c']) run(sm, put(k, `v-${k}`));
    return sm;
  };

  it('selects one key, a span, a prefix, or everything from a key', () => {
    // Proves each way of selecting keys, with etcd's conventions.
    const sm = filled();
    expect(keysOf(sm, range('ab'))).toEqual(['ab']);
    expect(keysOf(sm, range('zz'))).toEqual([]);
    expect(keysOf(sm, range('ab', { rangeEnd: b('b') }))).toEqual(['ab', 'abc', 'abd']);
    expect(keysOf(sm, range('ab', { prefix: true }))).toEqual(['ab', 'abc', 'abd']);
    expect(keysOf(sm, range('abc', { rangeEnd: new Uint8Array(0) }))).toEqual(['abc', 'abd', 'b', 'c']);
    expect(sm.range(range('', { prefix: true, limit: 10 })).count).toBe(6);
    expect(keysOf(sm, range('b', { rangeEnd: b('b') }))).toEqual([]);
    expect(keysOf(sm, range('c', { rangeEnd: b('a') }))).toEqual([]);
    expect(sm.range(range('a')).revision).toBe(6);
  });

  it('orders keys by bytes, including bytes above 0x7f and prefixes of 0xff', () => {
    // Proves the binary-string map order is byte order and prefix ends handle 0xff.
    const sm = machine();
    const keys = [[0xff], [0x80, 0x00], [0x7f], [0x00], [0xff, 0xff, 0x01], [0xfe, 0xff]].map((k) => new Uint8Array(k));
    for (const key of keys) run(sm, { type: 'put', key, value: b('') });
    const all = sm.range({ type: 'range', key: new Uint8Array(0), prefix: true }).kvs.map((kv) => Array.from(kv.key));
    expect(all).toEqual([[0x00], [0x7f], [0x80, 0x00], [0xfe, 0xff], [0xff], [0xff, 0xff, 0x01]]);
    const underFf = sm.range({ type: 'range', key: new Uint8Array([0xff]), prefix: true }).kvs.map((kv) => Array.from(kv.key));
    expect(underFf).toEqual([[0xff], [0xff, 0xff, 0x01]]);
    expect(sm.range({ type: 'range', key: new Uint8Array([0xfe]), prefix: true }).count).toBe(1);
  });

  it('honours limit with count and more, and caps it at rangeKeysMax', () => {
    // Proves limit cuts kvs but not count, 0 means the server limit, and more says when it cut.
    const sm = filled();
    expect(sm.range(range('a', { prefix: true, limit: 2 }))).toMatchObject({ count: 4, more: true });
    expect(keysOf(sm, range('a', { prefix: true, limit: 2 }))).toEqual(['a', 'ab']);
    expect(sm.range(range('a', { prefix: true, limit: 4 }))).toMatchObject({ count: 4, more: false });
    const unlimited = sm.range(range('', { prefix: true, limit: 0 }));
    expect([unlimited.kvs.length, unlimited.count, unlimited.more]).toEqual([4, 6, true]);
    expect(sm.range(range('', { prefix: true, limit: 1000 })).kvs).toHaveLength(4);
  });

  it('returns keys without values for keysOnly and only a count for countOnly', () => {
    // Proves keysOnly strips values (not the metadata) and countOnly returns no keys.
    const sm = filled();
    const keysOnly = sm.range(range('ab', { prefix: true, keysOnly: true }));
    expect(keysOnly.kvs.map((kv) => [str(kv.key), kv.value.length, kv.version])).toEqual([['ab', 0, 1], ['abc', 0, 1], ['abd', 0, 1]]);
    expect(sm.get(b('ab'))?.value).toEqual(b('v-ab'));
    expect(sm.range(range('', { prefix: true, countOnly: true }))).toMatchObject({ kvs: [], count: 6, more: false });
  });

  it('refuses an invalid query with InvalidArgumentError', () => {
    // Proves the read path validates like the write path.
    const sm = filled();
    expect(() => sm.range(range('a', { limit: -1 }))).toThrow(/range.limit: must be a non-negative safe integer, got -1/);
    expect(() => sm.range(range(''))).toThrow(InvalidArgumentError);
    expect(() => sm.range({ type: 'range', key: new Uint8Array(5000) })).toThrow(/range.key: is 5000 bytes, more than keyBytesMax \(4096\)/);
  });
});

describe('space quota', () => {
  it('refuses a put that would exceed dataBytesMax, identically and without changes', () => {
    // Proves the quota refusal is an OVERLOADED result that changes nothing but the applied index.
    const sm = machine({ dataBytesMax: 10 });
    run(sm, put('a', '1234'));
    const hashBefore = sm.stateHash();
    const refused = run(sm, put('b', '12345678'));
    expect(as(refused.result, 'error')).toMatchObject({ code: 'OVERLOADED' });
    expect(as(refused.result, 'error').message).toMatch(/database space exceeded.*dataBytesMax \(10\)/);
    expect(refused.mutations).toEqual([]);
    expect([refused.revision, refused.appliedIndex]).toEqual([1, 2]);
    expect(sm.stateHash()).toBe(hashBefore);
    expect(as(run(sm, put('b', '1234')).result, 'put').revision).toBe(2);
    expect(sm.dataBytes).toBe(10);
  });

  it('still allows writes that shrink the data when over quota', () => {
    // Proves an over-quota database can be cleaned up (deletes and smaller values go through).
    const full = machine({ dataBytesMax: 100 });
    run(full, put('a', 'x'.repeat(60)));
    run(full, put('b', 'x'.repeat(30)));
    const sm = new KvStateMachine({ limits: makeLimits({ dataBytesMax: 50 }), sessionTtlMs: 60_000, image: full.image() });
    expect(run(sm, put('c', '')).result.type).toBe('error');
    expect(run(sm, put('a', 'x'.repeat(10))).result.type).toBe('put');
    expect(run(sm, del('b')).result.type).toBe('delete');
    expect(sm.dataBytes).toBe(11);
  });
});

describe('apply bookkeeping', () => {
  it('requires entries in order and lets no-ops advance the applied index', () => {
    // Proves apply asserts index = appliedIndex + 1 and applyNoop fills the gaps.
    const sm = machine();
    sm.applyNoop(logIndex(1));
    run(sm, put('a', '1'));
    expect(sm.appliedIndex).toBe(2);
    expect(() => sm.apply(logIndex(4), { clientId: '', seq: 0, ackSeq: 0, timeMs: 0, op: put('b', '1') })).toThrow(AssertionError);
    expect(() => sm.applyNoop(logIndex(2))).toThrow(AssertionError);
    sm.applyNoop(logIndex(3));
    expect([sm.appliedIndex, sm.revision]).toEqual([3, 1]);
  });

  it('answers an invalid command with INVALID_ARGUMENT and changes nothing', () => {
    // Proves apply re-validates defensively and never throws on bad input.
    const sm = machine();
    const outcome = run(sm, put('', 'v'));
    expect(as(outcome.result, 'error')).toEqual({ type: 'error', code: 'INVALID_ARGUMENT', message: 'op.key: must not be empty' });
    expect([outcome.appliedIndex, outcome.revision, outcome.mutations.length, sm.keyCount]).toEqual([1, 0, 0, 0]);
  });

  it('applies encoded entries and answers undecodable ones with INVALID_ARGUMENT', () => {
    // Proves a garbage entry cannot stop the node: every replica answers it the same way.
    const sm = machine();
    const data = encodeCommand({ clientId: '', seq: 0, ackSeq: 0, timeMs: 0, op: put('a', '1') });
    expect(sm.applyEncoded(logIndex(1), data).result.type).toBe('put');
    const garbage = sm.applyEncoded(logIndex(2), new Uint8Array([9, 9, 9]));
    expect(as(garbage.result, 'error')).toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^undecodable entry at index 2 \(3 bytes\): command: unsupported format version 9/) });
    expect(garbage.undecodable).toBe(true);
    expect([sm.appliedIndex, sm.revision]).toEqual([2, 1]);
  });
});

/** A deterministic random workload: puts, deletes, ranges-in-txns and compares over a small key set, from several clients. */
function workload(seed: number, length: number): KvCommand[] {
  const prng = new SeededPrng(seed);
  const key = (): Uint8Array => b(`k${prng.int(0, 15)}`);
  const seqs = new Map<string, number>();
  const commands: KvCommand[] = [];
  for (let i = 0; i < length; i++) {
    const clientId = prng.chance(0.2) ? '' : `client-${prng.int(0, 3)}`;
    const seq = (seqs.get(clientId) ?? 0) + 1;
    seqs.set(clientId, seq);
    const roll = prng.int(0, 9);
    const op: WriteOp =
      roll < 5
        ? { type: 'put', key: key(), value: b(`v${prng.int(0, 99)}`), prevKv: prng.chance(0.5) }
        : roll < 7
          ? { type: 'delete', key: key(), prevKv: true, ...(prng.chance(0.3) ? { rangeEnd: key() } : {}) }
          : {
              type: 'txn',
              compares: [{ key: key(), target: 'version', op: prng.chance(0.5) ? '>' : '=', value: prng.int(0, 2) }],
              success: [{ type: 'put', key: key(), value: b('t') }, { type: 'range', key: b('k'), prefix: true, limit: 3 }],
              failure: [{ type: 'delete', key: key() }],
            };
    commands.push({ clientId, seq: clientId === '' ? 0 : seq, ackSeq: clientId === '' ? 0 : Math.max(0, seq - prng.int(1, 4)), timeMs: i * 10, op });
    if (clientId !== '' && prng.chance(0.1)) commands.push({ ...commands[commands.length - 1]!, timeMs: i * 10 + 5 });
  }
  return commands;
}

describe('determinism and images', () => {
  it('gives two machines fed the same commands the same outcomes and hashes at every step', () => {
    // Proves apply is deterministic, and that the hash tells different histories apart.
    const [one, two, other] = [machine(), machine(), machine()];
    const commands = workload(7, 400);
    for (const command of commands) {
      const a = run(one, command.op, command);
      const c = run(two, command.op, command);
      expect(c).toEqual(a);
      expect(two.stateHash()).toBe(one.stateHash());
    }
    for (const command of workload(8, 400)) run(other, command.op, command);
    expect(other.stateHash()).not.toBe(one.stateHash());
    expect(one.revision).toBeGreaterThan(100);
  });

  it('restores from image() with the same hash, answers and future', () => {
    // Proves an image carries the whole replicated state (keys, sessions, clock, revision).
    const original = machine();
    const commands = workload(11, 600);
    for (const command of commands.slice(0, 300)) run(original, command.op, command);
    const restored = new KvStateMachine({ limits: makeLimits(), sessionTtlMs: 60_000, image: original.image() });
    expect(restored.stateHash()).toBe(original.stateHash());
    expect([restored.appliedIndex, restored.revision, restored.clockMs, restored.keyCount, restored.dataBytes, restored.sessionCount()]).toEqual([
      original.appliedIndex, original.revision, original.clockMs, original.keyCount, original.dataBytes, original.sessionCount(),
    ]);
    expect(restored.range(range('', { prefix: true }))).toEqual(original.range(range('', { prefix: true })));
    for (const command of commands.slice(300)) {
      expect(run(restored, command.op, command)).toEqual(run(original, command.op, command));
    }
    expect(restored.stateHash()).toBe(original.stateHash());
  });

  it('takes images at a point in time, unaffected by later writes', () => {
    // Proves a snapshot streamed while the node keeps applying is still consistent.
    const sm = machine();
    run(sm, put('a', '1'));
    run(sm, put('b', '1'), { clientId: 'c', seq: 1 });
    const image = sm.image();
    const hash = sm.stateHash();
    run(sm, put('a', '2'), { clientId: 'c', seq: 2, ackSeq: 1 });
    run(sm, del('b'));
    run(sm, put('c', '3'));
    expect([...image.kvs].map((kv) => [str(kv.key), str(kv.value)])).toEqual([['a', '1'], ['b', '1']]);
    expect([...image.kvs]).toHaveLength(2);
    expect([...image.sessions].map((s) => s.responses.map((r) => r.seq))).toEqual([[1]]);
    expect(new KvStateMachine({ limits: makeLimits(), sessionTtlMs: 60_000, image }).stateHash()).toBe(hash);
  });

  it('changes the state hash when any replicated field changes', () => {
    // Proves stateHash covers the revision, the clock, every key field and every session field.
    const sm = machine();
    run(sm, put('a', '1'));
    run(sm, put('a', '2'), { clientId: 'c', seq: 2, ackSeq: 0, timeMs: 50 });
    const image = sm.image();
    const [kv] = [...image.kvs];
    const [session] = [...image.sessions];
    const variants = {
      revision: { ...image, revision: revision(9) },
      clockMs: { ...image, clockMs: 51 },
      value: { ...image, kvs: [{ ...kv!, value: b('3') }] },
      key: { ...image, kvs: [{ ...kv!, key: b('b') }] },
      createRevision: { ...image, kvs: [{ ...kv!, createRevision: revision(2) }] },
      modRevision: { ...image, kvs: [{ ...kv!, modRevision: revision(1) }] },
      version: { ...image, kvs: [{ ...kv!, version: 7 }] },
      ackSeq: { ...image, sessions: [{ ...session!, ackSeq: 1 }] },
      lastSeenMs: { ...image, sessions: [{ ...session!, lastSeenMs: 49 }] },
      response: { ...image, sessions: [{ ...session!, responses: [{ seq: 2, result: b('x') }] }] },
      clientId: { ...image, sessions: [{ ...session!, clientId: 'd' }] },
    };
    const hash = sm.stateHash();
    expect(new KvStateMachine({ limits: makeLimits(), sessionTtlMs: 60_000, image }).stateHash()).toBe(hash);
    for (const [field, variant] of Object.entries(variants)) {
      expect(new KvStateMachine({ limits: makeLimits(), sessionTtlMs: 60_000, image: variant }).stateHash(), field).not.toBe(hash);
    }
  });

  it('refuses an image that breaks an invariant', () => {
    // Proves durable state is checked again after reading it back.
    const image = { appliedIndex: logIndex(5), revision: 3 as never, clockMs: 0, sessions: [] };
    const kv = { key: b('a'), value: b(''), createRevision: 2 as never, modRevision: 4 as never, version: 1 };
    expect(() => new KvStateMachine({ limits: makeLimits(), sessionTtlMs: 1, image: { ...image, kvs: [kv] } })).toThrow(/modRevision \(4\) <= revision \(3\)/);
    const session = { clientId: 'c', ackSeq: 0, lastSeenMs: 10, responses: [] };
    expect(() => new KvStateMachine({ limits: makeLimits(), sessionTtlMs: 1, image: { ...image, kvs: [], sessions: [session] } })).toThrow(/seen after the clock/);
  });
});
