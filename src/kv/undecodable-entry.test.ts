// Proves item 4 of issue 11: a committed entry that does not decode never stops a replica. Every
// replica answers it with the same INVALID_ARGUMENT result (marked undecodable, for the driver's
// error log and metric), changes nothing but the applied index, and applies the entries after it.
// And what the leader proposes (a command that passed validation, encoded) always decodes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { logIndex, makeLimits } from '../util/index.js';
import { decodeLogCommand, encodeClusterCommand, encodeCommand, KvStateMachine, validateCommand, defaultClusterLimits } from './index.js';
import type { KvCommand, WriteOp } from './index.js';

const b = (s: string): Uint8Array => new TextEncoder().encode(s);
const replica = (): KvStateMachine => new KvStateMachine({ limits: makeLimits(), sessionTtlMs: 60_000 });
const putEntry = (key: string, seq: number): Uint8Array => encodeCommand({ clientId: 'c', seq, ackSeq: seq - 1, timeMs: seq, op: { type: 'put', key: b(key), value: b(String(seq)) } });

/** Bytes that are not a valid entry: random, a valid entry cut short or with a byte flipped, a forged format byte. */
const garbage = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 64 }),
  fc.nat({ max: 40 }).map((cut) => putEntry('k', 1).subarray(0, cut)),
  fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([at, flip]) => {
    const data = putEntry('k', 1).slice();
    data[at % data.length] = (data[at % data.length] ?? 0) ^ flip;
    return data;
  }),
  fc.constantFrom(new Uint8Array([23, 1, 2, 3]), encodeClusterCommand({ type: 'setClusterLimits', limits: defaultClusterLimits, ifUnset: false }).subarray(0, 5)),
);

describe('an undecodable committed entry', () => {
  it('is applied the same way on every replica, and the entries after it still apply', () => {
    fc.assert(
      fc.property(garbage, (data) => {
        const replicas = [replica(), replica()];
        const outcomes = replicas.map((sm) => {
          sm.applyEncoded(logIndex(1), putEntry('a', 1));
          const bad = sm.applyEncoded(logIndex(2), data);
          const after = sm.applyEncoded(logIndex(3), putEntry('b', 2));
          return { bad, after, hash: sm.stateHash() };
        });
        const [first, second] = outcomes;
        expect(second).toEqual(first);
        const bad = first?.bad;
        // A flipped byte can still decode to another valid command: then it is applied like one.
        if (bad?.undecodable === true) {
          expect(bad.result).toMatchObject({ type: 'error', code: 'INVALID_ARGUMENT', message: expect.stringMatching(/^undecodable entry at index 2/) });
          expect(bad.mutations).toEqual([]);
        }
        expect(first?.after.result.type === 'put' || first?.after.result.type === 'error').toBe(true);
        expect(replicas.map((sm) => sm.appliedIndex)).toEqual([3, 3]);
      }),
      { numRuns: 300, seed: 11_04 },
    );
  });

  it('never comes from the leader: a command that passes validation always encodes to a decodable entry', () => {
    const limits = makeLimits();
    const key = fc.uint8Array({ minLength: 1, maxLength: 16 });
    const put = fc.record({ type: fc.constant('put' as const), key, value: fc.uint8Array({ maxLength: 32 }), prevKv: fc.boolean() });
    const del = fc.record({ type: fc.constant('delete' as const), key, prefix: fc.boolean() });
    const compare = fc.record({ key, target: fc.constant('version' as const), op: fc.constantFrom('=' as const, '!=' as const, '<' as const, '>' as const), value: fc.nat({ max: 1000 }) });
    const txn = fc.record({ type: fc.constant('txn' as const), compares: fc.array(compare, { maxLength: 3 }), success: fc.array(fc.oneof(put, del), { maxLength: 3 }), failure: fc.array(put, { maxLength: 3 }) });
    const op: fc.Arbitrary<WriteOp> = fc.oneof(put, del, txn);
    const command = fc.record({ clientId: fc.string({ maxLength: 20 }), seq: fc.integer({ min: 1, max: 2 ** 40 }), timeMs: fc.nat(), op }).map(
      (c): KvCommand => ({ ...c, ackSeq: c.seq - 1 }),
    );
    fc.assert(
      fc.property(command, (c) => {
        try {
          validateCommand(c, limits);
        } catch {
          return; // refused before proposing: never reaches the log
        }
        expect(decodeLogCommand(encodeCommand(c))).toMatchObject({ type: 'kv', command: { clientId: c.clientId, seq: c.seq } });
      }),
      { numRuns: 300, seed: 11_44 },
    );
  });

  it('never comes from the leader for nested txns and range and lease compares either: validation and the codec agree on depth', () => {
    const limits = makeLimits({ txnOpsMax: 10_000 });
    const key = fc.uint8Array({ minLength: 1, maxLength: 8 });
    const put = fc.record({ type: fc.constant('put' as const), key, value: fc.uint8Array({ maxLength: 8 }) });
    const compare = fc.record(
      { key, target: fc.constantFrom('version' as const, 'lease' as const, 'createRevision' as const), op: fc.constantFrom('=' as const, '>' as const), value: fc.nat({ max: 1000 }), rangeEnd: fc.uint8Array({ maxLength: 8 }) },
      { requiredKeys: ['key', 'target', 'op', 'value'] },
    );
    // A chain of txns `depth` deep (around txnNestingDepthMax, 16), each level with a compare and a put beside the nested txn.
    const chain = fc.tuple(fc.integer({ min: 0, max: 18 }), compare, put).map(([depth, c, p]): WriteOp => {
      let op: WriteOp = { type: 'txn', compares: [c], success: [p], failure: [] };
      for (let i = 0; i < depth; i++) op = { type: 'txn', compares: [c], success: [op], failure: [p] };
      return op;
    });
    fc.assert(
      fc.property(chain, (op) => {
        const c: KvCommand = { clientId: 'c', seq: 1, ackSeq: 0, timeMs: 0, op };
        let valid = true;
        try {
          validateCommand(c, limits);
        } catch {
          valid = false;
        }
        let encoded: Uint8Array | null = null;
        try {
          encoded = encodeCommand(c);
        } catch {
          encoded = null;
        }
        // Exactly what validation accepts can be encoded, and decodes to the same command.
        expect(encoded !== null).toBe(valid);
        if (encoded !== null) expect(decodeLogCommand(encoded)).toEqual({ type: 'kv', command: c });
      }),
      { numRuns: 200, seed: 14_14 },
    );
  });
});
