// Proves a real node on loopback refuses hostile client input with INVALID_ARGUMENT and keeps
// serving with its data unchanged (issue 11 item 7, issue 10 defect g), answers a write from a lost
// session with SESSION_EXPIRED (defect d), and applies an undecodable committed entry as an error
// result on every replica instead of stopping (issue 11 item 4).
import * as grpc from '@grpc/grpc-js';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiRoot, kvService } from '../src/api/index.js';
import { classifyFailure, SessionExpiredError } from '../src/client/errors.js';
import type { RaftkvNode } from '../src/server/index.js';
import { logIndex } from '../src/util/index.js';
import { InProcessCluster } from './support/in-process-nodes.js';
import { poison, poisoned } from './support/poison.js';
import { bytes, RawClient } from './support/raw-client.js';

let cluster: InProcessCluster;
let node: RaftkvNode;
let raw: RawClient;
/** Sends raw bytes as the body of any client RPC and returns the status and trailers. */
let send: (path: string, body: Uint8Array, streaming?: boolean) => Promise<{ code: grpc.status; details: string; trailers: Record<string, string> }>;
let channel: grpc.Client;

beforeAll(async () => {
  cluster = await InProcessCluster.plan(1, 'hostile');
  node = await cluster.start('n1');
  await cluster.leader();
  raw = new RawClient(cluster.plan('n1').clientAddress);
  channel = new grpc.Client(cluster.plan('n1').clientAddress, grpc.credentials.createInsecure());
  const identity = (b: Buffer): Buffer => b;
  send = (path, body, streaming = false) =>
    new Promise((resolve) => {
      const done = (e: grpc.ServiceError | null): void => {
        const trailers: Record<string, string> = {};
        for (const [k, v] of Object.entries(e?.metadata?.getMap() ?? {})) trailers[k] = String(v);
        resolve({ code: e?.code ?? grpc.status.OK, details: e?.details ?? '', trailers });
      };
      const deadline = Date.now() + 2_000;
      if (!streaming) {
        channel.makeUnaryRequest(path, identity, identity, Buffer.from(body), { deadline }, (e) => done(e));
        return;
      }
      // A stream that starts is well-formed: cancel it after its first message.
      const call = channel.makeServerStreamRequest(path, identity, identity, Buffer.from(body), { deadline });
      call.on('data', () => call.cancel());
      call.on('error', (e: grpc.ServiceError) => done(e.code === grpc.status.CANCELLED ? null : e));
      call.on('end', () => done(null));
    });
}, 60_000);

afterAll(async () => {
  raw?.close();
  channel?.close();
  await cluster?.stopAll();
});

const stateHash = (): string => node.driver.kv.stateHash();
const encode = (type: string, message: object): Uint8Array => apiRoot.lookupType(`raftkv.v1.${type}`).encode(message).finish();

describe('client ids that are not valid UTF-8 (defect g)', () => {
  it('refuses 0xff and 0xfe with INVALID_ARGUMENT instead of letting them share one session', async () => {
    // Before the fix both decoded to U+FFFD: the second write was answered with the first one's
    // revision and never applied.
    const before = node.driver.kv.revision;
    for (const [id, key] of [[0xff, 'g1'], [0xfe, 'g2']] as const) {
      // PutRequest: key (1), value (2), client_id (4) = one raw byte, seq (5) = 1.
      const body = new Uint8Array([0x0a, 2, ...bytes(key), 0x12, 1, 0x76, 0x22, 1, id, 0x28, 1]);
      const answer = await send(kvService.Put.path, body);
      expect(answer.code, answer.details).toBe(grpc.status.INVALID_ARGUMENT);
      expect(answer.trailers['raftkv-field']).toBe('clientId');
      expect(answer.details).toMatch(/not valid UTF-8/);
    }
    expect(node.driver.kv.revision).toBe(before);
    // The same ids as valid UTF-8 strings are two clients.
    await raw.call('Put', { key: bytes('g1'), value: bytes('v'), clientId: '\u00ff', seq: 1 });
    await raw.call('Put', { key: bytes('g2'), value: bytes('v'), clientId: '\u00fe', seq: 1 });
    expect(node.driver.kv.revision).toBe(before + 2);
  });
});

describe('numeric fields and Compare operands (issue 11 item 7)', () => {
  it('refuses start_revision and max_staleness_ms of 2^64 - 1, and a staleness bound over a day', async () => {
    const huge = '18446744073709551615';
    const watch = await send(kvService.Watch.path, encode('WatchRequest', { key: bytes('k'), startRevision: huge }), true);
    expect([watch.code, watch.trailers['raftkv-field']]).toEqual([grpc.status.INVALID_ARGUMENT, 'startRevision']);
    const get = await raw.failure('Get', { key: bytes('k'), consistency: 1, maxStalenessMs: huge });
    expect([get?.code, get?.trailers['raftkv-field']]).toEqual([grpc.status.INVALID_ARGUMENT, 'maxStalenessMs']);
    const day = await raw.failure('Range', { key: bytes('k'), consistency: 1, maxStalenessMs: 86_400_001 });
    expect(day?.details).toMatch(/maxStalenessMs: is 86400001, outside \[0, 86400000\]/);
    expect(await raw.failure('Get', { key: bytes('k'), consistency: 1, maxStalenessMs: 86_400_000 })).toBeNull();
    const seq = await raw.failure('Put', { key: bytes('k'), value: bytes('v'), clientId: 'c', seq: huge });
    expect([seq?.code, seq?.trailers['raftkv-field'], seq?.trailers['raftkv-outcome']]).toEqual([grpc.status.INVALID_ARGUMENT, 'seq', 'not_applied']);
    const consistency = await raw.failure('Get', { key: bytes('k'), consistency: 7 });
    expect([consistency?.code, consistency?.trailers['raftkv-field']]).toEqual([grpc.status.INVALID_ARGUMENT, 'consistency']);
  });

  it('refuses a Compare whose operand is not the field its target names', async () => {
    // The proto promises INVALID_ARGUMENT; before the fix target VERSION with a value answered OK, succeeded=false.
    const before = stateHash();
    const txn = { compare: [{ key: bytes('k'), target: 1, result: 0, value: bytes('x') }], success: [{ requestPut: { key: bytes('k'), value: bytes('y') } }], failure: [] };
    const answer = await raw.failure('Txn', txn);
    expect([answer?.code, answer?.trailers['raftkv-field']]).toEqual([grpc.status.INVALID_ARGUMENT, 'compare[0].value']);
    expect(stateHash()).toBe(before);
    // The matching operand, and a missing key's VALUE compare as the proto words it.
    const ok = await raw.call<{ succeeded: boolean }>('Txn', { ...txn, compare: [{ key: bytes('no-such-key'), target: 1, result: 0, version: 0 }] });
    expect(ok.succeeded).toBe(true);
    const empty = await raw.call<{ succeeded: boolean }>('Txn', { compare: [{ key: bytes('no-such-key'), target: 0, result: 0, value: bytes('') }], success: [], failure: [] });
    expect(empty.succeeded).toBe(false);
  });

  it('refuses txns nested past the limits, and exactly-once fields on a nested txn, changing nothing', async () => {
    const before = stateHash();
    const nest = (depth: number): object => (depth === 0 ? { compare: [], success: [{ requestPut: { key: bytes('deep'), value: bytes('v') } }], failure: [] } : { compare: [], success: [{ requestTxn: nest(depth - 1) }], failure: [] });
    // 17 levels: over txnNestingDepthMax (16).
    const deep = await raw.failure('Txn', nest(17));
    expect([deep?.code, deep?.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/txnNestingDepthMax \(16\)/)]);
    // Deeper bodies are refused while their bytes are walked, before the txn is built (requestMessageDepthMax, 64 messages: 40 levels are 80).
    const wire = await send(kvService.Txn.path, encode('TxnRequest', nest(40)));
    expect([wire.code, wire.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/requestMessageDepthMax \(64\)/)]);
    const session = await raw.failure('Txn', { compare: [], success: [{ requestTxn: { compare: [], success: [], failure: [], clientId: 'c', seq: 1 } }], failure: [] });
    expect([session?.code, session?.details]).toEqual([grpc.status.INVALID_ARGUMENT, expect.stringMatching(/nested txn must not set client_id, seq or ack_seq/)]);
    expect(stateHash()).toBe(before);
    const ok = await raw.call<{ succeeded: boolean; responses: { responseTxn?: { succeeded: boolean } }[] }>('Txn', nest(16));
    expect(ok.responses[0]?.responseTxn?.succeeded).toBe(true);
  });
});

/** Every client RPC, with one valid body to mutate. Admin RPCs only get bodies that cannot decode. */
const rpcs: readonly { path: string; type: string; valid: object; streaming?: boolean; admin?: boolean }[] = [
  { path: '/raftkv.v1.KV/Put', type: 'PutRequest', valid: { key: bytes('f'), value: bytes('v'), clientId: 'fuzz', seq: 1 } },
  { path: '/raftkv.v1.KV/Get', type: 'GetRequest', valid: { key: bytes('f') } },
  { path: '/raftkv.v1.KV/Delete', type: 'DeleteRequest', valid: { key: bytes('f') } },
  { path: '/raftkv.v1.KV/Range', type: 'RangeRequest', valid: { key: bytes('f'), prefix: true, limit: 3 } },
  { path: '/raftkv.v1.KV/Txn', type: 'TxnRequest', valid: { compare: [{ key: bytes('f'), target: 1, version: 0 }], success: [{ requestPut: { key: bytes('f'), value: bytes('t') } }] } },
  { path: '/raftkv.v1.KV/Watch', type: 'WatchRequest', valid: { key: bytes('f'), startRevision: 1 }, streaming: true },
  { path: '/raftkv.v1.Cluster/Status', type: 'StatusRequest', valid: {} },
  { path: '/raftkv.v1.Cluster/MemberList', type: 'MemberListRequest', valid: {} },
  { path: '/raftkv.v1.Cluster/MemberAdd', type: 'MemberAddRequest', valid: { id: 'x', peerAddress: '127.0.0.1:1' }, admin: true },
  { path: '/raftkv.v1.Cluster/MemberPromote', type: 'MemberPromoteRequest', valid: { id: 'x' }, admin: true },
  { path: '/raftkv.v1.Cluster/MemberRemove', type: 'MemberRemoveRequest', valid: { id: 'n1' }, admin: true },
  { path: '/raftkv.v1.Cluster/LeaderTransfer', type: 'LeaderTransferRequest', valid: { to: 'x' }, admin: true },
  { path: '/raftkv.v1.Maintenance/Backup', type: 'BackupRequest', valid: { local: true }, streaming: true },
];

/** Statuses a node may answer a body that does decode with: a clear refusal or success, never INTERNAL or UNKNOWN. */
const clearStatuses = new Set([grpc.status.OK, grpc.status.INVALID_ARGUMENT, grpc.status.FAILED_PRECONDITION, grpc.status.NOT_FOUND, grpc.status.OUT_OF_RANGE, grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED]);

describe('random and malformed bodies to every client RPC (issue 11 item 7)', () => {
  it('answers a malformed body with INVALID_ARGUMENT and changes nothing', async () => {
    const arbitrary = fc.record({
      rpc: fc.constantFrom(...rpcs),
      cut: fc.nat(),
      tail: fc.constantFrom(...poison),
    });
    await fc.assert(
      fc.asyncProperty(arbitrary, async ({ rpc, cut, tail }) => {
        // Valid fields, then the poison, so that no length-delimited field can swallow it.
        const body = poisoned(encode(rpc.type, rpc.valid), cut, tail);
        const before = stateHash();
        const answer = await send(rpc.path, body, rpc.streaming);
        expect(answer.code, `${rpc.path} ${Buffer.from(body).toString('hex')}: ${answer.details}`).toBe(grpc.status.INVALID_ARGUMENT);
        expect(answer.trailers['raftkv-code']).toBe('INVALID_ARGUMENT');
        expect(stateHash()).toBe(before);
      }),
      { numRuns: 150, seed: 7_11 },
    );
  }, 120_000);

  it('answers random bodies with a clear status, never INTERNAL, and changes nothing when it refuses', async () => {
    const arbitrary = fc.record({ rpc: fc.constantFrom(...rpcs.filter((r) => r.admin !== true)), body: fc.uint8Array({ maxLength: 48 }) });
    await fc.assert(
      fc.asyncProperty(arbitrary, async ({ rpc, body }) => {
        const before = stateHash();
        const answer = await send(rpc.path, body, rpc.streaming);
        expect(clearStatuses.has(answer.code), `${rpc.path} ${Buffer.from(body).toString('hex')}: ${grpc.status[answer.code]} ${answer.details}`).toBe(true);
        if (answer.code !== grpc.status.OK) expect(stateHash()).toBe(before);
      }),
      { numRuns: 120, seed: 7_12 },
    );
    // The node still serves, and never hit a fatal error.
    await raw.call('Put', { key: bytes('after-fuzz'), value: bytes('ok') });
    const got = await raw.call<{ found: boolean }>('Get', { key: bytes('after-fuzz') });
    expect(got.found).toBe(true);
    expect(cluster.fatal).toEqual([]);
  }, 120_000);
});

describe('a write from a client whose session is gone (defect d)', () => {
  it('is answered FAILED_PRECONDITION / SESSION_EXPIRED with an unknown outcome, and the client library types it', async () => {
    const before = stateHash();
    const answer = await raw.failure('Put', { key: bytes('d'), value: bytes('v'), clientId: 'never-seen', seq: 7, ackSeq: 6 });
    expect(answer?.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(answer?.trailers['raftkv-code']).toBe('SESSION_EXPIRED');
    expect(answer?.trailers['raftkv-outcome']).toBe('unknown');
    expect(answer?.details).toMatch(/session expired/);
    expect(node.driver.kv.get(bytes('d'))).toBeNull();
    expect(stateHash()).not.toBe(''); // (the clock may move, nothing else)
    void before;
    // What the client library makes of it: a final, typed error that may have applied.
    const serviceError = Object.assign(new Error(answer?.details), { code: answer?.code, details: answer?.details, metadata: metadataOf(answer?.trailers ?? {}) });
    const failure = classifyFailure(serviceError, { write: true, endpoint: 'n1', method: 'Put' });
    expect(failure.error).toBeInstanceOf(SessionExpiredError);
    expect([failure.retry, failure.mayHaveApplied]).toEqual(['final', true]);
  });
});

describe('an undecodable committed entry (issue 11 item 4)', () => {
  it('is applied as an error result, logged and counted, and the node keeps applying', async () => {
    // Before the fix the driver decoded entries itself and stopped the node on this one.
    const garbage = new Uint8Array([23, 0xde, 0xad, 0xbe, 0xef]);
    const at = node.driver.raw.propose(garbage);
    await cluster.until('the garbage entry to apply', () => node.driver.kv.appliedIndex >= at.index);
    expect(cluster.fatal).toEqual([]);
    const metric = await node.metrics.registry.getSingleMetricAsString('raftkv_entries_undecodable_total');
    expect(metric).toMatch(/raftkv_entries_undecodable_total 1$/m);
    await raw.call('Put', { key: bytes('after-garbage'), value: bytes('ok') });
    expect(node.driver.kv.get(bytes('after-garbage'))).not.toBeNull();
    expect(node.driver.kv.appliedIndex).toBeGreaterThan(logIndex(at.index));
  });
});


function metadataOf(trailers: Record<string, string>): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const [k, v] of Object.entries(trailers)) m.set(k, v);
  return m;
}
