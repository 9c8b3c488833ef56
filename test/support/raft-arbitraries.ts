/**
 * fast-check arbitraries of Raft messages, every type with every field drawn over its whole
 * range (proto3 defaults and 2^53 - 1 included): for the peer codec's round trips and for the
 * peer port's fuzz test.
 */
import fc from 'fast-check';
import type { Entry, Message, Snapshot } from '../../src/raft/index.js';
import { logIndex, nodeId, term } from '../../src/util/index.js';
import type { LogIndex, NodeId, Term } from '../../src/util/index.js';

/** Plain objects, as the Raft core builds them (fast-check's records have a null prototype by default). */
const opts = { noNullPrototype: true } as const;

// Edge values matter most: 0 is the proto3 default, 2^53 - 1 the largest safe one.
export const uintArb: fc.Arbitrary<number> = fc.oneof(fc.constantFrom(0, 1, 127, 128, 2 ** 32 - 1, 2 ** 32, Number.MAX_SAFE_INTEGER), fc.maxSafeNat());
export const termArb: fc.Arbitrary<Term> = uintArb.map(term);
export const indexArb: fc.Arbitrary<LogIndex> = uintArb.map(logIndex);
export const contextArb: fc.Arbitrary<string> = fc.oneof(fc.constant(''), fc.string({ unit: 'grapheme', maxLength: 20 }));
export const bytesArb: fc.Arbitrary<Uint8Array> = fc.oneof(fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 64 }));
/** Any node id. */
export const nodeIdArb: fc.Arbitrary<NodeId> = fc.string({ minLength: 1, maxLength: 8 }).map(nodeId);

export const entryArb: fc.Arbitrary<Entry> = fc.record({ term: termArb, index: indexArb, type: fc.constantFrom('normal' as const, 'confChange' as const), data: bytesArb }, opts);

/** A snapshot whose membership is drawn from `ids`. */
export function snapshotArb(ids: fc.Arbitrary<NodeId> = nodeIdArb): fc.Arbitrary<Snapshot> {
  return fc.record({ metadata: fc.record({ index: indexArb, term: termArb, conf: fc.record({ voters: fc.array(ids, { maxLength: 5 }), learners: fc.array(ids, { maxLength: 3 }) }, opts) }, opts), data: bytesArb }, opts);
}

/** Every message type, from one of `from`, to one of `to`; ids inside messages (members, a transferee) from `ids`. */
export function messageArb(from: fc.Arbitrary<NodeId> = nodeIdArb, to: fc.Arbitrary<NodeId> = nodeIdArb, ids: fc.Arbitrary<NodeId> = nodeIdArb): fc.Arbitrary<Message> {
  return fc.record({ from, to, term: termArb }).chain((base): fc.Arbitrary<Message> =>
    fc.oneof(
      fc.record({ type: fc.constantFrom('vote' as const, 'preVote' as const), lastLogIndex: indexArb, lastLogTerm: termArb, transfer: fc.boolean() }).map((b) => ({ ...base, ...b })),
      fc.record({ type: fc.constantFrom('voteResponse' as const, 'preVoteResponse' as const), reject: fc.boolean() }).map((b) => ({ ...base, ...b })),
      fc.record({ prevLogIndex: indexArb, prevLogTerm: termArb, entries: fc.array(entryArb, { maxLength: 4 }), commit: indexArb }).map((b) => ({ ...base, type: 'append' as const, ...b })),
      fc.record({ index: indexArb, reject: fc.boolean(), rejectHint: indexArb, hintTerm: termArb }).map((b) => ({ ...base, type: 'appendResponse' as const, ...b })),
      fc.record({ commit: indexArb, context: contextArb }).map((b) => ({ ...base, type: 'heartbeat' as const, ...b })),
      contextArb.map((c) => ({ ...base, type: 'heartbeatResponse' as const, context: c })),
      snapshotArb(ids).map((s) => ({ ...base, type: 'snapshot' as const, snapshot: s })),
      contextArb.map((c) => ({ ...base, type: 'readIndex' as const, context: c })),
      fc.record({ index: indexArb, context: contextArb }).map((b) => ({ ...base, type: 'readIndexResponse' as const, ...b })),
      fc.constant({ ...base, type: 'timeoutNow' as const }),
      ids.map((transferee) => ({ ...base, type: 'transferLeader' as const, transferee })),
    ),
  );
}
